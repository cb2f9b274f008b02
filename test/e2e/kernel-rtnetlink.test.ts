/**
 * LinkWatcher against a real kernel: a watcher runs inside a fresh network namespace
 * (fixture kernel-rtnetlink-watch.ts) while the test changes links and addresses there.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { test } from "node:test";
import type { AddrInfo, LinkEvent, LinkInfo } from "../../src/kernel/rtnetlink.js";
import { Lab } from "../../src/lab/netns.js";

type DumpLine = { kind: "dump" | "dump2"; links: LinkInfo[]; addresses: AddrInfo[] };
type Line =
  | DumpLine
  | { kind: "event"; event: LinkEvent }
  | { kind: "error"; message: string };

/** Collects a child's JSON lines; `next(pred)` waits for the first unseen line matching. */
class Lines {
  private readonly lines: Line[] = [];
  private cursor = 0;
  private waiters: Array<() => void> = [];
  readonly stderr: string[] = [];
  constructor(child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (l) => {
      try {
        this.lines.push(JSON.parse(l) as Line);
      } catch {
        this.stderr.push(l);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr?.on("data", (d: Buffer) => this.stderr.push(d.toString()));
  }
  async next<T extends Line>(pred: (l: Line) => l is T, what: string, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (; this.cursor < this.lines.length; this.cursor++) {
        const l = this.lines[this.cursor]!;
        if (pred(l)) {
          this.cursor++;
          return l;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; stderr: ${this.stderr.join("")}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }
}

const isDump = (l: Line): l is DumpLine => l.kind === "dump";
const isDump2 = (l: Line): l is DumpLine => l.kind === "dump2";
function linkEv(type: "newlink" | "dellink", name: string, check: (l: LinkInfo) => boolean = () => true) {
  return (l: Line): l is { kind: "event"; event: { type: typeof type; link: LinkInfo } } =>
    l.kind === "event" && l.event.type === type && l.event.link.name === name && check(l.event.link);
}
function addrEv(type: "newaddr" | "deladdr", address: string, check: (a: AddrInfo) => boolean = () => true) {
  return (l: Line): l is { kind: "event"; event: { type: typeof type; addr: AddrInfo } } =>
    l.kind === "event" && l.event.type === type && l.event.addr.address === address && check(l.event.addr);
}

test("LinkWatcher: dump, veth create/up/down/delete, IPv4/IPv6 address add/remove, tentative flag", async () => {
  const lab = await Lab.create();
  let child: ChildProcess | null = null;
  try {
    const ns = await lab.addNamespace("rtn");
    child = ns.spawn("node", ["--import", "tsx", "test/e2e/fixtures/kernel-rtnetlink-watch.ts"]);
    const lines = new Lines(child);

    const dump = await lines.next(isDump, "initial dump", 15000);
    const lo = dump.links.find((l) => l.name === "lo");
    assert.ok(lo, "lo in the dump");
    assert.equal(lo.up, true);
    assert.equal(lo.mtu, 65536);
    assert.ok(dump.addresses.some((a) => a.family === "ipv4" && a.address === "127.0.0.1" && a.scope === "host"));
    assert.ok(dump.addresses.some((a) => a.family === "ipv6" && a.address === "::1" && a.prefixLen === 128));

    await ns.ip("link", "add", "va", "type", "veth", "peer", "name", "vb");
    const created = await lines.next(linkEv("newlink", "va"), "newlink va");
    assert.equal(created.event.link.up, false);
    assert.ok(created.event.link.ifindex > 1);
    const ifindex = created.event.link.ifindex;

    await ns.ip("link", "set", "va", "up");
    await lines.next(linkEv("newlink", "va", (l) => l.up && !l.running), "va up, no carrier");
    await ns.ip("link", "set", "vb", "up");
    await lines.next(linkEv("newlink", "va", (l) => l.up && l.running), "va running");

    await ns.ip("addr", "add", "10.99.0.1/24", "dev", "va");
    const a4 = await lines.next(addrEv("newaddr", "10.99.0.1"), "newaddr 10.99.0.1");
    assert.deepEqual(a4.event.addr, {
      ifindex,
      family: "ipv4",
      address: "10.99.0.1",
      prefixLen: 24,
      scope: "global",
      tentative: false,
    });
    await ns.ip("-6", "addr", "add", "fd00:99::1/64", "dev", "va", "nodad");
    const a6 = await lines.next(addrEv("newaddr", "fd00:99::1"), "newaddr fd00:99::1");
    assert.equal(a6.event.addr.family, "ipv6");
    assert.equal(a6.event.addr.prefixLen, 64);
    assert.equal(a6.event.addr.tentative, false);

    // DAD on: the address is tentative first, then a second newaddr clears the flag
    await ns.sysctl("net.ipv6.conf.va.accept_dad", 1);
    await ns.ip("-6", "addr", "add", "fd00:98::1/64", "dev", "va");
    await lines.next(addrEv("newaddr", "fd00:98::1", (a) => a.tentative), "tentative fd00:98::1");
    await lines.next(addrEv("newaddr", "fd00:98::1", (a) => !a.tentative), "fd00:98::1 after DAD", 8000);

    child.stdin?.write("dump\n");
    const d2 = await lines.next(isDump2, "second dump");
    assert.ok(d2.links.some((l) => l.name === "va" && l.up && l.running && l.ifindex === ifindex));
    assert.ok(d2.links.some((l) => l.name === "vb"));
    assert.ok(d2.addresses.some((a) => a.address === "10.99.0.1" && a.ifindex === ifindex));
    assert.ok(d2.addresses.some((a) => a.address === "fd00:99::1" && a.ifindex === ifindex));
    assert.ok(d2.addresses.some((a) => a.family === "ipv6" && a.scope === "link" && a.ifindex === ifindex));

    await ns.ip("addr", "del", "10.99.0.1/24", "dev", "va");
    await lines.next(addrEv("deladdr", "10.99.0.1", (a) => a.ifindex === ifindex), "deladdr 10.99.0.1");
    await ns.ip("-6", "addr", "del", "fd00:99::1/64", "dev", "va");
    await lines.next(addrEv("deladdr", "fd00:99::1", (a) => a.family === "ipv6"), "deladdr fd00:99::1");

    await ns.ip("link", "set", "va", "down");
    await lines.next(linkEv("newlink", "va", (l) => !l.up && !l.running), "va down");

    await ns.ip("link", "del", "va");
    const gone = await lines.next(linkEv("dellink", "va"), "dellink va");
    assert.equal(gone.event.link.ifindex, ifindex);
    await lines.next(linkEv("dellink", "vb"), "dellink vb (the peer)");
  } finally {
    child?.stdin?.end();
    child?.kill();
    await lab.destroy();
  }
});
