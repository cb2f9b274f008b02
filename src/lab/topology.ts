/**
 * The standard lab topology, shared by `improxy lab`, the end-to-end tests and the
 * benchmarks:
 *
 *   [up] eth0 --- up0 [rtr] dn1 --- eth0 [h1]
 *                          dn2 --- eth0 [h2]
 *
 * upstream link 10.10.0.0/24 + fd00:10::/64 (rtr .1 / ::1, up .2 / ::2)
 * d1 link       10.11.0.0/24 + fd00:11::/64 (rtr .1 / ::1, h1 .2 / ::2)
 * d2 link       10.12.0.0/24 + fd00:12::/64 (rtr .1 / ::1, h2 .2 / ::2)
 * Hosts route everything through the router, so multicast senders pick eth0.
 */
import { Lab, type Netns } from "./netns.js";

export interface LinkPlan {
  /** Router-side interface name. */
  rtrIf: string;
  /** Host-side namespace short name. */
  host: string;
  v4: string; // /24 prefix base, e.g. "10.11.0"
  v6: string; // /64 prefix base, e.g. "fd00:11:"
}

export const UPSTREAM: LinkPlan = { rtrIf: "up0", host: "up", v4: "10.10.0", v6: "fd00:10:" };
export const DOWN1: LinkPlan = { rtrIf: "dn1", host: "h1", v4: "10.11.0", v6: "fd00:11:" };
export const DOWN2: LinkPlan = { rtrIf: "dn2", host: "h2", v4: "10.12.0", v6: "fd00:12:" };

export interface Topology {
  lab: Lab;
  rtr: Netns;
  up: Netns;
  h1: Netns;
  h2: Netns;
  /** Host addresses by short name: up/h1/h2 -> { v4, v6 } (host side), and rtr per link. */
  addr: Record<"up" | "h1" | "h2", { v4: string; v6: string }>;
  rtrAddr: Record<"up0" | "dn1" | "dn2", { v4: string; v6: string }>;
  destroy(): Promise<void>;
}

/**
 * A veth between the router's `plan.rtrIf` and the host's eth0, with the router at .1 / ::1,
 * the host at .2 / ::2 and the host's default routes through the router.
 */
export async function wire(lab: Lab, rtr: Netns, host: Netns, plan: LinkPlan): Promise<void> {
  await lab.addLink(rtr, plan.rtrIf, host, "eth0");
  await rtr.addAddress(plan.rtrIf, `${plan.v4}.1/24`);
  await rtr.addAddress(plan.rtrIf, `${plan.v6}:1/64`);
  await host.addAddress("eth0", `${plan.v4}.2/24`);
  await host.addAddress("eth0", `${plan.v6}:2/64`);
  await host.ip("route", "add", "default", "via", `${plan.v4}.1`);
  await host.ip("-6", "route", "add", "default", "via", `${plan.v6}:1`);
}

/**
 * Creates a lab, runs `build` in it and returns what it built with `lab` and `destroy`; a
 * build that fails destroys the lab before the error goes on.
 */
export async function buildLab<T extends object>(
  build: (lab: Lab) => Promise<T>,
): Promise<T & { lab: Lab; destroy(): Promise<void> }> {
  const lab = await Lab.create();
  try {
    return { ...(await build(lab)), lab, destroy: () => lab.destroy() };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

/** Builds the standard topology. Call `destroy()` in a finally block. */
export function buildTopology(): Promise<Topology> {
  return buildLab(async (lab) => {
    const rtr = await lab.addNamespace("rtr");
    const up = await lab.addNamespace("up");
    const h1 = await lab.addNamespace("h1");
    const h2 = await lab.addNamespace("h2");
    for (const [host, plan] of [
      [up, UPSTREAM],
      [h1, DOWN1],
      [h2, DOWN2],
    ] as const) {
      await wire(lab, rtr, host, plan);
    }
    const a = (p: LinkPlan) => ({ v4: `${p.v4}.2`, v6: `${p.v6}:2` });
    const r = (p: LinkPlan) => ({ v4: `${p.v4}.1`, v6: `${p.v6}:1` });
    return {
      rtr,
      up,
      h1,
      h2,
      addr: { up: a(UPSTREAM), h1: a(DOWN1), h2: a(DOWN2) },
      rtrAddr: { up0: r(UPSTREAM), dn1: r(DOWN1), dn2: r(DOWN2) },
    };
  });
}
