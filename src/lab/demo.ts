/**
 * `improxy lab` / `npm run demo`: builds the lab topology in network namespaces, runs
 * improxy in the router namespace, and shows multicast flowing from the upstream sender to
 * receivers on the downstream hosts, IPv4 and IPv6, any-source and source-specific, then a
 * receiver leaving.
 *
 * Whatever ends the run (its end, Ctrl-C, SIGTERM, SIGHUP, the reader of its output going
 * away, an exception: exit-paths.ts), the teardown stops the host programs and the daemon,
 * deletes the namespaces and the run directory. What a run killed with SIGKILL leaves is
 * removed by the next run: its host programs end by themselves (hosts.ts), its daemon and
 * run directory go first (run-dir.ts), its namespaces when the topology is built (netns.ts).
 */
import type { ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { ExitPaths, Stopped } from "./exit-paths.js";
import { type Receiver, type Sender, startReceiver, startSender } from "./hosts.js";
import type { Netns } from "./netns.js";
import { stopChild } from "./processes.js";
import { createRunDir, type RunDir, sweepDeadRuns } from "./run-dir.js";
import { buildTopology, type Topology } from "./topology.js";

export interface LabOptions {
  /** Seconds each phase lasts (at least 1). */
  duration: number;
}

/** The lab's config (YAML; the IMProxy format works the same, see README). */
function labConfig(controlSocket: string): string {
  return `# improxy lab config
control-socket: ${controlSocket}
igmp: { version: 3 }
mld: { version: 2 }
fast-leave: true            # IMProxy: quickleave enable
upstream: up0
downstream: [dn1, dn2]
`;
}

interface Flow {
  label: string;
  rx: Receiver;
}

function countBySource(rx: Receiver, sinceMs: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of rx.packets) if (p.at >= sinceMs) m.set(p.from, (m.get(p.from) ?? 0) + 1);
  return m;
}

/**
 * Datagrams the router forwarded onto `ifname`, both families: the PktsOut column of the
 * kernel's VIF / MIF tables (/proc/net/ip_mr_vif, ip6_mr_vif) in the router's namespace.
 */
async function packetsOut(rtr: Netns, ifname: string): Promise<number> {
  let n = 0;
  for (const table of ["/proc/net/ip_mr_vif", "/proc/net/ip6_mr_vif"]) {
    for (const row of (await rtr.readProc(table)).split("\n").slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f[1] === ifname) n += Number(f[5]);
    }
  }
  return n;
}

/** True while a forwarding entry of `group` in the router's kernel (`ip mroute`) sends to `ifname`. */
async function forwardsTo(rtr: Netns, group: string, ifname: string): Promise<boolean> {
  const { stdout } = await rtr.exec("ip", ["mroute", "show"]);
  const oif = new RegExp(`Oifs:.*\\b${ifname}\\b`);
  return stdout.split("\n").some((l) => l.includes(`,${group})`) && oif.test(l));
}

/** What one run started, for the teardown. */
interface Started {
  topo: Topology | null;
  dir: RunDir | null;
  daemon: ChildProcess | null;
  hosts: Array<Receiver | Sender>;
  /** Set when the teardown begins: from then on the daemon's exit is expected. */
  stopping: boolean;
}

/**
 * Stops the host programs, then the daemon (SIGTERM: it removes its kernel state; SIGKILL
 * after 5 s), deletes the namespaces and the run directory. Resolves with the daemon's
 * exit code (undefined when none was started).
 */
async function teardown(s: Started, say: (line: string) => void): Promise<number | null | undefined> {
  s.stopping = true;
  await Promise.all(s.hosts.map((h) => stopChild(h.proc, 2000)));
  let code: number | null | undefined;
  if (s.daemon) {
    say("\nstopping improxy (SIGTERM)");
    code = await stopChild(s.daemon, 5000);
    say(`improxy exited with code ${code}`);
  }
  if (s.topo) await s.topo.destroy();
  if (s.dir) rmSync(s.dir.path, { recursive: true, force: true });
  say(`lab torn down: processes stopped, namespaces${s.dir ? ` and ${s.dir.path}` : ""} removed`);
  return code;
}

