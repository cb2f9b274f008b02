/**
 * Warnings that name the cause and the fix (issue 11 item 2), against the real kernel: an
 * upstream router that queries with IGMPv2 / MLDv1 makes the router's kernel report upstream
 * in that version (no source lists). The daemon warns, naming the querier and the version;
 * `show interfaces` shows the version and the querier on the upstream row and a note after
 * the table; for IPv4 the kernel's own view (/proc/net/igmp, "Querier" column of up0) agrees;
 * a host's source-specific join then reaches the upstream as a whole-group IGMPv2/MLDv1
 * report. A forcing sysctl on the upstream is reported at attach.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runCli, testControlSocket } from "../support/daemon.js";
import { FAMILIES } from "../support/family.js";
import { tsharkFields } from "../support/capture.js";
import { buildProxyLab, sleep } from "../support/scenario.js";
import { stage, useLab } from "../support/stage.js";

interface IfaceDoc {
  name: string;
  upstreamQuerier: { address: string | null; version: number | null; compatibilityVersion: number } | null;
  warnings: string[];
}

describe("an older-version querier upstream (RFC 9776 §7.2.1, RFC 9777 §8.2.1)", { timeout: 180_000 }, () => {
  const topo = useLab(buildProxyLab);

  for (const fam of FAMILIES) {
    it(`${fam.name}: warned with the querier and the version; show interfaces and the kernel agree; an (S,G) join goes up as ${fam.older}`, () =>
      stage(fam, async (s) => {
        const socket = testControlSocket();
        const d = await s.proxy(topo, `control-socket: ${socket}\nupstream: up0\ndownstream: [dn1, dn2]\n`, "yaml");
        const upHost = await s.host(topo.up);
        const older = fam.olderForce;
        await upHost.query({ version: older as 1 | 2, maxRespMs: 1000 });
        const warn = await d.waitFor(
          (l) => l.levelName === "warn" && l.family === fam.name && l.interface === "up0" && l.version === fam.older,
          5000,
          "the fallback warning",
        );
        const querier = String(warn.querier);
        if (fam.v4) assert.equal(querier, "10.10.0.2");
        else assert.match(querier, /^fe80::/);
        assert.match(
          String(warn.msg),
          new RegExp(`upstream router ${querier} queries with ${fam.older}.*source-specific joins cannot be expressed upstream.*configure the upstream router for ${fam.v4 ? "IGMPv3" : "MLDv2"}`),
        );
        // show interfaces: the upstream row's version and querier, and the note.
        const json = await runCli(topo.rtr, ["show", "interfaces", "--json", "--family", fam.name, "--socket", socket]);
        assert.equal(json.code, 0, json.stderr);
        const up0 = (JSON.parse(json.stdout) as { families: Array<{ interfaces: IfaceDoc[] }> }).families[0]!.interfaces.find(
          (i) => i.name === "up0",
        )!;
        assert.deepEqual(
          [up0.upstreamQuerier?.address, up0.upstreamQuerier?.version, up0.upstreamQuerier?.compatibilityVersion],
          [querier, older, older],
        );
        assert.equal(up0.warnings.length, 1);
        assert.match(up0.warnings[0]!, new RegExp(`reports upstream in ${fam.older}, no source lists`));
        const text = await runCli(topo.rtr, ["show", "interfaces", "--family", fam.name, "--socket", socket]);
        const row = text.stdout.split("\n").find((l) => /^\S+\s+up0\s/.test(l))!.split(/\s+/);
        assert.deepEqual([row[7], row[9]], [String(older), querier], "VER and QUERIER-ADDRESS of the upstream row");
        assert.match(text.stdout, new RegExp(`^up0 \\(${fam.name}\\): reports upstream in ${fam.older}`, "m"));
        if (fam.v4) {
          // The kernel's own compatibility mode of up0.
          const igmp = await topo.rtr.readProc("/proc/net/igmp");
          assert.match(igmp, /\bup0\s*:\s*\d+\s+V2\b/, "the kernel reports in IGMPv2 on up0");
        }
        // What that means: a source-specific join downstream goes up as a whole-group report.
        const cap = await s.captureControl(topo.up, "eth0");
        const h1 = await s.host(topo.h1);
        const G = fam.ssm(7);
        await h1.join(G, fam.s1);
        await d.waitFor((l) => l.msg === "upstream membership" && l.group === G, 5000, "G joined upstream");
        await sleep(500);
        await cap.stop();
        const typeField = fam.v4 ? "igmp.type" : "icmpv6.type";
        const groupField = fam.v4 ? "igmp.maddr" : "icmpv6.mld.multicast_address";
        const rows = await tsharkFields(cap.file, `${typeField} == ${fam.type.oldReport}`, [groupField]);
        assert.ok(rows.some(([g]) => g === G), `a ${fam.older} report for ${G} upstream (rows: ${JSON.stringify(rows)})`);
        const v3 = await tsharkFields(cap.file, `${typeField} == ${fam.type.report}`, [typeField]);
        assert.deepEqual(v3, [], `no ${fam.v4 ? "IGMPv3" : "MLDv2"} report upstream`);
      }));
  }
});
