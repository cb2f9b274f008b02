/**
 * Lab topologies beyond the standard one (src/lab/topology.ts) for the proxy scenarios.
 */
import type { Lab, Netns } from "../../src/lab/netns.js";
import { buildLab, type LinkPlan, wire } from "../../src/lab/topology.js";

/** The namespaces of the bridge labs (router, upstream host, switch, h1, h3), up0 linked to up's eth0. */
async function switchedNamespaces(lab: Lab) {
  const rtr = await lab.addNamespace("rtr");
  const up = await lab.addNamespace("up");
  const sw = await lab.addNamespace("sw");
  const h1 = await lab.addNamespace("h1");
  const h3 = await lab.addNamespace("h3");
  await lab.addLink(rtr, "up0", up, "eth0");
  return { rtr, up, sw, h1, h3 };
}

/**
 * The switch `sw`: bridge br0 over p0 (already linked to the router) and p1 / p2, linked to
 * h1 and h3's eth0, which get .2 and .3 of 10.11.0.0/24 (and of fd00:11::/64 with `v6`) and
 * default routes through the router's .1 / ::1.
 */
async function switchedHosts(lab: Lab, sw: Netns, h1: Netns, h3: Netns, v6: boolean): Promise<void> {
  await lab.addLink(sw, "p1", h1, "eth0");
  await lab.addLink(sw, "p2", h3, "eth0");
  await lab.addBridge(sw, "br0");
  for (const port of ["p0", "p1", "p2"]) await lab.attach(sw, port, "br0");
  for (const [ns, n] of [
    [h1, 2],
    [h3, 3],
  ] as const) {
    await ns.addAddress("eth0", `10.11.0.${n}/24`);
    await ns.ip("route", "add", "default", "via", "10.11.0.1");
    if (!v6) continue;
    await ns.addAddress("eth0", `fd00:11::${n}/64`);
    await ns.ip("-6", "route", "add", "default", "via", "fd00:11::1");
  }
}

/** The router with one downstream link shared by two hosts through a bridge (snooping off). */
export interface BridgeLab {
  lab: Lab;
  rtr: Netns;
  up: Netns;
  /** The hosts on dn1: h1 at .2 / ::2, h3 at .3 / ::3. */
  h1: Netns;
  h3: Netns;
  destroy(): Promise<void>;
}

/**
 *   [up] eth0 --- up0 [rtr] dn1 --- p0 [sw: br0] p1 --- eth0 [h1]
 *                                               p2 --- eth0 [h3]
 * Addresses as in the standard topology (upstream 10.10.0.0/24 + fd00:10::/64, dn1
 * 10.11.0.0/24 + fd00:11::/64, the router .1 / ::1).
 */
export function buildBridgeLab(): Promise<BridgeLab> {
  return buildLab(async (lab) => {
    const { rtr, up, sw, h1, h3 } = await switchedNamespaces(lab);
    await lab.addLink(rtr, "dn1", sw, "p0");
    await switchedHosts(lab, sw, h1, h3, true);
    await rtr.addAddress("up0", "10.10.0.1/24");
    await rtr.addAddress("up0", "fd00:10::1/64");
    await rtr.addAddress("dn1", "10.11.0.1/24");
    await rtr.addAddress("dn1", "fd00:11::1/64");
    await up.addAddress("eth0", "10.10.0.2/24");
    await up.addAddress("eth0", "fd00:10::2/64");
    await up.ip("route", "add", "default", "via", "10.10.0.1");
    await up.ip("-6", "route", "add", "default", "via", "fd00:10::1");
    return { rtr, up, h1, h3 };
  });
}

/** The IPTV lab: an ISP VLAN upstream and a bridge downstream with two set-top boxes. */
export interface IptvLab {
  lab: Lab;
  rtr: Netns;
  /** The ISP: eth0 (untagged, the internet side) and eth0.4 (VLAN 4, the IPTV head-ends). */
  up: Netns;
  /** Two set-top boxes behind the router's bridge br0: h1 at 10.11.0.2, h3 at 10.11.0.3. */
  h1: Netns;
  h3: Netns;
  destroy(): Promise<void>;
}

/**
 *   [up] eth0 ------ up0 [rtr]                     (10.10.0.0/24, untagged)
 *        eth0.4 ---- up0.4                          (VLAN 4: 10.40.0.0/24; head-ends .2 and .3)
 *                         br0 (10.11.0.1/24) = dn1 --- p0 [sw: br0] p1 --- eth0 [h1]
 *                         dn9 (10.99.0.1/24) --- x9 [sw]            p2 --- eth0 [h3]
 * up0.4 / eth0.4 are VLAN 4 on up0 / eth0 where the kernel has 802.1Q, else a second veth
 * pair under the same names (CONFIG_VLAN_8021Q is not in every test kernel). The head-ends
 * send multicast out of eth0.4 (a 224.0.0.0/4 route). IPv4 only.
 */
