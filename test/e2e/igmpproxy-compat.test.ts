/**
 * Issue 10: igmpproxy's config files, in the shapes VyOS, OpenWrt and the UniFi IPTV scripts
 * write them, run unchanged in the lab (IPv4: igmpproxy is IPv4-only), and the program runs
 * under igmpproxy's name and command line (docs/igmpproxy-compat.md). In each: a permitted
 * group flows to the host; a group outside the whitelist (or inside the blacklist) is never
 * joined upstream nor forwarded and is counted; a source outside `altnet` is not forwarded
 * and is counted; a `disabled` interface gets no VIF. Also: `threshold` reaches the kernel
 * and decides what leaves an interface; `quickleave` keeps the second set-top box's stream;
 * `defaultdown` picks up an interface that appears later while the daemon runs as `user
 * nobody`.
 *
 * igmpproxy files cannot name a control socket, so each daemon runs in a mount namespace of
 * its own where /run/improxy is a temporary directory (other labs' daemons use the real
 * one); `improxy show stats --socket DIR/improxy.sock` reads it from outside.
 */
import assert from "node:assert/strict";
import { chmodSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type Sender, startSender } from "../../src/lab/hosts.js";
import type { Netns } from "../../src/lab/netns.js";
import { CLI, type DaemonRun, privateRunDir, startDaemon } from "../support/daemon.js";
import { IPV4 } from "../support/family.js";
import type { HostAgent } from "../support/hostsock.js";
import { buildIptvLab } from "../support/labs.js";
import { buildProxyLab, memberships, sleep, stopProxy, until, vifNames } from "../support/scenario.js";
import { type Stage, stage, useLab } from "../support/stage.js";
import { tempDir } from "../support/temp.js";

// ------------------------------------------------------------------ running the daemon

interface Run {
  d: DaemonRun;
  /** `improxy show stats --json` of the running daemon. */
  stats(): Promise<FamilyStats>;
}

interface FamilyStats {
  upstreamSourceRefused: number;
  vifLimit: number;
  interfaces: Array<{ name: string; drops: Record<string, number> }>;
}

/** Writes `text` as an igmpproxy config file readable by every user; returns its path. */
function writeIgmpproxyConfig(text: string): string {
  const dir = tempDir("improxy-igmpproxy-");
  chmodSync(dir, 0o755);
  const path = join(dir, "igmpproxy.conf");
  writeFileSync(path, text, { mode: 0o644 });
  return path;
}

/**
 * Starts the daemon in `ns` with a private /run/improxy; `argv` after the log format (e.g.
 * ["-c", FILE, "-d", "4"], or ["-d", FILE] with `script` a symlink named igmpproxy). Waits
 * until `downstreams` are attached with the daemon as their querier and `upstream` is attached.
 */
async function run(
  s: Stage,
  ns: Netns,
  argv: string[],
  links: { upstream: string; downstreams: string[] },
  script?: string,
): Promise<Run> {
  const { prefix, socket } = privateRunDir();
  const d = startDaemon(ns, argv, { prefix, ...(script ? { script } : {}) });
  s.defer(() => stopProxy(d));
  for (const name of links.downstreams) {
    await d.waitFor(
      (l) => l.msg === "querier status" && l.family === "ipv4" && l.interface === name && l.querier === true,
      15_000,
      `querier on ${name}`,
    );
  }
  await d.waitFor(
    (l) => l.msg === "interface attached" && l.family === "ipv4" && l.interface === links.upstream,
    15_000,
    `${links.upstream} attached`,
  );
  return {
    d,
    async stats() {
      const { stdout } = await ns.exec("node", [CLI, "show", "stats", "--json", "--socket", socket]);
      const doc = JSON.parse(stdout) as { families: Array<{ family: string; stats: FamilyStats }> };
      return doc.families.find((f) => f.family === "ipv4")!.stats;
    },
  };
}

