/** The settings table (src/config/settings.ts) and everything derived from it. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { resolveSettings } from "../../src/config/defaults.js";
import { formatConfig } from "../../src/config/format.js";
import { CONFIG_SCHEMA } from "../../src/config/schema.js";
import {
  forProtocol,
  isDerived,
  isPerProtocol,
  type Place,
  PROTOCOLS,
  type Protocol,
  type Range,
  SETTINGS,
  type Setting,
} from "../../src/config/settings.js";
import { README_FILE, settingsMarkdown, withSettingsTable } from "../../src/config/settings-doc.js";
import { parseYamlConfig } from "../../src/config/yaml-format.js";
import { defaultRouterConfig, routerConfig } from "../../src/daemon/router-config.js";
import { tempDir } from "../support/temp.js";

const KINDS = ["protocol", "switch", "global", "downstream", "interface", "upstream"];
const TYPES = [
  "integer",
  "number",
  "boolean",
  "prefixes",
  "source-rules",
  "static-groups",
  "path",
  "table-id",
  "listen",
  "http",
  "user",
];

/** The schema's properties at each place (family: both protocol blocks). */
function schemaProperties(place: Place, protocol: Protocol): Record<string, unknown> {
  if (place === "global") return CONFIG_SCHEMA.properties;
  if (place === "downstream") return CONFIG_SCHEMA.$defs.downstreamObject.properties;
  if (place === "upstream") return CONFIG_SCHEMA.$defs.upstreamObject.properties;
  return CONFIG_SCHEMA.$defs[protocol].properties;
}

function inRange(v: number, r: Range): boolean {
  if (r.enum && !r.enum.includes(v)) return false;
  if (r.min !== undefined && v < r.min) return false;
  if (r.exclusiveMin !== undefined && v <= r.exclusiveMin) return false;
  if (r.max !== undefined && v > r.max) return false;
  return true;
}

const MINIMAL = "upstream: up0\ndownstream:\n  - dn0\n";

/** The resolved config without the line numbers (which move when a line is added). */
function resolved(text: string): unknown {
  return JSON.parse(JSON.stringify(parseYamlConfig(text, "f.yaml").config, (k, v) => (k === "line" ? 0 : v)));
}

