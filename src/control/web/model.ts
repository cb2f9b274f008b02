/**
 * What each page of the web view shows, as tables of text cells (and sparkline cells): the
 * same data renders the server's HTML (html.ts) and, as JSON over server-sent events, the
 * page script's row updates (assets.ts). Built from the control socket's status builder
 * (status.ts) and the daemon's flow-rate sampler, never from a copy of the state.
 */
import type { IpFamily } from "../../wire/types.js";
import type { FlowRates } from "../flow-rates.js";
import type { FamilyStatus, StatusBuilder, StatusDocument } from "../status.js";
import { formatDuration, formatRate } from "../tables.js";

export const PAGES = ["overview", "groups", "flows"] as const;
export type Page = (typeof PAGES)[number];

/** A cell: text, or a sparkline of values (oldest first) with its polyline's points. */
export type Cell = string | { spark: number[]; points: string };

/** The size of a sparkline (SVG user units = CSS pixels). */
export const SPARK = { width: 120, height: 24 } as const;

/** The points of a sparkline polyline for `values`, scaled to the largest ("" when empty). */
export function sparkPoints(values: readonly number[]): string {
  const { width, height } = SPARK;
  if (values.length === 0) return "";
  const max = Math.max(...values, 1);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values
    .map((v, i) => `${(i * step).toFixed(1)},${(height - 1 - (Math.max(0, v) / max) * (height - 2)).toFixed(1)}`)
    .join(" ");
}

export interface TableModel {
  /** Column titles. */
  columns: string[];
  rows: Cell[][];
  /** Shown in place of the rows when there are none. */
  empty: string;
}

export interface PageModel {
  page: Page;
  /** One line about the daemon: version, pid, up-time. */
  info: string;
  /** The page's tables by id, in page order. */
  tables: Record<string, TableModel>;
}

/** Where the models come from. */
export interface ModelSource {
  builder: StatusBuilder;
  rates: FlowRates | null;
}

const dash = (v: number | string | null | undefined): string =>
  v === null || v === undefined ? "-" : String(v);
const familyName = (f: FamilyStatus) => `${f.family === "ipv4" ? "IPv4" : "IPv6"} (${f.protocol.toUpperCase()})`;

function info(doc: StatusDocument): string {
  const d = doc.improxy;
  return `improxy ${d.version}, pid ${d.pid}, up ${formatDuration(d.uptimeSeconds)}`;
}

/** Upstreams -> downstreams, link states, querier, version, groups, counters. */
function overview(doc: StatusDocument): Record<string, TableModel> {
  const links: Cell[][] = [];
  const interfaces: Cell[][] = [];
  const counters: Cell[][] = [];
  for (const f of doc.families) {
    const ifs = f.interfaces ?? [];
    const names = (role: string) =>
      ifs
        .filter((i) => i.role === role)
        .map((i) => i.name)
        .join(", ") || "-";
    links.push([familyName(f), names("upstream"), "→", names("downstream")]);
    for (const i of ifs) {
      const querier =
        i.role === "upstream" || i.state === "waiting"
          ? "-"
          : i.querier
            ? "this router"
            : `other: ${dash(i.querierAddress)}`;
      interfaces.push([
        f.family,
        i.name,
        i.role,
        i.state,
        dash(i.version),
        querier,
        String(i.groups),
        dash(i.counters?.packetsIn),
        dash(i.counters?.packetsOut),
      ]);
    }
    const s = f.summary;
    counters.push([
      f.family,
      `${s.attached} / ${s.interfaces}`,
      String(s.groups),
      String(s.sources),
      String(s.upstreamGroups),
      String(s.routes),
      String(s.drops),
    ]);
  }
  return {
    links: { columns: ["Family", "Upstream", "", "Downstreams"], rows: links, empty: "no address family enabled" },
    interfaces: {
      columns: ["Family", "Link", "Role", "State", "Version", "Querier", "Groups", "Packets in", "Packets out"],
      rows: interfaces,
      empty: "no interfaces",
    },
    counters: {
      columns: ["Family", "Attached", "Groups", "Sources", "Upstream groups", "Flows", "Drops"],
      rows: counters,
      empty: "no address family enabled",
    },
  };
}

/** At most `n` items, then "+K more". */
function some(items: string[], n = 6): string {
  if (items.length === 0) return "-";
  return items.length <= n ? items.join(", ") : `${items.slice(0, n).join(", ")} +${items.length - n} more`;
}

function groups(groupsDoc: StatusDocument, sourcesDoc: StatusDocument): Record<string, TableModel> {
  const sourcesOf = new Map<string, string[]>();
  for (const f of sourcesDoc.families) {
    for (const s of f.sources ?? []) {
      const k = `${f.family}|${s.interface}|${s.group}`;
      sourcesOf.set(k, [...(sourcesOf.get(k) ?? []), s.source]);
    }
  }
  const rows: Cell[][] = [];
  for (const f of groupsDoc.families) {
    for (const g of f.groups ?? []) {
      rows.push([
        f.family,
        g.interface,
        g.group,
        g.static ? `${g.filterMode} (static)` : g.filterMode,
        some(sourcesOf.get(`${f.family}|${g.interface}|${g.group}`) ?? []),
        g.hosts === null ? "not tracked" : some(g.hosts.map((h) => h.address)),
        formatDuration(g.expiresSeconds),
        dash(g.upstream),
      ]);
    }
  }
  return {
    groups: {
      columns: ["Family", "Link", "Group", "Filter mode", "Sources", "Hosts", "Expires", "Upstream"],
      rows,
      empty: "no groups",
    },
  };
}

/**
 * Forwarded flows (at least one outgoing link) with their rates and plots; entries the
 * kernel holds without an outgoing link (nobody wants them, refused sources, another
 * upstream's group) apart, so that a flow leaves the first table when its last receiver does.
 */
function flows(doc: StatusDocument, rates: FlowRates | null): Record<string, TableModel> {
  const rows: Cell[][] = [];
  const idle: Cell[][] = [];
  for (const f of doc.families) {
    for (const r of f.routes ?? []) {
      if (r.outgoing.length === 0) {
        idle.push([f.family, r.source, r.group, r.incoming, dash(r.pps)]);
        continue;
      }
      const history = rates?.history(f.family as IpFamily, r.source, r.group)?.bitsPerSecond ?? [];
      rows.push([
        f.family,
        r.source,
        r.group,
        r.incoming,
        r.outgoing.join(", "),
        dash(r.pps),
        r.bitsPerSecond === null ? "-" : `${formatRate(r.bitsPerSecond)}bit/s`,
        { spark: history, points: sparkPoints(history) },
      ]);
    }
  }
  return {
    flows: {
      columns: ["Family", "Source", "Group", "Incoming", "Outgoing", "Packets/s", "Bit rate", "Last 3 minutes"],
      rows,
      empty: "no flows",
    },
    "not-forwarded": {
      columns: ["Family", "Source", "Group", "Incoming", "Packets/s"],
      rows: idle,
      empty: "none",
    },
  };
}

/** The model of `page`, read now. */
export function pageModel(page: Page, src: ModelSource): PageModel {
  const { builder } = src;
  switch (page) {
    case "overview": {
      const doc = builder.build(null);
      return { page, info: info(doc), tables: overview(doc) };
    }
    case "groups": {
      const doc = builder.build("groups");
      return { page, info: info(doc), tables: groups(doc, builder.build("sources")) };
    }
    case "flows": {
      const doc = builder.build("routes");
      return { page, info: info(doc), tables: flows(doc, src.rates) };
    }
  }
}
