/**
 * A classic BPF interpreter for the instructions src/kernel/structs/bpf.ts emits, with the
 * kernel's semantics (net/core/filter.c): 32-bit unsigned A and X, packet loads in network
 * order, a load past the end of the packet ends the program with 0, conditional jumps skip
 * jt / jf forward. Used to check a program against its TypeScript twin without a kernel.
 */
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_H,
  BPF_IMM,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_LD,
  BPF_LDX,
  BPF_LSH,
  BPF_MISC,
  BPF_RET,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  type BpfInsn,
} from "../../src/kernel/structs/bpf.js";

const SIZE: Record<number, number> = { [BPF_W]: 4, [BPF_H]: 2, [BPF_B]: 1 };

function load(p: Uint8Array, at: number, size: number): number | null {
  if (at < 0 || at + size > p.length) return null;
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + p[at + i]!;
  return v >>> 0;
}

/** Runs `prog` over `packet`; returns the program's return value (0 = drop). */
export function runBpf(prog: readonly BpfInsn[], packet: Uint8Array): number {
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, k } = prog[pc]!;
    const jt = Number(prog[pc]!.jt ?? 0);
    const jf = Number(prog[pc]!.jf ?? 0);
    const cls = code & 0x07;
    if (cls === BPF_LD || cls === BPF_LDX) {
      const mode = code & 0xe0;
      let v: number | null;
      if (mode === BPF_IMM) v = k >>> 0;
      else if (mode === BPF_ABS && cls === BPF_LD) v = load(packet, k, SIZE[code & 0x18]!);
      else if (mode === BPF_IND && cls === BPF_LD) v = load(packet, x + k, SIZE[code & 0x18]!);
      else throw new Error(`unsupported load 0x${code.toString(16)}`);
      if (v === null) return 0;
      if (cls === BPF_LD) a = v;
      else x = v;
    } else if (cls === BPF_ALU) {
      const src = code & BPF_X ? x : k;
      const op = code & 0xf0;
      if (op === BPF_ADD) a = (a + src) >>> 0;
      else if (op === BPF_AND) a = (a & src) >>> 0;
      else if (op === BPF_LSH) a = (a << src) >>> 0;
      else throw new Error(`unsupported ALU 0x${code.toString(16)}`);
    } else if (cls === BPF_JMP) {
      const op = code & 0xf0;
      if (op === BPF_JA) {
        pc += k;
        continue;
      }
      const src = code & BPF_X ? x : k >>> 0;
      let cond: boolean;
      if (op === BPF_JEQ) cond = a === src;
      else if (op === BPF_JGT) cond = a > src;
      else if (op === BPF_JGE) cond = a >= src;
      else throw new Error(`unsupported jump 0x${code.toString(16)}`);
      pc += cond ? jt : jf;
    } else if (cls === BPF_RET) {
      return (code & BPF_A ? a : k) >>> 0;
    } else if (cls === BPF_MISC) {
      if ((code & 0xf8) === BPF_TAX) x = a;
      else if ((code & 0xf8) === BPF_TXA) a = x;
      else throw new Error(`unsupported misc 0x${code.toString(16)}`);
    } else throw new Error(`unsupported class 0x${code.toString(16)}`);
  }
  throw new Error("program ran off its end");
}