/** A sender in `ns` from `source` to `group` (on the stage's port unless `port`), stopped with the stage. */
function send(
  s: Stage,
  ns: Netns,
  group: string,
  source: string,
  o: { ttl?: number; port?: number } = {},
): Sender {
  const x = startSender(ns, group, { port: o.port ?? s.port, intervalMs: 10, bind: source, ttl: o.ttl ?? 8 });
  s.defer(() => x.stop());
  return x;
}

const drops = (st: FamilyStats, ifname: string, reason: string) =>
  st.interfaces.find((i) => i.name === ifname)?.drops[reason] ?? 0;

/** Waits until `host` got `n` datagrams from `source` after `since`. */
async function receives(
  host: HostAgent,
  source: string,
  n: number,
  since = 0,
  timeoutMs = 8000,
): Promise<void> {
  await until(
    () => host.from(source, since).length >= n,
    timeoutMs,
    () => {
      return `host got ${host.from(source, since).length} of ${n} datagrams from ${source}`;
    },
  );
}

/** The Oifs column of the (S,G) row of /proc/net/ip_mr_cache: "vif:ttl" pairs. */
async function mfcTtls(ns: Netns, source: string, group: string): Promise<string[] | undefined> {
  const hex = (a: string) =>
    a
      .split(".")
      .reverse()
      .map((x) => Number(x).toString(16).padStart(2, "0"))
      .join("")
      .toUpperCase();
  for (const line of (await ns.readProc("/proc/net/ip_mr_cache")).split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[0] === hex(group) && f[1] === hex(source)) return f.slice(6);
  }
  return undefined;
}

const upstreamGroups = async (ns: Netns, ifname: string) => (await memberships(ns, "ipv4")).get(ifname) ?? [];

// ------------------------------------------------------------------------- VyOS

/** VyOS `protocols igmp-proxy` writes this shape (igmp_proxy.py's template). */
const VYOS = `########################################################
#                                                      #
# autogenerated by igmp_proxy.py                       #
#                                                      #
########################################################

##------------------------------------------------------
## Enable Quickleave mode (Sends Leave instantly)
##------------------------------------------------------
quickleave

# Configuration for up0 (upstream interface)
phyint up0 upstream ratelimit 0 threshold 1
        altnet 10.10.0.2/32
        altnet 198.18.0.0/15

# Configuration for dn1 (downstream interface)
phyint dn1 downstream ratelimit 0 threshold 1
        whitelist 239.1.0.0/16
        whitelist 232.1.1.0/24

# Configuration for dn2 (disabled interface)
phyint dn2 disabled
`;

describe("igmpproxy: a VyOS config", { timeout: 60_000 }, () => {
  const lab = useLab(buildProxyLab);

  it("whitelisted group flows; others are never joined nor forwarded (group-not-allowed); a source outside altnet is refused; dn2 disabled has no VIF", () =>
    stage(IPV4, async (s) => {
      const r = await run(s, lab.rtr, ["-c", writeIgmpproxyConfig(VYOS), "-d", "4"], {
        upstream: "up0",
        downstreams: ["dn1"],
      });
      assert.deepEqual(await vifNames(lab.rtr, "ipv4"), ["dn1", "up0"], "no VIF for the disabled dn2");
      assert.equal(IPV4.lines(r.d, "interface attached").length, 2);
      assert.equal(r.d.lines.filter((l) => l.family === "ipv6").length, 0, "IGMP only");

      const allowed = "239.1.2.3";
      const refused = "239.5.5.5";
      const h1 = await s.host(lab.h1);
      const h1refused = await s.host(lab.h1, s.port + 1000); // the refused group on a port of its own
      await h1.join(allowed);
      await h1refused.join(refused);
      await IPV4.waitUpstream(r.d, allowed, "exclude", []);
      send(s, lab.up, allowed, IPV4.s1);
      send(s, lab.up, allowed, IPV4.s2);
      send(s, lab.up, refused, IPV4.s1, { port: s.port + 1000 });
      await receives(h1, IPV4.s1, 50);
      await sleep(1000);
      assert.equal(h1refused.from().length, 0, "the group outside the whitelist is never forwarded");

      assert.ok(
        (await upstreamGroups(lab.rtr, "up0")).includes(allowed),
        "the allowed group is joined upstream",
      );
      assert.ok(!(await upstreamGroups(lab.rtr, "up0")).includes(refused), "never joined upstream");
      assert.equal(IPV4.lastUpstream(r.d, refused), undefined, "no upstream membership for it");
      const st = await r.stats();
      assert.ok(drops(st, "dn1", "group-not-allowed") >= 1, JSON.stringify(st.interfaces));
      assert.deepEqual((await IPV4.mfcEntry(lab.rtr, IPV4.s1, refused))?.oifs ?? [], [], "never forwarded");

      // S2 (10.10.0.3) is outside every altnet: nothing from it reaches h1, and it is counted.
      assert.equal(h1.from(IPV4.s2).length, 0, "nothing from a source outside altnet");
      assert.deepEqual(
        (await IPV4.mfcEntry(lab.rtr, IPV4.s2, allowed))?.oifs,
        [],
        "installed with no outgoing link",
      );
      assert.ok(st.upstreamSourceRefused >= 1, `upstream-source-refused ${st.upstreamSourceRefused}`);
      assert.deepEqual(await mfcTtls(lab.rtr, IPV4.s1, allowed), ["1:1"], "dn1 (VIF 1) with its threshold 1");
    }));
});

