/**
 * The kernel layer: the only code that touches the native addon. See KERNEL.md for the
 * kernel facts and src/kernel/structs/ for every byte layout.
 */
export { KernelError, type KernelErrorInit } from "./errors.js";
export { type MrouteOpenOptions, MrouteSocket, type ReceivedPacket, type Upcall } from "./mroute.js";
export type { SgCounters } from "./structs/mroute.js";
