import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse as parseYaml } from "yaml";
import { configToJson, formatConfig } from "../../src/config/format.js";
import { loadConfig, loadConfigWithWarnings } from "../../src/config/load.js";
import { CONFIG_SCHEMA } from "../../src/config/schema.js";
import { ConfigError } from "../../src/config/types.js";
import { schemaJson } from "../../src/config/write-schema.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLES = join(ROOT, "examples");

test("the published schema is the one the loader uses", () => {
  const published = readFileSync(join(ROOT, "schema/improxy.schema.json"), "utf8");
  assert.equal(published, schemaJson(), "run: node --import tsx src/config/write-schema.ts");
});

test("the schema compiles in strict mode and describes every property", () => {
  const validate = new Ajv2020({ strict: true, allowUnionTypes: true }).compile(CONFIG_SCHEMA);
  assert.equal(validate({ upstream: "a", downstream: ["b"] }), true);
  assert.equal(validate({ upstream: "a", downstream: ["b"], typo: 1 }), false);
  for (const [key, prop] of Object.entries(CONFIG_SCHEMA.properties)) {
    assert.ok("description" in prop || "$ref" in prop, `${key} has a description`);
  }
  assert.equal(CONFIG_SCHEMA.additionalProperties, false);
  assert.equal(CONFIG_SCHEMA.$defs.igmp.additionalProperties, false);
  assert.equal(CONFIG_SCHEMA.$defs.downstreamObject.additionalProperties, false);
});

test("every example validates, YAML ones against the published schema too", () => {
  const files = readdirSync(EXAMPLES).filter((f) => /\.(conf|ya?ml)$/.test(f));
  assert.ok(files.some((f) => f.endsWith(".conf")) && files.some((f) => f.endsWith(".yaml")));
  assert.ok(files.includes("igmpproxy.conf"));
  const published = JSON.parse(readFileSync(join(ROOT, "schema/improxy.schema.json"), "utf8")) as object;
  const validate = new Ajv2020({ allowUnionTypes: true }).compile(published);
  for (const f of files) {
    const path = join(EXAMPLES, f);
    const { config, warnings } = loadConfigWithWarnings(path);
    assert.deepEqual(warnings, [], f);
    assert.equal(config.file, path);
    if (f.endsWith(".conf")) assert.equal(config.format, f.startsWith("igmpproxy") ? "igmpproxy" : "improxy", f);
    else {
      assert.equal(config.format, "yaml");
      assert.equal(validate(parseYaml(readFileSync(path, "utf8"))), true, JSON.stringify(validate.errors));
    }
  }
});

test("the two shipped examples describe the same proxy", () => {
  const a = loadConfig(join(EXAMPLES, "improxy.conf"));
  const b = loadConfig(join(EXAMPLES, "improxy.yaml"));
  assert.equal(a.upstreams[0]!.name, b.upstreams[0]!.name);
  assert.deepEqual(
    a.downstreams.map((d) => d.name),
    b.downstreams.map((d) => d.name),
  );
});

test("loadConfig: unreadable file is a ConfigError at line 1", () => {
  assert.throws(
    () => loadConfig("/nonexistent/improxy.conf"),
    (e: unknown) =>
      e instanceof ConfigError && e.line === 1 && e.reason === "cannot read the config file: no such file",
  );
});

test("formatConfig prints every resolved value; --json round-trips", () => {
  const cfg = loadConfig(join(EXAMPLES, "improxy.yaml"));
  const text = formatConfig(cfg);
  assert.match(text, /downstream eth0\.3 {2}\(line \d+\)/);
  assert.match(text, /query-interval {14}60s/);
  assert.match(text, /startup-query-interval {6}15s/);
  assert.match(text, /ssm-ranges {18}232\.0\.0\.0\/8/);
  const eth03 = text.slice(text.indexOf("downstream eth0.3"), text.indexOf("downstream eth0.4"));
  assert.match(eth03, /mld: disabled/);
  assert.deepEqual(JSON.parse(configToJson(cfg)), cfg);
});
