/** Dropping privileges for `user` (src/daemon/privileges.ts) over fake identity calls. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { dropPrivileges, findUser, type IdentityCalls } from "../../src/daemon/privileges.js";

const PASSWD = [
  "root:x:0:0:root:/root:/bin/bash",
  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
  "broken:x:abc:1::/:/bin/false",
  "",
].join("\n");

function fake(uid = 0): { calls: IdentityCalls; log: string[] } {
  const log: string[] = [];
  let euid = uid;
  return {
    log,
    calls: {
      getuid: () => euid,
      geteuid: () => euid,
      initgroups: (u, g) => log.push(`initgroups ${u} ${g}`),
      setgid: (g) => log.push(`setgid ${g}`),
      setuid: (u) => {
        log.push(`setuid ${u}`);
        euid = u;
      },
      keepCapabilities: () => log.push("keep capabilities"),
      limitCapabilities: () => log.push("limit capabilities"),
      readPasswd: () => PASSWD,
    },
  };
}

describe("user: dropping privileges", () => {
  test("findUser reads passwd(5)", () => {
    assert.deepEqual(findUser(PASSWD, "nobody"), { name: "nobody", uid: 65534, gid: 65534 });
    assert.equal(findUser(PASSWD, "nobod"), null);
    assert.equal(findUser(PASSWD, "broken"), null);
  });

  test("as root: supplementary groups, the group, then the user keeping CAP_NET_ADMIN and CAP_NET_RAW", () => {
    const f = fake(0);
    assert.deepEqual(dropPrivileges("nobody", f.calls), {
      name: "nobody",
      uid: 65534,
      gid: 65534,
      changed: true,
    });
    assert.deepEqual(f.log, [
      "initgroups nobody 65534",
      "setgid 65534",
      "keep capabilities",
      "setuid 65534",
      "limit capabilities",
    ]);
  });

  test("already that user (a service manager started it so): nothing to do", () => {
    const f = fake(1);
    assert.equal(dropPrivileges("daemon", f.calls).changed, false);
    assert.deepEqual(f.log, []);
  });

  test("an unknown user, or another user when not root: a one-line reason", () => {
    assert.throws(
      () => dropPrivileges("nosuch", fake(0).calls),
      /^Error: cannot run as user nosuch: no such user in \/etc\/passwd$/,
    );
    assert.throws(
      () => dropPrivileges("nobody", fake(1).calls),
      /only root can change its user \(running as uid 1\)/,
    );
    const failing = fake(0);
    failing.calls.setgid = () => {
      throw new Error("EPERM, Operation not permitted");
    };
    assert.throws(() => dropPrivileges("nobody", failing.calls), /cannot run as user nobody: EPERM/);
  });
});
