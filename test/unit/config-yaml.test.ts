import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseImproxyConfig } from "../../src/config/improxy-format.js";
import { ConfigError } from "../../src/config/types.js";
import { type ParsedConfig, parseYamlConfig } from "../../src/config/yaml-format.js";

const FILE = "/etc/improxy.yaml";

function parse(text: string): ParsedConfig {
  return parseYamlConfig(text, FILE);
}

function problem(text: string): { line: number; reason: string } {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.file, FILE);
    assert.ok(!err.reason.includes("\n"), `reason is one line: ${err.reason}`);
    return { line: err.line, reason: err.reason };
  }
  assert.fail("expected a ConfigError");
}

const FULL = `mroute-table: 10
control-socket: /run/imp.sock
metrics: "127.0.0.1:9464"
robustness-variable: 3
igmp:
  version: 3
  query-interval: 100
  query-max-response-time: 5
  last-member-query-interval: 0.5
  ssm-ranges: [232.0.0.0/8, 233.252.0.0/14]
  ignore-groups: []
mld:
  version: 2
  startup-query-count: 4
fast-leave: false
down-to-up: true
upstream: wan0
downstream:
  - eth0.1
  - name: eth0.3
    fast-leave: true
    down-to-up: false
    query-interval: 90
    igmp: { version: 2, query-interval: 60, max-groups: 100 }
    mld: { enabled: false }
`;

describe("YAML: full example and inheritance", () => {
  test("globals, family blocks and per-interface overrides resolve in order", () => {
    const { config: c, warnings } = parse(FULL);
    assert.deepEqual(warnings, []);
    assert.equal(c.format, "yaml");
    assert.equal(c.mrouteTable, 10);
    assert.equal(c.controlSocket, "/run/imp.sock");
    assert.equal(c.metricsListen, "127.0.0.1:9464");
    assert.equal(c.upstreams[0]!.name, "wan0");
    assert.equal(c.upstreams[0]!.line, 17);
    const [d1, d3] = c.downstreams;
    assert.equal(d1!.name, "eth0.1");
    assert.equal(d1!.line, 19);
    assert.equal(d1!.downToUp, true, "global down-to-up");
    assert.deepEqual(d1!.igmp, {
      version: 3,
      robustnessVariable: 3, // top level, both families
      queryInterval: 100, // igmp block
      queryMaxResponseTime: 5,
      lastMemberQueryInterval: 0.5,
      startupQueryInterval: 25, // query-interval / 4
      startupQueryCount: 3, // robustness-variable
      fastLeave: false,
      maxGroups: 1024,
      maxSourcesPerGroup: 256,
      maxGroupSources: 16384,
      maxGroupsPerHost: 512,
      reportRateLimit: 4000,
      hostReportRateLimit: 512,
      maxAdoptedRobustness: 3,
      maxAdoptedQueryInterval: 300,
      ssmRanges: ["232.0.0.0/8", "233.252.0.0/14"],
      ignoreGroups: ["239.255.0.0/16"], // `ignore-groups: []` adds nothing to the default
      allowGroups: [],
      denyGroups: [],
      allowSources: [],
      denySources: [],
      staticGroups: [],
    });
    assert.equal(d1!.mld!.robustnessVariable, 3);
    assert.equal(d1!.mld!.queryInterval, 125, "the igmp block does not leak into mld");
    assert.equal(d1!.mld!.startupQueryCount, 4);
    assert.equal(d1!.mld!.startupQueryInterval, 31.25);
    assert.equal(d3!.name, "eth0.3");
    assert.equal(d3!.line, 20);
    assert.equal(d3!.downToUp, false, "per-interface beats global");
    assert.equal(d3!.igmp!.version, 2);
    assert.equal(d3!.igmp!.queryInterval, 60, "interface family block beats interface common");
    assert.equal(d3!.igmp!.startupQueryInterval, 15, "derived from the resolved query-interval");
    assert.equal(d3!.igmp!.maxGroups, 100);
    assert.equal(d3!.igmp!.fastLeave, true);
    assert.equal(d3!.igmp!.queryMaxResponseTime, 5, "inherited from the global igmp block");
    assert.equal(d3!.mld, null, "mld disabled on this interface only");
    assert.equal(c.mldEnabled, true);
    assert.equal(c.upstreams[0]!.mld!.version, 2);
  });

  test("minimal file: both families on with RFC defaults", () => {
    const { config: c } = parse("upstream: wan0\ndownstream: [eth0]\n");
    assert.equal(c.igmpEnabled, true);
    assert.equal(c.mldEnabled, true);
    assert.equal(c.mrouteTable, null);
    assert.equal(c.metricsListen, null);
    assert.equal(c.controlSocket, "/run/improxy/improxy.sock");
    assert.equal(c.downstreams[0]!.igmp!.version, 3);
    assert.equal(c.downstreams[0]!.mld!.version, 2);
    assert.deepEqual(c.downstreams[0]!.igmp!.ignoreGroups, ["239.255.0.0/16"]);
  });

  test("metrics forms", () => {
    const m = (v: string) => parse(`metrics: ${v}\nupstream: a\ndownstream: [b]\n`).config.metricsListen;
    assert.equal(m("off"), null);
    assert.equal(m("false"), null);
    assert.equal(m("true"), "127.0.0.1:9464");
    assert.equal(m('"[::1]:9000"'), "[::1]:9000");
    assert.equal(m("localhost:9000"), "localhost:9000");
    const bad = problem('upstream: a\ndownstream: [b]\nmetrics: "9464"\n');
    assert.equal(bad.line, 3);
    assert.match(bad.reason, /^`metrics` must be "off" or "ADDRESS:PORT"/);
  });

  test("robustness-variable 1 is accepted with a warning at its line", () => {
    const { config, warnings } = parse("upstream: a\ndownstream:\n  - name: b\n    robustness-variable: 1\n");
    assert.equal(config.downstreams[0]!.igmp!.robustnessVariable, 1);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.line, 4);
    assert.match(warnings[0]!.message, /robustness-variable/);
  });
});

