/**
 * Maps a path in the parsed YAML data (["downstream", 1, "igmp", "query-interval"]) back to
 * the 1-based line of the node that holds it, so every error names its line.
 */
import type { Document, LineCounter } from "yaml";
import { yamlLib } from "./yaml-lib.js";

export type DataPath = readonly (string | number)[];

export class YamlLocator {
  constructor(
    private readonly doc: Document,
    private readonly counter: LineCounter,
    /** Last line of the file (1 for an empty file): where whole-file problems are reported. */
    readonly lastLine: number,
  ) {}

  private lineAt(offset: number): number {
    return this.counter.linePos(offset).line;
  }

  /**
   * Line of the deepest node along `path` that exists. For a mapping entry this is the key's
   * line (a block value starts on the next line; the key is what the reader looks for);
   * for a list item, the item's first line.
   */
  line(path: DataPath): number {
    const { isMap, isScalar, isSeq } = yamlLib();
    let node: unknown = this.doc.contents;
    let line = isMap(node) || isSeq(node) ? this.lineAt(node.range?.[0] ?? 0) : 1;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        const key = pair.key as { range?: [number, number, number] | null };
        if (key.range) line = this.lineAt(key.range[0]);
        node = pair.value;
      } else if (isSeq(node)) {
        const item = node.items[Number(seg)] as { range?: [number, number, number] | null } | undefined;
        if (!item) break;
        if (item.range) line = this.lineAt(item.range[0]);
        node = item;
      } else {
        break;
      }
    }
    return line;
  }
}

/** Splits an ajv instancePath ("/downstream/1/name") into segments, unescaping ~1 and ~0. */
export function pointerToPath(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}
