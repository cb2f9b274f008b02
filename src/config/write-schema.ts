/** Writes schema/improxy.schema.json from CONFIG_SCHEMA: `node --import tsx src/config/write-schema.ts`. */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CONFIG_SCHEMA } from "./schema.js";

export const SCHEMA_FILE = fileURLToPath(new URL("../../schema/improxy.schema.json", import.meta.url));

export function schemaJson(): string {
  return `${JSON.stringify(CONFIG_SCHEMA, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_FILE, schemaJson());
  console.log(`wrote ${SCHEMA_FILE}`);
}