// ----------------------------------------------------------------------- OpenWrt

/** OpenWrt's /etc/init.d/igmpproxy writes this shape (wan upstream, br-lan downstream). */
const OPENWRT = `quickleave

phyint up0 upstream ratelimit 0 threshold 1
	altnet 0.0.0.0/0

phyint dn1 downstream ratelimit 0 threshold 1

`;

describe("igmpproxy: an OpenWrt config, run as `igmpproxy -d CONFIG`", { timeout: 60_000 }, () => {
  const lab = useLab(buildProxyLab);

  it("the symlink named igmpproxy runs the daemon at debug level; every source flows (altnet 0.0.0.0/0); a group only h2's unconfigured link wants is never joined", () =>
    stage(IPV4, async (s) => {
      const bin = tempDir("improxy-bin-");
      const igmpproxy = join(bin, "igmpproxy");
      symlinkSync(CLI, igmpproxy);
      const help = await lab.rtr
        .exec("node", [igmpproxy, "-h"])
        .catch((e: Error) => ({ stdout: "", stderr: e.message }));
      assert.match(help.stderr, /^Usage: igmpproxy \[-h\] \[-n\] \[-d\] \[-v \[-v\]\] <configfile>/);

      const r = await run(
        s,
        lab.rtr,
        ["-d", writeIgmpproxyConfig(OPENWRT)],
        { upstream: "up0", downstreams: ["dn1"] },
        igmpproxy,
      );
      assert.deepEqual(await vifNames(lab.rtr, "ipv4"), ["dn1", "up0"], "dn2 is not in the file: no VIF");

      const G = "239.2.2.2";
      const other = "239.6.6.6";
      const h1 = await s.host(lab.h1);
      const h2 = await s.host(lab.h2, s.port + 1000);
      await h1.join(G);
      await h2.join(other);
      await IPV4.waitUpstream(r.d, G, "exclude", []);
      send(s, lab.up, G, IPV4.s1);
      send(s, lab.up, G, IPV4.s2);
      send(s, lab.up, other, IPV4.s1, { port: s.port + 1000 });
      await receives(h1, IPV4.s1, 30);
      await receives(h1, IPV4.s2, 30);
      await sleep(500);
      assert.equal(h2.from().length, 0);
      assert.ok(
        !(await upstreamGroups(lab.rtr, "up0")).includes(other),
        "reports on dn2 (not configured) are not membership",
      );
      const st = await r.stats();
      assert.equal(st.upstreamSourceRefused, 0);
      assert.deepEqual(await mfcTtls(lab.rtr, IPV4.s1, G), ["1:1"]);
      assert.ok(
        r.d.lines.some((l) => l.level === 20 && l.msg === "upcall"),
        "-d: debug lines (pino level 20) on stderr",
      );
    }));
});

