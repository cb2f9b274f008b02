/**
 * Text rendering of status documents: aligned tables for `improxy status` and
 * `improxy show interfaces|groups|sources|routes|stats`. Pure functions (tested without a
 * daemon). Machines should use `--json` (schema/status.schema.json) instead of parsing these.
 */
import type { FamilyStats, FamilyStatus, ShowView, StatusDocument } from "./status.js";

export interface Column {
  title: string;
  align?: "left" | "right";
}

/** Aligns `rows` under `columns` (two spaces between columns, no trailing blanks). */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? "";
        const w = widths[i] ?? 0;
        return c.align === "right" ? cell.padStart(w) : cell.padEnd(w);
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...rows.map(line)];
}

/** "12.3s" under a minute, else "1h02m03s" / "4m05s" / "2d03h04m". "-" for null. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 60) return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)}s`;
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  if (d > 0) return `${d}d${two(h)}h${two(m)}m`;
  if (h > 0) return `${h}h${two(m)}m${two(sec)}s`;
  return `${m}m${two(sec)}s`;
}

/**
 * A rate in SI units, about two significant digits past the unit: 950, 5.4k, 12k, 1.2M, 3.4G.
 * "-" for null.
 */
export function formatRate(perSecond: number | null): string {
  if (perSecond === null) return "-";
  const units: Array<[number, string]> = [
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [size, unit] of units) {
    if (perSecond >= size) {
      const v = perSecond / size;
      return `${v < 10 ? v.toFixed(1) : Math.round(v)}${unit}`;
    }
  }
  return String(Math.round(perSecond));
}

const dash = (v: number | string | null | undefined): string =>
  v === null || v === undefined ? "-" : String(v);
const familyName = (f: FamilyStatus) =>
  `${f.family === "ipv4" ? "IPv4" : "IPv6"} (${f.protocol.toUpperCase()})`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const INTERFACE_COLUMNS: Column[] = [
  { title: "FAMILY" },
  { title: "INTERFACE" },
  { title: "ROLE" },
  { title: "STATE" },
  { title: "IFINDEX", align: "right" },
  { title: "VIF", align: "right" },
  { title: "ADDRESS" },
  { title: "VER", align: "right" },
  { title: "QUERIER" },
  { title: "QUERIER-ADDRESS" },
  { title: "UPTIME", align: "right" },
  { title: "GROUPS", align: "right" },
  { title: "PKTS-IN", align: "right" },
  { title: "PKTS-OUT", align: "right" },
  { title: "FORWARDED" },
];

/**
 * An interface row. Upstream rows show, in VER and QUERIER-ADDRESS, the version the kernel
 * reports in there and the upstream querier heard (RFC 9776 §7.2.1); downstream rows the
 * configured version and the link's querier.
 */
function interfaceRows(doc: StatusDocument): string[][] {
  const rows: string[][] = [];
  for (const f of doc.families) {
    for (const i of f.interfaces ?? []) {
      rows.push([
        f.family,
        i.name,
        i.role,
        i.state,
        dash(i.ifindex),
        dash(i.vif),
        dash(i.address),
        dash(i.role === "upstream" ? i.upstreamQuerier?.compatibilityVersion : i.version),
        i.role === "upstream" ? "-" : i.querier ? "yes" : "no",
        dash(i.role === "upstream" ? i.upstreamQuerier?.address : i.querierAddress),
        formatDuration(i.upTimeSeconds),
        String(i.groups),
        dash(i.counters?.packetsIn),
        dash(i.counters?.packetsOut),
        i.role === "upstream" || i.state !== "attached" ? "-" : i.forwarded ? "yes" : "no",
      ]);
    }
  }
  return rows;
}

function table(columns: Column[], rows: string[][], empty: string): string[] {
  const out = formatTable(columns, rows);
  if (rows.length === 0) out.push(`(${empty})`);
  return out;
}

