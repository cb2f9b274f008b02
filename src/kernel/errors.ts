/**
 * Errors of the kernel layer. Every syscall failure that leaves src/kernel/ is a
 * `KernelError`: it keeps the errno facts (code, errno, syscall) for programs and carries a
 * message an operator understands ("adding multicast interface dn1 (ifindex 4): the kernel
 * allows at most 32 VIFs per table (ENFILE)").
 */
import { isSyscallError } from "./addon.js";

export interface KernelErrorInit {
  /** errno name, e.g. "EADDRINUSE"; "EINTERNAL" for checks made in TypeScript. */
  code: string;
  /** Positive errno number; 0 when the error did not come from a syscall. */
  errno?: number;
  /** The failing syscall ("setsockopt"), when there is one. */
  syscall?: string;
  /** What improxy was doing, in operator terms ("adding VIF for ifindex 4"). */
  operation: string;
  /** The underlying error, kept as `cause`. */
  cause?: unknown;
}

export class KernelError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string | undefined;
  readonly operation: string;

  constructor(message: string, init: KernelErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "KernelError";
    this.code = init.code;
    this.errno = init.errno ?? 0;
    this.syscall = init.syscall;
    this.operation = init.operation;
  }

  /**
   * Wraps an error thrown by the addon. `explain` may supply a clearer message for a given
   * errno code; otherwise the message is "<operation>: <syscall>: <strerror> (<CODE>)".
   */
  static from(err: unknown, operation: string, explain?: (code: string) => string | undefined): KernelError {
    if (err instanceof KernelError) return err;
    if (isSyscallError(err)) {
      const specific = explain?.(err.code);
      const message = specific ?? `${operation}: ${err.message} (${err.code})`;
      return new KernelError(message, {
        code: err.code,
        errno: err.errno,
        syscall: err.syscall,
        operation,
        cause: err,
      });
    }
    const message = err instanceof Error ? err.message : String(err);
    return new KernelError(`${operation}: ${message}`, { code: "EINTERNAL", operation, cause: err });
  }
}

/**
 * Runs `fn`, turning any addon error into a KernelError for `operation`.
 * `explain(code)` returns a clearer message for specific errno codes.
 */
export function kernelCall<T>(
  operation: string,
  fn: () => T,
  explain?: (code: string) => string | undefined,
): T {
  try {
    return fn();
  } catch (err) {
    throw KernelError.from(err, operation, explain);
  }
}

/**
 * Runs `fn` for a kernel feature the caller can do without: null when it worked, the
 * KernelError for `operation` when it failed (the caller then falls back, and says so).
 */
export function kernelErrorOf(operation: string, fn: () => void): KernelError | null {
  try {
    fn();
    return null;
  } catch (err) {
    return KernelError.from(err, operation);
  }
}

/** `KernelError.operation` of a poll failure: the socket delivers nothing any more. */
export const POLL_FAILURE_OPERATION = "polling";

/**
 * True for the error a socket's error listener gets when polling the socket failed: it
 * will deliver nothing any more, so its owner cannot go on (the daemon exits non-zero).
 */
export function isPollFailure(e: unknown): boolean {
  return e instanceof KernelError && e.code === "EIO" && e.operation === POLL_FAILURE_OPERATION;
}
