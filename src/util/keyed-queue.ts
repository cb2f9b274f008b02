/**
 * Queues of keys with the latest value of each, for work that is drained at a bounded
 * rate (the upstream membership changes, src/daemon/upstream.ts).
 */

/**
 * A FIFO of keys with the latest value of each (setting a queued key keeps its place).
 * Not a bare Map: taking the first entry of a Map whose head was deleted over and over
 * walks the deleted slots, which made batches quadratic.
 */
export class KeyedQueue<K, V> {
  private readonly values = new Map<K, V>();
  private order: K[] = [];
  private head = 0;

  get size(): number {
    return this.values.size;
  }

  has(key: K): boolean {
    return this.values.has(key);
  }

  set(key: K, value: V): void {
    if (!this.values.has(key)) this.order.push(key);
    this.values.set(key, value);
  }

  delete(key: K): void {
    // Its slot in `order` goes stale and is skipped by shift.
    if (this.values.delete(key) && this.order.length - this.head > 2 * this.values.size + 1024) this.compact();
  }

  clear(): void {
    this.values.clear();
    this.order = [];
    this.head = 0;
  }

  /** The oldest entry, removed. Only called when size > 0. */
  shift(): [K, V] {
    for (;;) {
      const key = this.order[this.head++] as K;
      const value = this.values.get(key);
      if (value === undefined) continue;
      this.values.delete(key);
      if (this.head > 1024 && this.head * 2 > this.order.length) this.compact();
      return [key, value];
    }
  }

  private compact(): void {
    this.order = [...this.values.keys()];
    this.head = 0;
  }
}

/**
 * Keys queued in lanes (one per origin, e.g. the downstream link whose hosts asked) and
 * taken round-robin across the lanes, FIFO within each: a lane with 10,000 queued keys
 * delays a key of another lane by at most one key per busy lane. A key belongs to the
 * lane that queued it first; setting it again (from any lane) updates its value in place.
 */
export class LaneQueue<K, V> {
  private readonly lanes = new Map<string, KeyedQueue<K, V>>();
  private readonly laneOf = new Map<K, string>();
  /** Lanes in service order; the next shift serves `turn[0]`. */
  private turn: string[] = [];

  get size(): number {
    return this.laneOf.size;
  }

  has(key: K): boolean {
    return this.laneOf.has(key);
  }

  set(key: K, value: V, lane: string): void {
    const current = this.laneOf.get(key);
    if (current !== undefined) {
      this.lanes.get(current)!.set(key, value);
      return;
    }
    let q = this.lanes.get(lane);
    if (!q) {
      q = new KeyedQueue<K, V>();
      this.lanes.set(lane, q);
      this.turn.push(lane);
    }
    q.set(key, value);
    this.laneOf.set(key, lane);
  }

  delete(key: K): void {
    const lane = this.laneOf.get(key);
    if (lane === undefined) return;
    this.laneOf.delete(key);
    const q = this.lanes.get(lane)!;
    q.delete(key);
    if (q.size === 0) this.dropLane(lane);
  }

  clear(): void {
    this.lanes.clear();
    this.laneOf.clear();
    this.turn = [];
  }

  /** The oldest entry of the lane whose turn it is, removed. Only called when size > 0. */
  shift(): [K, V] {
    const lane = this.turn.shift()!;
    const q = this.lanes.get(lane)!;
    const entry = q.shift();
    this.laneOf.delete(entry[0]);
    if (q.size === 0) this.lanes.delete(lane);
    else this.turn.push(lane);
    return entry;
  }

  private dropLane(lane: string): void {
    this.lanes.delete(lane);
    this.turn = this.turn.filter((l) => l !== lane);
  }
}