/** `improxy status`: who and where, one summary line per family, the interface table. */
export function renderStatus(doc: StatusDocument): string[] {
  const d = doc.improxy;
  const out = [
    `improxy ${d.version}, pid ${d.pid}, up ${formatDuration(d.uptimeSeconds)} (since ${d.startedAt})`,
    `config: ${d.configFile}`,
    `control socket: ${d.controlSocket}; metrics: ${d.metrics ?? "off"}`,
    "",
  ];
  for (const f of doc.families) {
    const s = f.summary;
    out.push(
      `${familyName(f)}: ${plural(s.interfaces, "interface")} (${s.attached} attached), ${plural(s.groups, "group")}, ` +
        `${plural(s.sources, "source")}, ${plural(s.upstreamGroups, "upstream group")}, ` +
        `${plural(s.routes, "forwarding entry", "forwarding entries")}, ${plural(s.drops, "drop")}`,
    );
  }
  if (doc.families.length === 0) out.push("no address family enabled");
  out.push("");
  out.push(...interfaceTable(doc));
  return out;
}

/** The interface table, then, after a blank line, one line per warning of a link (cause and fix). */
function interfaceTable(doc: StatusDocument): string[] {
  const out = table(INTERFACE_COLUMNS, interfaceRows(doc), "no interfaces");
  const notes = doc.families.flatMap((f) =>
    (f.interfaces ?? []).flatMap((i) => i.warnings.map((w) => `${i.name} (${f.family}): ${w}`)),
  );
  if (notes.length > 0) out.push("", ...notes);
  return out;
}

/** `improxy show VIEW`. */
export function renderShow(doc: StatusDocument, view: ShowView): string[] {
  switch (view) {
    case "interfaces":
      return interfaceTable(doc);
    case "groups":
      return renderGroups(doc);
    case "sources":
      return renderSources(doc);
    case "routes":
      return renderRoutes(doc);
    case "stats":
      return renderStats(doc);
  }
}

function renderGroups(doc: StatusDocument): string[] {
  const rows: string[][] = [];
  const upstream: string[][] = [];
  for (const f of doc.families) {
    for (const g of f.groups ?? []) {
      rows.push([
        f.family,
        g.interface,
        g.group,
        g.filterMode,
        String(g.version),
        formatDuration(g.upTimeSeconds),
        formatDuration(g.expiresSeconds),
        g.static ? "static" : (g.lastReporter ?? "-"),
        String(g.sources),
        g.hosts === null ? "-" : g.hosts.map((h) => h.address).join(",") || "0",
        dash(g.upstream),
      ]);
    }
    for (const u of f.upstream ?? []) {
      upstream.push([f.family, dash(u.interface), u.group, u.filterMode, u.sources.join(",") || "-"]);
    }
  }
  return [
    ...table(
      [
        { title: "FAMILY" },
        { title: "INTERFACE" },
        { title: "GROUP" },
        { title: "MODE" },
        { title: "VER", align: "right" },
        { title: "UPTIME", align: "right" },
        { title: "EXPIRES", align: "right" },
        { title: "LAST-REPORTER" },
        { title: "SOURCES", align: "right" },
        { title: "HOSTS" },
        { title: "UPSTREAM" },
      ],
      rows,
      "no groups",
    ),
    "",
    "upstream membership (merged, RFC 4605 §4.1):",
    ...table(
      [
        { title: "FAMILY" },
        { title: "INTERFACE" },
        { title: "GROUP" },
        { title: "MODE" },
        { title: "SOURCES" },
      ],
      upstream,
      "no upstream membership",
    ),
  ];
}

function renderSources(doc: StatusDocument): string[] {
  const rows: string[][] = [];
  for (const f of doc.families) {
    for (const s of f.sources ?? []) {
      rows.push([
        f.family,
        s.interface,
        s.group,
        s.source,
        s.expiresSeconds > 0 ? formatDuration(s.expiresSeconds) : "-",
        s.forwarding ? "yes" : "no",
      ]);
    }
  }
  return table(
    [
      { title: "FAMILY" },
      { title: "INTERFACE" },
      { title: "GROUP" },
      { title: "SOURCE" },
      { title: "EXPIRES", align: "right" },
      { title: "FORWARDING" },
    ],
    rows,
    "no sources",
  );
}

function renderRoutes(doc: StatusDocument): string[] {
  const rows: string[][] = [];
  for (const f of doc.families) {
    for (const r of f.routes ?? []) {
      rows.push([
        f.family,
        r.source,
        r.group,
        r.incoming,
        r.outgoing.join(",") || "-",
        dash(r.packets),
        dash(r.bytes),
        dash(r.pps),
        formatRate(r.bitsPerSecond),
        dash(r.wrongIf),
        dash(r.upstream),
        formatDuration(r.upTimeSeconds),
      ]);
    }
  }
  return table(
    [
      { title: "FAMILY" },
      { title: "SOURCE" },
      { title: "GROUP" },
      { title: "INCOMING" },
      { title: "OUTGOING" },
      { title: "PACKETS", align: "right" },
      { title: "BYTES", align: "right" },
      { title: "PPS", align: "right" },
      { title: "BIT/S", align: "right" },
      { title: "WRONG-IF", align: "right" },
      { title: "UPSTREAM" },
      { title: "UPTIME", align: "right" },
    ],
    rows,
    "no forwarding entries",
  );
}

