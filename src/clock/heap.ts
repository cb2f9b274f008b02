/**
 * Indexed binary min-heap of timers ordered by (deadline, insertion sequence).
 * O(log n) insert and cancel (each entry knows its position), O(1) peek.
 * Shared by VirtualScheduler and RealScheduler.
 */
import type { TimerId } from "./scheduler.js";

export interface TimerEntry {
  deadline: number;
  seq: number;
  fn: (arg: unknown) => void;
  arg: unknown;
  /** Position in the heap; -1 once fired or cancelled. */
  index: number;
}

function before(a: TimerEntry, b: TimerEntry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}

/**
 * The entry is the timer's id (TimerId, opaque to the callers): cancelling needs no table
 * from ids to entries.
 */
export class TimerHeap {
  private readonly items: TimerEntry[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.items.length;
  }

  peek(): TimerEntry | undefined {
    return this.items[0];
  }

  insert(deadline: number, fn: (arg: unknown) => void, arg?: unknown): TimerId {
    const entry: TimerEntry = { deadline, seq: this.nextSeq++, fn, arg, index: this.items.length };
    this.items.push(entry);
    this.up(entry.index);
    return entry as unknown as TimerId;
  }

  cancel(id: TimerId): boolean {
    const entry = id as unknown as TimerEntry;
    if (entry.index < 0 || this.items[entry.index] !== entry) return false;
    this.removeAt(entry.index);
    return true;
  }

  pop(): TimerEntry | undefined {
    const top = this.items[0];
    if (top === undefined) return undefined;
    this.removeAt(0);
    return top;
  }

  clear(): void {
    for (const e of this.items) e.index = -1;
    this.items.length = 0;
  }

  private removeAt(i: number): void {
    const items = this.items;
    const entry = items[i]!;
    const last = items.pop()!;
    entry.index = -1;
    if (i < items.length) {
      items[i] = last;
      last.index = i;
      if (!this.up(i)) this.down(i);
    }
  }

  /** Sift up; returns true when the entry moved. */
  private up(i: number): boolean {
    const items = this.items;
    const entry = items[i]!;
    let moved = false;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!before(entry, parent)) break;
      items[i] = parent;
      parent.index = i;
      i = p;
      moved = true;
    }
    items[i] = entry;
    entry.index = i;
    return moved;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const entry = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && before(items[r]!, items[l]!)) c = r;
      const child = items[c]!;
      if (!before(child, entry)) break;
      items[i] = child;
      child.index = i;
      i = c;
    }
    items[i] = entry;
    entry.index = i;
  }
}
