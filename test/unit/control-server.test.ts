/**
 * The control socket server and client on real Unix sockets (no root needed): permissions,
 * stale and live sockets at start-up, bad requests, ordering, many clients, a slow client,
 * and the `improxy status|show|reload` commands against it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { SHOW_USAGE } from "../../src/cli/commands/show.js";
import { main } from "../../src/cli/main.js";
import { VirtualScheduler } from "../../src/clock/index.js";
import { ControlClientError, controlRequest } from "../../src/control/client.js";
import { type ControlledDaemon, startControlPlane } from "../../src/control/index.js";
import { MAX_REQUEST_BYTES } from "../../src/control/protocol.js";
import { ControlServer, ControlSocketInUseError } from "../../src/control/server.js";
import { silentLogger } from "../../src/util/log.js";
import { sampleConfig, sampleSource } from "./control-fixture.js";
import { tempDir } from "../support/temp.js";

const base = tempDir("improxy-control-");
let n = 0;
const freshPath = () => join(base, `d${++n}`, "sub", "improxy.sock");
const log = silentLogger();
const closers: Array<() => void> = [];
after(() => {
  for (const c of closers) c();
});

function fakeDaemon(
  path: string,
  reload: ControlledDaemon["reload"] = async () => ({
    ok: true,
    report: { file: sampleConfig().file, interfaces: [], settings: [], warnings: [] },
  }),
): ControlledDaemon {
  const src = sampleSource();
  return {
    config: { ...sampleConfig(), controlSocket: path },
    families: src.families,
    log,
    reload,
    scheduler: new VirtualScheduler(),
  };
}

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    stderrIsTty: false,
  });
  return { code, out, err };
}

/** A raw client: write lines, read response lines. */
function rawClient(
  path: string,
): Promise<{ sock: Socket; send(line: string): void; next(): Promise<Record<string, unknown>> }> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const lines: string[] = [];
    const waiters: Array<(l: string) => void> = [];
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      buf += d;
      let i = buf.indexOf("\n");
      while (i >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        i = buf.indexOf("\n");
        const w = waiters.shift();
        if (w) w(l);
        else lines.push(l);
      }
    });
    sock.once("error", reject);
    sock.once("connect", () =>
      resolve({
        sock,
        send: (line) => sock.write(line),
        next: () =>
          new Promise((res) => {
            const l = lines.shift();
            if (l !== undefined) res(JSON.parse(l) as Record<string, unknown>);
            else waiters.push((x) => res(JSON.parse(x) as Record<string, unknown>));
          }),
      }),
    );
  });
}

