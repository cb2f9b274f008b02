/**
 * The system calls the kernel modules make, as one injectable surface: `realSyscalls` (the
 * native addon) in the daemon, a fake in unit tests (test/unit/fake-syscalls.ts). Each
 * module takes the `Pick<Syscalls, ...>` it needs through a `syscalls?:` option.
 *
 * Failing calls throw the addon's error shape (`SyscallError` in addon.ts: `code`, `errno`,
 * `syscall`); a fake must do the same for the modules' errno handling to apply.
 */
import { type NetioAddon, netio } from "./addon.js";
import { kernelCall } from "./errors.js";
import { SO_RCVBUF, SO_RCVBUFFORCE, SOL_SOCKET } from "./structs/netlink.js";

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
  | "attachFilter"
  | "ioctl"
  | "recvmsg"
  | "sendmsg"
  | "pollStart"
  | "pollStop"
  | "ifIndexToName"
>;

/** The native addon. */
export const realSyscalls: Syscalls = netio;

/**
 * Sets a socket's receive buffer: SO_RCVBUFFORCE (needs CAP_NET_ADMIN, which the daemon has
 * for MRT_INIT anyway; ignores net.core.rmem_max), falling back to SO_RCVBUF (silently
 * capped by rmem_max) without it. Users never have to raise sysctls for bursts.
 */
export function sizeReceiveBuffer(
  sys: Pick<Syscalls, "setsockopt">,
  fd: number,
  bytes: number,
  socketName: string,
): void {
  try {
    sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes);
  } catch {
    kernelCall(`setting the receive buffer of ${socketName} (SO_RCVBUF)`, () =>
      sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, bytes),
    );
  }
}