export async function runLab(opts: LabOptions): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write("improxy lab: needs root (it creates network namespaces)\n");
    return 1;
  }
  const exit = new ExitPaths();
  const say = (line: string) => exit.print(line);
  const phase = Math.max(1, opts.duration) * 1000;
  const s: Started = { topo: null, dir: null, daemon: null, hosts: [], stopping: false };
  // Last resort, should anything call process.exit() before the teardown: the namespaces
  // go with Lab's own exit hook; the processes and the directory here.
  const atExit = () => {
    for (const p of [...s.hosts.map((h) => h.proc), s.daemon]) if (p?.exitCode === null) p.kill("SIGTERM");
    if (s.dir) rmSync(s.dir.path, { recursive: true, force: true });
  };
  process.on("exit", atExit);
  let daemonCode: number | null | undefined;
  try {
    for (const old of await sweepDeadRuns()) {
      const daemons = old.daemons.length ? `, stopped its improxy (pid ${old.daemons.join(", ")})` : "";
      say(`removed what a killed lab run left: ${old.dir}${daemons}`);
    }
    say("improxy lab: building the topology (network namespaces, veth links)");
    s.topo = await buildTopology();
    const topo = s.topo;
    say(
      `  upstream host 'up' ${topo.addr.up.v4} ${topo.addr.up.v6} --- up0 [router] dn1 --- h1 ${topo.addr.h1.v4}`,
    );
    say(`                                                        dn2 --- h2 ${topo.addr.h2.v4}`);
    exit.check();
    await topo.up.addAddress("eth0", "10.10.0.3/24");
    s.dir = createRunDir(topo.lab.runId);
    const dir = s.dir;
    const config = labConfig(dir.controlSocket);
    writeFileSync(dir.config, config);
    say(`\nconfig (${dir.config}):\n${config.replace(/^/gm, "  | ")}`);
    exit.check();

    // Its own process group: a Ctrl-C on the terminal reaches the lab alone, which stops
    // the daemon after the hosts.
    const daemon = topo.rtr.spawn(
      process.execPath,
      [process.argv[1]!, "-c", dir.config, "-p", dir.pidFile, "-d", "3", "--log-format", "pretty"],
      { detached: true },
    );
    s.daemon = daemon;
    say(`starting improxy in the router namespace (pid ${daemon.pid}, log level info)`);
    daemon.on("error", (err) => exit.fail(err));
    daemon.stderr?.on("data", (d: Buffer) => {
      for (const line of d.toString().split("\n")) if (line.trim()) say(`  [improxy] ${line}`);
    });
    daemon.once("exit", (code, signal) => {
      if (!s.stopping) exit.fail(new Error(`improxy exited early (${signal ?? `code ${code}`})`));
    });
    await exit.pause(1500);

    say(
      "\nsenders on the upstream host: 239.1.1.1 and ff05::1:1 from 10.10.0.2, 232.1.1.1 from 10.10.0.2 and 10.10.0.3",
    );
    s.hosts.push(startSender(topo.up, "239.1.1.1", { intervalMs: 100, bind: "10.10.0.2" }));
    s.hosts.push(startSender(topo.up, "ff05::1:1", { intervalMs: 100, port: 5002 }));
    s.hosts.push(startSender(topo.up, "232.1.1.1", { intervalMs: 100, port: 5003, bind: "10.10.0.2" }));
    s.hosts.push(startSender(topo.up, "232.1.1.1", { intervalMs: 100, port: 5003, bind: "10.10.0.3" }));

    say("receivers join: h1 239.1.1.1 (any source), h2 239.1.1.1, h2 ff05::1:1, h2 (10.10.0.2, 232.1.1.1)");
    const flows: Flow[] = [
      { label: "h1 239.1.1.1 (any source)", rx: startReceiver(topo.h1, "239.1.1.1") },
      { label: "h2 239.1.1.1 (any source)", rx: startReceiver(topo.h2, "239.1.1.1") },
      { label: "h2 ff05::1:1 (MLDv2, any source)", rx: startReceiver(topo.h2, "ff05::1:1", { port: 5002 }) },
      {
        label: "h2 232.1.1.1 source-specific from 10.10.0.2",
        rx: startReceiver(topo.h2, "232.1.1.1", { port: 5003, source: "10.10.0.2" }),
      },
    ];
    s.hosts.push(...flows.map((f) => f.rx));
    await exit.within(Promise.all(flows.map((f) => f.rx.joined)), 10_000, "the receivers did not join");
    let t0 = Date.now();
    const dn1AtStart = await packetsOut(topo.rtr, "dn1");
    await exit.pause(phase);
    say(`\nreceived in ${phase / 1000} s (senders at 10 packets/s):`);
    const report = (list: Flow[]) => {
      for (const f of list) {
        const parts = [...countBySource(f.rx, t0)].map(([src, n]) => `${n} from ${src}`);
        say(`  ${f.label.padEnd(48)} ${parts.length ? parts.join(", ") : "nothing"}`);
      }
    };
    report(flows);

    say("\nh1 leaves 239.1.1.1 (fast-leave on: forwarding on dn1 stops at once)");
    const dn1BeforeLeave = (await packetsOut(topo.rtr, "dn1")) - dn1AtStart;
    const left = Date.now();
    await flows[0]!.rx.stop();
    // From the moment the router's kernel stops forwarding to dn1, h1's only link, count
    // what still goes out there: nothing, if the leave holds.
    for (
      const deadline = left + 3000;
      Date.now() < deadline && (await forwardsTo(topo.rtr, "239.1.1.1", "dn1"));
    ) {
      await exit.pause(20);
    }
    exit.check();
    const stopAfter = Date.now() - left;
    const before = await packetsOut(topo.rtr, "dn1");
    t0 = Date.now();
    await exit.pause(phase);
    const onDn1 = (await packetsOut(topo.rtr, "dn1")) - before;
    say(`\nafter the leave, in ${phase / 1000} s:`);
    say(`  h1 after leave: ${onDn1} datagrams (forwarded onto dn1, h1's link: the router's VIF counter)`);
    say(
      `  (before the leave the counter saw ${dn1BeforeLeave}; forwarding to dn1 stopped ${stopAfter} ms after h1 left)`,
    );
    report(flows.slice(1));
    for (const view of ["groups", "routes"]) {
      const out = await topo.rtr.exec(process.execPath, [
        process.argv[1]!,
        "show",
        view,
        "--socket",
        dir.controlSocket,
      ]);
      say(`\nimproxy show ${view}:`);
      say(out.stdout.trimEnd().replace(/^/gm, "  "));
      exit.check();
    }
    const mroute = await topo.rtr.exec("ip", ["mroute", "show"]);
    const mroute6 = await topo.rtr.exec("ip", ["-6", "mroute", "show"]);
    say("\nkernel forwarding cache in the router (ip mroute / ip -6 mroute):");
    say((mroute.stdout + mroute6.stdout).trim().replace(/^/gm, "  "));
    exit.check();
  } catch (err) {
    if (!(err instanceof Stopped)) exit.fail(err);
  } finally {
    daemonCode = await teardown(s, say).catch((err: unknown) => {
      exit.fail(err);
      return undefined;
    });
    process.off("exit", atExit);
    exit.dispose();
  }
  const code = exit.exitCode();
  // A run that went through but whose daemon did not exit cleanly is a failed demo.
  return code === 0 && daemonCode !== 0 ? 1 : code;
}
