/**
 * The system calls the kernel modules make, as one injectable surface: `realSyscalls` (the
 * native addon) in the daemon, a fake in unit tests (test/unit/fake-syscalls.ts). Each
 * module takes the `Pick<Syscalls, ...>` it needs through a `syscalls?:` option.
 *
 * Failing calls throw the addon's error shape (`SyscallError` in addon.ts: `code`, `errno`,
 * `syscall`); a fake must do the same for the modules' errno handling to apply.
 */
import { type NetioAddon, netio } from "./addon.js";

export type { Bytes, RecvResult, SendControl } from "./addon.js";

/**
 * The addon's calls the kernel modules use (their contracts are documented on
 * `NetioAddon` in addon.ts). A poll callback that throws is an uncaught exception, so
 * every user of `pollStart` catches everything itself and reports it to its error listener.
 */
export type Syscalls = Pick<
  NetioAddon,
  | "socket"
  | "close"
  | "bind"
  | "getsockname"
  | "setsockopt"
  | "getsockopt"
  | "ioctl"
  | "recvmsg"
  | "sendmsg"
  | "pollStart"
  | "pollStop"
  | "ifIndexToName"
>;

/** The native addon. */
export const realSyscalls: Syscalls = netio;
