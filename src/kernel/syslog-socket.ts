/**
 * The socket of the syslog log destination (src/util/syslog.ts): AF_UNIX, SOCK_DGRAM, as
 * syslog(3) uses and as the local syslog daemons bind /dev/log (rsyslog's imuxsock, busybox
 * syslogd, OpenWrt's logd, systemd-journald's /run/systemd/journal/dev-log). Node.js has
 * no Unix datagram socket (dgram is udp4/udp6 only), so it goes through the addon;
 * docs/architecture.md "Logging".
 *
 * Not connected: every datagram is sent to the path (sendmsg with a sockaddr_un), so a
 * syslog daemon that restarted and bound a new socket at the same path gets the next line
 * without a reconnect. The socket is non-blocking (the addon opens every socket so):
 * a full receive queue is EAGAIN, which the destination handles. A failed socket(2) is
 * tried again at the next line.
 */
import type { DatagramSender } from "../util/syslog.js";
import { netio } from "./addon.js";
import { AF_UNIX, sockaddrUn } from "./structs/sockaddr.js";

const SOCK_DGRAM = 2;

export class SyslogSocket implements DatagramSender {
  private fd = -1;
  private readonly to: Buffer;

  /** RangeError when the path does not fit a sockaddr_un (107 bytes). */
  constructor(readonly path: string) {
    this.to = sockaddrUn(path);
  }

  /** One datagram; throws the errno error (ENOENT, ECONNREFUSED, EAGAIN, ...). */
  send(datagram: Uint8Array): void {
    if (this.fd < 0) this.fd = netio.socket(AF_UNIX, SOCK_DGRAM, 0);
    netio.sendmsg(this.fd, datagram, this.to);
  }

  close(): void {
    if (this.fd >= 0) netio.close(this.fd);
    this.fd = -1;
  }
}
