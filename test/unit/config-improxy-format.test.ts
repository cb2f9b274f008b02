import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseImproxyConfig } from "../../src/config/improxy-format.js";
import { ConfigError } from "../../src/config/types.js";

const FILE = "/etc/improxy.conf";

/** The sample shipped with the original IMProxy (docs/improxy-compat.md "Config file"). */
const SHIPPED = `igmp enable version 3
mld enable
upstream wan1
downstream eth0.1
downstream eth0.3
downstream eth0.4
downstream eth0.5
`;

function problem(text: string): { line: number; reason: string; message: string } {
  try {
    parseImproxyConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.file, FILE);
    assert.ok(!err.reason.includes("\n"), "reason is one line");
    return { line: err.line, reason: err.reason, message: err.message };
  }
  assert.fail("expected a ConfigError");
}

describe("IMProxy format: valid files", () => {
  test("the shipped sample", () => {
    const c = parseImproxyConfig(SHIPPED, FILE);
    assert.equal(c.format, "improxy");
    assert.equal(c.file, FILE);
    assert.equal(c.upstreams[0]!.name, "wan1");
    assert.equal(c.upstreams[0]!.role, "upstream");
    assert.equal(c.upstreams[0]!.line, 3);
    assert.deepEqual(
      c.downstreams.map((d) => [d.name, d.line, d.role]),
      [
        ["eth0.1", 4, "downstream"],
        ["eth0.3", 5, "downstream"],
        ["eth0.4", 6, "downstream"],
        ["eth0.5", 7, "downstream"],
      ],
    );
    assert.equal(c.igmpEnabled, true);
    assert.equal(c.mldEnabled, true);
    assert.equal(c.mrouteTable, null);
    assert.equal(c.controlSocket, "/run/improxy/improxy.sock");
    assert.equal(c.metricsListen, null);
    const d = c.downstreams[0]!;
    assert.equal(d.igmp?.version, 3);
    assert.equal(d.mld?.version, 2, "mld enable without version means MLDv2");
    assert.equal(d.downToUp, false);
  });

  test("RFC defaults everywhere else", () => {
    const s = parseImproxyConfig(SHIPPED, FILE).downstreams[1]!.igmp!;
    assert.deepEqual(s, {
      version: 3,
      robustnessVariable: 2,
      queryInterval: 125,
      queryMaxResponseTime: 10,
      lastMemberQueryInterval: 1,
      startupQueryInterval: 31.25,
      startupQueryCount: 2,
      fastLeave: false,
      maxGroups: 1024,
      maxSourcesPerGroup: 256,
      maxGroupSources: 16384,
      maxGroupsPerHost: 512,
      reportRateLimit: 4000,
      hostReportRateLimit: 512,
      maxAdoptedRobustness: 3,
      maxAdoptedQueryInterval: 300,
      ssmRanges: ["232.0.0.0/8"],
      ignoreGroups: ["239.255.0.0/16"],
      allowGroups: [],
      denyGroups: [],
      allowSources: [],
      denySources: [],
      staticGroups: [],
    });
    const m = parseImproxyConfig(SHIPPED, FILE).downstreams[1]!.mld!;
    assert.equal(m.ssmRanges.length, 16);
    assert.equal(m.ssmRanges[0], "ff30::/32");
    assert.equal(m.ssmRanges[15], "ff3f::/32");
    assert.deepEqual(m.ignoreGroups, []);
  });

  test("a missing mld line disables MLD; igmp versions 1 and 2", () => {
    for (const v of [1, 2]) {
      const c = parseImproxyConfig(`igmp enable version ${v}\nupstream a\ndownstream b\n`, FILE);
      assert.equal(c.mldEnabled, false);
      assert.equal(c.downstreams[0]!.mld, null);
      assert.equal(c.upstreams[0]!.mld, null);
      assert.equal(c.downstreams[0]!.igmp!.version, v);
    }
  });

  test("igmp disable + mld enable version 1", () => {
    const c = parseImproxyConfig("igmp disable\nmld enable version 1\nupstream a\ndownstream b\n", FILE);
    assert.equal(c.igmpEnabled, false);
    assert.equal(c.downstreams[0]!.igmp, null);
    assert.equal(c.downstreams[0]!.mld!.version, 1);
  });

  test("quickleave and down_to_up apply to every downstream, not the upstream", () => {
    const c = parseImproxyConfig(`${SHIPPED}quickleave enable\ndown_to_up enable\n`, FILE);
    for (const d of c.downstreams) {
      assert.equal(d.igmp!.fastLeave, true);
      assert.equal(d.mld!.fastLeave, true);
      assert.equal(d.downToUp, true);
    }
    assert.equal(c.upstreams[0]!.igmp!.fastLeave, false);
    assert.equal(c.upstreams[0]!.downToUp, false);
    const off = parseImproxyConfig(`${SHIPPED}quickleave disable\ndown_to_up disable\n`, FILE);
    assert.equal(off.downstreams[0]!.igmp!.fastLeave, false);
    assert.equal(off.downstreams[0]!.downToUp, false);
  });

  test("comments, blank lines, tabs, CRLF and trailing comments", () => {
    const text =
      "# IMProxy\r\n\r\n  \t\r\nigmp\tenable  version\t2   # v2 only\r\n  upstream\twan0\r\ndownstream eth1 # lan\r\n";
    const c = parseImproxyConfig(text, FILE);
    assert.equal(c.upstreams[0]!.name, "wan0");
    assert.equal(c.upstreams[0]!.line, 5);
    assert.equal(c.downstreams[0]!.name, "eth1");
    assert.equal(c.downstreams[0]!.igmp!.version, 2);
  });
});

