/**
 * `improxy check-config --to yaml` (src/config/to-yaml.ts): for every sample config of the
 * tests and the examples, in all three formats, the YAML written parses to the same
 * effective configuration as the original (everything but file, format and line numbers).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse as parseYaml } from "yaml";
import { formatOf, parseConfigText } from "../../src/config/load.js";
import { configToYaml, yamlScalar } from "../../src/config/to-yaml.js";
import type { ImproxyConfig } from "../../src/config/types.js";
import { parseYamlConfig } from "../../src/config/yaml-format.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Sample files: the igmpproxy fixtures and the examples. */
const FILES = [
  ...readdirSync(join(ROOT, "test/fixtures/igmpproxy")).map((f) => join(ROOT, "test/fixtures/igmpproxy", f)),
  ...readdirSync(join(ROOT, "examples"))
    .filter((f) => /\.(conf|ya?ml)$/.test(f))
    .map((f) => join(ROOT, "examples", f)),
];

/** Inline samples in the shapes the other tests use, covering every setting and structure. */
const TEXTS: Array<[name: string, text: string]> = [
  [
    "improxy.conf",
    "igmp enable version 2\nupstream up0\ndownstream dn1\ndownstream dn2\nquickleave enable\ndown_to_up enable\n",
  ],
  ["improxy-mld.conf", "mld enable version 1\nupstream up0\ndownstream dn1\n"],
  ["improxy-igmp.conf", "igmp enable\nupstream wan\ndownstream eth0.1\n"],
  [
    "full.yaml",
    `mroute-table: 10
control-socket: /run/imp.sock
metrics: "127.0.0.1:9464"
user: improxy
forwarding-idle-check: 30
max-upstream-groups: 100
upstream-changes-per-second: 50
max-forwarding-entries: 200
robustness-variable: 3
ttl-threshold: 2
igmp:
  version: 3
  query-interval: 100
  query-max-response-time: 5
  last-member-query-interval: 0.5
  ssm-ranges: [232.0.0.0/8, 233.252.0.0/14]
  ignore-groups: []
  allow-groups: [239.0.0.0/8]
mld:
  version: 2
  startup-query-count: 4
  deny-groups: ["ff05::/16"]
fast-leave: false
down-to-up: true
forward-when-not-querier: true
upstream:
  name: wan0
  sources: [10.0.0.0/8, "fd00::/8"]
  ttl-threshold: 5
downstream:
  - eth0.1
  - name: eth0.3
    fast-leave: true
    down-to-up: false
    query-interval: 90
    igmp: { version: 2, query-interval: 60, max-groups: 100, deny-groups: [239.9.0.0/16] }
    mld: { enabled: false }
  - name: eth0.4
    startup-query-interval: 7
    max-adopted-robustness: 5
default-downstream:
  ttl-threshold: 7
  igmp: { allow-groups: [239.1.0.0/16] }
disabled: [eth9, "wlan0"]
`,
  ],
  ["only-default.yaml", "upstream: wan\ndefault-downstream: true\nigmp: { enabled: false }\n"],
  [
    "igmpproxy.conf",
    [
      "quickleave",
      "defaultdown",
      "user nobody",
      "hashtablesize 64",
      "rescanvif",
      "chroot /var/empty",
      "phyint up0 upstream ratelimit 0 threshold 3",
      "  altnet 10.10.0.2/32 198.18.0.0/15",
      "  whitelist 239.0.0.0/8",
      "  blacklist 239.255.0.0/16",
      "phyint dn1 downstream threshold 9 whitelist 239.1.0.0/16",
      "phyint dn2 downstream blacklist 239.7.0.0/16",
      "phyint dn3 disabled",
      "",
    ].join("\n"),
  ],
  ["igmpproxy-defaultdown.conf", "defaultdown\nphyint wan upstream\nphyint lo disabled\n"],
  [
    "upstreams.yaml",
    `ttl-threshold: 2
upstream:
  - name: iptv0
    groups: [239.0.0.0/8, "ff3e::/16"]
    sources: [198.18.0.0/15, "fd00:18::/32"]
  - name: ssm0
    groups: [232.0.0.0/8]
    ttl-threshold: 4
  - wan0
downstream:
  - lan0
  - name: lan1
    ttl-threshold: 3
`,
  ],
  [
    "igmpproxy-upstreams.conf",
    [
      "phyint iptv0 upstream threshold 2",
      "  altnet 198.18.0.0/15",
      "  whitelist 239.0.0.0/8",
      "  blacklist 239.255.0.0/16",
      "phyint wan0 upstream",
      "  blacklist 232.0.0.0/8",
      "phyint lan0 downstream whitelist 239.1.0.0/16",
      "",
    ].join("\n"),
  ],
];

/** The config without what a conversion cannot keep: file, format and line numbers. */
function effective(c: ImproxyConfig): unknown {
  return JSON.parse(JSON.stringify({ ...c, file: "", format: "" }, (k, v) => (k === "line" ? 0 : v)));
}

const published = JSON.parse(readFileSync(join(ROOT, "schema/improxy.schema.json"), "utf8")) as object;
const validate = new Ajv2020({ allowUnionTypes: true }).compile(published);

function roundTrip(file: string, text: string) {
  const original = parseConfigText(text, file, formatOf(file, text));
  const yaml = configToYaml(original);
  let converted: ImproxyConfig;
  try {
    converted = parseYamlConfig(yaml, "converted.yaml").config;
  } catch (err) {
    assert.fail(`${file}: the converted YAML does not parse: ${(err as Error).message}\n${yaml}`);
  }
  assert.deepEqual(effective(converted), effective(original.config), `${file}\n${yaml}`);
  assert.equal(validate(parseYaml(yaml)), true, `${file}: ${JSON.stringify(validate.errors)}`);
  return { original, yaml };
}

