/** Text tables of `improxy status` / `improxy show`: aligned columns, durations, content. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SHOW_VIEWS, StatusBuilder } from "../../src/control/status.js";
import { formatDuration, formatRate, formatTable, renderShow, renderStatus } from "../../src/control/tables.js";
import { sampleSource } from "./control-fixture.js";

/** [start, end) of each whitespace-free token of a line. */
function tokens(line: string): Array<[number, number]> {
  return [...line.matchAll(/\S+/g)].map((m) => [m.index, m.index + m[0].length]);
}

describe("control tables", () => {
  test("formatTable aligns left and right columns, two spaces apart, no trailing blanks", () => {
    const lines = formatTable(
      [{ title: "NAME" }, { title: "COUNT", align: "right" }, { title: "NOTE" }],
      [
        ["a", "1", "x"],
        ["longer-name", "12345", ""],
      ],
    );
    assert.deepEqual(lines, ["NAME         COUNT  NOTE", "a                1  x", "longer-name  12345"]);
  });

  test("formatDuration", () => {
    assert.equal(formatDuration(null), "-");
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(2.5), "2.5s");
    assert.equal(formatDuration(59.94), "59.9s");
    assert.equal(formatDuration(65), "1m05s");
    assert.equal(formatDuration(3723.4), "1h02m03s");
    assert.equal(formatDuration(2 * 86_400 + 3 * 3600 + 4 * 60), "2d03h04m");
  });

  test("formatRate: SI units, two significant digits past the unit", () => {
    assert.equal(formatRate(null), "-");
    assert.equal(formatRate(0), "0");
    assert.equal(formatRate(950.4), "950");
    assert.equal(formatRate(5360), "5.4k");
    assert.equal(formatRate(12_345), "12k");
    assert.equal(formatRate(1_234_567), "1.2M");
    assert.equal(formatRate(3.4e9), "3.4G");
  });

  const builder = () =>
    new StatusBuilder(sampleSource(), {
      version: "9.9.9",
      controlSocket: "/run/improxy/improxy.sock",
      startedAt: Date.now() - 65_000,
    });

  test("every table: each cell starts under its title (left) or ends under it (right)", () => {
    const b = builder();
    const docs = SHOW_VIEWS.map((v) => renderShow(b.build(v), v));
    docs.push(renderStatus(b.build(null)).slice(7));
    for (const lines of docs) {
      const header = tokens(lines[0]!);
      const rows = lines.slice(1, lines.indexOf("") < 0 ? undefined : lines.indexOf(""));
      assert.ok(rows.length > 0);
      for (const row of rows) {
        const cells = tokens(row);
        assert.equal(cells.length, header.length, `one cell per column:\n${lines[0]}\n${row}`);
        cells.forEach(([s, e], i) => {
          const [hs, he] = header[i]!;
          assert.ok(s === hs || e === he, `cell ${i} misaligned:\n${lines[0]}\n${row}`);
        });
      }
    }
  });

  test("status: header lines, one summary per family, the interface table", () => {
    const lines = renderStatus(builder().build(null));
    assert.match(lines[0]!, /^improxy 9\.9\.9, pid \d+, up 1m05s \(since \d{4}-/);
    assert.equal(lines[1], "config: /etc/improxy/improxy.yaml");
    assert.equal(lines[2], "control socket: /run/improxy/improxy.sock; metrics: off");
    assert.equal(
      lines[4],
      "IPv4 (IGMP): 3 interfaces (2 attached), 2 groups, 2 sources, 2 upstream groups, 1 forwarding entry, 1 drop",
    );
    assert.match(lines[5]!, /^IPv6 \(MLD\): /);
    const header = lines[7]!;
    assert.match(
      header,
      /^FAMILY\s+INTERFACE\s+ROLE\s+STATE\s+IFINDEX\s+VIF\s+ADDRESS\s+VER\s+QUERIER\s+QUERIER-ADDRESS\s+UPTIME\s+GROUPS\s+PKTS-IN\s+PKTS-OUT\s+FORWARDED$/,
    );
    const dn1 = lines.find((l) => l.startsWith("ipv4") && l.includes(" dn1 "))!;
    assert.deepEqual(dn1.split(/\s+/), [
      "ipv4",
      "dn1",
      "downstream",
      "attached",
      "3",
      "1",
      "10.11.0.10",
      "3",
      "yes",
      "10.11.0.10",
      "1h02m03s",
      "2",
      "0",
      "500",
      "yes",
    ]);
    const dn9 = lines.find((l) => l.startsWith("ipv4") && l.includes(" dn9 "))!;
    assert.deepEqual(dn9.split(/\s+/), [
      "ipv4",
      "dn9",
      "downstream",
      "waiting",
      "-",
      "-",
      "-",
      "-",
      "no",
      "-",
      "-",
      "0",
      "-",
      "-",
      "-",
    ]);
    // Upstream: VER and QUERIER-ADDRESS are the version the kernel reports in and the upstream querier.
    const up0 = lines.find((l) => l.startsWith("ipv4") && l.includes(" up0 "))!.split(/\s+/);
    assert.deepEqual([up0[7], up0[8], up0[9], up0.at(-1)], ["3", "-", "10.10.0.9", "-"]);
    // After the table, one line per warning: cause and fix.
    const blank = lines.indexOf("", 8);
    assert.ok(blank > 8, "a blank line after the table");
    assert.deepEqual(lines.slice(blank + 1), [
      "dn9 (ipv4): waiting: the interface does not exist",
      "dn9 (ipv6): waiting: the interface does not exist",
    ]);
  });

  test("routes, groups, sources, stats rows", () => {
    const b = builder();
    const routes = renderShow(b.build("routes", "ipv4"), "routes");
    assert.deepEqual(routes[1]!.split(/\s+/), [
      "ipv4",
      "198.18.0.1",
      "239.1.1.1",
      "up0",
      "dn1",
      "1000",
      "1316000",
      "-",
      "-",
      "3",
      "up0",
      "1m05s",
    ]);
    const groups = renderShow(b.build("groups", "ipv4"), "groups");
    assert.deepEqual(groups[1]!.split(/\s+/), [
      "ipv4",
      "dn1",
      "239.1.1.1",
      "exclude",
      "3",
      "1.5s",
      "4m18s",
      "10.11.0.101",
      "0",
      "10.11.0.101",
      "up0",
    ]);
    assert.ok(groups.includes("upstream membership (merged, RFC 4605 §4.1):"));
    assert.ok(
      groups.some((l) => l.split(/\s+/).join(" ") === "ipv4 up0 239.1.1.2 include 198.18.0.1,198.18.0.2"),
    );
    const sources = renderShow(b.build("sources", "ipv4"), "sources");
    assert.deepEqual(sources[1]!.split(/\s+/), ["ipv4", "dn1", "239.1.1.2", "198.18.0.1", "4m18s", "yes"]);
    const stats = renderShow(b.build("stats", "ipv4"), "stats");
    assert.ok(stats.some((l) => l.split(/\s+/).join(" ") === "ipv4 dn1 received:igmpv3-report 2"));
    assert.ok(stats.some((l) => l.split(/\s+/).join(" ") === "ipv4 - parse-error:bad-checksum 1"));
    assert.ok(stats.some((l) => l.split(/\s+/).join(" ") === "ipv4 - no-upstream 0"));
    assert.ok(stats.some((l) => l.split(/\s+/).join(" ") === "ipv4 - wrong-upstream 0"));
    // What the upstream link sent and the daemon ignored, in all and by type.
    const upstream = stats.map((l) => l.split(/\s+/).join(" ")).filter((l) => l.includes(" upstream-packets"));
    assert.deepEqual(upstream, [
      "ipv4 - upstream-packets 3",
      "ipv4 - upstream-packets:query 2",
      "ipv4 - upstream-packets:report 1",
      "ipv4 - upstream-packets:leave 0",
      "ipv4 - upstream-packets:other 0",
    ]);
  });

  test("show groups and show routes name the upstream that serves each group; - for none", () => {
    const source = sampleSource();
    const a = source.fams[0]!.addrs;
    source.fams[0]!.upstreamOf = (g) => (g === a.group ? "iptv0" : null);
    const b = new StatusBuilder(source, { version: "9.9.9", controlSocket: "/s", startedAt: Date.now() });
    const rows = (view: "groups" | "routes") => renderShow(b.build(view, "ipv4"), view).map((l) => l.split(/\s+/));
    const groups = rows("groups");
    assert.deepEqual(groups[0]!.at(-1), "UPSTREAM");
    assert.deepEqual(
      groups.filter((r) => r[1] === "dn1").map((r) => [r[2], r.at(-1)]),
      [
        [a.group, "iptv0"],
        [a.group2, "-"],
      ],
    );
    assert.deepEqual(
      groups.filter((r) => r[0] === "ipv4" && r[1] !== "dn1").map((r) => [r[1], r[2]]),
      [
        ["iptv0", a.group],
        ["-", a.group2],
      ],
      "the upstream membership table: the serving upstream, - for none",
    );
    const routes = rows("routes");
    assert.deepEqual(routes[0]!.at(-2), "UPSTREAM");
    assert.deepEqual([routes[1]![2], routes[1]![3], routes[1]!.at(-2)], [a.group, "up0", "iptv0"]);
  });

  test("show groups marks a static group `static` in the LAST-REPORTER column", () => {
    const source = sampleSource();
    const a = source.fams[0]!.addrs;
    source.fams[0]!.statics = [{ group: "239.9.9.9", filterMode: "exclude", sources: [], upTimeMs: 65_000 }];
    const b = new StatusBuilder(source, { version: "9.9.9", controlSocket: "/s", startedAt: Date.now() });
    const lines = renderShow(b.build("groups", "ipv4"), "groups");
    assert.ok(
      lines.some((l) => l.split(/\s+/).join(" ") === "ipv4 dn1 239.9.9.9 exclude 3 1m05s - static 0 - -"),
      lines.join("\n"),
    );
    assert.ok(lines.some((l) => l.includes(a.host1)), "the hosts' groups are still there");
  });

  test("show routes ends with UPTIME (time since the entry was installed); show stats INTERFACE has that interface's rows only", () => {
    const b = builder();
    const routes = renderShow(b.build("routes", "ipv4"), "routes");
    assert.equal(routes[0]!.split(/\s+/).at(-1), "UPTIME");
    assert.equal(routes[1]!.split(/\s+/).at(-1), "1m05s");
    const stats = renderShow(b.build("stats", undefined, { interface: "dn1" }), "stats").slice(1);
    assert.ok(stats.length > 4, stats.join("\n"));
    assert.deepEqual([...new Set(stats.map((l) => l.split(/\s+/)[1]))], ["dn1"], stats.join("\n"));
    assert.ok(stats.some((l) => l.split(/\s+/).join(" ") === "ipv6 dn1 received:mldv2-report 2"));
  });

  test("empty views say so", () => {
    const empty = { ...sampleSource(), families: [] };
    const b = new StatusBuilder(empty, { version: "1", controlSocket: "/x", startedAt: Date.now() });
    assert.deepEqual(renderShow(b.build("routes"), "routes").slice(1), ["(no forwarding entries)"]);
    assert.ok(renderStatus(b.build(null)).includes("no address family enabled"));
  });
});