describe("settings table", () => {
  test("every row has every field", () => {
    assert.ok(SETTINGS.length >= 19);
    const keys = new Set<string>();
    const yamls = new Set<string>();
    for (const row of SETTINGS) {
      const at = row.yaml;
      assert.match(row.key, /^[a-z][A-Za-z]*$/, at);
      assert.match(row.yaml, /^[a-z]+(-[a-z]+)*$/, at);
      assert.ok(row.yang === null || /^[a-z]+(-[a-z]+)*$/.test(row.yang), at);
      assert.ok(row.unit === null || row.unit === "s", at);
      assert.ok(KINDS.includes(row.kind), at);
      assert.ok(TYPES.includes(row.type), at);
      assert.ok("default" in row, at);
      assert.ok(row.places.length > 0, at);
      assert.match(row.description, /^[A-Z"].*\.$/, `${at}: one sentence-like line`);
      assert.ok(!row.description.includes("\n"), at);
      assert.ok(!keys.has(row.key) && !yamls.has(row.yaml), `${at} is listed once`);
      keys.add(row.key);
      yamls.add(row.yaml);
    }
  });

  test("every YAML name is in the schema exactly where its places say", () => {
    for (const row of SETTINGS) {
      for (const protocol of PROTOCOLS) {
        for (const place of ["global", "family", "downstream", "upstream"] as const) {
          const props = schemaProperties(place, protocol);
          assert.equal(
            row.yaml in props,
            row.places.includes(place),
            `${row.yaml} at ${place} (${protocol})`,
          );
        }
      }
    }
  });

  test("every default lies in its range", () => {
    for (const protocol of PROTOCOLS) {
      const resolved = resolveSettings(protocol, []);
      for (const row of SETTINGS) {
        const d = isDerived(row.default)
          ? row.default.derive(resolved)
          : forProtocol(row.default as Exclude<Setting["default"], { derive: unknown }>, protocol);
        if (typeof d === "number" && row.range) {
          assert.ok(inRange(d, forProtocol(row.range, protocol)), `${row.yaml} default ${d} (${protocol})`);
        }
        if (row.type === "integer" && typeof d === "number") assert.ok(Number.isInteger(d), row.yaml);
      }
    }
  });

  test("stating every default changes nothing, wherever the row may be written", () => {
    const plain = resolved(MINIMAL);
    for (const row of SETTINGS) {
      if (isDerived(row.default)) continue;
      for (const place of row.places) {
        for (const protocol of PROTOCOLS) {
          if (place !== "family" && (isPerProtocol(row.default) || protocol === "mld")) continue;
          const raw: unknown =
            row.yamlDefault !== undefined ? row.yamlDefault : forProtocol(row.default, protocol);
          const value: string = JSON.stringify(raw);
          const text: string =
            place === "global"
              ? `${row.yaml}: ${value}\n${MINIMAL}`
              : place === "family"
                ? `${protocol}:\n  ${row.yaml}: ${value}\n${MINIMAL}`
                : place === "upstream"
                  ? `upstream:\n  name: up0\n  ${row.yaml}: ${value}\ndownstream:\n  - dn0\n`
                  : `upstream: up0\ndownstream:\n  - name: dn0\n    ${row.yaml}: ${value}\n`;
          assert.deepEqual(resolved(text), plain, `${row.yaml} at ${place} (${protocol})`);
        }
      }
    }
  });

  test("check-config prints every row under its YAML name", () => {
    const text = formatConfig(parseYamlConfig(MINIMAL, "f.yaml").config);
    for (const row of SETTINGS) {
      if (row.kind === "switch") {
        for (const p of PROTOCOLS) assert.match(text, new RegExp(`^ {2}${p}: enabled$`, "m"));
      } else {
        const indent = { protocol: 6, global: 2, downstream: 4, interface: 4, upstream: 4 }[row.kind as "protocol"];
        assert.match(text, new RegExp(`^ {${indent}}${row.yaml}[: ]`, "m"), row.yaml);
      }
    }
  });

  test("the README's settings table is the generated one (npm run docs:settings)", () => {
    const readme = readFileSync(README_FILE, "utf8");
    assert.equal(readme, withSettingsTable(readme), "run: npm run docs:settings");
    for (const row of SETTINGS) assert.ok(settingsMarkdown().includes(`\`${row.yaml}\``), row.yaml);
  });

  test("npm run docs:settings rewrites a stale table between the markers and nothing else", () => {
    const readme = readFileSync(README_FILE, "utf8");
    const stale = readme.replace(/\| `query-interval` \|[^\n]*\n/, "| `query-interval` | stale |\n");
    assert.notEqual(stale, readme);
    const dir = tempDir("improxy-docs-");
    const file = join(dir, "README.md");
    writeFileSync(file, stale);
    const script = JSON.parse(readFileSync(join(dirname(README_FILE), "package.json"), "utf8")).scripts["docs:settings"];
    const r = spawnSync("sh", ["-c", `${script} ${file}`], { cwd: dirname(README_FILE), encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(file, "utf8"), readme);
    rmSync(dir, { recursive: true });
  });

  test("the router config carries every protocol setting but the proxy's static groups, seconds as milliseconds", () => {
    const s = resolveSettings("igmp", [
      { queryInterval: 60, lastMemberQueryInterval: 0.5, robustnessVariable: 3 },
    ]);
    const r = routerConfig(s) as unknown as Record<string, unknown>;
    assert.equal(r.queryIntervalMs, 60_000);
    assert.equal(r.queryResponseIntervalMs, 10_000);
    assert.equal(r.lastMemberQueryIntervalMs, 500);
    assert.equal(r.startupQueryIntervalMs, 15_000);
    assert.equal(r.startupQueryCount, 3);
    assert.equal(r.lastMemberQueryCount, 3, "last member query count = robustness variable");
    const engine = SETTINGS.filter((x) => x.kind === "protocol" && x.key !== "staticGroups");
    for (const row of engine.filter((x) => x.unit === null)) {
      assert.deepEqual(r[row.key], s[row.key as keyof typeof s], row.key);
    }
    assert.equal(r.staticGroups, undefined, "static groups are the proxy's, not the engine's");
    const fields = Object.keys(r).length;
    assert.equal(fields, engine.length + 1);
  });

  test("defaultRouterConfig is the table's defaults", () => {
    for (const [family, protocol] of [
      ["ipv4", "igmp"],
      ["ipv6", "mld"],
    ] as const) {
      assert.deepEqual(defaultRouterConfig(family), routerConfig(resolveSettings(protocol, [])));
    }
    assert.equal(defaultRouterConfig("ipv4").version, 3);
    assert.equal(defaultRouterConfig("ipv6").version, 2);
    assert.equal(defaultRouterConfig("ipv4").queryIntervalMs, 125_000);
  });
});
