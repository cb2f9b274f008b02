/**
 * The import direction of docs/architecture.md "Layers", enforced on the source tree:
 *
 *   cli → {control, lab} → daemon → {proxy, router, kernel, config} → {wire, clock, util}
 *
 * A module may import modules of its own top-level folder and of strictly lower layers,
 * never a sibling of its own layer nor anything above it (so there are no folder cycles).
 * Only src/kernel loads the native addon. Every import, `import type` and `export … from`
 * counts: a type-only edge is still a dependency of the reader.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");
const SRC = join(ROOT, "src");

const LAYER: Record<string, number> = {
  cli: 0,
  control: 1,
  lab: 1,
  daemon: 2,
  proxy: 3,
  router: 3,
  kernel: 3,
  config: 3,
  wire: 4,
  clock: 4,
  util: 4,
};

function sourceFiles(dir: string, exts = [".ts"]): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p, exts);
    return exts.some((x) => e.name.endsWith(x)) ? [p] : [];
  });
}

/** Relative specifiers of every static import/export-from and dynamic import() in `text`. */
export function importSpecifiers(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^"'`;]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^import\s*["']([^"']+)["']/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec !== undefined) out.push(spec);
  }
  return out;
}

function folderOf(file: string): string {
  return relative(SRC, file).split(sep)[0] ?? "";
}

interface Edge {
  from: string;
  to: string;
  spec: string;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    for (const spec of importSpecifiers(readFileSync(file, "utf8"))) {
      if (!spec.startsWith(".")) continue;
      out.push({ from: file, to: resolve(dirname(file), spec), spec });
    }
  }
  return out;
}

describe("architecture: import direction", () => {
  const all = edges();

  test("the import scanner sees import, import type, export from and dynamic import", () => {
    const text = [
      'import { a } from "./a.js";',
      'import type { B } from "../b/b.js";',
      'export { c } from "./c.js";',
      'export type { D } from "./d.js";',
      "const e = await import(\"../e/e.js\");",
      "import {",
      "  f,",
      '} from "../f/f.js";',
    ].join("\n");
    assert.deepEqual(importSpecifiers(text), ["./a.js", "../b/b.js", "./c.js", "./d.js", "../e/e.js", "../f/f.js"]);
    assert.ok(all.length > 100, `only ${all.length} imports found: the scanner is broken`);
  });

  test("every top-level folder of src/ has a layer", () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    for (const f of folders) assert.ok(f in LAYER, `src/${f} has no layer in this test and docs/architecture.md`);
  });

  test("modules import only their own folder or strictly lower layers", () => {
    const bad: string[] = [];
    for (const e of all) {
      const a = folderOf(e.from);
      const b = folderOf(e.to);
      if (a === b) continue;
      const ra = LAYER[a];
      const rb = LAYER[b];
      if (ra === undefined || rb === undefined || rb <= ra) {
        bad.push(`src/${relative(SRC, e.from)} imports ${e.spec} (${a} -> ${b})`);
      }
    }
    assert.deepEqual(bad, []);
  });

  test("only src/kernel loads the native addon", () => {
    const bad: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, "utf8");
      const loadsAddon =
        /netio\.node/.test(text) || importSpecifiers(text).some((s) => /(^|\/)addon\.js$/.test(s));
      if (loadsAddon && folderOf(file) !== "kernel") bad.push(relative(SRC, file));
    }
    assert.deepEqual(bad, []);
  });
});

describe("architecture: design notes inside the repository", () => {
  const TEXT = [".ts", ".c", ".md", ".mjs", ".gyp", ".service", ".yaml", ".conf"];
  const files = [
    ...["src", "test", "bench", "native", "scripts", "contrib", "examples", "docs"].flatMap((d) =>
      sourceFiles(join(ROOT, d), TEXT),
    ),
    join(ROOT, "README.md"),
  ];

  test("nothing refers to the starting notes outside the repository", () => {
    // Built from parts so that this file does not match itself.
    const outside = new RegExp(
      ["KERNEL", "PROTOCOL", "ARCHITECTURE", "IMPROXY-COMPAT"].map((n) => `\\b${n}\\.md`).join("|") +
        `|${["shared", "design"].join("/")}`,
    );
    const bad = files.filter((f) => outside.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f));
    assert.deepEqual(bad, []);
  });

  test('every docs/NAME.md "Heading" reference names an existing file and heading', () => {
    const bad: string[] = [];
    let seen = 0;
    for (const f of files) {
      for (const m of readFileSync(f, "utf8").matchAll(/docs\/([a-z-]+\.md)(?:\s+"([^"]+)")?/g)) {
        seen++;
        const doc = join(ROOT, "docs", m[1]!);
        let text: string;
        try {
          text = readFileSync(doc, "utf8");
        } catch {
          bad.push(`${relative(ROOT, f)}: docs/${m[1]} does not exist`);
          continue;
        }
        // A heading may wrap onto the next comment line.
        const heading = m[2]?.replace(/\s*\n\s*(?:\*|\/\/)?\s*/g, " ");
        if (heading !== undefined && !text.split("\n").some((l) => /^#{1,4} /.test(l) && l.replace(/^#+ /, "") === heading)) {
          bad.push(`${relative(ROOT, f)}: docs/${m[1]} has no heading "${heading}"`);
        }
      }
    }
    assert.ok(seen > 10, `only ${seen} references found: the scanner is broken`);
    assert.deepEqual(bad, []);
  });
});
