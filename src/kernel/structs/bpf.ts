/**
 * Classic BPF socket filters (SO_ATTACH_FILTER; linux/filter.h, linux/bpf_common.h): the
 * instruction encoding and a small assembler with labels. Pure: no I/O. The programs
 * themselves are built where their meaning is (src/kernel/igmp-paths.ts); the addon only
 * hands the bytes to the kernel (docs/kernel.md "Native layer").
 *
 * `struct sock_filter` is 8 bytes: code u16, jt u8, jf u8, k u32, host order. Conditional
 * jumps skip jt / jf instructions forward (0..255); `ja` skips k. Loads from the packet
 * (`ld`/`ldh`/`ldb` with an absolute offset or [x + k]) read network order; a load past the
 * end of the packet ends the program with 0 (the packet is dropped). The programs here use
 * no scratch memory: the kernel's check that memory is written before it is read
 * (check_load_and_stores) also follows the fall-through after a `ret`, which an unrolled
 * loop of labelled blocks cannot satisfy.
 */

// Instruction classes, sizes, modes, operations (linux/bpf_common.h).
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_ADD = 0x00;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;
/** The kernel's limit on a program's length (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
export const SOCK_FILTER_SIZE = 8;

/** One instruction; `jt` / `jf` are labels or forward offsets. */
export interface BpfInsn {
  code: number;
  k: number;
  jt?: string | number;
  jf?: string | number;
}

/** An element of a program: an instruction or a label naming the next instruction. */
export type BpfItem = BpfInsn | { label: string };

/** Resolves the labels to forward offsets; throws on an unknown label or a jump out of range. */
export function assemble(items: readonly BpfItem[]): BpfInsn[] {
  const at = new Map<string, number>();
  const insns: BpfInsn[] = [];
  for (const item of items) {
    if ("label" in item) {
      if (at.has(item.label)) throw new Error(`BPF label ${item.label} defined twice`);
      at.set(item.label, insns.length);
    } else insns.push(item);
  }
  const offset = (from: number, to: string | number | undefined): number => {
    if (to === undefined) return 0;
    const target = typeof to === "number" ? from + 1 + to : at.get(to);
    if (target === undefined) throw new Error(`BPF label ${String(to)} is not defined`);
    const skip = target - from - 1;
    if (skip < 0 || skip > 255)
      throw new Error(`BPF jump from ${from} to ${String(to)} is out of range (${skip})`);
    return skip;
  };
  const out = insns.map((insn, i) => {
    if (insn.code === (BPF_JMP | BPF_JA) && typeof insn.jt === "string") {
      const target = at.get(insn.jt);
      if (target === undefined || target <= i) throw new Error(`BPF ja to ${insn.jt} is not forward`);
      return { code: insn.code, k: target - i - 1, jt: 0, jf: 0 };
    }
    return { code: insn.code, k: insn.k, jt: offset(i, insn.jt), jf: offset(i, insn.jf) };
  });
  if (out.length === 0 || out.length > BPF_MAXINSNS)
    throw new Error(`BPF program of ${out.length} instructions`);
  return out;
}

/** The struct sock_filter array of a program, as the addon's attachFilter takes it. */
export function packBpf(insns: readonly BpfInsn[]): Buffer {
  const b = Buffer.alloc(insns.length * SOCK_FILTER_SIZE);
  insns.forEach((insn, i) => {
    const o = i * SOCK_FILTER_SIZE;
    b.writeUInt16LE(insn.code, o);
    b.writeUInt8(Number(insn.jt ?? 0), o + 2);
    b.writeUInt8(Number(insn.jf ?? 0), o + 3);
    b.writeUInt32LE(insn.k >>> 0, o + 4);
  });
  return b;
}

// Mnemonics (the classic BPF assembler's names).
/** A = the byte / half word / word at offset k of the packet. */
export const ldb = (k: number): BpfInsn => ({ code: BPF_LD | BPF_B | BPF_ABS, k });
export const ld = (k: number): BpfInsn => ({ code: BPF_LD | BPF_W | BPF_ABS, k });
/** A = the byte / half word at offset x + k. */
export const ldbx = (k: number): BpfInsn => ({ code: BPF_LD | BPF_B | BPF_IND, k });
export const ldhx = (k: number): BpfInsn => ({ code: BPF_LD | BPF_H | BPF_IND, k });
/** X = k. */
export const ldxi = (k: number): BpfInsn => ({ code: BPF_LDX | BPF_W | BPF_IMM, k });
export const tax = (): BpfInsn => ({ code: BPF_MISC | BPF_TAX, k: 0 });
export const txa = (): BpfInsn => ({ code: BPF_MISC | BPF_TXA, k: 0 });
export const addi = (k: number): BpfInsn => ({ code: BPF_ALU | BPF_ADD | BPF_K, k });
export const addx = (): BpfInsn => ({ code: BPF_ALU | BPF_ADD | BPF_X, k: 0 });
export const andi = (k: number): BpfInsn => ({ code: BPF_ALU | BPF_AND | BPF_K, k });
export const lshi = (k: number): BpfInsn => ({ code: BPF_ALU | BPF_LSH | BPF_K, k });
/** if (A == k) / (A >= k) / (A > X) goto jt else goto jf. */
export const jeq = (k: number, jt?: string | number, jf?: string | number): BpfInsn => ({
  code: BPF_JMP | BPF_JEQ | BPF_K,
  k,
  ...(jt === undefined ? {} : { jt }),
  ...(jf === undefined ? {} : { jf }),
});
export const jge = (k: number, jt?: string | number, jf?: string | number): BpfInsn => ({
  ...jeq(k, jt, jf),
  code: BPF_JMP | BPF_JGE | BPF_K,
});
export const jgtx = (jt?: string | number, jf?: string | number): BpfInsn => ({
  ...jeq(0, jt, jf),
  code: BPF_JMP | BPF_JGT | BPF_X,
});
export const ja = (label: string): BpfInsn => ({ code: BPF_JMP | BPF_JA, k: 0, jt: label });
/** Ends the program: keep k bytes of the packet (0 = drop it). */
export const ret = (k: number): BpfInsn => ({ code: BPF_RET | BPF_K, k });
/** The return value that keeps the whole packet. */
export const BPF_ACCEPT = 0xffffffff;
export const BPF_DROP = 0;