/** The family-wide counters of `show stats` (interface "-"). */
function familyCounterRows(s: FamilyStats, add: (counter: string, value: number) => void): void {
  add("packets-received", s.packetsReceived);
  add("own-packets", s.ownPackets);
  add("upstream-packets", s.upstreamPackets);
  for (const [k, v] of Object.entries(s.upstreamPacketsByType)) add(`upstream-packets:${k}`, v);
  add("unconfigured-interface", s.unconfiguredInterface);
  for (const [k, v] of Object.entries(s.parseErrors)) add(`parse-error:${k}`, v);
  for (const [k, v] of Object.entries(s.upcalls)) add(`upcall:${k}`, v);
  add("kernel-errors", s.kernelErrors);
  add("upstream-filter-changes", s.upstreamFilterChanges);
  add("upstream-filter-errors", s.upstreamFilterErrors);
  add("upstream-limit", s.upstreamLimit);
  add("mfc-limit", s.mfcLimit);
  add("upstream-source-refused", s.upstreamSourceRefused);
  add("no-upstream", s.noUpstream);
  add("wrong-upstream", s.wrongUpstream);
  add("vif-limit", s.vifLimit);
}

function renderStats(doc: StatusDocument): string[] {
  const rows: string[][] = [];
  for (const f of doc.families) {
    const s = f.stats;
    if (!s) continue;
    const add = (iface: string, counter: string, value: number) =>
      rows.push([f.family, iface, counter, String(value)]);
    // `show stats INTERFACE`: that interface's rows only (the family's counters are in --json).
    if (doc.filter?.interface === undefined)
      familyCounterRows(s, (counter, value) => add("-", counter, value));
    for (const i of s.interfaces) {
      for (const [k, v] of Object.entries(i.received)) add(i.name, `received:${k}`, v);
      for (const [k, v] of Object.entries(i.sent)) add(i.name, `sent:${k}`, v);
      for (const [k, v] of Object.entries(i.drops)) add(i.name, `drop:${k}`, v);
      for (const [k, v] of Object.entries(i.refusals)) add(i.name, `refused:${k}`, v);
      if (i.olderVersionQueries > 0) add(i.name, "older-version-queries", i.olderVersionQueries);
      add(i.name, "querier-changes", i.querierChanges);
    }
    for (const r of s.receiveSockets) {
      if (r.filter === "software") add(r.socket, "receive-unfiltered", 1);
      add(r.socket, "receive-discarded", r.discarded);
      add(r.socket, "receive-truncated", r.truncated);
      if (r.drops !== null) add(r.socket, "receive-drops", r.drops);
    }
  }
  // The operator interfaces themselves (family "-"): connections, refusals by reason.
  const op = (iface: string, counter: string, value: number) =>
    rows.push(["-", iface, counter, String(value)]);
  const c = doc.operator?.controlSocket;
  if (c) {
    op("control-socket", "clients", c.clients);
    op("control-socket", "connections", c.connections);
    op("control-socket", "requests", c.requests);
    op("control-socket", "bad-requests", c.badRequests);
    for (const [k, v] of Object.entries(c.drops)) op("control-socket", `drop:${k}`, v);
  }
  const m = doc.operator?.metrics;
  if (m) {
    op("metrics", "connections", m.connections);
    op("metrics", "scrapes", m.scrapes);
    for (const [k, v] of Object.entries(m.refusals)) op("metrics", `refused:${k}`, v);
  }
  const w = doc.operator?.web;
  if (w) {
    if (w.connections !== null) op("web", "connections", w.connections);
    op("web", "pages", w.pages);
    op("web", "streams", w.streams);
    for (const [k, v] of Object.entries(w.refusals)) op("web", `refused:${k}`, v);
  }
  return table(
    [{ title: "FAMILY" }, { title: "INTERFACE" }, { title: "COUNTER" }, { title: "VALUE", align: "right" }],
    rows,
    "no counters",
  );
}
