/**
 * The daemon's V8 heap policy (docs/architecture.md "Memory"): a long-running proxy on a
 * small router wants its RSS to follow the state it holds, not the rate at which packets
 * arrive.
 *
 * By default V8 lets the old generation grow up to about four times the memory that is
 * live after a full collection before it collects again, and a packet flood (each packet
 * allocates a few short-lived objects, some promoted) keeps it near that bound: the
 * fuzzer measured a daemon holding ~19 MiB of live heap at 68 MiB of heap and 115 MiB RSS.
 * A fixed growing factor of 1.2 keeps the heap near its live size at a small CPU cost.
 *
 * This is the only heap flag that can be set from inside the process: the young
 * generation's size (`--max-semi-space-size`) is fixed when the heap is created, so the
 * service unit passes it in NODE_OPTIONS (contrib/improxy.service).
 */
import { setFlagsFromString } from "node:v8";

/** Old-generation growth after a full collection, in percent of the live size. */
export const HEAP_GROWING_PERCENT = 20;

/** Applies the policy to this process (the daemon only, not the one-shot commands). */
export function applyHeapPolicy(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