describe("IMProxy format: every error names file, line and reason", () => {
  test("unknown keyword, named", () => {
    const p = problem("igmp enable\nupstream a\nquickLeave enable\ndownstream b\n");
    assert.equal(p.line, 3);
    assert.equal(
      p.reason,
      'unknown keyword "quickLeave" (expected one of: igmp, mld, upstream, downstream, quickleave, down_to_up)',
    );
    assert.equal(p.message, `${FILE}:3: ${p.reason}`);
  });

  test("keywords are case-sensitive", () => {
    assert.equal(problem("IGMP enable\nupstream a\ndownstream b\n").line, 1);
  });

  test("bad igmp / mld values name the value and what is allowed", () => {
    assert.deepEqual(problem("igmp enable version 4\nupstream a\ndownstream b\n"), {
      line: 1,
      reason: 'bad value "4" for igmp version (allowed: 1, 2 or 3)',
      message: `${FILE}:1: bad value "4" for igmp version (allowed: 1, 2 or 3)`,
    });
    assert.equal(
      problem("igmp on\n").reason,
      'bad value "on" for igmp: expected "igmp enable [version 1|2|3]" or "igmp disable"',
    );
    assert.equal(
      problem("upstream a\nmld enable version 3\n").reason,
      'bad value "3" for mld version (allowed: 1 or 2)',
    );
    assert.equal(problem("upstream a\nmld enable version 3\n").line, 2);
    assert.equal(
      problem("mld enable version\n").reason,
      'missing value after "mld enable version" (allowed: 1 or 2)',
    );
    assert.equal(
      problem("mld\n").reason,
      'missing value for mld: expected "mld enable [version 1|2]" or "mld disable"',
    );
    assert.equal(
      problem("igmp enable vers 2\n").reason,
      'bad value "vers" for igmp: expected "igmp enable [version 1|2|3]" or "igmp disable"',
    );
    assert.equal(problem("igmp disable now\n").reason, 'unexpected "now" after "igmp disable"');
    assert.equal(problem("igmp enable version 2 x\n").reason, 'unexpected "x" after "igmp enable version 2"');
  });

  test("bad quickleave / down_to_up values", () => {
    const p = problem("igmp enable\nupstream a\ndownstream b\nquickleave yes\n");
    assert.equal(p.line, 4);
    assert.equal(p.reason, 'bad value "yes" for quickleave: expected enable or disable');
    assert.equal(problem("down_to_up\n").reason, "missing value for down_to_up: expected enable or disable");
    assert.equal(
      problem("quickleave enable\nquickleave disable\n").reason,
      'second "quickleave" line (first on line 1)',
    );
  });

  test("duplicate family lines", () => {
    const p = problem("igmp enable\nupstream a\nigmp disable\n");
    assert.equal(p.line, 3);
    assert.equal(p.reason, 'second "igmp" line (first on line 1)');
  });

  test("missing upstream: reported at the last line", () => {
    const p = problem("igmp enable\ndownstream eth0\n# end\n");
    assert.equal(p.line, 3);
    assert.equal(p.reason, 'no "upstream" line: exactly one upstream interface is required');
    assert.equal(problem("").line, 1, "an empty file reports line 1");
  });

  test("second upstream", () => {
    const p = problem("igmp enable\nupstream wan0\ndownstream eth0\nupstream wan1\n");
    assert.equal(p.line, 4);
    assert.equal(
      p.reason,
      'second upstream "wan1" (upstream "wan0" already set on line 2; exactly one allowed)',
    );
  });

  test("downstream equal to the upstream, either order", () => {
    const p = problem("igmp enable\nupstream wan0\ndownstream wan0\n");
    assert.equal(p.line, 3);
    assert.equal(p.reason, 'downstream "wan0" is the upstream interface (line 2)');
    const q = problem("igmp enable\ndownstream wan0\nupstream wan0\n");
    assert.equal(q.line, 3);
    assert.equal(q.reason, 'upstream "wan0" is also a downstream (line 2)');
  });

  test("duplicate downstream", () => {
    const p = problem("igmp enable\nupstream wan0\ndownstream eth0\ndownstream eth1\ndownstream eth0\n");
    assert.equal(p.line, 5);
    assert.equal(p.reason, 'duplicate downstream "eth0" (first on line 3)');
  });

  test("interface names: too long, invalid characters, missing, extra tokens", () => {
    const long = problem("igmp enable\nupstream abcdefghijklmnop\n");
    assert.equal(long.line, 2);
    assert.equal(long.reason, 'interface name "abcdefghijklmnop" is 16 characters long, at most 15 allowed');
    assert.equal(
      parseImproxyConfig("igmp enable\nupstream abcdefghijklmno\ndownstream x\n", FILE).upstreams[0]!.name,
      "abcdefghijklmno",
    );
    assert.equal(
      problem("igmp enable\ndownstream eth0:1\n").reason,
      'interface name "eth0:1" contains an invalid character ":"',
    );
    assert.equal(
      problem("igmp enable\ndownstream a/b\n").reason,
      'interface name "a/b" contains an invalid character "/"',
    );
    assert.equal(problem("igmp enable\ndownstream ..\n").reason, 'interface name ".." is not allowed');
    assert.equal(problem("igmp enable\ndownstream\n").reason, 'missing interface name after "downstream"');
    assert.equal(
      problem("igmp enable\nupstream wan0 wan1\n").reason,
      'unexpected "wan1" after the upstream interface name',
    );
  });

  test("zero downstreams", () => {
    const p = problem("igmp enable\nupstream wan0\n");
    assert.equal(p.line, 2);
    assert.equal(p.reason, 'no "downstream" line: at least one downstream interface is required');
  });

  test("both families disabled is an error (nothing would run)", () => {
    const none = problem("upstream wan0\ndownstream eth0\n");
    assert.equal(none.line, 2);
    assert.equal(
      none.reason,
      'both IGMP and MLD are disabled, nothing to proxy (add "igmp enable" and/or "mld enable")',
    );
    const explicit = problem("igmp disable\nupstream wan0\nmld disable\ndownstream eth0\n");
    assert.equal(explicit.line, 3, "points at the later disable line");
  });
});

describe("IMProxy format: the kernel's interface limit", () => {
  const file = (n: number, head = "igmp enable\nmld enable\n") =>
    `${head}upstream wan0\n${Array.from({ length: n }, (_, i) => `downstream d${i}\n`).join("")}`;

  test("31 downstreams and the upstream fit in MAXVIFS 32", () => {
    assert.equal(parseImproxyConfig(file(31), FILE).downstreams.length, 31);
  });

  test("the 32nd downstream is refused at its line, for whichever family comes first", () => {
    const p = problem(file(32));
    assert.equal(p.line, 35);
    assert.equal(
      p.message,
      `${FILE}:35: too many IGMP interfaces: downstream "d31" is the 32nd; the kernel allows 32 VIFs (MAXVIFS) per multicast routing table, the upstream included, so at most 31 downstreams`,
    );
    assert.match(
      problem(file(20_000, "mld enable\n")).reason,
      /^too many MLD interfaces: downstream "d31" is the 32nd; .*32 MIFs \(MAXMIFS\)/,
    );
    assert.equal(problem(file(20_000, "mld enable\n")).line, 34);
  });
});
