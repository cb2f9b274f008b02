export { RealScheduler, type RealSchedulerOptions } from "./real.js";
export type { Scheduler, TimerId } from "./scheduler.js";
export { VirtualScheduler } from "./virtual.js";
