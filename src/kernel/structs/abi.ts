/**
 * The layouts of the kernel structs the TypeScript side packs and parses, for each Linux
 * ABI this daemon runs on (docs/kernel.md "Struct layouts"). Two things vary between the
 * ABIs Linux routers use (x86_64, aarch64: LP64; i386, armhf, mips: ILP32):
 *
 * - `unsigned long`: 8 or 4 bytes. The counters of `sioc_sg_req(6)` and
 *   `sioc_vif_req` / `sioc_mif_req6` are unsigned longs (4 bytes on a 32-bit kernel);
 * - the alignment of `struct __kernel_sockaddr_storage` (a pointer's: 8 or 4), which places
 *   the group and sources of `group_req`, `group_source_req` and `group_filter`.
 *
 * Everything else is fixed-width. `kernelLayouts(abi)` gives every size and offset under
 * the names native/layouts.h measures with sizeof/offsetof; the addon's own measurement is
 * compared with `kernelLayouts(HOST_ABI)` when it loads (addon.ts), and a test compiles the
 * same list for i386, armhf and musl and compares it with this function
 * (test/unit/kernel-layouts.test.ts).
 */

/** What the struct layouts of a Linux ABI depend on. */
export interface Abi {
  /** sizeof(unsigned long). */
  longBytes: 4 | 8;
  /** _Alignof(struct __kernel_sockaddr_storage): a pointer's alignment. */
  storageAlign: 4 | 8;
}

export const LP64: Abi = { longBytes: 8, storageAlign: 8 };
export const ILP32: Abi = { longBytes: 4, storageAlign: 4 };

/** Node's architectures with 4-byte longs and pointers (the rest are LP64). */
const ILP32_ARCHES = new Set(["ia32", "arm", "mips", "mipsel", "ppc"]);

/** The ABI of the running Node binary (the addon is built for the same). */
export function abiOf(arch: string): Abi {
  return ILP32_ARCHES.has(arch) ? ILP32 : LP64;
}

export const HOST_ABI: Abi = abiOf(process.arch);

