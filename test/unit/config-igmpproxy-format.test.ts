/** igmpproxy's config format (src/config/igmpproxy-format.ts) and its detection (load.ts). */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { resolveSettings } from "../../src/config/defaults.js";
import { looksLikeIgmpproxy, parseIgmpproxyConfig } from "../../src/config/igmpproxy-format.js";
import { formatOf, loadConfigWithWarnings } from "../../src/config/load.js";
import { ConfigError, type ParsedConfig } from "../../src/config/types.js";
import { tempDir } from "../support/temp.js";

const FILE = "/etc/igmpproxy.conf";
const FIXTURES = fileURLToPath(new URL("../fixtures/igmpproxy/", import.meta.url));
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

function parse(text: string): ParsedConfig {
  return parseIgmpproxyConfig(text, FILE);
}

function problem(text: string): { line: number; reason: string } {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.file, FILE);
    assert.ok(!err.reason.includes("\n"), `one line: ${err.reason}`);
    return { line: err.line, reason: err.reason };
  }
  assert.fail("expected a ConfigError");
}

const MIN = "phyint up0 upstream\nphyint dn1 downstream\n";

describe("igmpproxy format: the configs these systems generate", () => {
  test("VyOS: quickleave, altnet sources, whitelists, disabled interfaces", () => {
    const { config: c, warnings } = parse(fixture("vyos.conf"));
    assert.deepEqual(warnings, []);
    assert.equal(c.format, "igmpproxy");
    assert.equal(c.igmpEnabled, true);
    assert.equal(c.mldEnabled, false, "igmpproxy is IPv4-only");
    assert.equal(c.upstreams[0]!.name, "eth0");
    assert.equal(c.upstreams[0]!.line, 20);
    assert.deepEqual(c.upstreams[0]!.sources, ["10.64.0.0/10", "198.18.0.0/15"]);
    assert.equal(c.upstreams[0]!.ttlThreshold, 1);
    assert.equal(c.upstreams[0]!.mld, null);
    assert.equal(c.upstreams[0]!.igmp!.fastLeave, false);
    assert.deepEqual(
      c.downstreams.map((d) => [d.name, d.line, d.ttlThreshold]),
      [["eth1", 25, 1]],
    );
    const d = c.downstreams[0]!;
    assert.equal(d.igmp!.fastLeave, true, "quickleave");
    assert.deepEqual(d.igmp!.allowGroups, ["239.1.0.0/16", "232.1.1.0/24"]);
    assert.deepEqual(d.igmp!.denyGroups, []);
    assert.deepEqual(d.igmp!.ignoreGroups, ["239.255.0.0/16"], "the default ignore list holds in every format");
    assert.equal(d.mld, null);
    assert.deepEqual(d.sources, []);
    assert.deepEqual(c.disabled, ["eth2", "eth3"]);
    assert.equal(c.defaultDownstream, null);
    assert.equal(c.user, null);
  });

  test("OpenWrt: altnet 0.0.0.0/0 accepts every source, br-lan downstream", () => {
    const { config: c, warnings } = parse(fixture("openwrt.conf"));
    assert.deepEqual(warnings, []);
    assert.equal(c.upstreams[0]!.name, "wan");
    assert.deepEqual(c.upstreams[0]!.sources, ["0.0.0.0/0"]);
    assert.deepEqual(
      c.downstreams.map((d) => d.name),
      ["br-lan"],
    );
    assert.deepEqual(c.downstreams[0]!.igmp!.allowGroups, []);
  });

  test("UniFi IPTV: VLAN upstream with the ISP's prefixes, bridge downstream, the rest disabled", () => {
    const { config: c } = parse(fixture("unifi-iptv.conf"));
    assert.equal(c.upstreams[0]!.name, "eth8.4");
    assert.deepEqual(c.upstreams[0]!.sources, ["10.200.0.0/16", "198.18.0.0/16", "10.10.0.2/32"]);
    assert.deepEqual(
      c.downstreams.map((d) => d.name),
      ["br0"],
    );
    assert.deepEqual(c.disabled, ["eth8", "eth9", "br2", "tun0"]);
  });

  test("IPTV and internet: two upstream phyints, the first whose whitelist holds a group serves it", () => {
    const { config: c, warnings } = parse(fixture("iptv-and-internet.conf"));
    assert.deepEqual(
      c.upstreams.map((u) => [u.name, u.groups, u.sources]),
      [
        ["eth8.4", ["239.0.0.0/8"], ["10.200.0.0/16"]],
        ["eth8", [], []],
      ],
    );
    assert.deepEqual(c.downstreams[0]!.igmp!.allowGroups, [], "the upstream whitelist no longer narrows the downstream");
    assert.deepEqual(warnings, []);
  });

  test("Debian's shipped sample", () => {
    const { config: c } = parse(fixture("debian-default.conf"));
    assert.deepEqual(c.upstreams[0]!.sources, ["10.0.0.0/8", "198.18.10.0/24"]);
    assert.deepEqual(c.disabled, ["eth2"]);
  });
});