describe("control socket server", () => {
  test("creates the parent directory and a 0600 socket; answers; close removes the file", async () => {
    const path = freshPath();
    const plane = await startControlPlane(fakeDaemon(path));
    closers.push(() => plane.close());
    assert.ok(statSync(path).isSocket());
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const ping = (await controlRequest(path, { cmd: "ping" })) as { pid: number; netns: string | null };
    assert.equal(ping.pid, process.pid);
    const status = (await controlRequest(path, { cmd: "status" })) as { families: unknown[]; view: null };
    assert.equal(status.families.length, 2);
    assert.equal(status.view, null);
    plane.close();
    assert.equal(existsSync(path), false);
    await assert.rejects(
      controlRequest(path, { cmd: "status" }),
      (e: unknown) => e instanceof ControlClientError && e.kind === "not-running",
    );
  });

  test("bad requests get error responses; the connection stays usable; responses in order with ids", async () => {
    const path = freshPath();
    const plane = await startControlPlane(fakeDaemon(path));
    closers.push(() => plane.close());
    const c = await rawClient(path);
    c.send(
      'not json\n{"cmd":"show","what":"nope","id":1}\n\n{"cmd":"status","id":2}\n{"cmd":"show","what":"routes","family":"ipv6","id":3}\n',
    );
    const r1 = await c.next();
    assert.deepEqual(r1, { ok: false, error: "request is not valid JSON" });
    const r2 = await c.next();
    assert.equal(r2.ok, false);
    assert.equal(r2.id, 1);
    const r3 = await c.next();
    assert.equal(r3.ok, true);
    assert.equal(r3.id, 2);
    const r4 = await c.next();
    assert.equal(r4.id, 3);
    assert.deepEqual(
      ((r4.data as { families: Array<{ family: string }> }).families ?? []).map((f) => f.family),
      ["ipv6"],
    );
    // A request split across writes is reassembled.
    c.send('{"cmd":');
    await new Promise((r) => setTimeout(r, 20));
    c.send('"ping","id":"x"}\n');
    assert.equal((await c.next()).id, "x");
    c.sock.destroy();
  });

  test("a request longer than the limit gets an error and the connection is closed", async () => {
    const path = freshPath();
    const plane = await startControlPlane(fakeDaemon(path));
    closers.push(() => plane.close());
    const c = await rawClient(path);
    const closed = new Promise<void>((r) => c.sock.once("close", () => r()));
    c.send(`{"cmd":"status","pad":"${"x".repeat(MAX_REQUEST_BYTES + 10)}`);
    const r = await c.next();
    assert.match(String(r.error), /longer than 4096 bytes/);
    await closed;
    // The server still serves others.
    assert.ok(await controlRequest(path, { cmd: "ping" }));
  });

  test("a failing handler (reload refused) is an error response, not a crash", async () => {
    const path = freshPath();
    const plane = await startControlPlane(
      fakeDaemon(path, async () => ({ ok: false, error: "line 3: bad" })),
    );
    closers.push(() => plane.close());
    await assert.rejects(controlRequest(path, { cmd: "reload" }), /reload failed: line 3: bad/);
    const r = await cli("reload", "--socket", path);
    assert.deepEqual(r, { code: 1, out: [], err: ["improxy: reload failed: line 3: bad"] });
    assert.ok(await controlRequest(path, { cmd: "ping" }));
  });

  test("20 clients at once are all answered", async () => {
    const path = freshPath();
    const plane = await startControlPlane(fakeDaemon(path));
    closers.push(() => plane.close());
    const rs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        controlRequest(path, { cmd: "show", what: i % 2 ? "groups" : "routes" }),
      ),
    );
    assert.equal(rs.length, 20);
    for (const r of rs) assert.equal((r as { families: unknown[] }).families.length, 2);
  });

  test("a client that never reads is disconnected and does not hold up others", async () => {
    const path = freshPath();
    const big = "y".repeat(256 * 1024);
    const server = await ControlServer.listen({ path, log, handler: () => ({ big }) });
    closers.push(() => server?.close());
    assert.ok(server);
    const slow = createConnection(path);
    slow.pause(); // never reads
    const dropped = new Promise<void>((r) => slow.once("close", () => r()));
    slow.on("error", () => undefined);
    await new Promise<void>((r) => slow.once("connect", () => r()));
    // 128 MiB of responses requested; the server gives up at 16 MiB queued.
    slow.write('{"cmd":"ping"}\n'.repeat(512));
    const t0 = Date.now();
    const other = await controlRequest(path, { cmd: "status" });
    assert.equal((other as { big: string }).big.length, big.length);
    assert.ok(Date.now() - t0 < 3000, "another client answered promptly");
    // The server dropped the slow client on its own (the client has not read a byte).
    const deadline = Date.now() + 5000;
    while (server.clientCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.clientCount, 0, "slow client disconnected by the server");
    slow.resume(); // now read to the end: the connection was closed from the server's side
    await dropped;
  });

  test("a stale socket file (daemon killed) is replaced", async () => {
    const path = freshPath();
    const dir = join(path, "..");
    spawnSync("mkdir", ["-p", dir]);
    // A listener killed with SIGKILL leaves its socket file behind.
    const r = spawnSync(process.execPath, [
      "-e",
      `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`,
    ]);
    assert.equal(r.signal, "SIGKILL");
    assert.ok(statSync(path).isSocket(), "stale socket left");
    await assert.rejects(
      controlRequest(path, { cmd: "ping" }),
      (e: unknown) => e instanceof ControlClientError && e.kind === "not-running",
    );
    const plane = await startControlPlane(fakeDaemon(path));
    closers.push(() => plane.close());
    assert.ok(await controlRequest(path, { cmd: "ping" }));
  });

  test("a live daemon on the path (same network namespace): start-up refused, its socket untouched", async () => {
    const path = freshPath();
    const first = await startControlPlane(fakeDaemon(path));
    closers.push(() => first.close());
    await assert.rejects(
      startControlPlane(fakeDaemon(path)),
      (e: Error) =>
        e instanceof ControlSocketInUseError &&
        e.message ===
          `control socket ${path} is in use by another running improxy (pid ${process.pid}); stop it, or give this one its own control-socket path`,
    );
    assert.ok(await controlRequest(path, { cmd: "ping" }), "the first one still answers");
  });

  test("a path that is not a socket is never deleted", async () => {
    const path = freshPath();
    spawnSync("mkdir", ["-p", join(path, "..")]);
    writeFileSync(path, "precious");
    await assert.rejects(startControlPlane(fakeDaemon(path)), /exists and is not a socket/);
    assert.equal(readFileSync(path, "utf8"), "precious");
    // A directory that cannot be created: a one-line reason naming it.
    await assert.rejects(
      startControlPlane(fakeDaemon(join(path, "sub", "improxy.sock"))),
      new RegExp(`^Error: cannot create the control socket directory ${path}/sub: ENOTDIR`),
    );
  });
});

