/** The upstream host side (src/daemon/upstream.ts): warnings and refusals reach the log. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UpstreamHost } from "../../src/daemon/upstream.js";
import { MCAST_MSFILTER } from "../../src/kernel/structs/membership.js";
import { captureLogger } from "./log-capture.js";

/** Syscalls that accept every membership call; `failNext` makes the next setsockopt fail. */
function kernel() {
  let fd = 10;
  const k = {
    failNext: null as string | null,
    filters: 0,
    socket: () => fd++,
    close: () => {},
    setsockopt: (_fd: number, _level: number, name: number) => {
      if (k.failNext !== null) {
        const code = k.failNext;
        k.failNext = null;
        throw Object.assign(new Error(`setsockopt: ${code}`), { code, errno: 105, syscall: "setsockopt" });
      }
      if (name === MCAST_MSFILTER) k.filters++;
    },
    getsockopt: () => 0,
  };
  return k;
}

const G = "239.1.1.1";
const exc = (...sources: string[]) => ({ filterMode: "exclude" as const, sources });

describe("UpstreamHost", () => {
  it("an EXCLUDE list beyond the kernel's source limit is warned once per group, again after it cleared", () => {
    const { log, lines } = captureLogger();
    const sys = kernel();
    const up = new UpstreamHost("ipv4", log, { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 2 });
    up.attach(5);
    up.setFilter(G, exc("10.0.0.1", "10.0.0.2", "10.0.0.3"));
    up.setFilter(G, exc("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"));
    const warnings = () => lines.filter((l) => l.level === 40);
    assert.equal(warnings().length, 1);
    assert.equal(warnings()[0]!.limit, "net.ipv4.igmp_max_msf");
    assert.equal(warnings()[0]!.requested, 3);
    assert.equal(warnings()[0]!.applied, 2);
    assert.match(warnings()[0]!.msg, /only the first 2 are excluded/);
    up.setFilter(G, exc("10.0.0.1"));
    up.setFilter(G, exc("10.0.0.1", "10.0.0.2", "10.0.0.3"));
    assert.equal(warnings().length, 2);
    assert.equal(up.changes, 4);
    assert.equal(up.errors, 0);
  });

  it("a kernel refusal is logged at error and counted; nothing is thrown", () => {
    const { log, lines } = captureLogger();
    const sys = kernel();
    const up = new UpstreamHost("ipv6", log, { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 64 });
    up.attach(5);
    sys.failNext = "ENOBUFS";
    up.setFilter("ff05::1", exc());
    assert.equal(up.errors, 1);
    const err = lines.find((l) => l.level === 50);
    assert.equal(err?.msg, "cannot apply the upstream membership");
    assert.match(String(err?.err), /ENOBUFS/);
  });

  it("without an upstream interface nothing is applied", () => {
    const { log } = captureLogger();
    const sys = kernel();
    const up = new UpstreamHost("ipv4", log, { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 });
    up.setFilter(G, exc());
    assert.equal(up.changes, 0);
  });
});
