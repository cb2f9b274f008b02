// The end-to-end tests build network namespaces, veth links and multicast routing
// tables: they need root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN for `ip netns`).
if (typeof process.getuid === "function" && process.getuid() !== 0) {
  console.error(
    "npm test: the end-to-end tests need root (they create network namespaces).\n" +
      "Run as root, e.g. `sudo npm test`, or run only the unit tests with `npm run test:unit`.",
  );
  process.exit(1);
}
