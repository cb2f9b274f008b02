/** CIDR prefixes for ssm-ranges / ignore-groups: parsing and the multicast checks. */
import { isIPv4, isIPv6 } from "node:net";

export interface Cidr {
  family: 4 | 6;
  /** Address bytes (4 or 16). */
  bytes: Uint8Array;
  prefixLength: number;
}

function v4Bytes(addr: string): Uint8Array {
  return Uint8Array.from(addr.split(".").map((p) => Number.parseInt(p, 10)));
}

/** Expands an IPv6 address (already checked by isIPv6, no zone) into 16 bytes. */
function v6Bytes(addr: string): Uint8Array {
  let text = addr;
  const out = new Uint8Array(16);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    const b = v4Bytes(tail);
    text = `${text.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = rest === undefined || rest === "" ? [] : rest.split(":");
  const words = [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  words.forEach((w, i) => {
    const n = Number.parseInt(w, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

/** Parses "A.B.C.D/N" or "X::/N"; a bare address is a host prefix. Returns a reason on failure. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? undefined : text.slice(slash + 1);
  let family: 4 | 6;
  if (isIPv4(addr)) family = 4;
  else if (isIPv6(addr) && !addr.includes("%")) family = 6;
  else return `${JSON.stringify(text)} is not an IPv4 or IPv6 prefix`;
  const max = family === 4 ? 32 : 128;
  let prefixLength = max;
  if (lenText !== undefined) {
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
      return `${JSON.stringify(text)} has an invalid prefix length (0..${max})`;
    }
    prefixLength = Number(lenText);
  }
  return { family, bytes: family === 4 ? v4Bytes(addr) : v6Bytes(addr), prefixLength };
}

/** True when the whole prefix lies inside 224.0.0.0/4 or ff00::/8. */
export function isMulticastPrefix(c: Cidr): boolean {
  if (c.family === 4) return c.prefixLength >= 4 && (c.bytes[0]! & 0xf0) === 0xe0;
  return c.prefixLength >= 8 && c.bytes[0] === 0xff;
}
