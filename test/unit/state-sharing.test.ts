/**
 * Per-group state shares what is the same in most groups (docs/architecture.md "Memory"):
 * any-source joins keep no source map, no host map and no state object of their own.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ANY_SOURCE, MembershipDatabase, NO_MEMBERSHIP } from "../../src/proxy/membership.js";
import { RouterCounters } from "../../src/router/counters.js";
import { GroupTable } from "../../src/router/group.js";
import { Fixture, V4 } from "./router-harness.js";

const HOST = V4.host1;

test("router groups without sources or tracked hosts share one empty map each, until they need their own", () => {
  const table = new GroupTable(new Fixture(V4).config, new RouterCounters());
  const a = table.obtain("239.1.1.1", 0, HOST)!;
  const b = table.obtain("239.1.1.2", 0, HOST)!;
  assert.equal(a.sources, b.sources);
  assert.equal(a.hosts, b.hosts);
  assert.equal(a.sources.size, 0);

  table.addSource(a, "10.0.0.1", 100);
  assert.notEqual(a.sources, b.sources);
  assert.equal(a.sources.size, 1);
  assert.equal(b.sources.size, 0, "the other group's (shared) map stays empty");
  table.deleteSource(a, "10.0.0.1");
  assert.equal(a.sources, b.sources, "the last source gone, the group shares again");

  table.setHostRecord(a, HOST, { filterMode: "exclude", sources: new Set(), expires: 1000 }, 0, 0);
  assert.notEqual(a.hosts, b.hosts);
  assert.equal(a.hosts.size, 1);
  assert.equal(b.hosts.size, 0);
  assert.equal(table.trackedEntries, 1);
  table.pruneHosts(a, 2000);
  assert.equal(a.hosts, b.hosts, "the last host expired, the group shares again");
  assert.equal(table.trackedEntries, 0);
});

test("any-source and empty states are one shared, frozen object each", () => {
  const db = new MembershipDatabase();
  db.setLinkState("dn1", "239.1.1.1", { filterMode: "exclude", sources: [] });
  db.setLinkState("dn2", "239.1.1.2", { filterMode: "exclude", sources: [] });
  assert.equal(db.mergedState("239.1.1.1"), ANY_SOURCE);
  assert.equal(db.mergedState("239.1.1.2"), ANY_SOURCE);
  assert.equal(db.linkState("dn1", "239.1.1.1"), ANY_SOURCE);
  assert.ok(Object.isFrozen(ANY_SOURCE) && Object.isFrozen(ANY_SOURCE.sources));
  assert.equal(db.mergedState("239.9.9.9"), NO_MEMBERSHIP);
  assert.deepEqual([...db.linksOf("239.1.1.1")], [["dn1", ANY_SOURCE]]);
});
