/**
 * The YAML format's schema check, compiled ahead of time (src/config/write-validator.ts):
 * the committed module is what the schema gives, and it reports what ajv compiling the
 * schema at run time reports.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Ajv2020, type ErrorObject } from "ajv/dist/2020.js";
import { CONFIG_SCHEMA } from "../../src/config/schema.js";
import { explainSchemaError } from "../../src/config/schema-errors.js";
import { validate as generated } from "../../src/config/schema-validator.js";
import { VALIDATOR_FILE, validatorSource } from "../../src/config/write-validator.js";
import { pointerToPath } from "../../src/config/yaml-locator.js";

test("the committed validator is the one the schema gives", () => {
  assert.equal(
    readFileSync(VALIDATOR_FILE, "utf8"),
    validatorSource(),
    "run: node --import tsx src/config/write-validator.ts",
  );
});

test("the validator module needs nothing at run time (no ajv, no require)", () => {
  const text = readFileSync(VALIDATOR_FILE, "utf8");
  assert.doesNotMatch(text, /\brequire\(|\bimport\b[^;]*\bfrom\b|\bimport\(/);
});

/** Documents that fail in every way the explanations distinguish, and two that pass. */
const SAMPLES: unknown[] = [
  { upstream: "up0", downstream: ["dn1"] },
  {
    upstream: [{ name: "up0", groups: ["239.0.0.0/8"] }, "up1"],
    downstream: [
      {
        name: "dn1",
        igmp: { version: 2 },
        "static-groups": ["239.1.1.1", { group: "232.1.1.1", source: "10.0.0.1" }],
      },
    ],
    "default-downstream": { "query-interval": 60 },
  },
  {
    upstream: "x",
    downstream: ["a/b", { name: "eth0", igmp: { version: 9 }, "static-groups": [{ groupx: 1 }, 5] }, 7],
    "query-interval": "x",
    igmp: { version: 7, "robustness-variable": 0 },
    mld: { versoin: 2 },
    foo: 1,
  },
  {
    upstream: [{ name: "a-name-far-too-long-for-linux", groups: [1] }, 7, []],
    "default-downstream": { "query-interval": -1 },
    user: "a b",
    "max-groups": 1.5,
    "ttl-threshold": 300,
  },
  { downstream: [] },
  { upstream: [], downstream: [{ igmp: {} }], disabled: [""] },
  "not a mapping",
  {
    upstream: "ünïcödé-name-16c",
    downstream: ["x\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}"],
  },
];

function comparable(errors: ErrorObject[] | null | undefined): unknown[] {
  return (errors ?? []).map((e) => ({
    keyword: e.keyword,
    instancePath: e.instancePath,
    schemaPath: e.schemaPath,
    params: e.params,
    message: e.message,
    data: e.data,
    parentSchema: e.parentSchema,
    explained: explainSchemaError(e, pointerToPath(e.instancePath)),
  }));
}

test("the generated validator reports what ajv compiling the schema at run time reports", () => {
  const runtime = new Ajv2020({
    allErrors: true,
    verbose: true,
    strict: true,
    allowUnionTypes: true,
  }).compile(CONFIG_SCHEMA);
  const check = generated as unknown as { (d: unknown): boolean; errors?: ErrorObject[] | null };
  let failing = 0;
  for (const doc of SAMPLES) {
    const ok = runtime(doc);
    assert.equal(check(doc), ok, JSON.stringify(doc));
    if (!ok) failing++;
    // Same errors in the same order, explained the same (schema-errors.ts compares schemas
    // by value: the generated module holds its own copies). Only schemaPath differs: with
    // refs compiled as functions it is relative to the referenced schema; nothing reads it.
    const drop = (es: unknown[]) => es.map((e) => ({ ...(e as object), schemaPath: undefined }));
    assert.deepEqual(drop(comparable(check.errors)), drop(comparable(runtime.errors)), JSON.stringify(doc));
  }
  assert.equal(failing, SAMPLES.length - 2);
});