describe("igmpproxy format: each directive", () => {
  test("without quickleave: no fast leave; all other settings are the RFC defaults", () => {
    const { config: c } = parse(MIN);
    assert.deepEqual(c.downstreams[0]!.igmp, resolveSettings("igmp", [{ ignoreGroups: [] }]));
    assert.deepEqual(c.upstreams[0]!.igmp, resolveSettings("igmp", [{ ignoreGroups: [] }]));
    assert.equal(c.downstreams[0]!.ttlThreshold, 1);
    assert.deepEqual(c.upstreams[0]!.sources, [], "no altnet: every source");
  });

  test("quickleave: fast-leave on every downstream and the default downstreams, not the upstream", () => {
    const { config: c } = parse(`quickleave\ndefaultdown\n${MIN}phyint dn2 downstream\n`);
    for (const d of [...c.downstreams, c.defaultDownstream!]) assert.equal(d.igmp!.fastLeave, true);
    assert.equal(c.upstreams[0]!.igmp!.fastLeave, false);
  });

  test("defaultdown: a template for every other interface; no downstream needed", () => {
    const { config: c, warnings } = parse("defaultdown\nphyint up0 upstream\nphyint eth9 disabled\n");
    assert.deepEqual(warnings, []);
    assert.deepEqual(c.downstreams, []);
    assert.equal(c.defaultDownstream!.name, "*");
    assert.equal(c.defaultDownstream!.role, "downstream");
    assert.equal(c.defaultDownstream!.line, 1);
    assert.equal(c.defaultDownstream!.mld, null);
    assert.deepEqual(c.disabled, ["eth9"]);
  });

  test("rescanvif is accepted silently; hashtablesize with a note; chroot with a warning", () => {
    assert.deepEqual(parse(`rescanvif\n${MIN}`).warnings, []);
    const h = parse(`quickleave\nhashtablesize 64\n${MIN}`).warnings;
    assert.equal(h.length, 1);
    assert.equal(h[0]!.line, 2);
    assert.match(h[0]!.message, /hashtablesize is ignored/);
    const c = parse(`chroot /var/empty\n${MIN}`).warnings;
    assert.equal(c[0]!.line, 1);
    assert.match(c[0]!.message, /chroot \/var\/empty is not applied/);
  });

  test("user NAME", () => {
    assert.equal(parse(`user nobody\n${MIN}`).config.user, "nobody");
    assert.equal(parse(`user _igmp-proxy\n${MIN}`).config.user, "_igmp-proxy");
  });

  test("threshold is the interface's ttl-threshold; ratelimit 0 is silent, other values warn", () => {
    const { config: c, warnings } = parse(
      "phyint up0 upstream threshold 3\nphyint dn1 downstream ratelimit 100 threshold 64\n",
    );
    assert.equal(c.upstreams[0]!.ttlThreshold, 3);
    assert.equal(c.downstreams[0]!.ttlThreshold, 64);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.line, 2);
    assert.match(warnings[0]!.message, /ratelimit 100 on "dn1" is ignored: Linux does not rate-limit/);
    assert.equal(
      parse("phyint up0 upstream threshold 255\nphyint d downstream threshold 1\n").config.upstreams[0]!
        .ttlThreshold,
      255,
    );
  });

  test("whitelist = allow-groups, blacklist = deny-groups of that downstream", () => {
    const { config: c } = parse(
      "phyint up0 upstream\nphyint dn1 downstream\n  whitelist 239.0.0.0/8\n  blacklist 239.9.0.0/16\nphyint dn2 downstream\n",
    );
    assert.deepEqual(c.downstreams[0]!.igmp!.allowGroups, ["239.0.0.0/8"]);
    assert.deepEqual(c.downstreams[0]!.igmp!.denyGroups, ["239.9.0.0/16"]);
    assert.deepEqual(c.downstreams[1]!.igmp!.allowGroups, []);
    assert.deepEqual(c.downstreams[1]!.igmp!.denyGroups, []);
  });

  test("a group list reaching beyond 224.0.0.0/4 is cut to it; a bare address is a /32", () => {
    const { config: c } = parse(
      "phyint up0 upstream\nphyint dn1 downstream whitelist 0.0.0.0/0 blacklist 239.1.1.1\n",
    );
    assert.deepEqual(c.downstreams[0]!.igmp!.allowGroups, ["224.0.0.0/4"]);
    assert.deepEqual(c.downstreams[0]!.igmp!.denyGroups, ["239.1.1.1/32"]);
  });

  test("whitelist / blacklist on an upstream are the groups joined there (YAML `groups`); downstreams keep their own", () => {
    const { config: c, warnings } = parse(
      [
        "defaultdown",
        "phyint up0 upstream",
        "  whitelist 239.0.0.0/8",
        "  blacklist 239.128.0.0/9",
        "phyint dn1 downstream whitelist 239.1.0.0/16 whitelist 232.0.0.0/8",
        "phyint dn2 downstream blacklist 239.7.0.0/16",
      ].join("\n"),
    );
    assert.deepEqual(c.upstreams[0]!.groups, ["239.0.0.0/9"], "the whitelist less the blacklist");
    assert.deepEqual(c.upstreams[0]!.igmp!.allowGroups, [], "nothing is filtered on the upstream itself");
    const [dn1, dn2] = c.downstreams;
    assert.deepEqual(dn1!.igmp!.allowGroups, ["239.1.0.0/16", "232.0.0.0/8"], "not narrowed by the upstream's");
    assert.deepEqual(dn1!.igmp!.denyGroups, []);
    assert.deepEqual(dn2!.igmp!.allowGroups, []);
    assert.deepEqual(dn2!.igmp!.denyGroups, ["239.7.0.0/16"]);
    assert.deepEqual(c.defaultDownstream!.igmp!.allowGroups, []);
    assert.deepEqual(warnings, []);
    const black = parse("phyint up0 upstream blacklist 239.255.0.0/16\nphyint dn1 downstream\n").config;
    assert.equal(black.upstreams[0]!.groups.length, 12, "224.0.0.0/4 less 239.255.0.0/16, as prefixes");
    assert.ok(black.upstreams[0]!.groups.includes("239.254.0.0/16") && !black.upstreams[0]!.groups.includes("239.255.0.0/16"));
  });

  test("several upstream phyints are several upstreams, in the file's order, each with its whitelist and altnet", () => {
    const { config: c, warnings } = parse(
      [
        "phyint iptv0 upstream ratelimit 0 threshold 1",
        "  altnet 10.200.0.0/16",
        "  whitelist 239.0.0.0/8",
        "phyint wan0 upstream threshold 2",
        "phyint lan0 downstream",
      ].join("\n"),
    );
    assert.deepEqual(
      c.upstreams.map((u) => [u.name, u.role, u.groups, u.sources, u.ttlThreshold, u.line]),
      [
        ["iptv0", "upstream", ["239.0.0.0/8"], ["10.200.0.0/16"], 1, 1],
        ["wan0", "upstream", [], [], 2, 4],
      ],
    );
    assert.deepEqual(warnings, []);
  });

  test("an upstream whose whitelist earlier upstreams cover is never used: a warning", () => {
    const { warnings } = parse(
      [
        "phyint wan0 upstream",
        "phyint iptv0 upstream",
        "  whitelist 239.0.0.0/8",
        "phyint iptv1 upstream whitelist 232.0.0.0/8",
        "phyint lan0 downstream",
      ].join("\n"),
    );
    assert.deepEqual(
      warnings.map((w) => [w.line, w.message]),
      [
        [2, 'upstream "iptv0" serves no group: the upstreams before it ("wan0") serve all of its groups (the first match wins)'],
        [4, 'upstream "iptv1" serves no group: the upstreams before it ("wan0") serve all of its groups (the first match wins)'],
      ],
    );
    const entry = parse(
      "phyint iptv0 upstream whitelist 239.0.0.0/8\nphyint iptv1 upstream\n whitelist 232.0.0.0/8\n whitelist 239.1.0.0/16\nphyint lan0 downstream\n",
    ).warnings;
    assert.deepEqual(
      entry.map((w) => [w.line, w.message]),
      [[4, '`groups` entry 239.1.0.0/16 of upstream "iptv1" is never used: "iptv0" before it serves those groups (the first match wins)']],
    );
  });

  test("a whitelist entry inside an earlier blacklist entry: a warning that the blacklist wins", () => {
    const { warnings } = parse(
      "phyint up0 upstream\nphyint dn1 downstream\n blacklist 239.0.0.0/8\n whitelist 239.1.0.0/16\n",
    );
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.line, 4);
    assert.match(warnings[0]!.message, /blacklist wins here/);
  });

  test("altnet on a downstream or a disabled interface, lists on a disabled one: warnings", () => {
    const { warnings } = parse(
      `${MIN}phyint dn2 downstream altnet 10.0.0.0/8\nphyint x disabled\n altnet 10.0.0.0/8\n whitelist 239.0.0.0/8\n`,
    );
    assert.deepEqual(
      warnings.map((w) => w.line),
      [3, 5, 6],
    );
  });
});

