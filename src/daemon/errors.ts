/**
 * The owner of every error that is not handled where it happens (docs/architecture.md
 * "Error ownership"): each reaches the logger and gets one defined outcome.
 *
 * | source                                      | outcome                                      |
 * |---------------------------------------------|----------------------------------------------|
 * | receive socket poll failure (mroute or report socket) | fatal: the daemon stops, exit 1 (systemd restarts it) |
 * | receive socket receive error, throwing packet handler | logged (error), counted in the family's kernel errors; reading goes on |
 * | rtnetlink poll failure                      | fatal (interface changes would go unseen)    |
 * | rtnetlink receive error, throwing listener  | logged (error); the watcher goes on          |
 * | throwing timer callback                     | logged (error, with stack), counted; other timers go on |
 * | uncaught exception, unhandled rejection     | fatal                                        |
 *
 * Kernel calls made on purpose (VIFs, MFC, queries, memberships) are handled where they are
 * made (FamilyProxy, UpstreamHost): logged, counted, state kept consistent.
 */
import { isPollFailure } from "../kernel/errors.js";
import type { Logger } from "../util/log.js";
import type { IpFamily } from "../wire/types.js";

function describe(err: unknown): { err: string; code?: string; stack?: string } {
  if (!(err instanceof Error)) return { err: String(err) };
  const code = (err as { code?: unknown }).code;
  return {
    err: err.message,
    ...(typeof code === "string" ? { code } : {}),
    ...(err.stack ? { stack: err.stack } : {}),
  };
}

export class ErrorOwner {
  /** Errors that mean a bug (throwing timer callbacks), for tests and the log. */
  internalErrors = 0;

  constructor(
    private readonly log: Logger,
    /** Stops the daemon with a non-zero exit. */
    private readonly fatal: (err: Error) => void,
  ) {}

  /**
   * The `onError` of a family's receive sockets (the multicast routing socket and every
   * link's report socket; the error's message names the socket); `count` adds to the
   * family's counters. A report socket that stops delivering leaves its link deaf: fatal,
   * as the mroute socket.
   */
  socketHandler(family: IpFamily, count: () => void): (e: Error) => void {
    return (e) => {
      if (isPollFailure(e)) {
        this.log.fatal({ family, ...describe(e) }, "a receive socket failed");
        this.fatal(e);
        return;
      }
      count();
      this.log.error({ family, ...describe(e) }, "receive error");
    };
  }

  /** The interface watcher's (rtnetlink) errors. */
  watcher(err: unknown): void {
    if (isPollFailure(err)) {
      this.log.fatal(describe(err), "the interface watcher (rtnetlink) failed");
      this.fatal(err as Error);
      return;
    }
    this.log.error(describe(err), "error while following interface changes");
  }

  /** A timer callback threw: a bug; the scheduler goes on with the other timers. */
  timer(err: unknown): void {
    this.internalErrors++;
    this.log.error(describe(err), "internal error in a timer callback");
  }

  /** An uncaught exception or unhandled rejection: the process state is unknown. */
  uncaught(err: unknown, origin: string): void {
    this.log.fatal({ origin, ...describe(err) }, "internal error; stopping");
    this.fatal(err instanceof Error ? err : new Error(String(err)));
  }
}