describe("improxy status / show / reload", () => {
  const schema = JSON.parse(
    readFileSync(new URL("../../schema/status.schema.json", import.meta.url), "utf8"),
  ) as object;
  const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

  test("no daemon: one line, exit 1", async () => {
    const path = join(base, "nobody", "improxy.sock");
    for (const argv of [["status"], ["show", "groups"], ["reload"], ["status", "--json"]]) {
      const r = await cli(...argv, "--socket", path);
      assert.deepEqual(r, {
        code: 1,
        out: [],
        err: [`improxy: no daemon is listening on ${path} (is improxy running?)`],
      });
    }
  });

  test("tables and --json (valid against the schema); -c FILE gives the socket path", async () => {
    const path = freshPath();
    const plane = await startControlPlane(fakeDaemon(path));
    closers.push(() => plane.close());
    const st = await cli("status", "--socket", path);
    assert.equal(st.code, 0);
    assert.match(st.out[0]!, /^improxy \S+, pid \d+, up /);
    assert.ok(st.out.some((l) => /^IPv4 \(IGMP\): 3 interfaces \(2 attached\), 2 groups/.test(l)));
    const routes = await cli("show", "routes", "--socket", path, "--family", "ipv4");
    assert.equal(routes.code, 0);
    assert.match(
      routes.out[0]!,
      /^FAMILY\s+SOURCE\s+GROUP\s+INCOMING\s+OUTGOING\s+PACKETS\s+BYTES\s+PPS\s+BIT\/S\s+WRONG-IF\s+UPSTREAM\s+UPTIME$/,
    );
    assert.equal(routes.out.length, 2);
    for (const argv of [
      ["status"],
      ["show", "interfaces"],
      ["show", "groups"],
      ["show", "sources"],
      ["show", "routes"],
      ["show", "stats"],
    ]) {
      const r = await cli(...argv, "--json", "--socket", path);
      assert.equal(r.code, 0, argv.join(" "));
      const doc = JSON.parse(r.out.join("\n")) as unknown;
      assert.ok(validate(doc), `${argv.join(" ")}: ${JSON.stringify(validate.errors)}`);
    }
    const conf = join(base, `c${++n}.yaml`);
    writeFileSync(conf, `upstream: up0\ndownstream: [dn1]\ncontrol-socket: ${path}\n`);
    const viaConfig = await cli("show", "interfaces", "-c", conf);
    assert.equal(viaConfig.code, 0, viaConfig.err.join("\n"));
    assert.match(viaConfig.out[0]!, /^FAMILY\s+INTERFACE\s+ROLE/);
    const configFirst = await cli("-c", conf, "status");
    assert.equal(configFirst.code, 0, configFirst.err.join("\n"));
    const reload = await cli("reload", "--socket", path);
    assert.deepEqual(reload, { code: 0, out: ["no changes"], err: [] });
  });

  test("show filters reach the daemon: filtered tables and --json; an unconfigured interface: one line naming the configured ones, exit 1", async () => {
    const path = freshPath();
    const plane = await startControlPlane(fakeDaemon(path));
    closers.push(() => plane.close());
    const groups = await cli("show", "groups", "dn1", "--group", "239.1.1.2", "--socket", path);
    assert.equal(groups.code, 0, groups.err.join("\n"));
    assert.deepEqual(
      groups.out.filter((l) => / 239\.1\.1\.\d /.test(l)).map((l) => l.split(/\s+/).slice(0, 3).join(" ")),
      ["ipv4 dn1 239.1.1.2", "ipv4 up0 239.1.1.2"],
      groups.out.join("\n"),
    );
    const json = await cli("show", "routes", "up0", "--family", "ipv4", "--json", "--socket", path);
    const doc = JSON.parse(json.out.join("\n")) as {
      filter: unknown;
      families: Array<{ routes: unknown[] }>;
    };
    assert.ok(validate(doc), JSON.stringify(validate.errors));
    assert.deepEqual(doc.filter, { interface: "up0" });
    assert.equal(doc.families[0]!.routes.length, 1);
    const none = await cli("show", "routes", "dn2", "--socket", path);
    assert.deepEqual(none, {
      code: 1,
      out: [],
      err: ["improxy: no interface dn2 is configured; configured: up0, dn1, dn9"],
    });
  });

  test("reload prints the daemon's report, one line per change and warning; --json the report", async () => {
    const path = freshPath();
    const report = {
      file: "/etc/improxy/improxy.yaml",
      interfaces: [
        { change: "added" as const, family: "ipv4" as const, interface: "dn3", role: "downstream" as const },
      ],
      settings: [{ interface: "dn1", family: null, setting: "down-to-up", old: "false", new: "true" }],
      warnings: ["mroute-table changes only with a restart: running kernel default, file 5"],
    };
    const plane = await startControlPlane(fakeDaemon(path, async () => ({ ok: true, report })));
    closers.push(() => plane.close());
    assert.deepEqual(await cli("reload", "--socket", path), {
      code: 0,
      out: [
        "added ipv4 downstream dn3",
        "dn1: down-to-up false -> true",
        "warning: mroute-table changes only with a restart: running kernel default, file 5",
      ],
      err: [],
    });
    const json = await cli("reload", "--json", "--socket", path);
    assert.equal(json.code, 0);
    assert.deepEqual(JSON.parse(json.out.join("\n")), { reloaded: true, ...report });
  });

  test("bad view: the usage line, exit 2; bad family of status: one line, exit 1", async () => {
    const bad = await cli("show", "neighbours", "--socket", "/nonexistent/x.sock");
    assert.deepEqual(bad.err, [
      'improxy: show what? one of: interfaces, groups, sources, routes, stats (got "neighbours")',
      SHOW_USAGE,
    ]);
    assert.equal(bad.code, 2);
    const fam = await cli("status", "--family", "ipx", "--socket", "/nonexistent/x.sock");
    assert.deepEqual(fam.err, ['improxy: --family must be ipv4 or ipv6, got "ipx"']);
  });
});
