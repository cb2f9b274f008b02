/** Control socket requests: what parses, what is refused (with a reason), never a throw. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { encodeRequest, encodeResponse, parseRequest } from "../../src/control/protocol.js";

describe("control protocol: parseRequest", () => {
  test("valid requests", () => {
    assert.deepEqual(parseRequest('{"cmd":"status"}'), { ok: true, request: { cmd: "status" } });
    assert.deepEqual(parseRequest('{"cmd":"status","family":"ipv6"}'), {
      ok: true,
      request: { cmd: "status", family: "ipv6" },
    });
    assert.deepEqual(parseRequest('{"cmd":"show","what":"groups","family":"ipv4"}'), {
      ok: true,
      request: { cmd: "show", what: "groups", family: "ipv4" },
    });
    assert.deepEqual(parseRequest('{"cmd":"reload","id":7}'), {
      ok: true,
      request: { cmd: "reload" },
      id: 7,
    });
    assert.deepEqual(parseRequest(' {"id":"a","cmd":"ping"} '), {
      ok: true,
      request: { cmd: "ping" },
      id: "a",
    });
  });

  test("refusals carry a reason (and the id when there was one)", () => {
    const bad: Array<[string, RegExp]> = [
      ["", /not valid JSON/],
      ["status", /not valid JSON/],
      ["[1,2]", /JSON object/],
      ["null", /JSON object/],
      ['{"what":"groups"}', /"cmd" is missing/],
      ['{"cmd":"restart"}', /unknown command "restart"/],
      ['{"cmd":"show"}', /"what" must be one of: interfaces, groups, sources, routes, stats/],
      ['{"cmd":"show","what":"neighbours"}', /"what" must be one of/],
      ['{"cmd":"status","family":"ipx"}', /"family" must be "ipv4" or "ipv6"/],
      ['{"cmd":"reload","what":"groups"}', /unexpected field "what" for "reload"/],
      ['{"cmd":"status","id":{}}', /"id" must be a string or a number/],
    ];
    for (const [line, reason] of bad) {
      const r = parseRequest(line);
      assert.equal(r.ok, false, line);
      if (!r.ok) assert.match(r.error, reason, line);
    }
    assert.deepEqual(parseRequest('{"cmd":"nope","id":3}'), {
      ok: false,
      error: 'unknown command "nope" (one of: ping, status, show, reload)',
      id: 3,
    });
  });

  test("show filters: interface, group, source where the view takes them, validated", () => {
    assert.deepEqual(
      parseRequest(
        '{"cmd":"show","what":"routes","interface":"dn1","group":"239.1.0.0/16","source":"10.0.0.1"}',
      ),
      {
        ok: true,
        request: { cmd: "show", what: "routes", interface: "dn1", group: "239.1.0.0/16", source: "10.0.0.1" },
      },
    );
    assert.deepEqual(parseRequest('{"cmd":"show","what":"stats","interface":"dn1","family":"ipv6"}'), {
      ok: true,
      request: { cmd: "show", what: "stats", family: "ipv6", interface: "dn1" },
    });
    const bad: Array<[string, RegExp]> = [
      ['{"cmd":"show","what":"interfaces","source":"10.0.0.1"}', /show interfaces takes no source filter/],
      ['{"cmd":"show","what":"stats","group":"239.1.1.1"}', /show stats takes no group filter/],
      ['{"cmd":"show","what":"groups","group":"10.1.1.1"}', /not a multicast address or prefix/],
      ['{"cmd":"show","what":"groups","group":"239.1.1.1/33"}', /invalid prefix length/],
      ['{"cmd":"show","what":"routes","source":"1.2.3"}', /not an IPv4 or IPv6 prefix/],
      ['{"cmd":"show","what":"routes","interface":"a/b"}', /invalid character/],
      ['{"cmd":"show","what":"routes","interface":7}', /"interface" must be a string/],
      ['{"cmd":"status","interface":"dn1"}', /unexpected field "interface" for "status"/],
    ];
    for (const [line, reason] of bad) {
      const r = parseRequest(line);
      assert.equal(r.ok, false, line);
      if (!r.ok) assert.match(r.error, reason, line);
    }
  });

  test("never throws on arbitrary input", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (line) => {
          const r = parseRequest(line);
          assert.equal(typeof r.ok, "boolean");
        },
      ),
      { numRuns: 500 },
    );
  });

  test("encoding: one line each, round trip", () => {
    const line = encodeRequest({ cmd: "show", what: "routes" }, 5);
    assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"));
    assert.deepEqual(parseRequest(line.trim()), {
      ok: true,
      request: { cmd: "show", what: "routes" },
      id: 5,
    });
    assert.equal(encodeResponse({ ok: false, error: "a\nb" }), '{"ok":false,"error":"a\\nb"}\n');
  });
});
