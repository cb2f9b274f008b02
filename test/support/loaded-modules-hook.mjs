// A module.register() hook (test/support/module-graph.ts): appends the URL of every file
// module loaded through the ES module loader to the file given at registration.
import { appendFileSync } from "node:fs";

let out = "";

export function initialize(data) {
  out = data.file;
}

export async function load(url, context, next) {
  if (url.startsWith("file:")) appendFileSync(out, `${url}\n`);
  return next(url, context);
}