describe("igmpproxy format: layout", () => {
  test("options on the phyint line or on later lines, indented or not, several prefixes per keyword", () => {
    const a = parse(
      "phyint up0 upstream ratelimit 0 threshold 2 altnet 10.0.0.0/8 198.18.0.0/15\nphyint dn1 downstream\n",
    ).config;
    const b = parse(
      "phyint up0\nupstream\nratelimit 0\n    threshold\n 2\naltnet 10.0.0.0/8\n\taltnet 198.18.0.0/15\nphyint dn1 downstream\n",
    ).config;
    assert.deepEqual(a.upstreams[0]!.sources, ["10.0.0.0/8", "198.18.0.0/15"]);
    assert.deepEqual({ ...b.upstreams[0]!, line: 1 }, { ...a.upstreams[0]!, line: 1 });
    assert.equal(a.upstreams[0]!.ttlThreshold, 2);
  });

  test("comments (whole lines and trailing), blank lines, tabs, CRLF", () => {
    const { config: c } = parse(
      "# igmpproxy\r\n\r\nquickleave # send leaves at once\r\nphyint\tup0\tupstream # wan\r\n\taltnet 10.0.0.0/8#isp\r\nphyint dn1 downstream\r\n",
    );
    assert.equal(c.upstreams[0]!.name, "up0");
    assert.equal(c.upstreams[0]!.line, 4);
    assert.deepEqual(c.upstreams[0]!.sources, ["10.0.0.0/8"]);
    assert.equal(c.downstreams[0]!.igmp!.fastLeave, true);
  });

  test("the role may come anywhere among the phyint options", () => {
    const { config: c } = parse(
      "phyint up0 ratelimit 0 threshold 1 upstream\nphyint dn1 threshold 5 downstream\n",
    );
    assert.equal(c.upstreams[0]!.name, "up0");
    assert.equal(c.downstreams[0]!.ttlThreshold, 5);
  });
});