describe("check-config --to yaml: the same effective configuration", () => {
  test("the sample files cover all three formats", () => {
    const formats = new Set(FILES.map((f) => formatOf(f, readFileSync(f, "utf8"))));
    assert.deepEqual([...formats].sort(), ["igmpproxy", "improxy", "yaml"]);
    assert.ok(FILES.length >= 8);
  });

  for (const file of FILES) {
    test(file.slice(ROOT.length), () => {
      roundTrip(file, readFileSync(file, "utf8"));
    });
  }
  for (const [name, text] of TEXTS) {
    test(`inline ${name}`, () => {
      roundTrip(`/etc/${name}`, text);
    });
  }

  test("converting the converted file again changes nothing but the header", () => {
    for (const [name, text] of TEXTS) {
      const { yaml } = roundTrip(`/etc/${name}`, text);
      const again = configToYaml(parseYamlConfig(yaml, "/etc/converted.yaml"));
      const body = (t: string) =>
        t
          .split("\n")
          .filter((l) => !l.startsWith("#"))
          .map((l) => l.replace(/ {2}# .*$/, ""))
          .join("\n");
      assert.equal(body(again), body(yaml), name);
    }
  });
});

describe("check-config --to yaml: comments", () => {
  test("igmpproxy directives are named, warnings become notes, interfaces carry their original line", () => {
    const { yaml } = roundTrip("/etc/igmpproxy.conf", TEXTS.find(([n]) => n === "igmpproxy.conf")![1]);
    assert.match(yaml, /^# from \/etc\/igmpproxy\.conf \(igmpproxy format\)/m);
    assert.match(yaml, /^# {3}line 4: hashtablesize is ignored/m);
    assert.match(yaml, /^# {3}line 6: chroot \/var\/empty is not applied/m);
    assert.match(yaml, /^ {2}fast-leave: true {2}# igmpproxy quickleave$/m);
    assert.match(yaml, /^ {2}sources: \[10\.10\.0\.2\/32, 198\.18\.0\.0\/15\] {2}# igmpproxy altnet$/m);
    assert.match(yaml, /^ {2}name: up0 {2}# line 7$/m);
    assert.match(yaml, /^default-downstream:.* {2}# igmpproxy defaultdown, line 2$/m);
    assert.match(yaml, /^disabled: \[dn3\] {2}# igmpproxy phyint \.\.\. disabled$/m);
    assert.match(yaml, /^user: nobody {2}# igmpproxy user$/m);
    assert.match(yaml, /^mld:\n {2}enabled: false {2}# igmpproxy is IPv4-only$/m);
  });

  test("several upstreams become a list; a single one stays a name or a mapping", () => {
    const { yaml } = roundTrip("/etc/upstreams.yaml", TEXTS.find(([n]) => n === "upstreams.yaml")![1]);
    assert.ok(
      yaml.includes(
        [
          "upstream:",
          "  - name: iptv0  # line 3",
          "    ttl-threshold: 2",
          "    groups: [239.0.0.0/8, ff3e::/16]",
          "    sources: [198.18.0.0/15, fd00:18::/32]",
          "  - name: ssm0  # line 6",
          "    ttl-threshold: 4",
          "    groups: [232.0.0.0/8]",
          "  - name: wan0  # line 9",
          "    ttl-threshold: 2",
          "downstream:",
        ].join("\n"),
      ),
      yaml,
    );
    const igmpproxy = roundTrip(
      "/etc/igmpproxy-upstreams.conf",
      TEXTS.find(([n]) => n === "igmpproxy-upstreams.conf")![1],
    ).yaml;
    assert.match(igmpproxy, /^ {2}- name: iptv0 {2}# line 1\n {4}ttl-threshold: 2 {2}# igmpproxy threshold\n {4}groups: \[239\.0\.0\.0\/9, .*\] {2}# igmpproxy whitelist \/ blacklist$/m);
    assert.match(igmpproxy, /^ {2}- name: wan0 {2}# line 5\n {4}groups: \[224\.0\.0\.0\/5, 233\.0\.0\.0\/8, 234\.0\.0\.0\/7, 236\.0\.0\.0\/6\] {2}# igmpproxy whitelist \/ blacklist$/m);
    const file = roundTrip(
      join(ROOT, "test/fixtures/igmpproxy/iptv-and-internet.conf"),
      readFileSync(join(ROOT, "test/fixtures/igmpproxy/iptv-and-internet.conf"), "utf8"),
    ).yaml;
    assert.match(file, /^upstream:\n {2}- name: eth8\.4 {2}# line 5\n {4}groups: \[239\.0\.0\.0\/8\] {2}# igmpproxy whitelist \/ blacklist\n {4}sources: \[10\.200\.0\.0\/16\] {2}# igmpproxy altnet\n {2}- eth8 {2}# line 8$/m);
  });

  test("scalars are plain where they read back as themselves, else quoted", () => {
    assert.equal(yamlScalar("eth0.1"), "eth0.1");
    assert.equal(yamlScalar("10.0.0.0/8"), "10.0.0.0/8");
    assert.equal(yamlScalar("true"), '"true"');
    assert.equal(yamlScalar("1"), '"1"');
    assert.equal(yamlScalar("null"), '"null"');
    assert.equal(yamlScalar("#x"), '"#x"');
    assert.equal(yamlScalar("a b"), '"a b"');
    assert.equal(yamlScalar(3), "3");
    assert.equal(yamlScalar(null), "null");
    assert.equal(yamlScalar(false), "false");
  });
});
