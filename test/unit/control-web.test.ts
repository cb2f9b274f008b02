/**
 * The web view (src/control/web/) over real HTTP on loopback, with the control tests'
 * daemon stand-in: pages render the status builder's tables with every value escaped,
 * the token is required when set (header, cookie, or ?token= once), anything but GET/HEAD
 * is 405, the security headers are on every answer, event streams carry the tables as
 * JSON and are capped, the listener's limits hold, and the config keeps the view on
 * loopback unless a token file is given.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { VirtualScheduler } from "../../src/clock/index.js";
import { parseYamlConfig } from "../../src/config/yaml-format.js";
import { FlowRates } from "../../src/control/flow-rates.js";
import { HTTP_LIMITS } from "../../src/control/http-server.js";
import { type ControlledDaemon, startControlPlane } from "../../src/control/index.js";
import { StatusBuilder } from "../../src/control/status.js";
import { readToken } from "../../src/control/web/auth.js";
import { escapeHtml } from "../../src/control/web/html.js";
import { listenWebView, WEB_LIMITS, WebView } from "../../src/control/web/view.js";
import { silentLogger } from "../../src/util/log.js";
import { RecordType } from "../../src/wire/types.js";
import { sampleConfig, sampleSource } from "./control-fixture.js";
import { tempDir } from "../support/temp.js";

const TOKEN = "s3cret-token-0123456789";
const closers: Array<() => void> = [];
after(() => {
  for (const c of closers.splice(0)) c();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}) {
  return new Promise<Reply>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The first `event: state` of /events, parsed. */
function firstEvent(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; model: { tables: Record<string, { rows: unknown[][] }> } | null }>(
    (resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, headers }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          resolve({ status: res.statusCode ?? 0, model: null });
          return;
        }
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          buf += d;
          const m = /event: state\ndata: (.*)\n\n/.exec(buf);
          if (m) {
            req.destroy();
            resolve({ status: 200, model: JSON.parse(m[1]!) });
          }
        });
      });
      req.on("error", reject);
      req.end();
    },
  );
}

async function startView(token: string | null = null) {
  const source = sampleSource();
  const clock = new VirtualScheduler();
  const rates = new FlowRates(source, clock, { history: true });
  rates.start();
  const builder = new StatusBuilder(source, {
    version: "9.9.9",
    controlSocket: "/run/improxy/improxy.sock",
    startedAt: Date.now(),
    rates,
  });
  const view = new WebView({ builder, rates }, { token, listen: "127.0.0.1:0" });
  const server = await listenWebView(view, "127.0.0.1:0");
  closers.push(() => {
    view.close();
    server.close();
  });
  return { view, server, port: server.port, source, clock, rates };
}

