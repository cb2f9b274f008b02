/**
 * Status documents (control socket `status` / `show`): built from real router state, they
 * carry what the engines hold, and validate against
 * the published schema/status.schema.json (which must also reject broken documents).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { SHOW_VIEWS, StatusBuilder, type StatusDocument } from "../../src/control/status.js";
import { sampleSource } from "./control-fixture.js";

const schema = JSON.parse(
  readFileSync(new URL("../../schema/status.schema.json", import.meta.url), "utf8"),
) as object;
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

function assertValid(doc: unknown, what: string): void {
  // Through JSON, as the CLI receives it.
  const ok = validate(JSON.parse(JSON.stringify(doc)));
  assert.ok(ok, `${what}: ${JSON.stringify(validate.errors, null, 1)}`);
}

function setup() {
  const source = sampleSource();
  let now = 1_700_000_000_000;
  const builder = new StatusBuilder(source, {
    version: "9.9.9",
    controlSocket: "/run/improxy/improxy.sock",
    startedAt: now - 3_723_000,
    now: () => now,
  });
  return { source, builder, advance: (ms: number) => (now += ms) };
}

describe("status documents", () => {
  test("status and every show view validate against schema/status.schema.json", () => {
    const { builder } = setup();
    assertValid(builder.build(null), "status");
    for (const v of SHOW_VIEWS) assertValid(builder.build(v), `show ${v}`);
    assertValid(builder.build("groups", "ipv6"), "show groups ipv6");
  });

  test("the schema rejects broken documents", () => {
    const { builder } = setup();
    const doc = JSON.parse(JSON.stringify(builder.build("routes"))) as StatusDocument;
    const route = doc.families[0]!.routes![0]!;
    assert.ok(validate(doc));
    (route as { packets: unknown }).packets = "1000";
    assert.equal(validate(doc), false, "string counter");
    const doc2 = JSON.parse(JSON.stringify(builder.build(null))) as Record<string, unknown>;
    delete (doc2.improxy as Record<string, unknown>).pid;
    assert.equal(validate(doc2), false, "missing pid");
    const doc3 = JSON.parse(JSON.stringify(builder.build("interfaces"))) as StatusDocument;
    (doc3.families[0]!.interfaces![0] as { role: string }).role = "sideways";
    assert.equal(validate(doc3), false, "bad role");
  });

  test("daemon info and per-family summary", () => {
    const { builder } = setup();
    const doc = builder.build(null);
    assert.equal(doc.view, null);
    assert.equal(doc.improxy.version, "9.9.9");
    assert.equal(doc.improxy.uptimeSeconds, 3723);
    assert.equal(doc.improxy.configFile, "/etc/improxy/improxy.yaml");
    assert.deepEqual(
      doc.families.map((f) => [f.family, f.protocol]),
      [
        ["ipv4", "igmp"],
        ["ipv6", "mld"],
      ],
    );
    const s = doc.families[0]!.summary;
    assert.deepEqual(s, {
      interfaces: 3,
      attached: 2,
      groups: 2,
      sources: 2,
      upstreamGroups: 2,
      routes: 1,
      drops: 1,
    });
    assert.equal(doc.families[0]!.groups, undefined, "status carries no group list");
  });

  test("interfaces: role, state, querier, version, up-time, kernel VIF counters", () => {
    const { builder } = setup();
    const ifs = builder.build("interfaces", "ipv4").families[0]!.interfaces!;
    assert.deepEqual(
      ifs.map((i) => [i.name, i.role, i.state, i.vif, i.version, i.querier, i.querierAddress]),
      [
        ["up0", "upstream", "attached", 0, null, false, null],
        ["dn1", "downstream", "attached", 1, 3, true, "10.11.0.10"],
        ["dn9", "downstream", "waiting", null, null, false, null],
      ],
    );
    assert.equal(ifs[1]!.upTimeSeconds, 3723.4);
    assert.equal(ifs[1]!.groups, 2);
    assert.deepEqual(ifs[1]!.counters, { packetsIn: 0, packetsOut: 500, bytesIn: 0, bytesOut: 50000 });
    assert.equal(ifs[2]!.counters, null);
  });

  test("groups: filter mode, timers, last reporter, tracked hosts; upstream merged state", () => {
    const { builder, source } = setup();
    const a = source.fams[0]!.addrs;
    const f = builder.build("groups", "ipv4").families[0]!;
    const g1 = f.groups!.find((g) => g.group === a.group)!;
    assert.equal(g1.interface, "dn1");
    assert.equal(g1.filterMode, "exclude");
    assert.equal(g1.version, 3);
    assert.equal(g1.upTimeSeconds, 1.5);
    assert.equal(g1.expiresSeconds, 258.5, "GMI 260 s - 1.5 s");
    assert.equal(g1.lastReporter, a.host1);
    assert.deepEqual(
      g1.hosts!.map((h) => [h.address, h.filterMode]),
      [[a.host1, "exclude"]],
    );
    const g2 = f.groups!.find((g) => g.group === a.group2)!;
    assert.equal(g2.filterMode, "include");
    assert.equal(g2.expiresSeconds, null, "no group timer in INCLUDE mode");
    assert.equal(g2.sources, 2);
    assert.deepEqual(f.upstream, [
      { interface: "up0", group: a.group, filterMode: "exclude", sources: [] },
      { interface: "up0", group: a.group2, filterMode: "include", sources: [a.s[1], a.s[2]] },
    ]);
    assert.deepEqual(
      f.groups!.map((g) => g.upstream),
      ["up0", "up0"],
    );
  });

  test("several upstreams: each group names the upstream that serves it (null: none); valid against the schema", () => {
    const { builder, source } = setup();
    const a = source.fams[0]!.addrs;
    source.fams[0]!.upstreamOf = (g) => (g === a.group ? "iptv0" : null);
    const doc = builder.build("groups", "ipv4");
    const f = doc.families[0]!;
    assert.deepEqual(
      f.groups!.map((g) => [g.group, g.upstream]),
      [
        [a.group, "iptv0"],
        [a.group2, null],
      ],
    );
    assert.deepEqual(
      f.upstream!.map((u) => [u.group, u.interface]),
      [
        [a.group, "iptv0"],
        [a.group2, null],
      ],
    );
    assert.equal(f.summary.upstreamGroups, 1, "only groups joined upstream count");
    const routes = builder.build("routes", "ipv4");
    assert.equal(routes.families[0]!.routes![0]!.upstream, "iptv0");
    assertValid(doc, "groups");
    assertValid(routes, "routes");
  });

  test("groups: a static group is its own entry, `static`, with no reporter and no timer; valid against the schema", () => {
    const { builder, source } = setup();
    const a = source.fams[0]!.addrs;
    source.fams[0]!.statics = [
      { group: a.group, filterMode: "exclude", sources: [], upTimeMs: 90_000 },
      { group: a.ssmGroup, filterMode: "include", sources: [a.s[1]!], upTimeMs: 90_000 },
    ];
    const doc = builder.build("groups", "ipv4");
    assertValid(doc, "show groups with static groups");
    const rows = doc.families[0]!.groups!;
    assert.deepEqual(
      rows.map((g) => [g.group, g.static, g.lastReporter === null]),
      [
        [a.group, false, false],
        [a.group2, false, false],
        [a.group, true, true],
        [a.ssmGroup, true, true],
      ],
    );
    const st = rows[3]!;
    assert.deepEqual(
      [st.interface, st.filterMode, st.version, st.upTimeSeconds, st.expiresSeconds, st.sources, st.hosts],
      ["dn1", "include", 3, 90, null, 1, null],
    );
  });

  test("sources: per (link, group, source) expiry and forwarding", () => {
    const { builder, source } = setup();
    const a = source.fams[1]!.addrs;
    const rows = builder.build("sources", "ipv6").families[0]!.sources!;
    assert.deepEqual(
      rows.map((r) => [r.interface, r.group, r.source, r.expiresSeconds, r.forwarding]),
      [
        ["dn1", a.group2, a.s[1], 258.5, true],
        ["dn1", a.group2, a.s[2], 258.5, true],
      ],
    );
  });

  test("routes: kernel counters; pps and bit rate null without the daemon's sampler", () => {
    const { builder, source } = setup();
    const r1 = builder.build("routes", "ipv4").families[0]!.routes![0]!;
    assert.deepEqual(
      { ...r1 },
      {
        source: source.fams[0]!.addrs.s[1],
        group: source.fams[0]!.addrs.group,
        incoming: "up0",
        upstream: "up0",
        outgoing: ["dn1"],
        packets: 1000,
        bytes: 1_316_000,
        wrongIf: 3,
        pps: null,
        upTimeSeconds: 65,
        bitsPerSecond: null,
      },
    );
  });

  test("stats: family counters and per-interface router counters", () => {
    const { builder } = setup();
    const st = builder.build("stats", "ipv4").families[0]!.stats!;
    assert.equal(st.packetsReceived, 10);
    assert.deepEqual(st.parseErrors, { "bad-checksum": 1 });
    assert.equal(st.upstreamPackets, 3);
    assert.deepEqual(st.upstreamPacketsByType, { query: 2, report: 1, leave: 0, other: 0 });
    assert.equal(st.upstreamFilterChanges, 2);
    const dn1 = st.interfaces.find((i) => i.name === "dn1")!;
    assert.equal(dn1.received["igmpv3-report"], 2);
    assert.equal(dn1.querierChanges, 1);
    assert.ok((dn1.sent["igmpv3-general-query"] ?? 0) >= 1, "startup general query counted");
  });
});

describe("show filters (built in the daemon)", () => {
  const rows = <T>(doc: StatusDocument, pick: (f: StatusDocument["families"][number]) => T[] | undefined) =>
    doc.families.flatMap((f) => pick(f) ?? []);

  test("interfaces and stats INTERFACE: that interface only; the document names its filter and validates", () => {
    const { builder } = setup();
    const doc = builder.build("interfaces", undefined, { interface: "dn1" });
    assert.deepEqual(
      rows(doc, (f) => f.interfaces).map((i) => i.name),
      ["dn1", "dn1"],
    );
    assert.deepEqual(doc.filter, { interface: "dn1" });
    assertValid(doc, "show interfaces dn1");
    const st = builder.build("stats", "ipv4", { interface: "dn1" });
    const s = st.families[0]!.stats!;
    assert.deepEqual(
      s.interfaces.map((i) => i.name),
      ["dn1"],
    );
    assert.deepEqual(
      s.receiveSockets.map((r) => r.socket),
      ["dn1"],
    );
    assert.equal(st.operator, undefined, "the operator interfaces are not an interface of the family");
    assertValid(st, "show stats dn1");
    assert.equal(builder.build("stats").filter, undefined, "unfiltered: no filter member");
  });

  test("groups: by link, group prefix and a source the group's list names; the upstream rows follow", () => {
    const { builder, source } = setup();
    const a = source.fams[0]!.addrs;
    const groups = (filter: Parameters<typeof builder.build>[2]) => {
      const f = builder.build("groups", "ipv4", filter).families[0]!;
      return {
        groups: f.groups!.map((g) => `${g.interface} ${g.group}`),
        upstream: f.upstream!.map((u) => u.group),
      };
    };
    assert.deepEqual(groups({ interface: "dn1", group: a.group2 }), {
      groups: [`dn1 ${a.group2}`],
      upstream: [a.group2],
    });
    assert.deepEqual(groups({ group: "239.1.0.0/16" }), {
      groups: [`dn1 ${a.group}`, `dn1 ${a.group2}`],
      upstream: [a.group, a.group2],
    });
    assert.deepEqual(groups({ source: a.s[1]! }), { groups: [`dn1 ${a.group2}`], upstream: [a.group2] });
    assert.deepEqual(groups({ group: "239.2.0.0/16" }), { groups: [], upstream: [] });
    // An upstream as INTERFACE: no downstream rows, its own membership.
    assert.deepEqual(groups({ interface: "up0" }), { groups: [], upstream: [a.group, a.group2] });
    assertValid(builder.build("groups", undefined, { interface: "dn1", source: "198.18.0.0/24" }), "groups");
  });

  test("sources and routes: by link (routes: incoming or outgoing), group and source; counters read only for the rows shown", () => {
    const { builder, source } = setup();
    const a = source.fams[0]!.addrs;
    const src = builder.build("sources", "ipv4", { interface: "dn1", source: a.s[2]! }).families[0]!.sources!;
    assert.deepEqual(
      src.map((s) => [s.interface, s.group, s.source]),
      [["dn1", a.group2, a.s[2]]],
    );
    const routes = (filter: Parameters<typeof builder.build>[2]) =>
      builder.build("routes", "ipv4", filter).families[0]!.routes!.map((r) => `${r.source} ${r.group}`);
    const entry = `${a.s[1]} ${a.group}`;
    assert.deepEqual(routes({ interface: "up0" }), [entry], "incoming link");
    assert.deepEqual(routes({ interface: "dn1" }), [entry], "outgoing link");
    assert.deepEqual(routes({ interface: "dn9" }), []);
    assert.deepEqual(routes({ group: a.group, source: "198.18.0.0/30" }), [entry]);
    const fam = source.fams[0]!;
    fam.sgReads = 0;
    assert.deepEqual(routes({ source: a.s[9]! }), []);
    assert.equal(fam.sgReads, 0, "no SIOCGETSGCNT for an entry not shown");
    routes({ interface: "dn1" });
    assert.equal(fam.sgReads, 1);
  });

  test("an interface that is neither configured nor a link now is an error naming the configured ones", () => {
    const { builder } = setup();
    assert.throws(
      () => builder.build("groups", undefined, { interface: "dn7" }),
      (err: Error) =>
        err.name === "UnknownInterfaceError" &&
        err.message === "no interface dn7 is configured; configured: up0, dn1, dn9",
    );
  });
});
