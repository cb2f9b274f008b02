/**
 * Temporary directories of a test process (configs, control sockets, captures, run
 * directories), removed when the process exits, whatever the test did: node --test runs
 * each file in its own process, so a file's directories go when it ends.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made: string[] = [];

function removeAll(): void {
  for (const dir of made.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // in use or gone: nothing more to do at exit
    }
  }
}

/** A new directory under the system's temporary directory, named `${prefix}XXXXXX`. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (made.length === 0) process.once("exit", removeAll);
  made.push(dir);
  return dir;
}