// --------------------------------------------------------------------- UniFi IPTV

/** The UniFi IPTV scripts' shape: the ISP's IPTV VLAN upstream, the LAN bridge, the rest disabled. */
const UNIFI = `# IPTV: VLAN 4 of the ISP upstream, the LAN bridge downstream
quickleave
phyint up0.4 upstream ratelimit 0 threshold 1
  altnet 10.40.0.2/32
  altnet 198.18.0.0/15
phyint br0 downstream ratelimit 0 threshold 1
  blacklist 239.255.255.250/32
  blacklist 239.8.0.0/16
phyint up0 disabled
phyint dn9 disabled
phyint dn1 disabled
`;

describe("igmpproxy: a UniFi IPTV config (VLAN upstream, bridge with two set-top boxes)", {
  timeout: 60_000,
}, () => {
  const lab = useLab(buildIptvLab);

  it("both boxes get the channel; the first one's leave keeps the second's stream (quickleave); blacklisted group and foreign source refused; disabled interfaces have no VIF", () =>
    stage(IPV4, async (s) => {
      const r = await run(s, lab.rtr, ["-c", writeIgmpproxyConfig(UNIFI), "-d", "4"], {
        upstream: "up0.4",
        downstreams: ["br0"],
      });
      assert.deepEqual(await vifNames(lab.rtr, "ipv4"), ["br0", "up0.4"], "up0, dn9, dn1 disabled: no VIF");

      const channel = "239.3.3.3";
      // A blacklisted range of the ISP's (SSDP, blacklisted too, is in the default ignore list).
      const denied = "239.8.1.1";
      const headEnd = "10.40.0.2";
      const foreign = "10.40.0.3";
      const stb1 = await s.host(lab.h1);
      const stb2 = await s.host(lab.h3);
      const stb1denied = await s.host(lab.h1, s.port + 1000);
      await stb1.join(channel);
      await stb2.join(channel);
      await stb1denied.join(denied);
      await IPV4.waitUpstream(r.d, channel, "exclude", []);
      send(s, lab.up, channel, headEnd);
      send(s, lab.up, channel, foreign);
      send(s, lab.up, denied, headEnd, { port: s.port + 1000 });
      await receives(stb1, headEnd, 30);
      await receives(stb2, headEnd, 30);

      const t0 = await stb1.leave(channel);
      await sleep(2500);
      const after = stb2.from(headEnd, t0 + 200).length;
      assert.ok(after >= 150, `the second box still receives after the first left (${after} datagrams)`);
      const stb1After = stb1.from(headEnd, t0 + 500).length;
      assert.ok(stb1After <= 50, `the first box's stream stopped (${stb1After} after its leave)`);

      assert.ok(
        !(await upstreamGroups(lab.rtr, "up0.4")).includes(denied),
        "blacklisted: never joined upstream",
      );
      assert.ok((await upstreamGroups(lab.rtr, "up0.4")).includes(channel));
      assert.equal(stb1denied.from().length, 0, "the blacklisted group is never forwarded");
      const st = await r.stats();
      assert.ok(drops(st, "br0", "group-denied") >= 1, JSON.stringify(st.interfaces));
      assert.deepEqual((await IPV4.mfcEntry(lab.rtr, headEnd, denied))?.oifs ?? [], []);
      assert.equal(
        stb1.from(foreign).length + stb2.from(foreign).length,
        0,
        "nothing from a source outside altnet",
      );
      assert.ok(st.upstreamSourceRefused >= 1);
    }));
});

// ------------------------------------------------------------------ threshold, defaultdown, user

