/**
 * The `improxy mcast` datagram payload (all integers big-endian):
 *
 *   offset 0  4 bytes  magic "IMPX"
 *   offset 4  u32      sequence number, 1 for the first datagram of a sender
 *   offset 8  u64      send time, microseconds since the Unix epoch
 *   offset 16 u32      sender id (random per sender run, or --id)
 *   offset 20 ...      zero padding up to --size bytes
 *
 * The receiver computes one-way delay as its own clock minus the send time: exact when both
 * run on one host (the lab's namespaces share a clock), clock offset included otherwise.
 */
export const MAGIC = "IMPX";
export const HEADER_SIZE = 20;

export interface Probe {
  seq: number;
  /** Send time in microseconds since the epoch. */
  sentMicros: bigint;
  senderId: number;
}

/** Builds a datagram of `size` bytes (at least HEADER_SIZE). */
export function encodeProbe(p: Probe, size = HEADER_SIZE): Buffer {
  const buf = Buffer.alloc(Math.max(size, HEADER_SIZE));
  buf.write(MAGIC, 0, "ascii");
  buf.writeUInt32BE(p.seq >>> 0, 4);
  buf.writeBigUInt64BE(p.sentMicros, 8);
  buf.writeUInt32BE(p.senderId >>> 0, 16);
  return buf;
}

/** Reads a datagram; null when it is too short or lacks the magic (someone else's traffic). */
export function decodeProbe(buf: Uint8Array): Probe | null {
  if (buf.length < HEADER_SIZE) return null;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.toString("ascii", 0, 4) !== MAGIC) return null;
  return { seq: b.readUInt32BE(4), sentMicros: b.readBigUInt64BE(8), senderId: b.readUInt32BE(16) };
}

/** Wall-clock microseconds with sub-millisecond resolution. */
export function nowMicros(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}

/** Characters of a foreign payload the receiver prints (`excerpt`). */
export const EXCERPT_CHARS = 40;

/**
 * The start of someone else's payload as one printable line: mcast_test.py sends plain text.
 * Trailing line ends are dropped, other bytes outside printable ASCII shown as ".", and
 * "..." marks a payload longer than `max` characters.
 */
export function excerpt(buf: Uint8Array, max = EXCERPT_CHARS): string {
  let end = buf.length;
  while (end > 0 && (buf[end - 1] === 0x0a || buf[end - 1] === 0x0d)) end--;
  let text = "";
  for (let i = 0; i < Math.min(end, max); i++) {
    const c = buf[i]!;
    text += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : ".";
  }
  return end > max ? `${text}...` : text;
}
