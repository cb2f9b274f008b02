/**
 * The YAML rows of issue 10: `allow-sources` / `deny-sources`, `static-groups`, and
 * `ignore-groups` added to its default (src/config/source-rules.ts, static-groups.ts,
 * defaults.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatConfig } from "../../src/config/format.js";
import { ConfigError } from "../../src/config/types.js";
import { parseYamlConfig } from "../../src/config/yaml-format.js";

const FILE = "/etc/improxy.yaml";
const parse = (text: string) => parseYamlConfig(text, FILE).config;

function problem(text: string): { line: number; reason: string } {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(!err.reason.includes("\n"), `reason is one line: ${err.reason}`);
    return { line: err.line, reason: err.reason };
  }
  assert.fail("expected a ConfigError");
}

describe("allow-sources / deny-sources", () => {
  test("family blocks, top level and per downstream; the most specific one wins", () => {
    const c = parse(
      [
        "igmp:",
        "  deny-sources: [{ group: 232.0.0.0/8, source: 10.9.0.0/16 }]",
        "upstream: up0",
        "downstream:",
        "  - dn1",
        "  - name: dn2",
        "    igmp:",
        "      allow-sources:",
        "        - { group: 232.1.1.1, source: 10.1.1.1 }",
        "      deny-sources: []",
        "    mld:",
        "      deny-sources: [{ group: ff3e::/16, source: 'fd00::/8' }]",
        "",
      ].join("\n"),
    );
    const [d1, d2] = c.downstreams;
    assert.deepEqual(d1!.igmp!.denySources, [{ group: "232.0.0.0/8", source: "10.9.0.0/16" }]);
    assert.deepEqual(d1!.igmp!.allowSources, []);
    assert.deepEqual(d2!.igmp!.denySources, []);
    assert.deepEqual(d2!.igmp!.allowSources, [{ group: "232.1.1.1", source: "10.1.1.1" }]);
    assert.deepEqual(d2!.mld!.denySources, [{ group: "ff3e::/16", source: "fd00::/8" }]);
    const text = formatConfig(c);
    assert.match(text, /deny-sources +232\.0\.0\.0\/8 from 10\.9\.0\.0\/16/);
    assert.match(text, /allow-sources +all sources/);
  });

  test("each rule is checked where it is written: family, multicast group, unicast source", () => {
    const at = (block: string, rule: string) =>
      problem(`upstream: a\ndownstream: [b]\n${block}:\n  deny-sources:\n    - ${rule}\n`);
    assert.deepEqual(at("igmp", "{ group: ff3e::/16, source: 10.0.0.0/8 }"), {
      line: 5,
      reason: '`deny-sources` entry group "ff3e::/16" is not an IPv4 prefix (this is the igmp block)',
    });
    assert.deepEqual(at("igmp", "{ group: 10.0.0.0/8, source: 10.0.0.0/8 }"), {
      line: 5,
      reason: '`deny-sources` entry group "10.0.0.0/8" is not a multicast prefix (must lie within 224.0.0.0/4)',
    });
    assert.deepEqual(at("igmp", "{ group: 232.0.0.0/8, source: 239.0.0.0/8 }"), {
      line: 5,
      reason: '`deny-sources` entry source "239.0.0.0/8" is a multicast prefix; sources are unicast',
    });
    assert.deepEqual(at("mld", "{ group: ff3e::/16, source: 10.0.0.0/8 }"), {
      line: 5,
      reason: '`deny-sources` entry source "10.0.0.0/8" is not an IPv6 prefix (this is the mld block)',
    });
    assert.match(at("igmp", "{ group: 232.0.0.0/40, source: 10.0.0.0/8 }").reason, /invalid prefix length/);
    assert.match(at("igmp", "{ group: 232.0.0.0/8 }").reason, /missing `source`/);
    assert.match(at("igmp", "{ group: 232.0.0.0/8, source: 10.0.0.1, port: 5 }").reason, /unknown key `port`/);
  });
});

describe("static-groups", () => {
  test("bare groups and { group, source }; canonical addresses; a downstream object holds both families", () => {
    const c = parse(
      [
        "upstream: up0",
        "downstream:",
        "  - name: dn1",
        "    static-groups: [239.1.1.1, { group: 232.1.1.1, source: 10.10.0.2 }, 'FF05:0::1:1']",
        "  - name: dn2",
        "    static-groups: [239.1.1.1]",
        "    mld: { static-groups: [{ group: ff3e::1, source: 'fd00:10::2' }] }",
        "  - dn3",
        "",
      ].join("\n"),
    );
    const [d1, d2, d3] = c.downstreams;
    assert.deepEqual(d1!.igmp!.staticGroups, [
      { group: "239.1.1.1", source: null },
      { group: "232.1.1.1", source: "10.10.0.2" },
    ]);
    assert.deepEqual(d1!.mld!.staticGroups, [{ group: "ff05::1:1", source: null }]);
    assert.deepEqual(d2!.igmp!.staticGroups, [{ group: "239.1.1.1", source: null }]);
    assert.deepEqual(d2!.mld!.staticGroups, [{ group: "ff3e::1", source: "fd00:10::2" }], "the family block wins");
    assert.deepEqual(d3!.igmp!.staticGroups, []);
    assert.deepEqual(c.upstreams[0]!.igmp!.staticGroups, [], "the upstream has none (a host there)");
    assert.match(formatConfig(c), /static-groups +239\.1\.1\.1, 232\.1\.1\.1 from 10\.10\.0\.2/);
  });

  test("a top-level family block applies to every downstream; a downstream with only the other family's entries inherits it", () => {
    const c = parse(
      "igmp: { static-groups: [239.2.2.2] }\nupstream: up0\ndownstream:\n  - dn1\n  - name: dn2\n    static-groups: [ff05::2]\n",
    );
    for (const d of c.downstreams) assert.deepEqual(d.igmp!.staticGroups, [{ group: "239.2.2.2", source: null }]);
    assert.deepEqual(c.downstreams[1]!.mld!.staticGroups, [{ group: "ff05::2", source: null }]);
  });

  test("entries are checked where they are written", () => {
    const down = (list: string) => problem(`upstream: a\ndownstream:\n  - name: b\n    static-groups: ${list}\n`);
    assert.deepEqual(down("[10.0.0.1]"), {
      line: 4,
      reason: '`static-groups` entry group "10.0.0.1" is not a multicast address',
    });
    assert.deepEqual(down("[{ group: 232.1.1.1, source: 'fd00::1' }]"), {
      line: 4,
      reason: '`static-groups` entry source "fd00::1" is not an IPv4 address (the group\'s family)',
    });
    assert.deepEqual(down("[{ group: 232.1.1.1, source: 239.0.0.1 }]").reason, '`static-groups` entry source "239.0.0.1" is not a unicast address');
    assert.deepEqual(down("[42]"), {
      line: 4,
      reason: "`static-groups[0]` must be a group address or a mapping with `group` (and `source`), got 42",
    });
    assert.deepEqual(problem("upstream: a\ndownstream: [b]\nmld:\n  static-groups:\n    - 239.1.1.1\n"), {
      line: 5,
      reason: "`static-groups` entry 239.1.1.1 is not an IPv6 group (this is the mld block)",
    });
  });

  test("a static group that could never be forwarded, or over the limits, is refused at its line", () => {
    const cfg = (extra: string, list: string) =>
      problem(`upstream: a\ndownstream:\n  - name: b\n    igmp:\n${extra}      static-groups: ${list}\n`);
    assert.deepEqual(cfg("", "[232.1.1.1]"), {
      line: 5,
      reason:
        'static group 232.1.1.1 of "b" is in an SSM range (`ssm-ranges`): write it with its source, { group: G, source: S }',
    });
    assert.match(cfg("", "[224.0.0.251]").reason, /link-local scope group, never forwarded/);
    assert.match(cfg("", "[239.255.255.250]").reason, /is in `ignore-groups`, never forwarded/);
    assert.match(cfg("      deny-groups: [239.1.0.0/16]\n", "[239.1.1.1]").reason, /is in `deny-groups`/);
    assert.match(cfg("      allow-groups: [239.2.0.0/16]\n", "[239.1.1.1]").reason, /is outside `allow-groups`/);
    assert.match(
      cfg("      deny-sources: [{ group: 232.0.0.0/8, source: 10.0.0.0/8 }]\n", "[{ group: 232.1.1.1, source: 10.1.1.1 }]")
        .reason,
      /has a source that `deny-sources` refuses/,
    );
    assert.match(cfg("", "[239.1.1.1, 239.1.1.1]").reason, /is listed twice/);
    assert.deepEqual(cfg("      max-groups: 1\n", "[239.1.1.1, 239.1.1.2]"), {
      line: 6,
      reason: 'static group 239.1.1.2 of "b" is one group more than `max-groups` (1)',
    });
    assert.match(
      cfg(
        "      max-sources-per-group: 1\n",
        "[{ group: 232.1.1.1, source: 10.0.0.1 }, { group: 232.1.1.1, source: 10.0.0.2 }]",
      ).reason,
      /one source more than `max-sources-per-group` \(1\)/,
    );
    // From a top-level block the line is the entry's line there.
    assert.deepEqual(problem("igmp:\n  static-groups:\n    - 239.9.9.9\n    - 232.9.9.9\nupstream: a\ndownstream: [b]\n"), {
      line: 4,
      reason:
        'static group 232.9.9.9 of "b" is in an SSM range (`ssm-ranges`): write it with its source, { group: G, source: S }',
    });
  });

  test("more distinct static groups of a family than max-upstream-groups are refused", () => {
    assert.deepEqual(
      problem(
        "max-upstream-groups: 2\nupstream: a\ndownstream:\n  - name: b\n    static-groups: [239.1.1.1, 239.1.1.2]\n  - name: c\n    static-groups: [239.1.1.1, 239.1.1.3]\n",
      ),
      {
        line: 6,
        reason:
          'the IGMP static groups of the downstreams up to "c" are 3 groups, more than `max-upstream-groups` (2) can join upstream',
      },
    );
  });
});

describe("ignore-groups adds to the default", () => {
  test("a stated list, at any layer, is added to the default; it never replaces it", () => {
    const c = parse(
      [
        "igmp: { ignore-groups: [239.192.0.0/14] }",
        "mld: { ignore-groups: ['ff05::9/128'] }",
        "upstream: up0",
        "downstream:",
        "  - dn1",
        "  - name: dn2",
        "    igmp: { ignore-groups: [239.100.0.0/16] }",
        "  - name: dn3",
        "    igmp: { ignore-groups: [] }",
        "",
      ].join("\n"),
    );
    const [d1, d2, d3] = c.downstreams;
    assert.deepEqual(d1!.igmp!.ignoreGroups, ["239.255.0.0/16", "239.192.0.0/14"]);
    assert.deepEqual(d2!.igmp!.ignoreGroups, ["239.255.0.0/16", "239.100.0.0/16"], "the downstream's list wins over the top level's");
    assert.deepEqual(d3!.igmp!.ignoreGroups, ["239.255.0.0/16"], "an empty list leaves the default");
    assert.deepEqual(c.upstreams[0]!.igmp!.ignoreGroups, ["239.255.0.0/16", "239.192.0.0/14"], "forwarding's list");
    assert.deepEqual(d1!.mld!.ignoreGroups, ["ff05::9/128"], "MLD has no default");
    const again = parse("igmp: { ignore-groups: [239.255.0.0/16, 239.1.0.0/16] }\nupstream: a\ndownstream: [b]\n");
    assert.deepEqual(again.downstreams[0]!.igmp!.ignoreGroups, ["239.255.0.0/16", "239.1.0.0/16"], "no repeats");
  });
});
