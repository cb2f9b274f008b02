/**
 * Every way `improxy lab` can be ended early, turned into one stop request so that the
 * demo always tears down what it built: a signal (SIGINT, SIGTERM, SIGHUP), its output going
 * away (a reader such as `head -3` that closed the pipe: EPIPE), or an exception that no
 * step caught. The demo polls `stopped` between steps and waits with `pause`, which ends
 * early on a stop; the teardown then runs in its `finally`.
 */
import { constants } from "node:os";

export type StopReason =
  | { kind: "signal"; signal: NodeJS.Signals }
  | { kind: "output-closed" }
  | { kind: "error"; error: unknown };

/** Thrown by `check()` once a stop was requested: unwinds the demo to its teardown. */
export class Stopped extends Error {
  constructor(readonly reason: StopReason) {
    super("stopped");
  }
}

const SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Exit status of a process ended by signal `name`, as shells report it: 128 + its number. */
export function signalExitCode(name: NodeJS.Signals): number {
  return 128 + constants.signals[name];
}

export class ExitPaths {
  private stopReason: StopReason | undefined;
  private outClosed = false;
  private errClosed = false;
  private readonly waiters = new Set<() => void>();
  private readonly onSignal = (signal: NodeJS.Signals) => this.stop({ kind: "signal", signal });
  private readonly onOutError = () => {
    this.outClosed = true;
    this.stop({ kind: "output-closed" });
  };
  private readonly onErrError = () => {
    this.errClosed = true;
  };
  private readonly onException = (error: unknown) => this.fail(error);

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly err: NodeJS.WriteStream = process.stderr,
  ) {
    for (const s of SIGNALS) process.on(s, this.onSignal);
    out.on("error", this.onOutError);
    err.on("error", this.onErrError);
    process.on("uncaughtException", this.onException);
    process.on("unhandledRejection", this.onException);
  }

  /** Why the run is stopping; undefined while it goes on. */
  get reason(): StopReason | undefined {
    return this.stopReason;
  }

  /** Requests a stop; the first reason is the one that counts. */
  stop(reason: StopReason): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    if (reason.kind === "signal") this.print(`\n${reason.signal}: stopping the lab`);
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  /** Stops because of an error (unless already stopping), with its one-line reason on stderr. */
  fail(error: unknown): void {
    this.warn(`improxy lab: ${error instanceof Error ? error.message : String(error)}`);
    this.stop({ kind: "error", error });
  }

  /** Throws `Stopped` once a stop was requested. */
  check(): void {
    if (this.stopReason !== undefined) throw new Stopped(this.stopReason);
  }

  /** Waits `ms`, or less when a stop is requested meanwhile; then `check()`s. */
  async pause(ms: number): Promise<void> {
    await this.within(new Promise<never>(() => undefined), ms);
  }

  /**
   * Waits for `p`, at most `ms` (then, with `what`, fails with that reason); a stop ends the
   * wait early. Then `check()`s.
   */
  async within<T>(p: Promise<T>, ms: number, what?: string): Promise<T | undefined> {
    let wake: () => void = () => undefined;
    let timer: NodeJS.Timeout | undefined;
    const woken = new Promise<undefined>((r) => {
      wake = () => r(undefined);
      this.waiters.add(wake);
      timer = setTimeout(() => {
        if (what !== undefined) this.fail(new Error(`${what} (after ${ms / 1000} s)`));
        r(undefined);
      }, ms);
    });
    try {
      return await Promise.race([p, woken]);
    } finally {
      clearTimeout(timer);
      this.waiters.delete(wake);
      this.check();
    }
  }

  /** A line on stdout, unless stdout is gone. */
  print(line: string): void {
    if (!this.outClosed && !this.out.destroyed) this.out.write(`${line}\n`);
  }

  /** A line on stderr, unless stderr is gone. */
  warn(line: string): void {
    if (!this.errClosed && !this.err.destroyed) this.err.write(`${line}\n`);
  }

  /**
   * The exit status: 0 when nothing stopped the run; 128 + the signal's number for a
   * signal; 141 (128 + SIGPIPE) when the output went away, as a Unix tool that writes into
   * a closed pipe dies of SIGPIPE, quietly; 1 for an error.
   */
  exitCode(): number {
    const r = this.stopReason;
    if (r === undefined) return 0;
    if (r.kind === "signal") return signalExitCode(r.signal);
    if (r.kind === "output-closed") return signalExitCode("SIGPIPE");
    return 1;
  }

  /**
   * Removes the signal and exception listeners (at the end of the teardown). The output's
   * error listeners stay: the EPIPE of the last line written arrives after this.
   */
  dispose(): void {
    for (const s of SIGNALS) process.off(s, this.onSignal);
    process.off("uncaughtException", this.onException);
    process.off("unhandledRejection", this.onException);
  }
}