const STORAGE = 128;
const SIN6 = 28;

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Every size ("struct") and offset ("struct.field") of native/layouts.h, for `abi`. */
export function kernelLayouts(abi: Abi): Record<string, number> {
  const L = abi.longBytes;
  const A = abi.storageAlign;
  /** A u32 followed by a sockaddr_storage (the RFC 3678 requests). */
  const afterU32 = alignUp(4, A);
  const gfFmode = afterU32 + STORAGE;
  const gfSlist = alignUp(gfFmode + 8, A);
  /** Four unsigned long counters after a u16 index (sioc_vif_req, sioc_mif_req6). */
  const vifReq = (prefix: string) => ({
    [prefix]: 5 * L,
    [`${prefix}.icount`]: L,
    [`${prefix}.ocount`]: 2 * L,
    [`${prefix}.ibytes`]: 3 * L,
    [`${prefix}.obytes`]: 4 * L,
  });
  /** Three unsigned long counters after two addresses of `addr` bytes (sioc_sg_req(6)). */
  const sgReq = (prefix: string, addr: number) => {
    const pkt = alignUp(2 * addr, L);
    return {
      [prefix]: alignUp(pkt + 3 * L, L),
      [`${prefix}.grp`]: addr,
      [`${prefix}.pktcnt`]: pkt,
      [`${prefix}.bytecnt`]: pkt + L,
      [`${prefix}.wrong_if`]: pkt + 2 * L,
    };
  };
  return {
    long: L,
    "__kernel_sockaddr_storage.align": A,
    __kernel_sockaddr_storage: STORAGE,
    sockaddr_in: 16,
    "sockaddr_in.sin_port": 2,
    "sockaddr_in.sin_addr": 4,
    sockaddr_in6: SIN6,
    "sockaddr_in6.sin6_port": 2,
    "sockaddr_in6.sin6_flowinfo": 4,
    "sockaddr_in6.sin6_addr": 8,
    "sockaddr_in6.sin6_scope_id": 24,
    sockaddr_nl: 12,
    "sockaddr_nl.nl_pid": 4,
    "sockaddr_nl.nl_groups": 8,
    group_req: afterU32 + STORAGE,
    "group_req.gr_group": afterU32,
    group_source_req: afterU32 + 2 * STORAGE,
    "group_source_req.gsr_group": afterU32,
    "group_source_req.gsr_source": afterU32 + STORAGE,
    group_filter: gfSlist + STORAGE,
    "group_filter.gf_group": afterU32,
    "group_filter.gf_fmode": gfFmode,
    "group_filter.gf_numsrc": gfFmode + 4,
    "group_filter.gf_slist": gfSlist,
    ip_mreqn: 12,
    "ip_mreqn.imr_address": 4,
    "ip_mreqn.imr_ifindex": 8,
    ipv6_mreq: 20,
    "ipv6_mreq.ipv6mr_ifindex": 16,
    icmp6_filter: 32,
    vifctl: 16,
    "vifctl.vifc_flags": 2,
    "vifctl.vifc_threshold": 3,
    "vifctl.vifc_rate_limit": 4,
    "vifctl.vifc_lcl_ifindex": 8,
    "vifctl.vifc_rmt_addr": 12,
    mfcctl: 60,
    "mfcctl.mfcc_mcastgrp": 4,
    "mfcctl.mfcc_parent": 8,
    "mfcctl.mfcc_ttls": 10,
    "mfcctl.mfcc_pkt_cnt": 44,
    "mfcctl.mfcc_byte_cnt": 48,
    "mfcctl.mfcc_wrong_if": 52,
    "mfcctl.mfcc_expire": 56,
    igmpmsg: 20,
    "igmpmsg.im_msgtype": 8,
    "igmpmsg.im_mbz": 9,
    "igmpmsg.im_vif": 10,
    "igmpmsg.im_vif_hi": 11,
    "igmpmsg.im_src": 12,
    "igmpmsg.im_dst": 16,
    ...sgReq("sioc_sg_req", 4),
    ...vifReq("sioc_vif_req"),
    mif6ctl: 12,
    "mif6ctl.mif6c_flags": 2,
    "mif6ctl.vifc_threshold": 3,
    "mif6ctl.mif6c_pifi": 4,
    "mif6ctl.vifc_rate_limit": 8,
    mf6cctl: 92,
    "mf6cctl.mf6cc_mcastgrp": SIN6,
    "mf6cctl.mf6cc_parent": 2 * SIN6,
    "mf6cctl.mf6cc_ifset": 60,
    mrt6msg: 40,
    "mrt6msg.im6_msgtype": 1,
    "mrt6msg.im6_mif": 2,
    "mrt6msg.im6_src": 8,
    "mrt6msg.im6_dst": 24,
    ...sgReq("sioc_sg_req6", SIN6),
    ...vifReq("sioc_mif_req6"),
    nlmsghdr: 16,
    nlmsgerr: 20,
    ifinfomsg: 16,
    ifaddrmsg: 8,
    rtattr: 4,
  };
}

const computed = new Map<Abi, Readonly<Record<string, number>>>();

/** `kernelLayouts(abi)`, computed once per ABI (the counter parsers ask at every read). */
export function layoutsOf(abi: Abi): Readonly<Record<string, number>> {
  let l = computed.get(abi);
  if (l === undefined) {
    l = kernelLayouts(abi);
    computed.set(abi, l);
  }
  return l;
}

/** The layouts of the running ABI. */
export const HOST_LAYOUTS: Readonly<Record<string, number>> = layoutsOf(HOST_ABI);

/** The entries where `measured` (the addon's sizeof/offsetof) and `expected` differ. */
export function layoutMismatches(
  measured: Readonly<Record<string, number>>,
  expected: Readonly<Record<string, number>> = HOST_LAYOUTS,
): string[] {
  const names = new Set([...Object.keys(measured), ...Object.keys(expected)]);
  return [...names]
    .filter((n) => measured[n] !== expected[n])
    .map((n) => `${n}: compiled ${measured[n] ?? "absent"}, expected ${expected[n] ?? "absent"}`);
}

/** Reads an unsigned long counter (4 or 8 bytes, host order) as a bigint. */
export function readULong(v: DataView, offset: number, littleEndian: boolean, abi: Abi = HOST_ABI): bigint {
  return abi.longBytes === 8 ? v.getBigUint64(offset, littleEndian) : BigInt(v.getUint32(offset, littleEndian));
}
