import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { netio } from "../../src/kernel/addon.js";
import { packSockaddrUn, sdNotify } from "../../src/kernel/sdnotify.js";
import { tempDir } from "../support/temp.js";

describe("sd_notify", () => {
  it("packs path and abstract sockaddr_un", () => {
    assert.deepEqual([...packSockaddrUn("/run/x")], [1, 0, ...Buffer.from("/run/x"), 0]);
    assert.deepEqual([...packSockaddrUn("@sd")], [1, 0, 0, ...Buffer.from("sd")]);
  });

  it("does nothing without NOTIFY_SOCKET", () => {
    assert.equal(sdNotify("READY=1", {}), false);
  });

  it("delivers the state to the socket systemd names", () => {
    const dir = tempDir("improxy-notify-");
    const path = join(dir, "notify");
    const fd = netio.socket(1, 2, 0);
    try {
      netio.bind(fd, packSockaddrUn(path));
      assert.equal(sdNotify("READY=1\nSTATUS=ok", { NOTIFY_SOCKET: path }), true);
      const buf = Buffer.alloc(256);
      const got = netio.recvmsg(fd, buf);
      assert.ok(got, "a datagram arrived");
      assert.equal(buf.subarray(0, got.bytes).toString(), "READY=1\nSTATUS=ok");
    } finally {
      netio.close(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
