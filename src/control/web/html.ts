/**
 * The web view's pages as HTML, rendered on the server so that every table is there
 * without JavaScript; the page script (assets.ts) then replaces the rows as updates come.
 * Every value is escaped (escapeHtml); nothing inline needs a CSP exception (no inline
 * script or style: the stylesheet and the script are files of the package).
 */
import { type Cell, type Page, type PageModel, SPARK, type TableModel } from "./model.js";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text safe in HTML content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function sparkline(c: Exclude<Cell, string>): string {
  const { width, height } = SPARK;
  const label = c.spark.length === 0 ? "no samples yet" : `${c.spark.length} samples`;
  return `<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${label}"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${escapeHtml(c.points)}"/></svg>`;
}

function cell(c: Cell): string {
  return typeof c === "string" ? `<td>${escapeHtml(c)}</td>` : `<td>${sparkline(c)}</td>`;
}

/** A table with its id: the header, and the rows or one row saying it is empty. */
export function renderTable(id: string, t: TableModel): string {
  const head = t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  const body =
    t.rows.length === 0
      ? `<tr class="empty"><td colspan="${t.columns.length}">${escapeHtml(t.empty)}</td></tr>`
      : t.rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("\n");
  return `<table id="${escapeHtml(id)}" data-table="${escapeHtml(id)}">\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

const TITLES: Record<Page, string> = { overview: "Overview", groups: "Groups", flows: "Flows" };
const PATHS: Record<Page, string> = { overview: "/", groups: "/groups", flows: "/flows" };

/** Headings of the tables, by id. */
const HEADINGS: Record<string, string> = {
  links: "Upstreams and downstreams",
  interfaces: "Links",
  counters: "Counters",
  groups: "Groups per link",
  flows: "Flows (S,G): rates over the last 10 s",
  "not-forwarded": "Entries not forwarded (no outgoing link; removed by the idle check once their traffic stops)",
};

export function pagePath(page: Page): string {
  return PATHS[page];
}

/** A whole page: navigation, the daemon line, every table of the model. */
export function renderPage(model: PageModel): string {
  const nav = (Object.keys(TITLES) as Page[])
    .map(
      (p) =>
        `<a href="${PATHS[p]}"${p === model.page ? ' aria-current="page"' : ""}>${escapeHtml(TITLES[p])}</a>`,
    )
    .join(" ");
  const tables = Object.entries(model.tables)
    .map(([id, t]) => `<section>\n<h2>${escapeHtml(HEADINGS[id] ?? id)}</h2>\n${renderTable(id, t)}\n</section>`)
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>improxy: ${escapeHtml(TITLES[model.page])}</title>
<link rel="stylesheet" href="/assets/style.css">
<script src="/assets/app.js" defer></script>
</head>
<body data-page="${escapeHtml(model.page)}">
<header>
<h1>improxy</h1>
<nav>${nav}</nav>
<p><span id="info">${escapeHtml(model.info)}</span> <span id="live">static page</span></p>
</header>
<main>
${tables}
</main>
</body>
</html>
`;
}
