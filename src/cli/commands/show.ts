/**
 * `improxy show interfaces|groups|sources|routes|stats [INTERFACE] [--group G] [--source S]
 * [--family F] [--json] [--socket PATH] [-c FILE]`: one view of the running daemon's state as
 * an aligned table, filtered in the daemon (src/control/show-filter.ts). A usage error (an
 * unknown view, option or filter, a filter the view does not take, a bad address) prints the
 * usage line and exits 2; an interface that is not configured, or no daemon, exits 1.
 */
import { checkShowFilter, filterOf } from "../../control/show-filter.js";
import { SHOW_VIEWS, type ShowView, type StatusDocument } from "../../control/status.js";
import { renderShow } from "../../control/tables.js";
import type { Printer } from "./daemon.js";
import { SHOW_USAGE, SHOW_USAGE_EXIT } from "./show-usage.js";
import { askDaemon, type ControlCliOptions, parseFamily } from "./status.js";

export { SHOW_USAGE, SHOW_USAGE_EXIT } from "./show-usage.js";

export interface ShowCliOptions extends ControlCliOptions {
  /** --group: a multicast address or prefix. */
  group?: string;
  /** --source: an address or prefix. */
  source?: string;
}

export async function showCommand(
  view: string,
  iface: string | undefined,
  opts: ShowCliOptions,
  stdout: Printer,
  stderr: Printer,
): Promise<number> {
  const usage = (line: string): number => {
    stderr(line);
    stderr(SHOW_USAGE);
    return SHOW_USAGE_EXIT;
  };
  if (!(SHOW_VIEWS as readonly string[]).includes(view)) {
    return usage(`improxy: show what? one of: ${SHOW_VIEWS.join(", ")} (got "${view}")`);
  }
  const fam = parseFamily(opts.family);
  if ("error" in fam) return usage(fam.error);
  const what = view as ShowView;
  const filter = filterOf({ interface: iface, group: opts.group, source: opts.source });
  const bad = checkShowFilter(what, filter);
  if (bad !== null) return usage(`improxy: ${bad}`);
  const data = await askDaemon(
    opts,
    { cmd: "show", what, ...(fam.family ? { family: fam.family } : {}), ...filter },
    stderr,
  );
  if (data === null) return 1;
  const doc = data as StatusDocument;
  if (opts.json) stdout(JSON.stringify(doc, null, 2));
  else for (const line of renderShow(doc, what)) stdout(line);
  return 0;
}
