/**
 * `improxy show`'s usage line and usage-error exit code: main.ts declares the command with
 * them before it loads the command itself (commands are imported when run).
 */
export const SHOW_USAGE =
  "usage: improxy show interfaces|groups|sources|routes|stats [INTERFACE] [--group G] [--source S] [--family ipv4|ipv6] [--json] [--socket PATH | -c FILE]";

/** Exit code of a usage error of `show` (Commander's own are mapped to it in main.ts). */
export const SHOW_USAGE_EXIT = 2;
