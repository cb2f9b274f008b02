/** Small constructors for codec results (shared by igmp.ts and mld.ts). */
import type { Message, ParseErrorReason, ParseResult } from "./types.js";

export function fail(reason: ParseErrorReason, detail: string): ParseResult {
  return { ok: false, error: { reason, detail } };
}

export function ok(message: Message): ParseResult {
  return { ok: true, message };
}

/** Shared zero-length aux data (a zero-length view cannot be mutated). */
export const NO_AUX_DATA: Uint8Array = new Uint8Array(0);

/** Throws RangeError unless `n` is an integer in [min, max]. Used by the serializers. */
export function checkRange(name: string, n: number, min: number, max: number): void {
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${n}`);
  }
}
