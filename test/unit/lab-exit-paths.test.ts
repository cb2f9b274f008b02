/**
 * src/lab/exit-paths.ts: each way of ending `improxy lab` early becomes one stop request
 * with its exit status, and wakes the demo from its waits. Events are delivered the way
 * Node.js delivers them (a stream's "error", process signal and exception events), to
 * listeners the instance installed; nothing is sent to a real process.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { ExitPaths, Stopped, signalExitCode } from "../../src/lab/exit-paths.js";

/** A stand-in for stdout / stderr that records what was written. */
function sink(): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, written };
}

function paths() {
  const out = sink();
  const err = sink();
  const exit = new ExitPaths(out.stream, err.stream);
  return { exit, out, err };
}

describe("lab exit paths", () => {
  test("no stop: exit 0, check() passes, pause() waits its time", async () => {
    const { exit } = paths();
    try {
      const t0 = Date.now();
      await exit.pause(30);
      assert.ok(Date.now() - t0 >= 25);
      exit.check();
      assert.equal(exit.exitCode(), 0);
    } finally {
      exit.dispose();
    }
  });

  test("a signal: 128 + its number, a line on stdout, waits end at once", async () => {
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      const { exit, out } = paths();
      try {
        const waiting = exit.pause(60_000);
        process.emit(sig, sig);
        await assert.rejects(waiting, (e: unknown) => e instanceof Stopped && e.reason.kind === "signal");
        assert.equal(exit.exitCode(), signalExitCode(sig));
        assert.deepEqual(out.written, [`\n${sig}: stopping the lab\n`]);
        assert.throws(() => exit.check(), Stopped);
      } finally {
        exit.dispose();
      }
    }
    assert.deepEqual(
      ["SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE"].map((s) => signalExitCode(s as NodeJS.Signals)),
      [130, 143, 129, 141],
    );
  });

  test("the output goes away (EPIPE): 141, and nothing more is written to it", async () => {
    const { exit, out, err } = paths();
    try {
      const waiting = exit.within(new Promise(() => undefined), 60_000, "never");
      out.stream.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
      await assert.rejects(waiting, Stopped);
      assert.equal(exit.exitCode(), 141);
      exit.print("after the reader left");
      assert.deepEqual(out.written, []);
      assert.deepEqual(err.written, [], "quietly");
      // A later signal does not change why the run stopped.
      process.emit("SIGTERM", "SIGTERM");
      assert.equal(exit.exitCode(), 141);
    } finally {
      exit.dispose();
    }
  });

  test("an uncaught exception or rejection: exit 1, its message on stderr", async () => {
    for (const event of ["uncaughtException", "unhandledRejection"] as const) {
      const { exit, err } = paths();
      try {
        const waiting = exit.pause(60_000);
        // The listener this instance installed (the newest), called as Node.js calls it; an
        // emit would reach the test runner's own listeners too.
        const listeners =
          event === "uncaughtException" ? process.listeners(event) : process.listeners(event);
        const listener = listeners.at(-1) as (err: unknown) => void;
        listener(new Error("boom"));
        await assert.rejects(waiting, (e: unknown) => e instanceof Stopped && e.reason.kind === "error");
        assert.equal(exit.exitCode(), 1);
        assert.deepEqual(err.written, ["improxy lab: boom\n"]);
      } finally {
        exit.dispose();
      }
    }
  });

  test("within(): a step that takes too long fails the run with its reason", async () => {
    const { exit, err } = paths();
    try {
      await assert.rejects(
        exit.within(new Promise(() => undefined), 20, "the receivers did not join"),
        Stopped,
      );
      assert.equal(exit.exitCode(), 1);
      assert.deepEqual(err.written, ["improxy lab: the receivers did not join (after 0.02 s)\n"]);
      const { exit: ok } = paths();
      try {
        assert.equal(await ok.within(Promise.resolve(7), 1000, "x"), 7);
      } finally {
        ok.dispose();
      }
    } finally {
      exit.dispose();
    }
  });

  test("dispose() removes the signal and exception listeners", () => {
    const before = ["SIGINT", "SIGTERM", "SIGHUP", "uncaughtException", "unhandledRejection"].map((e) =>
      process.listenerCount(e),
    );
    const { exit } = paths();
    exit.dispose();
    assert.deepEqual(
      ["SIGINT", "SIGTERM", "SIGHUP", "uncaughtException", "unhandledRejection"].map((e) =>
        process.listenerCount(e),
      ),
      before,
    );
  });
});
