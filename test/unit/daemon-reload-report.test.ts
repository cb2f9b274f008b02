/**
 * The reload report (src/daemon/reload-report.ts): the running and the new configuration in,
 * what a reload changes out, in the terms the family proxies apply: links per family with
 * their roles, the effective settings per interface and family, global settings, warnings.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseYamlConfig } from "../../src/config/yaml-format.js";
import { reloadReport, reloadReportLines } from "../../src/daemon/reload-report.js";

const FILE = "/etc/improxy/improxy.yaml";
const BASE = ["upstream: up0", "downstream: [dn1, dn2]"];
const parse = (...lines: string[]) => parseYamlConfig(lines.join("\n"), FILE);
const report = (a: string[], b: string[]) => {
  const next = parse(...b);
  return reloadReport(parse(...a).config, next.config, next.warnings);
};

describe("reload report", () => {
  test("the same file: no changes", () => {
    const r = report(BASE, BASE);
    assert.deepEqual(r, { file: FILE, interfaces: [], settings: [], warnings: [] });
    assert.deepEqual(reloadReportLines(r), ["no changes"]);
  });

  test("down-to-up and forward-when-not-querier of one downstream: that interface only, not per family", () => {
    const r = report(BASE, [
      "upstream: up0",
      "downstream: [dn1, { name: dn2, down-to-up: true, forward-when-not-querier: true }]",
    ]);
    assert.deepEqual(r.interfaces, []);
    assert.deepEqual(r.settings, [
      { interface: "dn2", family: null, setting: "down-to-up", old: "false", new: "true" },
      { interface: "dn2", family: null, setting: "forward-when-not-querier", old: "false", new: "true" },
    ]);
    assert.deepEqual(reloadReportLines(r), [
      "dn2: down-to-up false -> true",
      "dn2: forward-when-not-querier false -> true",
    ]);
  });

  test("a protocol setting is per interface and family, its effective value (derived defaults follow)", () => {
    const r = report(BASE, [...BASE, "igmp: { query-interval: 60 }"]);
    assert.deepEqual(
      r.settings.map((s) => [s.interface, s.family, s.setting, s.old, s.new]),
      ["up0", "dn1", "dn2"].flatMap((i) => [
        [i, "ipv4", "query-interval", "125s", "60s"],
        // RFC 9776 §8.6: Startup Query Interval = 1/4 Query Interval.
        [i, "ipv4", "startup-query-interval", "31.25s", "15s"],
      ]),
    );
    assert.equal(reloadReportLines(r)[2], "dn1: igmp query-interval 125s -> 60s");
  });

  test("an added downstream, a removed one, a family turned off on one interface, a role change", () => {
    const r = report(
      ["upstream: up0", "downstream: [dn1, dn2, dn3]"],
      ["upstream: dn3", "downstream: [dn1, { name: up0 }, { name: dn4, mld: { enabled: false } }]"],
    );
    assert.deepEqual(
      reloadReportLines(r).filter((l) => /^(added|removed)/.test(l)),
      [
        "removed ipv4 upstream up0",
        "removed ipv4 downstream dn2",
        "removed ipv4 downstream dn3",
        "added ipv4 upstream dn3",
        "added ipv4 downstream up0",
        "added ipv4 downstream dn4",
        "removed ipv6 upstream up0",
        "removed ipv6 downstream dn2",
        "removed ipv6 downstream dn3",
        "added ipv6 upstream dn3",
        "added ipv6 downstream up0",
      ],
    );
    assert.deepEqual(r.settings, [], "an interface whose role changed is removed and added, not changed");
  });

  test("global settings, the family switches, default-downstream and its template", () => {
    const r = report(
      [...BASE, "default-downstream: true", "max-upstream-groups: 100"],
      [
        ...BASE,
        "default-downstream: { fast-leave: true }",
        "max-upstream-groups: 200",
        "mld: { enabled: false }",
        "disabled: [eth9]",
      ],
    );
    const lines = reloadReportLines(r);
    assert.ok(lines.includes("mld enabled -> disabled"), lines.join("\n"));
    assert.ok(lines.includes("max-upstream-groups 100 -> 200"), lines.join("\n"));
    assert.ok(lines.includes("disabled (none) -> eth9"), lines.join("\n"));
    assert.ok(lines.includes("default-downstream: igmp fast-leave false -> true"), lines.join("\n"));
    assert.ok(lines.includes("removed ipv6 downstream dn1"), lines.join("\n"));
    assert.ok(
      !lines.some((l) => /default-downstream: mld/.test(l)),
      "MLD is off: its template is not compared",
    );
  });

  test("the file's warnings and the settings that change only with a restart are warnings, not changes", () => {
    const r = report(
      [...BASE, "control-socket: /run/a.sock"],
      [...BASE, "control-socket: /run/b.sock", "mroute-table: 5", "metrics: true", "robustness-variable: 1"],
    );
    assert.ok(
      r.settings.every((s) => ["robustness-variable", "startup-query-count"].includes(s.setting)),
      "only the robustness variable and its derived startup query count changed",
    );
    const warnings = reloadReportLines(r).filter((l) => l.startsWith("warning: "));
    assert.match(warnings[0]!, new RegExp(`^warning: ${FILE}:\\d+: .*robustness-variable`));
    assert.deepEqual(warnings.slice(1), [
      "warning: mroute-table changes only with a restart: running kernel default, file 5",
      "warning: control-socket changes only with a restart: running /run/a.sock, file /run/b.sock",
      "warning: metrics changes only with a restart: running off, file 127.0.0.1:9464",
    ]);
  });
});
