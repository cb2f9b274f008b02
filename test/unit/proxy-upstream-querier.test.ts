/**
 * The host compatibility mode of an upstream link as the kernel keeps it (RFC 9776 §7.2.1,
 * RFC 9777 §8.2.1; Linux igmp_heard_query): src/proxy/upstream-querier.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UpstreamQuerierWatch } from "../../src/proxy/upstream-querier.js";
import { generalQuery } from "../../src/wire/builders.js";

describe("UpstreamQuerierWatch", () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  test("IGMP: v1 wins over v2 while both are present; each timer ends on its own", () => {
    const c = clock();
    const w = new UpstreamQuerierWatch("ipv4", c.now);
    assert.equal(w.state(), null);
    assert.equal(w.heard("10.0.0.1", generalQuery("ipv4", 3)), null, "v3: no change");
    assert.deepEqual(w.heard("10.0.0.2", generalQuery("ipv4", 2)), { version: 2, previous: 3, querier: "10.0.0.2" });
    c.advance(100_000);
    assert.deepEqual(w.heard("10.0.0.3", generalQuery("ipv4", 1)), { version: 1, previous: 2, querier: "10.0.0.3" });
    // Defaults: 2 x 125 s + 10 s = 260 s. v2 ends at 260 s, v1 at 360 s.
    c.advance(170_000);
    assert.equal(w.check(), null, "v1 still present");
    assert.equal(w.state()?.compatibilityVersion, 1);
    c.advance(90_000);
    assert.deepEqual(w.check(), { version: 3, previous: 1, querier: null }, "both timers ran out");
    assert.equal(w.state()?.olderVersionMs, null);
  });

  test("values of newest-version queries are learned only while no older querier is present; 0 means the default", () => {
    const c = clock();
    const w = new UpstreamQuerierWatch("ipv6", c.now);
    w.heard("fe80::1", generalQuery("ipv6", 2, { qrv: 4, qqiSeconds: 30, maxRespTimeMs: 2000 }));
    w.heard("fe80::2", generalQuery("ipv6", 1, { maxRespTimeMs: 5000 }));
    assert.equal(w.state()?.olderVersionMs, 4 * 30_000 + 2000);
    // Ignored while MLDv1 is present (Linux checks the older querier first).
    w.heard("fe80::1", generalQuery("ipv6", 2, { qrv: 7, qqiSeconds: 100 }));
    w.heard("fe80::2", generalQuery("ipv6", 1));
    assert.equal(w.state()?.olderVersionMs, 4 * 30_000 + 2000);
    c.advance(200_000);
    assert.equal(w.check()?.version, 2);
    // QRV 0 and QQIC 0: the defaults 2 and 125 s.
    w.heard("fe80::1", generalQuery("ipv6", 2, { qrv: 0, qqiSeconds: 0, maxRespTimeMs: 10_000 }));
    w.heard("fe80::2", generalQuery("ipv6", 1));
    assert.equal(w.state()?.olderVersionMs, 260_000);
  });
});