describe("YAML: errors with lines", () => {
  test("type error names key, expectation and value", () => {
    const p = problem("upstream: wan0\ndownstream: [eth0]\nigmp:\n  version: 3\n  query-interval: abc\n");
    assert.deepEqual(p, {
      line: 5,
      reason: '`query-interval` must be an integer from 1 to 31744, got "abc"',
    });
  });

  test("each kind of type error has its line", () => {
    const cases: [string, number, string][] = [
      ["fast-leave: yes\n", 3, '`fast-leave` must be true or false, got "yes"'],
      ["robustness-variable: 0\n", 3, "`robustness-variable` must be an integer from 1 to 7, got 0"],
      ["mroute-table: -1\n", 3, "`mroute-table` must be an integer or null from 0 to 4294967295, got -1"],
      [
        "igmp:\n  last-member-query-interval: 0\n",
        4,
        "`last-member-query-interval` must be a number > 0 and <= 1023, got 0",
      ],
      ["mld:\n  version: 3\n", 4, "`version` must be one of 1, 2, got 3"],
      ["igmp: [3]\n", 3, "`igmp` must be a mapping, got a list"],
      ["igmp:\n  ssm-ranges: 232.0.0.0/8\n", 4, '`ssm-ranges` must be a list, got "232.0.0.0/8"'],
      ["control-socket: 5\n", 3, "`control-socket` must be a string, got 5"],
    ];
    for (const [extra, line, reason] of cases) {
      assert.deepEqual(problem(`upstream: wan0\ndownstream: [eth0]\n${extra}`), { line, reason }, extra);
    }
  });

  test("errors inside a downstream item", () => {
    const text =
      "upstream: wan0\ndownstream:\n  - eth0\n  - name: eth1\n    igmp:\n      query-interval: 0\n";
    assert.deepEqual(problem(text), {
      line: 6,
      reason: "`query-interval` must be an integer from 1 to 31744, got 0",
    });
    assert.deepEqual(problem("upstream: wan0\ndownstream:\n  - eth0\n  - fast-leave: true\n"), {
      line: 4,
      reason: "`downstream[1]` is missing `name`",
    });
    assert.deepEqual(problem("upstream: wan0\ndownstream:\n  - eth0\n  - 5\n"), {
      line: 4,
      reason: "`downstream[1]` must be an interface name or a mapping with `name`, got 5",
    });
  });

  test("unknown keys are named, with a suggestion", () => {
    assert.deepEqual(problem("upstream: wan0\nquery-interva: 10\ndownstream: [eth0]\n"), {
      line: 2,
      reason: "unknown key `query-interva` (did you mean `query-interval`?)",
    });
    assert.deepEqual(problem("upstream: wan0\ndownstream:\n  - name: eth0\n    fast-lave: true\n"), {
      line: 4,
      reason: "unknown key `fast-lave` in `downstream[0]` (did you mean `fast-leave`?)",
    });
    assert.deepEqual(problem("upstream: wan0\ndownstream: [eth0]\nmld:\n  zzz: 1\n"), {
      line: 4,
      reason: "unknown key `zzz` in `mld`",
    });
  });

  test("the first problem by line is reported", () => {
    const p = problem("upstream: wan0\ndownstream: [eth0]\nigmp:\n  version: 9\nfast-leave: 3\nbogus: 1\n");
    assert.equal(p.line, 4);
  });

  test("missing upstream / downstream: the last line", () => {
    assert.deepEqual(problem("igmp:\n  version: 3\ndownstream:\n  - eth0\n"), {
      line: 4,
      reason: "missing `upstream` (the upstream interface must be given)",
    });
    assert.deepEqual(problem("upstream: wan0\n# no downstreams\n"), {
      line: 2,
      reason: "missing `downstream` (the downstream interfaces must be given, or `default-downstream: true`)",
    });
    assert.deepEqual(problem("upstream: wan0\ndownstream: []\n"), {
      line: 2,
      reason: "`downstream` must list at least one interface",
    });
  });

  test("interface rules", () => {
    assert.deepEqual(problem("upstream: wan0\ndownstream:\n  - eth0\n  - wan0\n"), {
      line: 4,
      reason: 'downstream "wan0" is an upstream interface (line 1)',
    });
    assert.deepEqual(problem("upstream: wan0\ndownstream:\n  - eth0\n  - name: eth0\n"), {
      line: 4,
      reason: 'duplicate downstream "eth0" (first on line 3)',
    });
    assert.deepEqual(problem("upstream: abcdefghijklmnop\ndownstream: [eth0]\n"), {
      line: 1,
      reason: 'interface name "abcdefghijklmnop" is 16 characters long, at most 15 allowed',
    });
    assert.deepEqual(problem("upstream: wan0\ndownstream:\n  - eth 0\n"), {
      line: 3,
      reason: 'interface name "eth 0" contains an invalid character " "',
    });
  });

  test("semantic ranges", () => {
    assert.deepEqual(problem("upstream: a\ndownstream:\n  - name: b\n    query-max-response-time: 130\n"), {
      line: 4,
      reason: "`query-max-response-time` (130) must be less than `query-interval` (125) for igmp",
    });
    assert.deepEqual(
      problem("upstream: a\ndownstream: [b]\nquery-max-response-time: 20\nmld:\n  query-interval: 20\n"),
      {
        line: 5,
        reason: "`query-max-response-time` (20) must be less than `query-interval` (20) for mld",
      },
    );
    assert.deepEqual(
      problem("upstream: a\ndownstream: [b]\nigmp:\n  ssm-ranges:\n    - 232.0.0.0/8\n    - 10.0.0.0/8\n"),
      {
        line: 6,
        reason: '`ssm-ranges` entry "10.0.0.0/8" is not a multicast prefix (must lie within 224.0.0.0/4)',
      },
    );
    assert.deepEqual(problem("upstream: a\ndownstream: [b]\nmld:\n  ignore-groups: [239.0.0.0/8]\n"), {
      line: 4,
      reason: '`ignore-groups` entry "239.0.0.0/8" is not an IPv6 prefix (this is the mld block)',
    });
    assert.deepEqual(problem("upstream: a\ndownstream: [b]\nmld:\n  ssm-ranges: [ff3e::/33x]\n"), {
      line: 4,
      reason: '`ssm-ranges` entry "ff3e::/33x" has an invalid prefix length (0..128)',
    });
    assert.deepEqual(problem("upstream: a\ndownstream: [b]\ncontrol-socket: run/x.sock\n"), {
      line: 3,
      reason: '`control-socket` must be an absolute path, got "run/x.sock"',
    });
  });

  test("families: both disabled, and enabling on an interface what is off globally", () => {
    assert.deepEqual(
      problem("igmp: { enabled: false }\nmld:\n  enabled: false\nupstream: a\ndownstream: [b]\n"),
      {
        line: 3,
        reason: "both IGMP and MLD are disabled, nothing to proxy",
      },
    );
    const p = problem(
      "mld: { enabled: false }\nupstream: a\ndownstream:\n  - name: b\n    mld:\n      enabled: true\n",
    );
    assert.equal(p.line, 6);
    assert.equal(p.reason, 'mld is disabled globally (line 1); it cannot be enabled on "b" alone');
  });

  test("YAML syntax errors and duplicate keys have lines", () => {
    const dup = problem("upstream: a\ndownstream: [b]\nupstream: c\n");
    assert.equal(dup.line, 3);
    assert.match(dup.reason, /^YAML syntax error: /);
    const bad = problem("upstream: a\ndownstream: [b\n");
    assert.match(bad.reason, /^YAML syntax error: /);
    assert.deepEqual(problem(""), {
      line: 1,
      reason: "empty config: expected a mapping with `upstream` and `downstream`",
    });
    assert.deepEqual(problem("- a\n- b\n"), { line: 1, reason: "the config must be a mapping, got a list" });
  });
});

