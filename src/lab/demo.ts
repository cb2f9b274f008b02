/**
 * `improxy lab` / `npm run demo`: builds the lab topology in network namespaces, runs
 * improxy in the router namespace, and shows multicast flowing from the upstream sender to
 * receivers on the downstream hosts, IPv4 and IPv6, any-source and source-specific, then a
 * receiver leaving. Everything is torn down on exit, on Ctrl-C, and even after a crash
 * (the next run sweeps namespaces whose owner process is gone).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Receiver, type Sender, startReceiver, startSender } from "./hosts.js";
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

const say = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Flow {
  label: string;
  rx: Receiver;
}

function countBySource(rx: Receiver, sinceMs: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of rx.packets) if (p.at >= sinceMs) m.set(p.from, (m.get(p.from) ?? 0) + 1);
  return m;
}

function report(flows: Flow[], sinceMs: number): void {
  for (const f of flows) {
    const by = countBySource(f.rx, sinceMs);
    const parts = [...by].map(([src, n]) => `${n} from ${src}`);
    say(`  ${f.label.padEnd(48)} ${parts.length ? parts.join(", ") : "nothing"}`);
  }
}

export async function runLab(opts: LabOptions): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write("improxy lab: needs root (it creates network namespaces)\n");
    return 1;
  }
  const phase = Math.max(1, opts.duration) * 1000;
  let topo: Topology | null = null;
  const procs: Array<Receiver | Sender> = [];
  const dir = mkdtempSync(join(tmpdir(), "improxy-lab-"));
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    say("improxy lab: building the topology (network namespaces, veth links)");
    topo = await buildTopology();
    say(`  upstream host 'up' ${topo.addr.up.v4} ${topo.addr.up.v6} --- up0 [router] dn1 --- h1 ${topo.addr.h1.v4}`);
    say(`                                                        dn2 --- h2 ${topo.addr.h2.v4}`);
    await topo.up.addAddress("eth0", "10.10.0.3/24");
    const confPath = join(dir, "improxy.yaml");
    const controlSocket = join(dir, "improxy.sock");
    const config = labConfig(controlSocket);
    writeFileSync(confPath, config);
    say(`\nconfig (${confPath}):\n${config.replace(/^/gm, "  | ")}`);

    say("starting improxy in the router namespace (log level info)");
    const daemon = topo.rtr.spawn(process.execPath, [process.argv[1]!, "-c", confPath, "-d", "3", "--log-format", "pretty"]);
    daemon.stderr?.on("data", (d: Buffer) => {
      for (const line of d.toString().split("\n")) if (line.trim()) say(`  [improxy] ${line}`);
    });
    const daemonExit = new Promise<number | null>((res) => daemon.once("exit", (c) => res(c)));
    await sleep(1500);

    say("\nsenders on the upstream host: 239.1.1.1 and ff05::1:1 from 10.10.0.2, 232.1.1.1 from 10.10.0.2 and 10.10.0.3");
    procs.push(startSender(topo.up, "239.1.1.1", { intervalMs: 100, bind: "10.10.0.2" }));
    procs.push(startSender(topo.up, "ff05::1:1", { intervalMs: 100, port: 5002 }));
    procs.push(startSender(topo.up, "232.1.1.1", { intervalMs: 100, port: 5003, bind: "10.10.0.2" }));
    procs.push(startSender(topo.up, "232.1.1.1", { intervalMs: 100, port: 5003, bind: "10.10.0.3" }));

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
    procs.push(...flows.map((f) => f.rx));
    await Promise.all(flows.map((f) => f.rx.joined));
    let t0 = Date.now();
    await sleep(phase);
    if (!interrupted) {
      say(`\nreceived in ${phase / 1000} s (senders at 10 packets/s):`);
      report(flows, t0);
      say("\nh1 leaves 239.1.1.1 (fast-leave on: forwarding on dn1 stops at once)");
      await flows[0]!.rx.stop();
      const h1b = startReceiver(topo.h1, "239.1.1.9", { port: 5009 });
      procs.push(h1b);
      t0 = Date.now();
      await sleep(phase);
      say(`\nafter the leave, in ${phase / 1000} s:`);
      report(flows.slice(1), t0);
      for (const view of ["groups", "routes"]) {
        const out = await topo.rtr.exec(process.execPath, [process.argv[1]!, "show", view, "--socket", controlSocket]);
        say(`\nimproxy show ${view}:`);
        say(out.stdout.trimEnd().replace(/^/gm, "  "));
      }
      const mroute = await topo.rtr.exec("ip", ["mroute", "show"]);
      const mroute6 = await topo.rtr.exec("ip", ["-6", "mroute", "show"]);
      say("\nkernel forwarding cache in the router (ip mroute / ip -6 mroute):");
      say((mroute.stdout + mroute6.stdout).trim().replace(/^/gm, "  "));
    }
    say("\nstopping improxy (SIGTERM)");
    daemon.kill("SIGTERM");
    const code = await daemonExit;
    say(`improxy exited with code ${code}`);
    return interrupted ? 130 : 0;
  } catch (err) {
    process.stderr.write(`improxy lab: ${(err as Error).message}\n`);
    return 1;
  } finally {
    for (const p of procs) await p.stop().catch(() => undefined);
    if (topo) await topo.destroy();
    rmSync(dir, { recursive: true, force: true });
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    say("lab torn down: namespaces removed");
  }
}
