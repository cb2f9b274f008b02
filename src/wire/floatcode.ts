/**
 * Max Resp Code and QQIC floating-point codes.
 *
 * 8-bit codes (IGMPv3 Max Resp Code, RFC 9776 §4.1.1, in units of 1/10 s; IGMPv3 QQIC,
 * §4.1.7, and MLDv2 QQIC, RFC 9777 §5.1.9, in seconds):
 *   code < 128: value = code
 *   code >= 128: 1 | exp(3) | mant(4); value = (mant | 0x10) << (exp + 3)   (max 31744)
 *
 * 16-bit code (MLDv2 Maximum Response Code, RFC 9777 §5.1.3, in milliseconds):
 *   code < 32768: value = code
 *   code >= 32768: 1 | exp(3) | mant(12); value = (mant | 0x1000) << (exp + 3)   (max 8387584)
 *
 * Both mappings are strictly increasing in the code, so every representable value has
 * exactly one code.
 *
 * Rounding of the encoders (a value that is not representable):
 * - "down" (default): the largest representable value <= the input. For the Max Resp Code
 *   this keeps hosts answering within the interval the router's timers assume (Group
 *   Membership Interval = RV * QI + QRI, RFC 9776 §8.4); for QQIC it announces at most the
 *   interval the querier really uses.
 * - "up": the smallest representable value >= the input.
 * Inputs above the largest representable value clamp to the largest code (0xff / 0xffff);
 * negative or NaN inputs give 0; fractional inputs are rounded in the chosen direction.
 */

export type Rounding = "down" | "up";

/** Largest value an 8-bit code can carry. */
export const MAX_CODE8_VALUE = 0x1f << 10; // 31744
/** Largest value a 16-bit MLDv2 code can carry. */
export const MAX_CODE16_VALUE = 0x1fff << 10; // 8387584

/** Value of an 8-bit float code (RFC 9776 §4.1.1 / §4.1.7, RFC 9777 §5.1.9). */
export function decodeCode8(code: number): number {
  const c = code & 0xff;
  if (c < 0x80) return c;
  return ((c & 0x0f) | 0x10) << (((c >> 4) & 0x07) + 3);
}

/** Value of a 16-bit float code (RFC 9777 §5.1.3). */
export function decodeCode16(code: number): number {
  const c = code & 0xffff;
  if (c < 0x8000) return c;
  return ((c & 0x0fff) | 0x1000) << (((c >> 12) & 0x07) + 3);
}

/**
 * Generic encoder: `linearMax` is the largest linear code (127 / 32767), `mantBits` the
 * mantissa width (4 / 12).
 */
function encodeFloat(value: number, rounding: Rounding, linearMax: number, mantBits: number): number {
  if (!(value > 0)) return 0; // also NaN
  const v = rounding === "down" ? Math.floor(value) : Math.ceil(value);
  if (v <= linearMax) return v;
  const mantMask = (1 << mantBits) - 1;
  const hidden = 1 << mantBits;
  const maxValue = (hidden | mantMask) << 10;
  const maxCode = (1 << (mantBits + 4)) - 1;
  if (v >= maxValue) return maxCode;
  // exp e covers [hidden << (e+3), (2*hidden - 1) << (e+3)], step 1 << (e+3).
  for (let e = 0; e < 8; e++) {
    const shift = e + 3;
    const top = (hidden | mantMask) << shift;
    const nextBottom = e < 7 ? hidden << (shift + 1) : Number.POSITIVE_INFINITY;
    if (v <= top || v < nextBottom) {
      let m: number;
      if (v > top) {
        // Between this exponent's top and the next exponent's bottom.
        if (rounding === "down") return (1 << (mantBits + 3)) | (e << mantBits) | mantMask;
        return (1 << (mantBits + 3)) | ((e + 1) << mantBits);
      }
      const q = v / (1 << shift);
      m = rounding === "down" ? Math.floor(q) : Math.ceil(q);
      if (m < hidden) m = hidden; // only "up" from below the first float value
      return (1 << (mantBits + 3)) | (e << mantBits) | (m & mantMask);
    }
  }
  return maxCode;
}

/** 8-bit code for `value` (units of the field). */
export function encodeCode8(value: number, rounding: Rounding = "down"): number {
  return encodeFloat(value, rounding, 0x7f, 4);
}

/** 16-bit MLDv2 code for `value` milliseconds. */
export function encodeCode16(value: number, rounding: Rounding = "down"): number {
  return encodeFloat(value, rounding, 0x7fff, 12);
}

// --- Field-specific conversions --------------------------------------------------------

/** IGMPv3 Max Resp Code -> milliseconds (RFC 9776 §4.1.1: units of 1/10 second). */
export function igmpv3MaxRespCodeToMs(code: number): number {
  return decodeCode8(code) * 100;
}

/**
 * Milliseconds -> IGMPv3 Max Resp Code, rounded in 1/10 s units as documented above. A
 * positive time never becomes code 0 (which would mean "respond at once").
 */
export function msToIgmpv3MaxRespCode(ms: number, rounding: Rounding = "down"): number {
  if (!(ms > 0)) return 0;
  return Math.max(1, encodeCode8(ms / 100, rounding));
}

/** IGMPv2 Max Response Time (RFC 2236 §2.2): linear, 1/10 s units, 8 bits. */
export function igmpv2MaxRespCodeToMs(code: number): number {
  return (code & 0xff) * 100;
}

/** Milliseconds -> IGMPv2 Max Response Time code: 1..255 (0 would make it a v1 query). */
export function msToIgmpv2MaxRespCode(ms: number, rounding: Rounding = "down"): number {
  if (!(ms > 0)) return 1;
  const units = rounding === "down" ? Math.floor(ms / 100) : Math.ceil(ms / 100);
  return Math.min(255, Math.max(1, units));
}

/** MLDv2 Maximum Response Code -> milliseconds (RFC 9777 §5.1.3). */
export function mldv2MaxRespCodeToMs(code: number): number {
  return decodeCode16(code);
}

/** Milliseconds -> MLDv2 Maximum Response Code. */
export function msToMldv2MaxRespCode(ms: number, rounding: Rounding = "down"): number {
  if (!(ms > 0)) return 0;
  return Math.max(1, encodeCode16(ms, rounding));
}

/** MLDv1 Maximum Response Delay (RFC 2710 §3.4): linear milliseconds, 16 bits, clamped. */
export function msToMldv1MaxRespDelay(ms: number, rounding: Rounding = "down"): number {
  if (!(ms > 0)) return 0;
  const v = rounding === "down" ? Math.floor(ms) : Math.ceil(ms);
  return Math.min(0xffff, Math.max(1, v));
}

/** QQIC -> seconds (RFC 9776 §4.1.7, RFC 9777 §5.1.9). */
export function qqicToSeconds(code: number): number {
  return decodeCode8(code);
}

/** Seconds -> QQIC. */
export function secondsToQqic(seconds: number, rounding: Rounding = "down"): number {
  return encodeCode8(seconds, rounding);
}
