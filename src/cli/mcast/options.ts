/**
 * `improxy mcast` options: checking and normalising what commander parsed. Pure.
 *
 * The short flags and defaults are those of IMProxy's mcast_test.py: `-m GROUP`, `-r` / `-s`,
 * `-p PORT` (1234), `-t TTL` (2), `-l ADDR` (the local address: the receiver joins on the
 * interface that has it, the sender sends from it).
 */
import { isIP } from "node:net";
import { HEADER_SIZE } from "./payload.js";

/** Options as commander hands them over (strings, flags). */
export interface RawMcastOptions {
  group?: string;
  receive?: boolean;
  send?: boolean;
  source?: string;
  interface?: string;
  port?: string;
  /** -l ADDR */
  local?: string;
  /** --bind ADDR: the earlier name of -l, kept for scripts that use it. */
  bind?: string;
  ttl?: string;
  interval?: string;
  count?: string;
  duration?: string;
  size?: string;
  id?: string;
  json?: boolean;
}

interface Common {
  group: string;
  family: 4 | 6;
  port: number;
  /** --interface: the interface by name. */
  interface: string | undefined;
  /** -l: an address of a local interface (receiver: join there; sender: send from it). */
  local: string | undefined;
  /** Stop after this many datagrams (sent or received); 0 = no limit. */
  count: number;
  /** Stop after this many seconds; 0 = no limit. */
  duration: number;
  json: boolean;
}
export interface ReceiveOptions extends Common {
  mode: "receive";
  /** Source-specific join (S,G) when set, else any-source (*,G). */
  source: string | undefined;
}
export interface SendOptions extends Common {
  mode: "send";
  ttl: number;
  /** Milliseconds between datagrams. */
  interval: number;
  size: number;
  senderId: number | undefined;
}
export type McastOptions = ReceiveOptions | SendOptions;

/** mcast_test.py's defaults. */
export const DEFAULT_PORT = 1234;
export const DEFAULT_TTL = 2;
export const DEFAULT_INTERVAL_MS = 100;

export class UsageError extends Error {}

function isMulticast(addr: string, family: 4 | 6): boolean {
  if (family === 4) {
    const first = Number(addr.split(".")[0]);
    return first >= 224 && first <= 239;
  }
  return addr.toLowerCase().startsWith("ff");
}

function integer(name: string, text: string | undefined, dflt: number, lo: number, hi: number): number {
  if (text === undefined) return dflt;
  if (!/^\d+$/.test(text) || Number(text) < lo || Number(text) > hi) {
    throw new UsageError(`${name} must be an integer from ${lo} to ${hi}, got "${text}"`);
  }
  return Number(text);
}

function decimal(name: string, text: string | undefined, dflt: number): number {
  if (text === undefined) return dflt;
  if (!/^\d+(\.\d+)?$/.test(text)) throw new UsageError(`${name} must be a number >= 0, got "${text}"`);
  return Number(text);
}

/** -l ADDR (or its old name --bind): a unicast address of the group's family. */
function localAddress(raw: RawMcastOptions, fam: 4 | 6): string | undefined {
  if (raw.local !== undefined && raw.bind !== undefined && raw.local !== raw.bind) {
    throw new UsageError("-l and --bind name the same address (--bind is its old name): give one");
  }
  const local = raw.local ?? raw.bind;
  if (local === undefined) return undefined;
  if (isIP(local) !== fam) throw new UsageError(`-l "${local}" is not an IPv${fam} address`);
  if (isMulticast(local, fam)) throw new UsageError(`-l "${local}" must be a unicast address`);
  return local;
}

/** Validates raw options; throws UsageError with a one-line reason. */
export function parseMcastOptions(raw: RawMcastOptions): McastOptions {
  if (!raw.group) throw new UsageError("-m GROUP is required");
  const family = isIP(raw.group);
  if (family === 0 || raw.group.includes("%")) throw new UsageError(`"${raw.group}" is not an IP address`);
  const fam = family as 4 | 6;
  if (!isMulticast(raw.group, fam)) throw new UsageError(`"${raw.group}" is not a multicast group`);
  if (raw.receive === raw.send) throw new UsageError("give exactly one of -r (receive) or -s (send)");
  const common: Common = {
    group: raw.group,
    family: fam,
    port: integer("-p", raw.port, DEFAULT_PORT, 1, 65535),
    interface: raw.interface,
    local: localAddress(raw, fam),
    count: integer("--count", raw.count, 0, 0, 2 ** 32 - 1),
    duration: decimal("--duration", raw.duration, 0),
    json: raw.json ?? false,
  };
  if (raw.receive) {
    for (const [flag, v] of [
      ["-t", raw.ttl],
      ["--interval", raw.interval],
      ["--size", raw.size],
      ["--id", raw.id],
    ] as const) {
      if (v !== undefined) throw new UsageError(`${flag} is for senders (-s) only`);
    }
    if (raw.source !== undefined) {
      if (isIP(raw.source) !== fam)
        throw new UsageError(`--source "${raw.source}" is not an IPv${fam} address`);
      if (isMulticast(raw.source, fam))
        throw new UsageError(`--source "${raw.source}" must be a unicast address`);
    }
    return { ...common, mode: "receive", source: raw.source };
  }
  if (raw.source !== undefined) throw new UsageError("--source is for receivers (-r); senders use -l");
  const maxSize = fam === 4 ? 65507 : 65527;
  return {
    ...common,
    mode: "send",
    ttl: integer("-t", raw.ttl, DEFAULT_TTL, 1, 255),
    interval: integer("--interval", raw.interval, DEFAULT_INTERVAL_MS, 1, 3_600_000),
    size: integer("--size", raw.size, HEADER_SIZE, HEADER_SIZE, maxSize),
    senderId: raw.id === undefined ? undefined : integer("--id", raw.id, 0, 0, 2 ** 32 - 1),
  };
}