export function buildIptvLab(): Promise<IptvLab> {
  return buildLab(async (lab) => {
    const { rtr, up, sw, h1, h3 } = await switchedNamespaces(lab);
    try {
      await rtr.ip("link", "add", "link", "up0", "name", "up0.4", "type", "vlan", "id", "4");
      await up.ip("link", "add", "link", "eth0", "name", "eth0.4", "type", "vlan", "id", "4");
      await rtr.linkUp("up0.4");
      await up.linkUp("eth0.4");
    } catch {
      await rtr.ip("link", "del", "up0.4").catch(() => undefined);
      await lab.addLink(rtr, "up0.4", up, "eth0.4");
    }
    await rtr.addAddress("up0", "10.10.0.1/24");
    await rtr.addAddress("up0.4", "10.40.0.1/24");
    await up.addAddress("eth0", "10.10.0.2/24");
    await up.addAddress("eth0.4", "10.40.0.2/24");
    await up.addAddress("eth0.4", "10.40.0.3/24");
    await up.ip("route", "add", "default", "via", "10.10.0.1");
    await up.ip("route", "add", "224.0.0.0/4", "dev", "eth0.4");
    await lab.addLink(rtr, "dn1", sw, "p0");
    await lab.addBridge(rtr, "br0");
    await lab.attach(rtr, "dn1", "br0");
    await rtr.addAddress("br0", "10.11.0.1/24");
    await lab.addLink(rtr, "dn9", sw, "x9");
    await rtr.addAddress("dn9", "10.99.0.1/24");
    await switchedHosts(lab, sw, h1, h3, false);
    return { rtr, up, h1, h3 };
  });
}

/** Two upstreams, an IPTV-like one and an internet-like one, and one downstream host. */
export interface UpstreamsLab {
  lab: Lab;
  rtr: Netns;
  /** The IPTV head-ends behind iptv0: 10.20.0.2 and .3, fd00:20::2 and ::3. */
  iptv: Netns;
  /** The internet behind wan0: 10.30.0.2 and .3, fd00:30::2 and ::3. */
  wan: Netns;
  /** The host behind lan0: 10.11.0.2, fd00:11::2. */
  h1: Netns;
  /** Wires iptv0 again (after its veth was deleted): a new interface under the same name. */
  wireIptv(): Promise<void>;
  destroy(): Promise<void>;
}

const IPTV_LINK: LinkPlan = { rtrIf: "iptv0", host: "iptv", v4: "10.20.0", v6: "fd00:20:" };
const WAN_LINK: LinkPlan = { rtrIf: "wan0", host: "wan", v4: "10.30.0", v6: "fd00:30:" };
const LAN_LINK: LinkPlan = { rtrIf: "lan0", host: "h1", v4: "10.11.0", v6: "fd00:11:" };

/**
 *   [iptv] eth0 --- iptv0 [rtr] lan0 --- eth0 [h1]
 *   [wan]  eth0 --- wan0  [rtr]
 * iptv0 10.20.0.0/24 + fd00:20::/64, wan0 10.30.0.0/24 + fd00:30::/64, lan0 10.11.0.0/24 +
 * fd00:11::/64; the router is .1 / ::1 on each, the hosts .2 / ::2 (the upstream hosts also
 * .3 / ::3: a second source).
 */
export function buildUpstreamsLab(): Promise<UpstreamsLab> {
  return buildLab(async (lab) => {
    const rtr = await lab.addNamespace("rtr");
    const iptv = await lab.addNamespace("iptv");
    const wan = await lab.addNamespace("wan");
    const h1 = await lab.addNamespace("h1");
    const upstream = async (host: Netns, plan: LinkPlan) => {
      await wire(lab, rtr, host, plan);
      await host.addAddress("eth0", `${plan.v4}.3/24`);
      await host.addAddress("eth0", `${plan.v6}:3/64`);
    };
    await upstream(iptv, IPTV_LINK);
    await upstream(wan, WAN_LINK);
    await wire(lab, rtr, h1, LAN_LINK);
    return { rtr, iptv, wan, h1, wireIptv: () => upstream(iptv, IPTV_LINK) };
  });
}
