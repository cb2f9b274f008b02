/**
 * `improxy show interfaces|groups|sources|routes|stats [--json] [--socket PATH] [-c FILE]
 * [--family F]`: one view of the running daemon's state as an aligned table.
 */
import { SHOW_VIEWS, type ShowView, type StatusDocument } from "../../control/status.js";
import { renderShow } from "../../control/tables.js";
import type { Printer } from "./daemon.js";
import { askDaemon, type ControlCliOptions, parseFamily } from "./status.js";

export async function showCommand(
  view: string,
  opts: ControlCliOptions,
  stdout: Printer,
  stderr: Printer,
): Promise<number> {
  if (!(SHOW_VIEWS as readonly string[]).includes(view)) {
    stderr(`improxy: show what? one of: ${SHOW_VIEWS.join(", ")} (got "${view}")`);
    return 1;
  }
  const fam = parseFamily(opts.family);
  if ("error" in fam) {
    stderr(fam.error);
    return 1;
  }
  const what = view as ShowView;
  const data = await askDaemon(
    opts,
    fam.family ? { cmd: "show", what, family: fam.family } : { cmd: "show", what },
    stderr,
  );
  if (data === null) return 1;
  const doc = data as StatusDocument;
  if (opts.json) stdout(JSON.stringify(doc, null, 2));
  else for (const line of renderShow(doc, what)) stdout(line);
  return 0;
}
