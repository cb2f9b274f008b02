/**
 * Ingress classification: what one IGMP/MLD packet received on the multicast routing
 * socket is to this proxy, before any protocol state is touched. Pure (no I/O); the
 * family proxy counts each outcome and hands messages to the link's router engine.
 *
 * Order of the checks (the first that applies wins):
 * 1. own: the source is one of this host's addresses. The kernel's host stack reports
 *    the groups the router itself joined (the report groups, the upstream memberships)
 *    and those reach the raw socket too (docs/kernel.md "Receiving reports").
 * 2. unconfigured-interface: the ingress interface is not an attached link of this family.
 * 3. upstream: the proxy is a host on every upstream link (RFC 4605 §4.1); the kernel's host
 *    stack answers queries there, and reports of other hosts upstream are never downstream
 *    membership (the C IMProxy treated them so, with sticky joins: docs/improxy-compat.md).
 *    Only its type byte says what was ignored (`UpstreamPacketType`), for the counters; a
 *    query is also decoded (when valid) for the version the upstream querier speaks, which
 *    decides the version the kernel reports in there (src/proxy/upstream-querier.ts). It
 *    creates no state.
 * 4. parse-error: the codec rejected the bytes (reason counted per kind).
 * 5. message: a parsed message for the downstream link's router, with its receive metadata.
 */
import type { ReceivedPacket } from "../kernel/mroute-socket.js";
import type { ReceiveMeta } from "../router/index.js";
import { IgmpType, MldType, parse } from "../wire/index.js";
import type { Address, IpFamily, Message, ParseErrorReason, Query } from "../wire/types.js";

export interface IngressLink {
  name: string;
  role: "upstream" | "downstream";
}

export interface IngressContext {
  family: IpFamily;
  /** Whether `address` belongs to this host (any interface). */
  isOwnAddress(address: Address): boolean;
  /** The attached link of this family on `ifindex`, if any. */
  attachedLink(ifindex: number): IngressLink | undefined;
}

/**
 * What a packet ignored on the upstream link was, by its type byte alone: a query (any
 * version, whatever its Max Resp Code, QRV, QQIC or S flag), a report (IGMPv1/v2/v3,
 * MLDv1/v2), a leave (IGMPv2 Leave Group, MLDv1 Done) or anything else (an empty payload,
 * an unknown type). Stable strings: counter keys and metric labels.
 */
export type UpstreamPacketType = "query" | "report" | "leave" | "other";

export const UPSTREAM_PACKET_TYPES: readonly UpstreamPacketType[] = ["query", "report", "leave", "other"];

const UPSTREAM_TYPES: Readonly<Record<IpFamily, ReadonlyMap<number, UpstreamPacketType>>> = {
  ipv4: new Map<number, UpstreamPacketType>([
    [IgmpType.MEMBERSHIP_QUERY, "query"],
    [IgmpType.V1_MEMBERSHIP_REPORT, "report"],
    [IgmpType.V2_MEMBERSHIP_REPORT, "report"],
    [IgmpType.V3_MEMBERSHIP_REPORT, "report"],
    [IgmpType.V2_LEAVE_GROUP, "leave"],
  ]),
  ipv6: new Map<number, UpstreamPacketType>([
    [MldType.LISTENER_QUERY, "query"],
    [MldType.V1_LISTENER_REPORT, "report"],
    [MldType.V2_LISTENER_REPORT, "report"],
    [MldType.V1_LISTENER_DONE, "leave"],
  ]),
};

/** The type of a packet ignored on the upstream link (see `UpstreamPacketType`). */
export function upstreamPacketType(family: IpFamily, payload: Uint8Array): UpstreamPacketType {
  const t = payload[0];
  return (t === undefined ? undefined : UPSTREAM_TYPES[family].get(t)) ?? "other";
}

export type Ingress =
  | { kind: "own" }
  | { kind: "unconfigured-interface" }
  | { kind: "upstream"; link: IngressLink; type: UpstreamPacketType; query?: Query }
  | { kind: "parse-error"; link: IngressLink; reason: ParseErrorReason; detail: string }
  | { kind: "message"; link: IngressLink; message: Message; meta: ReceiveMeta };

export function classifyIngress(p: ReceivedPacket, ctx: IngressContext): Ingress {
  if (ctx.isOwnAddress(p.source)) return { kind: "own" };
  const link = ctx.attachedLink(p.ifindex);
  if (link === undefined) return { kind: "unconfigured-interface" };
  // MLD checksums cover the IPv6 pseudo-header (RFC 4443 §2.3); IGMP's does not.
  const pseudo = ctx.family === "ipv6" ? { source: p.source, destination: p.destination } : undefined;
  if (link.role === "upstream") {
    const type = upstreamPacketType(ctx.family, p.payload);
    if (type !== "query") return { kind: "upstream", link, type };
    const q = parse(ctx.family, p.payload, pseudo);
    return q.ok && q.message.type === "query"
      ? { kind: "upstream", link, type, query: q.message }
      : { kind: "upstream", link, type };
  }
  const res = parse(ctx.family, p.payload, pseudo);
  if (!res.ok) return { kind: "parse-error", link, reason: res.error.reason, detail: res.error.detail };
  return {
    kind: "message",
    link,
    message: res.message,
    meta: { source: p.source, destination: p.destination, ttl: p.ttl, routerAlert: p.routerAlert },
  };
}
