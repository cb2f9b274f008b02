/** The queues the upstream membership changes are drained from (src/util/keyed-queue.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeyedQueue, LaneQueue } from "../../src/util/keyed-queue.js";

const drain = <K, V>(q: { size: number; shift(): [K, V] }) => {
  const out: [K, V][] = [];
  while (q.size > 0) out.push(q.shift());
  return out;
};

describe("KeyedQueue", () => {
  it("is FIFO by first set; a set keeps the place and takes the latest value; deleted keys are skipped", () => {
    const q = new KeyedQueue<string, number>();
    q.set("a", 1);
    q.set("b", 2);
    q.set("c", 3);
    q.set("a", 10);
    q.delete("b");
    assert.deepEqual(drain(q), [
      ["a", 10],
      ["c", 3],
    ]);
  });

  it("stays linear when the head is deleted over and over", () => {
    const q = new KeyedQueue<number, number>();
    for (let i = 0; i < 100_000; i++) q.set(i, i);
    for (let i = 0; i < 99_990; i++) q.delete(i);
    assert.deepEqual(
      drain(q).map(([k]) => k),
      [99_990, 99_991, 99_992, 99_993, 99_994, 99_995, 99_996, 99_997, 99_998, 99_999],
    );
  });
});

describe("LaneQueue", () => {
  it("takes one key per lane in turn, FIFO within a lane", () => {
    const q = new LaneQueue<string, number>();
    for (const k of ["a1", "a2", "a3"]) q.set(k, 0, "a");
    q.set("b1", 0, "b");
    q.set("c1", 0, "c");
    q.set("c2", 0, "c");
    assert.deepEqual(
      drain(q).map(([k]) => k),
      ["a1", "b1", "c1", "a2", "c2", "a3"],
    );
  });

  it("a key stays in the lane that queued it; a set from another lane updates its value", () => {
    const q = new LaneQueue<string, number>();
    q.set("a1", 1, "a");
    q.set("a2", 1, "a");
    q.set("a1", 5, "b");
    assert.equal(q.size, 2);
    assert.deepEqual(drain(q), [
      ["a1", 5],
      ["a2", 1],
    ]);
  });

  it("deleting a lane's last key removes the lane from the rotation", () => {
    const q = new LaneQueue<string, number>();
    q.set("a1", 0, "a");
    q.set("b1", 0, "b");
    q.set("b2", 0, "b");
    q.delete("a1");
    assert.equal(q.has("a1"), false);
    assert.deepEqual(
      drain(q).map(([k]) => k),
      ["b1", "b2"],
    );
    q.set("x", 0, "a");
    q.clear();
    assert.equal(q.size, 0);
  });
});