describe("igmpproxy format: errors name FILE:LINE", () => {
  const cases: Array<[string, string, number, RegExp]> = [
    [
      "unknown directive",
      `${MIN}igmp enable\n`,
      3,
      /^unknown directive "igmp" \(expected one of: phyint, quickleave/,
    ],
    ["phyint without a name", "phyint\n", 1, /^missing interface name after "phyint"$/],
    ["phyint with a keyword for a name", "phyint upstream\n", 1, /^missing interface name after "phyint"$/],
    ["invalid interface name", "phyint abcdefghijklmnop upstream\n", 1, /16 characters long, at most 15/],
    [
      "phyint without role",
      "phyint up0 upstream\nphyint dn1 ratelimit 0 threshold 1\nquickleave\n",
      2,
      /^phyint "dn1" has no role: add upstream, downstream or disabled$/,
    ],
    [
      "second role",
      "phyint up0 upstream\n  downstream\n",
      2,
      /^phyint "up0" has a second role "downstream" \(it is upstream, line 1\)$/,
    ],
    [
      "second phyint for an interface",
      `${MIN}phyint dn1 disabled\n`,
      3,
      /^second phyint for "dn1" \(first on line 2\)$/,
    ],
    [
      "altnet before any phyint",
      "altnet 10.0.0.0/8\n",
      1,
      /^"altnet" before any phyint: it belongs to the phyint it follows$/,
    ],
    [
      "whitelist after a top-level directive",
      `${MIN}quickleave\nwhitelist 239.0.0.0/8\n`,
      4,
      /^"whitelist" after "quickleave" \(line 3\)/,
    ],
    [
      "bad prefix",
      "phyint up0 upstream altnet 10.0.0/8\n",
      1,
      /^bad altnet "10\.0\.0\/8": expected an IPv4 prefix a\.b\.c\.d\/n$/,
    ],
    [
      "IPv6 prefix",
      "phyint up0 upstream\naltnet fd00::/8\n",
      2,
      /^bad altnet "fd00::\/8": expected an IPv4 prefix/,
    ],
    ["prefix length", "phyint up0 upstream altnet 10.0.0.0/33\n", 1, /^bad altnet "10\.0\.0\.0\/33"/],
    [
      "missing prefix",
      "phyint up0 upstream altnet\nphyint dn1 downstream\n",
      1,
      /^missing a prefix NET\/LEN after "altnet"$/,
    ],
    [
      "host bits",
      "phyint up0 upstream\n altnet 10.1.2.3/8\n",
      2,
      /host bits set beyond \/8 .*write 10\.0\.0\.0\/8$/,
    ],
    [
      "multicast altnet",
      "phyint up0 upstream altnet 239.0.0.0/8\n",
      1,
      /^bad altnet "239\.0\.0\.0\/8": a multicast prefix/,
    ],
    [
      "unicast whitelist",
      "phyint up0 upstream\nphyint d downstream\n whitelist 10.0.0.0/8\n",
      3,
      /^bad whitelist "10\.0\.0\.0\/8": not a multicast prefix, it matches no group/,
    ],
    [
      "threshold 0",
      "phyint up0 upstream threshold 0\n",
      1,
      /^bad value "0" for threshold: expected an integer from 1 to 255$/,
    ],
    [
      "threshold 256",
      "phyint up0 upstream\nphyint d downstream threshold 256\n",
      2,
      /^bad value "256" for threshold/,
    ],
    ["threshold text", "phyint up0 upstream threshold one\n", 1, /^bad value "one" for threshold/],
    [
      "threshold missing",
      "phyint up0 upstream threshold\nphyint dn1 downstream\n",
      1,
      /^missing a TTL after "threshold"$/,
    ],
    [
      "negative ratelimit",
      "phyint up0 upstream ratelimit -1\n",
      1,
      /^bad value "-1" for ratelimit: expected an integer from 0 to/,
    ],
    [
      "hashtablesize 0",
      "quickleave\nhashtablesize 0\n",
      2,
      /^bad value "0" for hashtablesize: expected an integer from 1 to 536870912$/,
    ],
    ["second quickleave", `quickleave\n${MIN}quickleave\n`, 4, /^second "quickleave" \(first on line 1\)$/],
    ["user without a name", `${MIN}user\n`, 3, /^missing a user name after "user"$/],
    ["bad user name", `user no:body\n${MIN}`, 1, /^bad user name "no:body"$/],
    ["chroot without a directory", `chroot\n${MIN}`, 1, /^missing a directory after "chroot"$/],
    [
      "no upstream",
      "quickleave\nphyint dn1 downstream\n\n",
      3,
      /^no upstream: at least one "phyint IF upstream" is required$/,
    ],
    [
      "no downstream, no defaultdown",
      "phyint up0 upstream\nphyint x disabled\n",
      2,
      /^no downstream: add "phyint IF downstream" or "defaultdown"$/,
    ],
    ["empty file", "", 1, /^no upstream/],
    [
      "an upstream blacklist that takes its whole whitelist",
      "phyint up0 upstream whitelist 239.1.0.0/16\n blacklist 239.0.0.0/8\nphyint dn1 downstream\n",
      2,
      /^the blacklist of upstream "up0" holds every group its whitelist allows: it would serve no group$/,
    ],
  ];
  for (const [what, text, line, reason] of cases) {
    test(what, () => {
      const p = problem(text);
      assert.equal(p.line, line, `${what}: ${p.reason}`);
      assert.match(p.reason, reason);
    });
  }

  test("more than 31 downstreams: the kernel's VIF limit, at the first one too many", () => {
    const downs = Array.from({ length: 32 }, (_, i) => `phyint d${i} downstream`).join("\n");
    const p = problem(`phyint up0 upstream\n${downs}\n`);
    assert.equal(p.line, 33);
    assert.match(p.reason, /too many IGMP interfaces: downstream "d31" is the 32nd/);
  });
});

describe("format detection by content", () => {
  test("a first directive only igmpproxy has", () => {
    for (const first of [
      "phyint eth0 upstream",
      "quickleave",
      "defaultdown",
      "rescanvif",
      "hashtablesize 32",
      "chroot /x",
      "user nobody",
    ]) {
      assert.equal(looksLikeIgmpproxy(`# comment\n\n${first}\nphyint x downstream\n`), true, first);
    }
    assert.equal(looksLikeIgmpproxy("quickleave # on\nphyint a upstream\n"), true);
  });

  test("IMProxy files are not taken for igmpproxy ones (quickleave enable / disable is IMProxy's)", () => {
    for (const text of [
      "igmp enable\nupstream a\n",
      "quickleave enable\nigmp enable\n",
      "quickleave disable\n",
      "",
      "# only a comment\n",
      "upstream: a\n",
    ]) {
      assert.equal(looksLikeIgmpproxy(text), false, text);
    }
  });

  test("formatOf: .yaml / .yml by name; other names by content", () => {
    assert.equal(formatOf("/etc/a.yaml", "phyint a upstream\n"), "yaml");
    assert.equal(formatOf("/etc/a.YML", ""), "yaml");
    assert.equal(formatOf("/etc/igmpproxy.conf", "phyint a upstream\n"), "igmpproxy");
    assert.equal(formatOf("/etc/config/igmpproxy", "quickleave\n"), "igmpproxy");
    assert.equal(formatOf("/etc/improxy.conf", "igmp enable\n"), "improxy");
    assert.equal(
      formatOf("/etc/igmpproxy.conf", "igmp enable\n"),
      "improxy",
      "the content decides, not the name",
    );
  });

  test("loadConfigWithWarnings reads an igmpproxy file by any name, with its warnings", () => {
    const dir = tempDir("improxy-igmpproxy-");
    const path = join(dir, "igmpproxy.conf.generated");
    writeFileSync(path, "phyint up0 upstream ratelimit 10\nphyint dn1 downstream\n");
    const { config, warnings } = loadConfigWithWarnings(path);
    assert.equal(config.format, "igmpproxy");
    assert.equal(config.file, path);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.file, path);
  });
});
