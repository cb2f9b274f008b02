/**
 * The web view (issue 11) in a real headless browser: Debian's chromium driven by
 * playwright-core, run inside the lab's router namespace (a wrapper script execs
 * `ip netns exec NS /usr/bin/chromium ...`), where the daemon serves the view on the
 * namespace's loopback. The page loads without console errors; a group a lab host joins
 * appears within 2 s; a flowing stream's rate is shown and moves when the stream changes;
 * a leave removes the group and the flow (its entry is then listed as not forwarded); with
 * JavaScript off the tables are there.
 */
import assert from "node:assert/strict";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { type Receiver, type Sender, startReceiver, startSender } from "../../src/lab/hosts.js";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import { type DaemonRun, startDaemon, writeConfig } from "../support/daemon.js";
import { tempDir } from "../support/temp.js";

const PORT = 19465;
const BASE = `http://127.0.0.1:${PORT}`;
const GROUP = "239.8.8.8";

/** Flags that keep Chromium from reaching for the (closed) network. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The texts of the rows of table `id` (each row: its cells' texts). */
function tableRows(page: Page, id: string): Promise<string[][]> {
  return page.$$eval(`#${id} tbody tr`, (trs) =>
    trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td: { textContent: string | null }) => (td.textContent ?? "").trim())),
  );
}

/** Polls `check` on the page until it holds; returns the time it took (ms). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("web view in a browser (issue 11)", { timeout: 120_000 }, () => {
  let topo: Topology;
  let d: DaemonRun | null = null;
  let browser: Browser | null = null;
  let receiver: Receiver | null = null;
  let sender: Sender | null = null;
  const dir = tempDir("improxy-web-e2e-");
  let conf = "";

  before(async () => {
    topo = await buildTopology();
  });
  after(async () => {
    await browser?.close();
    await sender?.stop();
    await receiver?.stop();
    await d?.stop();
    await topo?.destroy();
    for (const p of [dir, conf && dirname(conf)]) if (p) rmSync(p, { recursive: true, force: true });
  });

  it("loads without console errors, follows joins, rates and leaves live; tables without JavaScript", async (t) => {
    conf = writeConfig(
      "improxy.yaml",
      [
        "upstream: up0",
        "downstream: [dn1, dn2]",
        "mld: { enabled: false }",
        "fast-leave: true",
        "forwarding-idle-check: 2",
        `control-socket: ${join(dir, "improxy.sock")}`,
        `http: { listen: "127.0.0.1:${PORT}" }`,
        "",
      ].join("\n"),
    );
    d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
    await d.waitFor((l) => l.msg === "web view listening", 10_000, "web view");

    // Chromium in the router's namespace, where the view listens on loopback.
    const wrapper = join(dir, "chromium-in-netns");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${topo.rtr.name} /usr/bin/chromium "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, args: CHROMIUM_ARGS });
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));

    await page.goto(`${BASE}/`);
    assert.deepEqual((await tableRows(page, "links"))[0], ["IPv4 (IGMP)", "up0", "→", "dn1, dn2"]);
    const links = await tableRows(page, "interfaces");
    assert.deepEqual(links.find((r) => r[1] === "dn1")?.slice(2, 6), ["downstream", "attached", "3", "this router"]);
    await until("the page script is live", async () => (await page.textContent("#live"))?.startsWith("live") ?? false, 3000);

    // A join on h1 appears within 2 s.
    await page.goto(`${BASE}/groups`);
    await until("the page script is live", async () => (await page.textContent("#live"))?.startsWith("live") ?? false, 3000);
    receiver = startReceiver(topo.h1, GROUP, { port: 5008 });
    await receiver.joined;
    const groupRow = async () => (await tableRows(page, "groups")).find((r) => r[1] === "dn1" && r[2] === GROUP);
    const took = await until("the joined group is listed", async () => (await groupRow()) !== undefined, 2000);
    const row = (await groupRow())!;
    assert.deepEqual([row[3], row[5], row[7]], ["exclude", topo.addr.h1.v4, "up0"], `group row ${row}`);
    t.diagnostic(`group shown ${took} ms after the join`);

    // A 50 packet/s stream: its rate is shown, then moves to 10 packet/s.
    sender = startSender(topo.up, GROUP, { port: 5008, intervalMs: 20, bind: topo.addr.up.v4 });
    await page.goto(`${BASE}/flows`);
    const flowRow = async () => (await tableRows(page, "flows")).find((r) => r[2] === GROUP);
    const pps = async () => Number((await flowRow())?.[5] ?? Number.NaN);
    await until("a rate near 50 pps", async () => Math.abs((await pps()) - 50) < 10, 15_000);
    const shown = (await flowRow())!;
    assert.deepEqual(shown.slice(0, 5), ["ipv4", topo.addr.up.v4, GROUP, "up0", "dn1"]);
    assert.match(shown[6]!, /^\d+(\.\d)?kbit\/s$/, `bit rate ${shown[6]}`);
    await sender.stop();
    sender = startSender(topo.up, GROUP, { port: 5008, intervalMs: 100, bind: topo.addr.up.v4 });
    await until("the rate moves down to about 10 pps", async () => (await pps()) < 15, 20_000);
    const points = await page.getAttribute(`#flows tbody tr:has(td:text-is("${GROUP}")) polyline`, "points");
    assert.ok((points ?? "").split(" ").length >= 3, `the plot has the last periods: ${points}`);

    // With JavaScript off, the server-rendered tables are all there.
    const plain = await browser.newContext({ javaScriptEnabled: false });
    const still = await plain.newPage();
    await still.goto(`${BASE}/flows`);
    assert.ok((await tableRows(still, "flows")).some((r) => r[2] === GROUP), "flow row without JavaScript");
    assert.equal(await still.textContent("#live"), "static page");
    await still.goto(`${BASE}/groups`);
    assert.ok((await tableRows(still, "groups")).some((r) => r[2] === GROUP), "group row without JavaScript");
    await still.goto(`${BASE}/`);
    assert.ok((await tableRows(still, "interfaces")).length >= 3);
    await plain.close();

    // The leave (fast leave) takes the group away, then the flow (no outgoing link left:
    // removed at the second idle check).
    await page.goto(`${BASE}/groups`);
    await until("the group is listed", async () => (await groupRow()) !== undefined, 3000);
    await receiver.stop();
    receiver = null;
    await until("the group row goes", async () => (await groupRow()) === undefined, 3000);
    await page.goto(`${BASE}/flows`);
    await until("the flow row goes", async () => (await flowRow()) === undefined, 3000);
    assert.deepEqual(await tableRows(page, "flows"), [["no flows"]]);
    // The stream still arrives: the kernel holds its entry without an outgoing link.
    await until(
      "the entry is listed as not forwarded",
      async () => (await tableRows(page, "not-forwarded")).some((r) => r[2] === GROUP),
      3000,
    );

    assert.deepEqual(errors, [], "no console errors");
  });
});
