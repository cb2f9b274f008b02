/**
 * `node --import tsx bench/flow-rates.ts [--entries N] [--samples K]` (root): the cost of the
 * daemon's flow-rate sampler (src/control/flow-rates.ts) at `max-forwarding-entries`, against
 * the real kernel. In a network namespace with two links (veth), N (4,096) MFC entries per
 * family are installed through the kernel layer (MrouteTable.setRoute), then the sampler
 * takes K samples of every entry of both families (one SIOCGETSGCNT each, as the daemon
 * does every 2 s), without and with the web view's history. Prints the CPU time per
 * sample and what it is at the 2 s period.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { VirtualScheduler } from "../src/clock/index.js";
import { FLOW_RATES, FlowRates } from "../src/control/flow-rates.js";
import { MrouteSocket } from "../src/kernel/mroute-socket.js";
import { MrouteTable } from "../src/kernel/mroute-table.js";
import { Lab } from "../src/lab/netns.js";
import type { IpFamily } from "../src/wire/types.js";

const { values } = parseArgs({
  options: {
    entries: { type: "string", default: "4096" },
    samples: { type: "string", default: "50" },
    inner: { type: "boolean", default: false },
  },
});
const ENTRIES = Number(values.entries);
const SAMPLES = Number(values.samples);

/** Inside the namespace: the entries, then the timed samples. */
function inner(): void {
  const families = (["ipv4", "ipv6"] as IpFamily[]).map((family) => {
    const socket = MrouteSocket.open(family, {
      table: null,
      onError: (err) => {
        throw err;
      },
    });
    const table = new MrouteTable(socket);
    table.addVif("d0", ifindex("d0"));
    table.addVif("d1", ifindex("d1"));
    const entries = Array.from({ length: ENTRIES }, (_, i) => {
      const [hi, lo] = [i >> 8, i & 255];
      return family === "ipv4"
        ? { source: `10.20.${hi}.${lo + 1 > 254 ? 1 : lo + 1}`, group: `239.20.${hi}.${lo}` }
        : { source: `fd00:20::${i + 1}`, group: `ff0e::20:${i.toString(16)}` };
    });
    for (const e of entries) table.setRoute(e.source, e.group, "d0", ["d1"]);
    return {
      family,
      socket,
      forwardingCounters: () =>
        entries.map((e) => ({
          ...e,
          iif: "d0",
          oifs: ["d1"],
          upstream: null,
          kernel: table.routeCounters(e.source, e.group),
          upTimeMs: null,
        })),
    };
  });
  {
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < SAMPLES; i++) for (const f of families) f.forwardingCounters();
    const cpu = process.cpuUsage(cpu0);
    console.log(
      `reading the counters alone (${2 * ENTRIES} SIOCGETSGCNT): ${((cpu.user + cpu.system) / 1000 / SAMPLES).toFixed(1)} ms CPU per sample`,
    );
  }
  for (const history of [false, true]) {
    const clock = new VirtualScheduler();
    const rates = new FlowRates({ families }, clock, { history });
    rates.sample(); // warm-up: the flows are allocated
    clock.advance(FLOW_RATES.periodMs);
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    for (let i = 0; i < SAMPLES; i++) {
      rates.sample();
      clock.advance(FLOW_RATES.periodMs);
    }
    const wall = (performance.now() - wall0) / SAMPLES;
    const cpu = process.cpuUsage(cpu0);
    const perSample = (cpu.user + cpu.system) / 1000 / SAMPLES;
    console.log(
      `${rates.size} flows (${ENTRIES} per family), history ${history ? "on " : "off"}: ` +
        `${perSample.toFixed(1)} ms CPU per sample, counters included (user ${(cpu.user / 1000 / SAMPLES).toFixed(1)}, system ${(cpu.system / 1000 / SAMPLES).toFixed(1)}; wall ${wall.toFixed(1)} ms), ` +
        `${((perSample / FLOW_RATES.periodMs) * 100).toFixed(2)} % of one core at the ${FLOW_RATES.periodMs / 1000} s period`,
    );
    rates.close();
  }
  for (const f of families) f.socket.close();
}

function ifindex(name: string): number {
  return Number(readFileSync(`/sys/class/net/${name}/ifindex`, "utf8").trim());
}

export async function main(): Promise<void> {
  const lab = await Lab.create();
  try {
    const ns = await lab.addNamespace("rates");
    for (const d of ["d0", "d1"]) {
      await ns.ip("link", "add", d, "type", "veth", "peer", "name", `${d}p`);
      await ns.ip("link", "set", `${d}p`, "up");
      await ns.ip("link", "set", d, "multicast", "on", "up");
    }
    const { stdout, stderr } = await ns.exec("node", [
      "--import",
      "tsx",
      import.meta.filename,
      "--inner",
      "--entries",
      String(ENTRIES),
      "--samples",
      String(SAMPLES),
    ]);
    process.stdout.write(stdout);
    if (stderr.trim()) process.stderr.write(stderr);
  } finally {
    await lab.destroy();
  }
}

if (values.inner) inner();
else if (import.meta.filename === process.argv[1]) await main();
