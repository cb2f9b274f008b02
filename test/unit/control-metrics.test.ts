/** Prometheus metrics read at scrape time from the daemon's counters; the HTTP endpoint. */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  createMetricsRegistry,
  MetricsServer,
  messageLabels,
  parseListen,
} from "../../src/control/metrics.js";
import { RecordType } from "../../src/wire/types.js";
import { sampleSource } from "./control-fixture.js";

/** value of the sample line `name{labels}` in an exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("metrics", () => {
  const closers: Array<() => void> = [];
  after(() => {
    for (const c of closers) c();
  });

  test("message labels: the type and version words of the counter key", () => {
    assert.deepEqual(messageLabels("igmpv2-query"), { type: "query", version: "2" });
    assert.deepEqual(messageLabels("igmpv3-report"), { type: "report", version: "3" });
    assert.deepEqual(messageLabels("mldv2-report"), { type: "report", version: "2" });
    assert.deepEqual(messageLabels("igmpv2-leave"), { type: "leave", version: "2" });
    assert.deepEqual(messageLabels("mldv1-done"), { type: "done", version: "1" });
    assert.deepEqual(messageLabels("igmpv3-group-source-query"), {
      type: "group-source-query",
      version: "3",
    });
  });

  test("listen addresses", () => {
    assert.deepEqual(parseListen("127.0.0.1:9464"), { host: "127.0.0.1", port: 9464 });
    assert.deepEqual(parseListen("[::1]:9464"), { host: "::1", port: 9464 });
    assert.throws(() => parseListen("9464"), /not ADDRESS:PORT/);
    assert.throws(() => parseListen("[::1]:70000"), /not ADDRESS:PORT/);
  });

  test("improxy_* series follow the daemon's counters between scrapes", async () => {
    const src = sampleSource();
    const reg = createMetricsRegistry(src, { version: "9.9.9", defaultMetrics: false });
    const t1 = await reg.metrics();
    const rx = 'improxy_messages_received_total{family="ipv4",interface="dn1",type="report",version="3"}';
    assert.equal(sample(t1, rx), 2);
    assert.equal(sample(t1, 'improxy_groups{family="ipv4",interface="dn1"}'), 2);
    assert.equal(sample(t1, 'improxy_sources{family="ipv4",interface="dn1"}'), 2);
    assert.equal(sample(t1, 'improxy_querier{family="ipv6",interface="dn1"}'), 1);
    assert.equal(sample(t1, 'improxy_querier_changes_total{family="ipv4",interface="dn1"}'), 1);
    assert.equal(
      sample(t1, 'improxy_drops_total{family="ipv4",interface="",reason="parse-bad-checksum"}'),
      1,
    );
    assert.equal(sample(t1, 'improxy_forwarding_entries{family="ipv4",interface="up0",direction="in"}'), 1);
    assert.equal(sample(t1, 'improxy_forwarding_entries{family="ipv4",interface="dn1",direction="out"}'), 1);
    assert.equal(sample(t1, 'improxy_upstream_filter_changes_total{family="ipv6"}'), 2);
    // Ignored on the upstream link, by type (no separate total: the reasons add up).
    const ignored = (reason: string) => sample(t1, `improxy_packets_ignored_total{family="ipv4",reason="${reason}"}`);
    assert.equal(ignored("upstream-query"), 2);
    assert.equal(ignored("upstream-report"), 1);
    assert.equal(ignored("upstream-leave"), 0);
    assert.equal(ignored("upstream-other"), 0);
    assert.equal(ignored("upstream"), undefined);
    assert.equal(ignored("own"), 2);
    assert.equal(sample(t1, 'improxy_kernel_errors_total{family="ipv4"}'), 0);
    assert.equal(sample(t1, 'improxy_vif_packets_total{family="ipv4",interface="dn1",direction="out"}'), 500);
    assert.equal(sample(t1, 'improxy_build_info{version="9.9.9"}'), 1);
    assert.match(t1, /# TYPE improxy_messages_received_total counter/);
    assert.match(t1, /# TYPE improxy_groups gauge/);

    // A new report and traffic: the next scrape shows them.
    const f = src.fams[0]!;
    f.fixture.record(RecordType.CHANGE_TO_EXCLUDE_MODE, "239.1.1.3", []);
    f.vifOut += 250n;
    await new Promise((r) => setTimeout(r, 300)); // past the per-scrape snapshot cache
    const t2 = await reg.metrics();
    assert.equal(sample(t2, rx), 3);
    assert.equal(sample(t2, 'improxy_groups{family="ipv4",interface="dn1"}'), 3);
    assert.equal(sample(t2, 'improxy_vif_packets_total{family="ipv4",interface="dn1",direction="out"}'), 750);
  });

  test("upstream groups per upstream interface; no-upstream and wrong-upstream counters", async () => {
    const src = sampleSource();
    const a = src.fams[0]!.addrs;
    src.fams[0]!.upstreamOf = (g) => (g === a.group ? "up0" : null);
    const t = await createMetricsRegistry(src, { version: "9.9.9", defaultMetrics: false }).metrics();
    assert.equal(sample(t, 'improxy_upstream_groups{family="ipv4",interface="up0"}'), 1, "the group no upstream serves is not counted");
    assert.equal(sample(t, 'improxy_upstream_groups{family="ipv6",interface="up0"}'), 2);
    assert.equal(sample(t, 'improxy_no_upstream_total{family="ipv4"}'), 0);
    assert.equal(sample(t, 'improxy_wrong_upstream_total{family="ipv4"}'), 0);
  });

  test("HTTP: /metrics with default metrics (event-loop lag), 404 elsewhere", async () => {
    const reg = createMetricsRegistry(sampleSource(), { version: "9.9.9" });
    const srv = await MetricsServer.listen("127.0.0.1:0", reg);
    closers.push(() => srv.close());
    const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await res.text();
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    assert.match(text, /^improxy_groups\{/m);
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/other`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/metrics`, { method: "POST" })).status, 405);
    await assert.rejects(
      MetricsServer.listen(`127.0.0.1:${srv.port}`, reg),
      /cannot serve metrics on 127\.0\.0\.1:\d+: EADDRINUSE/,
    );
  });
});
