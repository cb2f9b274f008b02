/**
 * Loss accounting per sender: a gap is a sequence number skipped over. A datagram that
 * arrives after a higher one was seen is counted as late (and repays one gap if it fills one).
 */
export interface SequenceVerdict {
  /** Sequence numbers lost so far from this sender (cumulative, net of late arrivals). */
  gaps: number;
  /** True when this datagram is older than one already seen (reordered or duplicated). */
  late: boolean;
}

export class SequenceTracker {
  private readonly senders = new Map<string, { highest: number; gaps: number; received: number }>();

  /** Records datagram `seq` from `sender` (any key: address and sender id). */
  record(sender: string, seq: number): SequenceVerdict {
    const s = this.senders.get(sender);
    if (!s) {
      // The first datagram seen: numbers below it were sent before we joined, not lost.
      this.senders.set(sender, { highest: seq, gaps: 0, received: 1 });
      return { gaps: 0, late: false };
    }
    s.received++;
    if (seq > s.highest) {
      s.gaps += seq - s.highest - 1;
      s.highest = seq;
      return { gaps: s.gaps, late: false };
    }
    if (s.gaps > 0) s.gaps--;
    return { gaps: s.gaps, late: true };
  }

  /** Totals over all senders. */
  totals(): { senders: number; received: number; gaps: number } {
    let received = 0;
    let gaps = 0;
    for (const s of this.senders.values()) {
      received += s.received;
      gaps += s.gaps;
    }
    return { senders: this.senders.size, received, gaps };
  }
}