describe("web view: pages", () => {
  test("escapeHtml escapes the five HTML specials", () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  test("overview, groups and flows render the builder's tables on the server, with the security headers", async () => {
    const { port, source, clock } = await startView();
    for (let i = 0; i < 6; i++) {
      clock.advance(2000);
      for (const f of source.fams) f.packets += 10n;
    }
    const a = source.fams[0]!.addrs;
    const overview = await get(port, "/");
    assert.equal(overview.status, 200);
    assert.match(String(overview.headers["content-type"]), /^text\/html/);
    assert.equal(overview.headers["content-security-policy"]?.toString().split(";")[0], "default-src 'self'");
    assert.equal(overview.headers["x-content-type-options"], "nosniff");
    assert.match(overview.body, /<td>up0<\/td><td>→<\/td><td>dn1, dn9<\/td>/);
    assert.match(overview.body, /<td>dn1<\/td><td>downstream<\/td><td>attached<\/td><td>3<\/td><td>this router<\/td>/);
    assert.match(overview.body, /<td>dn9<\/td><td>downstream<\/td><td>waiting<\/td>/);
    assert.doesNotMatch(overview.body, /<script>|style=|https?:\/\//, "no inline script or style, nothing from elsewhere");
    const groups = await get(port, "/groups");
    assert.match(groups.body, new RegExp(`<td>dn1</td><td>${a.group}</td><td>exclude</td>`));
    assert.match(groups.body, new RegExp(`<td>${a.group2}</td><td>include</td><td>${a.s[1]}, ${a.s[2]}</td>`));
    const flows = await get(port, "/flows");
    const row = new RegExp(`<td>${a.s[1]}</td><td>${a.group}</td><td>up0</td><td>dn1</td><td>5</td><td>53kbit/s</td><td><svg class="spark"`);
    assert.match(flows.body, row);
    for (const asset of ["/assets/app.js", "/assets/style.css"]) {
      const r = await get(port, asset);
      assert.equal(r.status, 200, asset);
      assert.ok(r.body.length > 100);
      assert.equal(r.headers["x-content-type-options"], "nosniff");
    }
    assert.equal((await get(port, "/nothing")).status, 404);
  });

  test("every value rendered into the page is escaped", async () => {
    const { port, source } = await startView();
    // Addresses can only be addresses; an interface name comes from the config file: make
    // it hostile and check that it arrives as text.
    const evil = `<img src=x onerror="alert(1)">`;
    const original = source.fams[0]!.snapshot.bind(source.fams[0]!);
    source.fams[0]!.snapshot = (o) => {
      const s = original(o);
      s.links[1]!.name = evil;
      return s;
    };
    for (const path of ["/", "/groups"]) {
      const body = (await get(port, path)).body;
      assert.ok(!body.includes("<img"), `${path}: raw markup`);
      assert.ok(body.includes("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"), `${path}: escaped text`);
    }
  });

  test("event streams carry the page's tables as JSON", async () => {
    const { port, source } = await startView();
    const { status, model } = await firstEvent(port, "/events?page=groups");
    assert.equal(status, 200);
    const rows = model!.tables.groups!.rows;
    assert.ok(rows.some((r) => r[2] === source.fams[0]!.addrs.group));
    // A group joined later is in the next page load and stream.
    source.fams[0]!.fixture.record(RecordType.CHANGE_TO_EXCLUDE_MODE, "239.9.9.9", []);
    const again = await firstEvent(port, "/events?page=groups");
    assert.ok(again.model!.tables.groups!.rows.some((r) => r[2] === "239.9.9.9"));
  });
});

describe("web view: access", () => {
  test("read-only: POST, PUT, DELETE get 405 with Allow", async () => {
    const { port, view } = await startView();
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await get(port, "/", { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, "GET, HEAD");
    }
    assert.equal((await get(port, "/flows", { method: "HEAD" })).status, 200);
    assert.equal(view.stats().refusals["method-not-allowed"], 4);
  });

  test("with a token: refused without it; Bearer or cookie grant; ?token= sets the cookie and drops it from the address", async () => {
    const { port, view } = await startView(TOKEN);
    for (const path of ["/", "/groups", "/events", "/assets/app.js"]) {
      const r = await get(port, path);
      assert.equal(r.status, 401, path);
      assert.match(String(r.headers["www-authenticate"]), /^Bearer/);
    }
    assert.equal((await get(port, "/", { headers: { authorization: "Bearer wrong-token-000000000" } })).status, 401);
    assert.equal((await get(port, "/?token=wrong")).status, 401);
    assert.equal((await get(port, "/flows", { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    const login = await get(port, `/groups?token=${TOKEN}`);
    assert.equal(login.status, 303);
    assert.equal(login.headers.location, "/groups");
    const setCookie = String(login.headers["set-cookie"]);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    const cookie = setCookie.split(";")[0]!;
    assert.equal((await get(port, "/groups", { headers: { cookie } })).status, 200);
    assert.equal((await firstEvent(port, "/events?page=flows", { cookie })).status, 200);
    assert.equal(view.stats().refusals.unauthorized, 6);
  });

  test("readToken: a token file of one long token; short, blank or missing is refused", () => {
    const dir = tempDir("improxy-web-");
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const f = join(dir, "token");
    writeFileSync(f, `${TOKEN}\n`);
    assert.equal(readToken(f), TOKEN);
    writeFileSync(f, "short\n");
    assert.throws(() => readToken(f), /at least 16 characters/);
    writeFileSync(f, "two tokens of enough length\n");
    assert.throws(() => readToken(f), /without blanks/);
    assert.throws(() => readToken(join(dir, "none")), /cannot read the web view's token file .*ENOENT/);
  });
});

describe("web view: limits", () => {
  test("event streams are capped; a refused one gets 503 and is counted", async () => {
    const { port, view } = await startView();
    const open: Array<ReturnType<typeof request>> = [];
    for (let i = 0; i < WEB_LIMITS.maxStreams; i++) {
      await new Promise<void>((resolve) => {
        const req = request({ host: "127.0.0.1", port, path: "/events" }, (res) => {
          res.once("data", () => resolve());
        });
        req.end();
        open.push(req);
      });
    }
    assert.equal(view.stats().streams, WEB_LIMITS.maxStreams);
    const r = await get(port, "/events");
    assert.equal(r.status, 503);
    assert.equal(view.stats().refusals["too-many-streams"], 1);
    // Pages are still served.
    assert.equal((await get(port, "/")).status, 200);
    for (const req of open) req.destroy();
  });

  test("streams of one page share its model: one build per update interval, however many are open", async () => {
    const { port, view } = await startView();
    const open: Array<ReturnType<typeof request>> = [];
    let events = 0;
    for (let i = 0; i < 6; i++) {
      await new Promise<void>((resolve) => {
        const req = request({ host: "127.0.0.1", port, path: "/events?page=flows" }, (res) => {
          res.on("data", (d: Buffer) => {
            events += (d.toString().match(/event: state/g) ?? []).length;
          });
          res.once("data", () => resolve());
        });
        req.end();
        open.push(req);
      });
    }
    const opened = view.modelsBuilt;
    assert.equal(opened, 6, "each new stream starts with fresh data");
    const eventsAtOpen = events;
    await new Promise((r) => setTimeout(r, 2 * WEB_LIMITS.updateMs + 300));
    for (const req of open) req.destroy();
    const ticks = events - eventsAtOpen;
    assert.ok(ticks >= 6, `the streams ticked (${ticks} events)`);
    // Two intervals: at most one build per interval (plus one for a tick at the edge).
    assert.ok(view.modelsBuilt - opened <= 3, `${view.modelsBuilt - opened} builds for ${ticks} events`);
  });

  test("the listener keeps at most 16 connections: idle ones are evicted for newcomers, and counted", async () => {
    const { port, view } = await startView();
    const socks = [];
    for (let i = 0; i < HTTP_LIMITS.maxConnections + 4; i++) {
      const s = connect(port, "127.0.0.1");
      s.on("error", () => undefined);
      await new Promise((r) => s.once("connect", r));
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 100));
    const st = view.stats();
    assert.ok(st.connections! <= HTTP_LIMITS.maxConnections, `${st.connections} connections kept`);
    assert.ok(st.refusals["evicted-idle"] >= 4);
    assert.equal((await get(port, "/")).status, 200, "a newcomer is still served");
    for (const s of socks) s.destroy();
  });

  test("a request whose headers never complete is timed out (408) and counted", async () => {
    const { port, view } = await startView();
    const s = connect(port, "127.0.0.1");
    s.write("GET / HTTP/1.1\r\nHost: x\r\n");
    let reply = "";
    s.on("data", (d) => {
      reply += d.toString();
    });
    await new Promise((r) => s.once("close", r));
    assert.match(reply, /^HTTP\/1\.1 408 /);
    assert.equal(view.stats().refusals.timeout, 1);
  });
});

describe("web view: config and start", () => {
  const yaml = (http: string, extra = "") => `${extra}${http}\nupstream: up0\ndownstream: [dn1]\n`;

  test("off by default; loopback without token; non-loopback needs token-file; metrics needs metrics on", () => {
    assert.equal(parseYamlConfig(yaml(""), "f.yaml").config.http, null);
    assert.equal(parseYamlConfig(yaml("http: off"), "f.yaml").config.http, null);
    assert.deepEqual(parseYamlConfig(yaml('http: { listen: "127.0.0.1:9465" }'), "f.yaml").config.http, {
      listen: "127.0.0.1:9465",
      tokenFile: null,
    });
    assert.deepEqual(parseYamlConfig(yaml('http: { listen: "[::1]:9465" }'), "f.yaml").config.http?.listen, "[::1]:9465");
    assert.throws(
      () => parseYamlConfig(yaml('http: { listen: "0.0.0.0:9465" }'), "f.yaml"),
      /f\.yaml:1: the web view would listen on 0\.0\.0\.0:9465, which is not a loopback address, without a token: set `http\.token-file`/,
    );
    assert.deepEqual(
      parseYamlConfig(yaml('http: { listen: "0.0.0.0:9465", token-file: /etc/improxy/web-token }'), "f.yaml").config.http,
      { listen: "0.0.0.0:9465", tokenFile: "/etc/improxy/web-token" },
    );
    assert.throws(() => parseYamlConfig(yaml("http: { listen: metrics }"), "f.yaml"), /`metrics` is off/);
    assert.throws(
      () => parseYamlConfig(yaml("http: { listen: metrics }", 'metrics: "0.0.0.0:9464"\n'), "f.yaml"),
      /not a loopback address/,
    );
    assert.equal(
      parseYamlConfig(yaml("http: { listen: metrics }", "metrics: true\n"), "f.yaml").config.http?.listen,
      "metrics",
    );
    assert.throws(() => parseYamlConfig(yaml("http: { listen: x, tokenfile: y }"), "f.yaml"), /tokenfile/);
  });

  test("served on the metrics endpoint: /metrics stays, the pages come along", async () => {
    const dir = tempDir("improxy-web-");
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const src = sampleSource();
    const daemon: ControlledDaemon = {
      config: {
        ...sampleConfig(),
        controlSocket: join(dir, "improxy.sock"),
        metricsListen: "127.0.0.1:0",
        http: { listen: "metrics", tokenFile: null },
      },
      families: src.families,
      log: silentLogger(),
      reload: async () => ({ ok: true }),
      scheduler: new VirtualScheduler(),
    };
    const plane = await startControlPlane(daemon);
    closers.push(() => plane.close());
    const port = plane.metrics!.port;
    assert.match((await get(port, "/metrics")).body, /improxy_web_pages_total 0/);
    assert.equal((await get(port, "/flows")).status, 200);
    assert.equal((await get(port, "/", { method: "POST" })).status, 405);
    assert.equal((await get(port, "/elsewhere")).status, 404);
    assert.match((await get(port, "/metrics")).body, /improxy_web_pages_total 1/);
    assert.equal(plane.web!.stats().listen, "metrics");
  });
});
