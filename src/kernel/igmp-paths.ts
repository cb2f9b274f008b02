/**
 * Which IPv4 receive socket carries an IGMP datagram: the mroute socket or the link's report
 * socket (docs/kernel.md "Receiving reports"). Both are raw IGMP sockets, and the kernel
 * hands a locally delivered IGMP packet to every raw IGMP socket, so each would see the
 * other's packets; this module is the one place that decides, twice over: `igmpPath` in
 * TypeScript (the check every datagram goes through after it is read) and the same decision
 * as a classic BPF program (`igmpFilter`, attached to the socket so that the kernel drops
 * the other socket's copies before they take buffer space or a read). The unit test
 * test/unit/kernel-igmp-paths.test.ts runs the program against `igmpPath`.
 *
 * The paths, from net/ipv4/ipmr.c ip_mr_input() and net/ipv4/route.c:
 *  - "upcall": the kernel's struct igmpmsg, queued on the mroute socket only; byte 9
 *    (im_mbz) is 0 where an IP header has its protocol (2 for IGMP).
 *  - "mroute": multicast outside 224.0.0.0/24 WITHOUT a Router Alert option. A multicast
 *    router hands such IGMP (IGMPv1 reports, and IGMPv2 reports of hosts that omit the
 *    option, RFC 2236 §2) to its mroute socket alone when the router is not a member of the
 *    group there; when it is a member the packet is delivered locally, to the mroute socket
 *    as well. Either way the mroute socket gets exactly one copy; the link's socket gets
 *    one only in the second case, so the mroute socket is the one that reads them.
 *  - "link": everything else: 224.0.0.0/24 (delivered locally only: the report groups the
 *    link's socket joined, 224.0.0.1), unicast and broadcast, and multicast WITH a Router
 *    Alert (delivered locally, or through the Router Alert chain to every IGMP socket with
 *    IP_ROUTER_ALERT that is bound to the ingress interface; the link's socket sets it).
 *  - "none": a datagram the kernel would not deliver (malformed options) or too short.
 * A Router Alert is what the kernel counts as one (ip_options_compile): option 148 with a
 * length of at least 4 and a zero value; any other value is no Router Alert for routing.
 */
import {
  addi,
  addx,
  andi,
  assemble,
  BPF_ACCEPT,
  BPF_DROP,
  type BpfInsn,
  type BpfItem,
  ja,
  jeq,
  jge,
  jgtx,
  ld,
  ldb,
  ldbx,
  ldhx,
  ldxi,
  lshi,
  ret,
  tax,
  txa,
} from "./structs/bpf.js";

export type IgmpPath = "upcall" | "mroute" | "link" | "none";

/** IPv4 header without options; the options area ends at 60 (IHL 15). */
const MIN_HEADER = 20;
const MAX_HEADER = 60;
/** RFC 791 options: End of Option List, No Operation; RFC 2113 Router Alert. */
const IPOPT_END = 0;
const IPOPT_NOOP = 1;
const IPOPT_RA = 0x94;

/** The path of one datagram as a raw IGMP socket delivers it (IP header first). */
export function igmpPath(b: Uint8Array): IgmpPath {
  if (b.length < 10) return "none";
  if (b[9] === 0) return "upcall";
  if (b.length < MIN_HEADER) return "none";
  if ((b[16]! & 0xf0) !== 0xe0) return "link";
  if (b[16] === 224 && b[17] === 0 && b[18] === 0) return "link";
  const headerLength = (b[0]! & 0x0f) * 4;
  let x = MIN_HEADER;
  while (headerLength > x) {
    if (x >= b.length) return "none";
    const type = b[x]!;
    if (type === IPOPT_END) return "mroute";
    if (type === IPOPT_NOOP) {
      x += 1;
      continue;
    }
    const len = b[x + 1];
    if (len === undefined || len < 2) return "none";
    if (type === IPOPT_RA) {
      if (len < 4 || x + 3 >= b.length) return "none";
      if (b[x + 2] === 0 && b[x + 3] === 0) return "link";
    }
    x += len;
  }
  return "mroute";
}

/** The paths a socket keeps. */
export type IgmpSocketRole = "mroute" | "link";

/** Whether a socket of `role` keeps a datagram on `path`. */
export function keeps(role: IgmpSocketRole, path: IgmpPath): boolean {
  return role === "mroute" ? path === "upcall" || path === "mroute" : path === "link";
}

/**
 * The classic BPF program that keeps exactly what `keeps(role, igmpPath(datagram))` keeps.
 * The option walk is unrolled: each step consumes at least one byte of the at most 40 bytes
 * of options, so 40 steps reach the end of any header. X is the offset of the option looked
 * at; the header length and the option's bytes are loaded again where needed (no scratch
 * memory: src/kernel/structs/bpf.ts).
 */
export function igmpFilter(role: IgmpSocketRole): BpfInsn[] {
  const verdict = (path: IgmpPath) => (keeps(role, path) ? BPF_ACCEPT : BPF_DROP);
  const steps = MAX_HEADER - MIN_HEADER;
  const p: BpfItem[] = [
    ldb(9),
    jeq(0, "upcall"),
    ld(16),
    andi(0xf0000000),
    jeq(0xe0000000, 0, "link"), // not multicast
    ld(16),
    andi(0xffffff00),
    jeq(0xe0000000, "link"), // 224.0.0.0/24
    ldxi(MIN_HEADER),
    ja("step0"),
    { label: "upcall" },
    ret(verdict("upcall")),
    { label: "link" },
    ret(verdict("link")),
  ];
  for (let i = 0; i < steps; i++) {
    const n = (name: string) => `${name}${i}`;
    p.push(
      { label: n("step") },
      ldb(0),
      andi(0x0f),
      lshi(2),
      jgtx(0, n("mroute")), // header length > x: an option is left
      ldbx(0),
      jeq(IPOPT_END, n("mroute")),
      jeq(IPOPT_NOOP, n("noop")),
      jeq(IPOPT_RA, n("ra")),
      ldbx(1),
      jge(2, n("next"), n("none")),
      { label: n("ra") },
      ldbx(1),
      jge(4, 0, n("none")),
      ldhx(2),
      jeq(0, n("link")),
      ldbx(1),
      { label: n("next") }, // A = the option's length
      addx(),
      tax(),
      ja(`step${i + 1}`),
      { label: n("noop") },
      txa(),
      addi(1),
      tax(),
      ja(`step${i + 1}`),
      { label: n("mroute") },
      ret(verdict("mroute")),
      { label: n("link") },
      ret(verdict("link")),
      { label: n("none") },
      ret(verdict("none")),
    );
  }
  p.push({ label: `step${steps}` }, ret(verdict("mroute")));
  return assemble(p);
}