describe("igmpproxy: threshold, defaultdown and user", { timeout: 60_000 }, () => {
  const lab = useLab(buildProxyLab);

  it("threshold N is each downstream's TTL in the kernel's forwarding entry: TTL 8 passes threshold 1, not threshold 8", () =>
    stage(IPV4, async (s) => {
      const conf =
        "quickleave\nphyint up0 upstream\nphyint dn1 downstream threshold 1\nphyint dn2 downstream threshold 8\n";
      const r = await run(s, lab.rtr, ["-c", writeIgmpproxyConfig(conf), "-d", "4"], {
        upstream: "up0",
        downstreams: ["dn1", "dn2"],
      });
      const G = "239.4.4.4";
      const h1 = await s.host(lab.h1);
      const h2 = await s.host(lab.h2);
      await h1.join(G);
      await h2.join(G);
      await IPV4.waitLinkState(r.d, "dn2", G, "exclude", []);
      send(s, lab.up, G, IPV4.s1, { ttl: 8 });
      await receives(h1, IPV4.s1, 30);
      await sleep(300);
      assert.equal(h2.from(IPV4.s1).length, 0, "TTL 8 is not above threshold 8");
      const ttls = await mfcTtls(lab.rtr, IPV4.s1, G);
      assert.deepEqual(ttls?.sort(), ["1:1", "2:8"]);
      send(s, lab.up, G, IPV4.s2, { ttl: 9 });
      await receives(h2, IPV4.s2, 10);
    }));

  it("defaultdown with user nobody: runs as uid 65534 with only CAP_NET_ADMIN and CAP_NET_RAW; joins, forwarding and an interface that appears later work", () =>
    stage(IPV4, async (s) => {
      const conf = "quickleave\ndefaultdown\nuser nobody\nphyint up0 upstream\nphyint dn2 disabled\n";
      const r = await run(s, lab.rtr, ["-c", writeIgmpproxyConfig(conf), "-d", "4"], {
        upstream: "up0",
        downstreams: ["dn1"],
      });
      await r.d.waitFor((l) => l.msg === "running as user", 5000, "privileges dropped");
      const status = await lab.rtr.readProc(`/proc/${r.d.proc.pid}/status`);
      assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      assert.match(status, /^Gid:\s+65534\s/m);
      // CAP_NET_ADMIN (12) and CAP_NET_RAW (13) only.
      assert.match(status, /^CapEff:\s+0+3000$/m, "only the two network capabilities kept");
      assert.match(status, /^CapPrm:\s+0+3000$/m);
      assert.deepEqual(
        await vifNames(lab.rtr, "ipv4"),
        ["dn1", "up0"],
        "dn1 by defaultdown; dn2 disabled; lo never",
      );

      const G = "239.7.7.7";
      const h1 = await s.host(lab.h1);
      await h1.join(G);
      send(s, lab.up, G, IPV4.s1);
      await receives(h1, IPV4.s1, 20);

      // A new link appears while the daemon runs as nobody: a new VIF, a router, forwarding.
      const h4 = await lab.lab.addNamespace("h4");
      await lab.lab.addLink(lab.rtr, "dn4", h4, "eth0");
      await lab.rtr.addAddress("dn4", "10.14.0.1/24");
      await h4.addAddress("eth0", "10.14.0.2/24");
      await h4.ip("route", "add", "default", "via", "10.14.0.1");
      await r.d.waitFor(
        (l) => l.msg === "querier status" && l.interface === "dn4" && l.querier === true,
        10_000,
        "dn4 attached as a default downstream",
      );
      assert.deepEqual(await vifNames(lab.rtr, "ipv4"), ["dn1", "dn4", "up0"]);
      const h4host = await s.host(h4);
      const t4 = Date.now();
      await h4host.join(G);
      await receives(h4host, IPV4.s1, 20, t4);
      assert.deepEqual(
        r.d.lines.filter((l) => l.level >= 50).map((l) => l.msg),
        [],
        "no error as nobody",
      );
      await lab.rtr.ip("link", "del", "dn4");
      await r.d.waitFor((l) => l.msg === "default downstream removed" && l.interface === "dn4", 5000);
    }));
});
