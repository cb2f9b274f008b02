/**
 * The system calls the kernel modules make, as one injectable surface: `realSyscalls` (the
 * native addon) in the daemon, a fake in unit tests (test/unit/fake-syscalls.ts). Each
 * module takes the `Pick<Syscalls, ...>` it needs through a `syscalls?:` option.
 *
 * Failing calls throw the addon's error shape (`SyscallError` in addon.ts: `code`, `errno`,
 * `syscall`); a fake must do the same for the modules' errno handling to apply.
 */
import { type Bytes, netio, type RecvResult, type SendControl } from "./addon.js";

export type { Bytes, RecvResult, SendControl } from "./addon.js";

export interface Syscalls {
  /** socket(2); SOCK_NONBLOCK | SOCK_CLOEXEC are always added. Returns the fd. */
  socket(domain: number, type: number, protocol: number): number;
  /** close(2); stops a poll on the fd first. */
  close(fd: number): void;
  /** bind(2) to a raw sockaddr. */
  bind(fd: number, sockaddr: Bytes): void;
  /** getsockname(2) into `buf`; returns the address length. */
  getsockname(fd: number, buf: Bytes): number;
  /** setsockopt(2); a number is passed as a C `int`. */
  setsockopt(fd: number, level: number, name: number, value: Bytes | number): void;
  /** getsockopt(2) with `buf` in/out; returns optlen. */
  getsockopt(fd: number, level: number, name: number, buf: Bytes): number;
  /** ioctl(2) with `buf` as the in/out argument. */
  ioctl(fd: number, request: number, buf: Bytes): number;
  /** recvmsg(2) into `buf`; null when nothing is waiting (EAGAIN). */
  recvmsg(fd: number, buf: Bytes): RecvResult | null;
  /** sendmsg(2) of `data` to the raw sockaddr `to` with pktinfo / hop-limit cmsgs. */
  sendmsg(fd: number, data: Bytes, to: Bytes, ctl?: SendControl): number;
  /**
   * Calls `callback(true)` whenever `fd` is readable, `callback(false)` on a poll error. A
   * callback that throws is an uncaught exception: callers catch everything themselves.
   */
  pollStart(fd: number, callback: (readable: boolean) => void): void;
  /** Stops polling `fd`. */
  pollStop(fd: number): void;
  /** if_indextoname(3); null when there is no such interface (messages only). */
  ifIndexToName(index: number): string | null;
}

/** The native addon. */
export const realSyscalls: Syscalls = netio;
