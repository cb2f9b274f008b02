/**
 * Capabilities kept across the privilege drop (the `user` setting): the daemon becomes an
 * unprivileged user but keeps CAP_NET_ADMIN and CAP_NET_RAW on its main thread, which it
 * needs to open the raw receive socket (and add the VIF) of an interface that appears
 * after the drop. The same two a service unit grants (contrib/improxy.service).
 * docs/kernel.md "Native layer" has the two addon calls.
 */
import { netio } from "./addon.js";

/** Call before setuid(2): the main thread keeps its permitted capabilities through it. */
export function keepCapabilitiesAcrossSetuid(): void {
  netio.keepCapabilities();
}

/** Call after setuid(2): only CAP_NET_ADMIN and CAP_NET_RAW remain, permitted and effective. */
export function limitToNetworkCapabilities(): void {
  netio.limitCapabilities();
}
