/** One line per event, as text for people or JSON (`--json`) for scripts and tests. */
export type McastEvent =
  | { event: "joined"; group: string; source: string | null; interface: string | null; port: number }
  | {
      event: "sending";
      group: string;
      port: number;
      interface: string | null;
      /** -l: the address sent from. */
      local: string | null;
      ttl: number;
      senderId: number;
    }
  | {
      event: "recv";
      from: string;
      port: number;
      bytes: number;
      /** null when the datagram is not an improxy probe (payload.ts). */
      seq: number | null;
      /** Another program's payload (e.g. mcast_test.py's text): its printable start; null for a probe. */
      text: string | null;
      senderId: number | null;
      delayMs: number | null;
      gaps: number | null;
      late: boolean;
    }
  | { event: "sent"; seq: number; group: string; port: number; bytes: number }
  | {
      event: "summary";
      mode: "receive" | "send";
      packets: number;
      senders: number;
      gaps: number;
      seconds: number;
    }
  | { event: "error"; message: string };

export function formatEvent(e: McastEvent, json: boolean): string {
  if (json) return JSON.stringify(e);
  switch (e.event) {
    case "joined": {
      const what = e.source ? `(${e.source}, ${e.group})` : `(*, ${e.group})`;
      return `joined ${what} port ${e.port}${e.interface ? ` on ${e.interface}` : ""}`;
    }
    case "sending":
      return `sending to ${e.group} port ${e.port}${e.interface ? ` on ${e.interface}` : ""}${e.local ? ` from ${e.local}` : ""} TTL ${e.ttl} as sender ${e.senderId}`;
    case "recv":
      if (e.seq === null)
        return `${e.bytes} bytes from ${e.from} port ${e.port}: ${JSON.stringify(e.text ?? "")}`;
      return `from ${e.from} seq ${e.seq} delay ${e.delayMs?.toFixed(3)} ms gaps ${e.gaps}${e.late ? " (late)" : ""} (${e.bytes} bytes, sender ${e.senderId})`;
    case "sent":
      return `sent seq ${e.seq} to ${e.group} port ${e.port} (${e.bytes} bytes)`;
    case "summary":
      return e.mode === "send"
        ? `summary: sent ${e.packets} datagrams in ${e.seconds.toFixed(1)} s`
        : `summary: received ${e.packets} datagrams from ${e.senders} sender(s), ${e.gaps} lost, in ${e.seconds.toFixed(1)} s`;
    case "error":
      return `error: ${e.message}`;
  }
}
