/** Turns ajv errors into one-line, human reasons ("`query-interval` must be an integer ..."). */
import type { ErrorObject } from "ajv/dist/2020.js";
import { checkInterfaceName } from "./interface-name.js";
import { CONFIG_SCHEMA, STATIC_GROUP_OBJECT } from "./schema.js";
import type { DataPath } from "./yaml-locator.js";

interface SchemaNode {
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  properties?: Record<string, unknown>;
}

const TYPE_WORDS: Record<string, string> = {
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  string: "a string",
  array: "a list",
  object: "a mapping",
  null: "null",
};

/** "an integer from 1 to 31744", "a number > 0 and <= 1023", "one of 1, 2, 3". */
export function describeSchema(s: SchemaNode): string {
  if (s.enum) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(", ")}`;
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  let text = types.map((t) => TYPE_WORDS[t] ?? t).join(" or ") || "valid";
  const lo = s.minimum;
  const hi = s.maximum;
  const ex = s.exclusiveMinimum;
  if (lo !== undefined && hi !== undefined) text += ` from ${lo} to ${hi}`;
  else if (ex !== undefined && hi !== undefined) text += ` > ${ex} and <= ${hi}`;
  else if (lo !== undefined) text += ` >= ${lo}`;
  else if (ex !== undefined) text += ` > ${ex}`;
  else if (hi !== undefined) text += ` <= ${hi}`;
  return text;
}

/** A short rendering of a YAML value for messages. */
export function showValue(v: unknown): string {
  if (v === null || v === undefined) return "nothing (empty value)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  const text = JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 37)}..."` : text;
}

/** Name of the thing at `path` for messages: the last key, or `list[index]` for list items. */
export function nameOf(path: DataPath): string {
  const last = path[path.length - 1];
  if (last === undefined) return "the config";
  if (/^\d+$/.test(String(last))) {
    const parent = path[path.length - 2];
    return `\`${String(parent ?? "")}[${last}]\``;
  }
  return `\`${String(last)}\``;
}

/** Edit distance, for "did you mean" on unknown keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

export function suggest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(word, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export interface LocatedReason {
  /** Path whose line the problem is reported at. */
  path: DataPath;
  /** True when the problem is about the whole file (reported at its last line). */
  wholeFile: boolean;
  reason: string;
}

/**
 * Whether an error's schema is `node` of CONFIG_SCHEMA. The validator generated at build
 * time (write-validator.ts) holds its own copies of the schema: equal, not the same objects.
 */
function isSchema(schema: unknown, node: object): boolean {
  return schema === node || (typeof schema === "object" && JSON.stringify(schema) === JSON.stringify(node));
}

/**
 * One ajv error (from a validator compiled with allErrors and verbose) as a reason and the
 * path to report it at; null for errors that only repeat another (if/then/else wrappers).
 */
export function explainSchemaError(err: ErrorObject, path: DataPath): LocatedReason | null {
  const parent = (err.parentSchema ?? {}) as SchemaNode;
  const name = nameOf(path);
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case "if":
      return null;
    case "type":
      if (
        isSchema(err.parentSchema, CONFIG_SCHEMA.$defs.downstreamObject) ||
        isSchema(err.parentSchema, CONFIG_SCHEMA.$defs.upstreamObject)
      ) {
        return {
          path,
          wholeFile: false,
          reason: `${name} must be an interface name or a mapping with \`name\`, got ${showValue(err.data)}`,
        };
      }
      if (isSchema(err.parentSchema, STATIC_GROUP_OBJECT)) {
        return {
          path,
          wholeFile: false,
          reason: `${name} must be a group address or a mapping with \`group\` (and \`source\`), got ${showValue(err.data)}`,
        };
      }
      return {
        path,
        wholeFile: false,
        reason: `${name} must be ${describeSchema(parent)}, got ${showValue(err.data)}`,
      };
    case "enum":
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
      return {
        path,
        wholeFile: false,
        reason: `${name} must be ${describeSchema(parent)}, got ${showValue(err.data)}`,
      };
    case "additionalProperties": {
      const key = String(params.additionalProperty);
      const known = Object.keys(parent.properties ?? {});
      const hint = suggest(key, known);
      const where = path.length === 0 ? "" : ` in ${name}`;
      return {
        path: [...path, key],
        wholeFile: false,
        reason: `unknown key \`${key}\`${where}${hint ? ` (did you mean \`${hint}\`?)` : ""}`,
      };
    }
    case "required": {
      const key = String(params.missingProperty);
      if (path.length === 0) {
        const what = key === "upstream" ? "the upstream interface" : "the downstream interfaces";
        return { path, wholeFile: true, reason: `missing \`${key}\` (${what} must be given)` };
      }
      return { path, wholeFile: false, reason: `${name} is missing \`${key}\`` };
    }
    case "minItems":
      return {
        path,
        wholeFile: false,
        reason:
          path.length === 1 && (path[0] === "downstream" || path[0] === "upstream")
            ? `${name} must list at least one interface`
            : `${name} must have at least ${parent.minItems ?? 1} item(s)`,
      };
    case "pattern":
    case "maxLength":
    case "minLength": {
      if (isSchema(err.parentSchema, CONFIG_SCHEMA.$defs.ifname) && typeof err.data === "string") {
        const why = checkInterfaceName(err.data);
        if (why) return { path, wholeFile: false, reason: why };
      }
      if (path.length === 1 && path[0] === "user") {
        return {
          path,
          wholeFile: false,
          reason: `\`user\` must be a user name (letters, digits, ".", "_", "-"), got ${showValue(err.data)}`,
        };
      }
      return { path, wholeFile: false, reason: `${name} ${err.message ?? "is invalid"}` };
    }
    default:
      return { path, wholeFile: false, reason: `${name} ${err.message ?? "is invalid"}` };
  }
}