describe("YAML: aliases and the kernel's interface limit", () => {
  test("alias errors name the alias's line", () => {
    // An alias with no anchor before it (also one defined later).
    assert.deepEqual(problem("upstream: wan0\ndownstream:\n  - eth0\n  - *x\n"), {
      line: 4,
      reason: "unknown alias *x: no anchor &x before it",
    });
    assert.deepEqual(problem("upstream: *later\ndownstream: [&later eth0]\n"), {
      line: 1,
      reason: "unknown alias *later: no anchor &later before it",
    });
    // "Billion laughs": nested expansion is stopped at the alias that goes over the limit.
    const laughs = problem(
      "upstream: wan0\nigmp:\n  ssm-ranges: &a [232.0.0.0/8, 232.0.0.0/8]\n" +
        "mld:\n  ssm-ranges: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
        "downstream:\n  - name: e0\n    igmp: { ignore-groups: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b] }\n" +
        "  - e1\n",
    );
    assert.equal(laughs.line, 8);
    assert.match(laughs.reason, /^alias \*b expands the document too much \(more than 100 alias expansions/);
    // Too many aliases of one scalar: the first alias over the limit.
    const many = problem(
      `upstream: &u wan0\nx:\n${Array.from({ length: 150 }, () => "  - *u\n").join("")}downstream: [eth0]\n`,
    );
    assert.equal(many.line, 102);
    assert.match(many.reason, /^alias \*u expands the document too much/);
    // A few aliases are fine.
    const ok = parse(
      "upstream: &u wan0\nigmp: { ssm-ranges: &s [232.0.0.0/8] }\nmld: { enabled: false }\ndownstream: [eth0]\n",
    );
    assert.equal(ok.config.upstreams[0]!.name, "wan0");
  });

  test("at most 31 downstreams per family with the upstream (MAXVIFS / MAXMIFS 32)", () => {
    const downs = (n: number, extra = "") =>
      Array.from(
        { length: n },
        (_, i) => `  - ${i === n - 1 && extra ? `{ name: d${i}, ${extra} }` : `d${i}`}\n`,
      ).join("");
    assert.equal(parse(`upstream: wan0\ndownstream:\n${downs(31)}`).config.downstreams.length, 31);
    assert.deepEqual(problem(`upstream: wan0\ndownstream:\n${downs(32)}`), {
      line: 34,
      reason:
        'too many IGMP interfaces: downstream "d31" is the 32nd; the kernel allows 32 VIFs (MAXVIFS) per multicast routing table, the upstream included, so at most 31 downstreams',
    });
    // 20,000 downstreams: rejected at the first one too many, quickly.
    const t0 = Date.now();
    const huge = problem(`upstream: wan0\ndownstream:\n${downs(20_000)}`);
    assert.equal(huge.line, 34);
    assert.ok(Date.now() - t0 < 5000);
    // Counted per family: the 32nd downstream without IGMP leaves IGMP at 32 VIFs, MLD at 33 MIFs.
    assert.deepEqual(problem(`upstream: wan0\ndownstream:\n${downs(32, "igmp: { enabled: false }")}`), {
      line: 34,
      reason:
        'too many MLD interfaces: downstream "d31" is the 32nd; the kernel allows 32 MIFs (MAXMIFS) per multicast routing table, the upstream included, so at most 31 downstreams',
    });
    assert.equal(
      parse(`upstream: wan0\nmld: { enabled: false }\ndownstream:\n${downs(32, "igmp: { enabled: false }")}`)
        .config.downstreams.length,
      32,
    );
  });
});

describe("both formats say the same thing the same way", () => {
  const strip = (c: ReturnType<typeof parseImproxyConfig>) => ({ ...c, file: "", format: "" });

  test("shipped sample with quickleave and down_to_up", () => {
    const conf = parseImproxyConfig(
      "igmp enable version 3\nmld enable\nupstream wan1\ndownstream eth0.1\ndownstream eth0.3\nquickleave enable\ndown_to_up enable\n",
      "/a.conf",
    );
    const yaml = parseYamlConfig(
      "igmp: { version: 3 }\nmld: {}\nupstream: wan1\ndownstream:\n  - eth0.1\n  - eth0.3\nfast-leave: true\ndown-to-up: true\n",
      "/a.yaml",
    ).config;
    // Lines differ between the two files; compare everything else.
    const noLines = (c: ReturnType<typeof strip>) => ({
      ...c,
      upstreams: c.upstreams.map((u) => ({ ...u, line: 0 })),
      downstreams: c.downstreams.map((d) => ({ ...d, line: 0 })),
    });
    assert.deepEqual(noLines(strip(yaml)), noLines(strip(conf)));
  });

  test("one family only", () => {
    const conf = parseImproxyConfig("mld enable version 1\nupstream w\ndownstream e\n", "/a.conf");
    const yaml = parseYamlConfig(
      "upstream: w\nigmp: { enabled: false }\nmld: { version: 1 }\ndownstream: [e]\n",
      "/a.yaml",
    ).config;
    assert.deepEqual(
      {
        ...strip(yaml),
        upstreams: yaml.upstreams.map((u) => ({ ...u, line: 0 })),
        downstreams: yaml.downstreams.map((d) => ({ ...d, line: 0 })),
      },
      {
        ...strip(conf),
        upstreams: conf.upstreams.map((u) => ({ ...u, line: 0 })),
        downstreams: conf.downstreams.map((d) => ({ ...d, line: 0 })),
      },
    );
  });
});

describe("YAML: upstream settings, default downstreams, disabled interfaces, user", () => {
  test("upstream as a mapping with sources and ttl-threshold; ttl-threshold inherited from the top", () => {
    const c = parse(
      "ttl-threshold: 2\nupstream:\n  name: wan0\n  sources: [10.0.0.0/8, 'fd00::/8']\n  ttl-threshold: 4\ndownstream:\n  - eth0\n  - name: eth1\n    ttl-threshold: 9\n",
    ).config;
    assert.equal(c.upstreams[0]!.name, "wan0");
    assert.equal(c.upstreams[0]!.line, 2);
    assert.deepEqual(c.upstreams[0]!.sources, ["10.0.0.0/8", "fd00::/8"]);
    assert.equal(c.upstreams[0]!.ttlThreshold, 4);
    assert.deepEqual(
      c.downstreams.map((d) => [d.name, d.ttlThreshold, d.sources]),
      [
        ["eth0", 2, []],
        ["eth1", 9, []],
      ],
    );
    assert.equal(parse("upstream: wan0\ndownstream: [a]\n").config.upstreams[0]!.ttlThreshold, 1);
  });

  test("default-downstream: true, or a mapping with the settings of every default downstream", () => {
    const t = parse("upstream: wan0\ndefault-downstream: true\ndisabled: [eth9, lo]\n").config;
    assert.deepEqual(t.downstreams, []);
    assert.equal(t.defaultDownstream!.name, "*");
    assert.equal(t.defaultDownstream!.line, 2);
    assert.deepEqual(t.disabled, ["eth9", "lo"]);
    assert.equal(t.defaultDownstream!.igmp!.fastLeave, false);
    const o = parse(
      "fast-leave: true\nupstream: wan0\ndownstream: [eth0]\ndefault-downstream:\n  ttl-threshold: 3\n  igmp: { version: 2, allow-groups: [239.0.0.0/8] }\n  mld: { enabled: false }\n",
    ).config;
    const d = o.defaultDownstream!;
    assert.equal(d.ttlThreshold, 3);
    assert.equal(d.igmp!.version, 2);
    assert.equal(d.igmp!.fastLeave, true, "top-level settings apply");
    assert.deepEqual(d.igmp!.allowGroups, ["239.0.0.0/8"]);
    assert.equal(d.mld, null);
    assert.equal(parse("upstream: a\ndownstream: [b]\ndefault-downstream: false\n").config.defaultDownstream, null);
  });

  test("user", () => {
    assert.equal(parse("user: nobody\nupstream: a\ndownstream: [b]\n").config.user, "nobody");
    assert.equal(parse("user: null\nupstream: a\ndownstream: [b]\n").config.user, null);
  });

  test("errors with lines", () => {
    assert.deepEqual(problem("upstream:\n  name: a\n  sources: [239.0.0.0/8]\ndownstream: [b]\n"), {
      line: 3,
      reason: '`sources` entry "239.0.0.0/8" is a multicast prefix; sources are unicast addresses',
    });
    assert.deepEqual(problem("upstream:\n  name: a\n  sources:\n    - 10.0.0/8\ndownstream: [b]\n").line, 4);
    assert.deepEqual(problem("upstream:\n  sources: []\ndownstream: [b]\n"), {
      line: 1,
      reason: "`upstream` is missing `name`",
    });
    assert.deepEqual(problem("upstream:\n  name: a\n  fast-leave: true\ndownstream: [b]\n"), {
      line: 3,
      reason: "unknown key `fast-leave` in `upstream`",
    });
    assert.deepEqual(problem("upstream: a\ndownstream:\n  - name: b\n    sources: [10.0.0.0/8]\n").line, 4);
    assert.deepEqual(problem("upstream: a\ndownstream: [b]\nttl-threshold: 0\n").line, 3);
    assert.deepEqual(problem("upstream: a\ndownstream: [b]\ndisabled: [c, a]\n"), {
      line: 3,
      reason: 'disabled interface "a" is an upstream interface (line 1)',
    });
    assert.deepEqual(problem("upstream: a\ndownstream: [b]\ndisabled:\n  - b\n"), {
      line: 4,
      reason: 'disabled interface "b" is a downstream (line 2)',
    });
    assert.deepEqual(problem("upstream: a\ndefault-downstream: true\ndisabled:\n  - c\n  - c\n"), {
      line: 5,
      reason: 'duplicate disabled interface "c" (first on line 4)',
    });
    assert.deepEqual(problem("upstream: a\ndefault-downstream:\n  name: x\n").line, 3);
    assert.deepEqual(problem("user: 'a b'\nupstream: a\ndownstream: [b]\n"), {
      line: 1,
      reason: '`user` must be a user name (letters, digits, ".", "_", "-"), got "a b"',
    });
  });
});

describe("YAML: several upstreams", () => {
  const IPTV = `upstream:
  - name: iptv0
    groups: [239.0.0.0/8, "ff3e::/16"]
    sources: [198.18.0.0/15]
  - wan0
downstream: [lan0]
`;

  test("a list of names and mappings, in order, each with its groups and sources", () => {
    const { config: c, warnings } = parse(IPTV);
    assert.deepEqual(
      c.upstreams.map((u) => [u.name, u.role, u.groups, u.sources, u.ttlThreshold, u.line]),
      [
        ["iptv0", "upstream", ["239.0.0.0/8", "ff3e::/16"], ["198.18.0.0/15"], 1, 2],
        ["wan0", "upstream", [], [], 1, 5],
      ],
    );
    assert.deepEqual(warnings, []);
    assert.ok(c.upstreams.every((u) => u.igmp !== null && u.mld !== null), "every upstream has the top-level families");
    const one = parse("upstream: [wan0]\ndownstream: [lan0]\n").config;
    assert.deepEqual(
      one.upstreams.map((u) => [u.name, u.line]),
      [["wan0", 1]],
    );
  });

  test("a single upstream object takes groups too", () => {
    const c = parse("upstream:\n  name: wan0\n  groups: [232.0.0.0/8]\ndownstream: [lan0]\n").config;
    assert.deepEqual(c.upstreams[0]!.groups, ["232.0.0.0/8"]);
  });

  test("errors name the line: duplicates, an upstream that is a downstream or disabled, bad groups, an empty list", () => {
    assert.deepEqual(problem("upstream:\n  - wan0\n  - name: iptv0\n  - wan0\ndownstream: [lan0]\n"), {
      line: 4,
      reason: 'duplicate upstream "wan0" (first on line 2)',
    });
    assert.deepEqual(problem("upstream:\n  - wan0\n  - name: iptv0\ndownstream: [lan0, iptv0]\n"), {
      line: 4,
      reason: 'downstream "iptv0" is an upstream interface (line 3)',
    });
    assert.deepEqual(problem("upstream: [wan0, iptv0]\ndownstream: [lan0]\ndisabled: [iptv0]\n"), {
      line: 3,
      reason: 'disabled interface "iptv0" is an upstream interface (line 1)',
    });
    assert.deepEqual(problem("upstream:\n  - name: iptv0\n    groups:\n      - 10.0.0.0/8\n  - wan0\ndownstream: [lan0]\n"), {
      line: 4,
      reason: '`groups` entry "10.0.0.0/8" is not a multicast prefix (must lie within 224.0.0.0/4 or ff00::/8)',
    });
    assert.equal(problem("upstream:\n  - name: iptv0\n    groups: [239.0.0/8]\ndownstream: [lan0]\n").line, 3);
    assert.deepEqual(problem("upstream: []\ndownstream: [lan0]\n"), {
      line: 1,
      reason: "`upstream` must list at least one interface",
    });
    assert.deepEqual(problem("upstream:\n  - wan0\n  - 7\ndownstream: [lan0]\n"), {
      line: 3,
      reason: "`upstream[1]` must be an interface name or a mapping with `name`, got 7",
    });
    assert.deepEqual(problem("upstream:\n  - name: wan0\n    fast-leave: true\ndownstream: [lan0]\n"), {
      line: 3,
      reason: "unknown key `fast-leave` in `upstream[0]`",
    });
  });

  test("an upstream, or a groups entry, that earlier upstreams already serve: a warning at its line", () => {
    const whole = parse("upstream:\n  - wan0\n  - name: iptv0\n    groups: [239.0.0.0/8]\ndownstream: [lan0]\n");
    assert.deepEqual(
      whole.warnings.map((w) => [w.line, w.message]),
      [[3, 'upstream "iptv0" serves no group: the upstreams before it ("wan0") serve all of its groups (the first match wins)']],
    );
    const entry = parse(
      "upstream:\n  - name: iptv0\n    groups: [239.0.0.0/8]\n  - name: iptv1\n    groups:\n      - 232.0.0.0/8\n      - 239.1.0.0/16\n  - wan0\ndownstream: [lan0]\n",
    );
    assert.deepEqual(
      entry.warnings.map((w) => [w.line, w.message]),
      [[7, '`groups` entry 239.1.0.0/16 of upstream "iptv1" is never used: "iptv0" before it serves those groups (the first match wins)']],
    );
    // Split over two earlier upstreams, and per family: 239/8 of iptv0 + 239/8-less of wan-v4.
    const split = parse(
      "mld: { enabled: false }\nupstream:\n  - name: a\n    groups: [239.0.0.0/9]\n  - name: b\n    groups: [239.128.0.0/9]\n  - name: c\n    groups: [239.0.0.0/8, 'ff3e::/16']\ndownstream: [lan0]\n",
    );
    assert.deepEqual(
      split.warnings.map((w) => [w.line, w.message]),
      [[7, 'upstream "c" serves no group: the upstreams before it ("a", "b") serve all of its groups (the first match wins)']],
      "its IPv6 entry does not count with MLD off",
    );
    const noFamily = parse("mld: { enabled: false }\nupstream:\n  - name: v6\n    groups: ['ff3e::/16']\n  - wan0\ndownstream: [lan0]\n");
    assert.deepEqual(
      noFamily.warnings.map((w) => [w.line, w.message]),
      [[3, 'upstream "v6" serves no group: its `groups` name none of the enabled IGMP family']],
    );
    assert.deepEqual(parse(IPTV).warnings, [], "IPv4 and IPv6 ranges of iptv0, the rest on wan0: nothing shadowed");
  });

  test("the kernel's 32 VIFs count every upstream", () => {
    const downs = Array.from({ length: 31 }, (_, i) => `  - d${i}`).join("\n");
    const p = problem(`upstream: [wan0, iptv0]\ndownstream:\n${downs}\n`);
    assert.equal(p.line, 33);
    assert.equal(
      p.reason,
      'too many IGMP interfaces: downstream "d30" is the 31st; the kernel allows 32 VIFs (MAXVIFS) per multicast routing table, the 2 upstreams included, so at most 30 downstreams',
    );
  });

  test("max-upstream-groups holds per upstream: static groups count on the upstream that serves them", () => {
    const statics = (n: number, base: string) => Array.from({ length: n }, (_, i) => `${base}.${i + 1}`).join(", ");
    const text = (max: number) =>
      `max-upstream-groups: ${max}\nupstream:\n  - name: iptv0\n    groups: [239.0.0.0/8]\n  - wan0\ndownstream:\n  - name: lan0\n    static-groups: [${statics(2, "239.1.1")}, ${statics(2, "233.1.1")}]\n`;
    assert.equal(parse(text(2)).config.maxUpstreamGroups, 2, "two on each upstream fit");
    const p = problem(text(1));
    assert.equal(p.line, 7);
    assert.match(p.reason, /are 2 groups on upstream "iptv0", more than `max-upstream-groups` \(1\)/);
  });
});
