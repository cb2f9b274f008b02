/*
 * netio: the minimal, generic socket syscall surface improxy needs that Node lacks
 * (raw sockets, socket options, ioctls, recvmsg/sendmsg with ancillary data,
 * readiness polling on the libuv loop).
 *
 * All protocol knowledge (option numbers, struct layouts, IGMP/MLD) lives in
 * TypeScript (src/kernel/). This file only moves bytes between JS Buffers and
 * syscalls and reports errno as a JS Error with .code / .errno / .syscall.
 *
 * Plain C, N-API (node_api.h) only. See src/kernel/addon.ts for the typed surface.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errno-names.h"

/* native/layouts.c: sizes and offsets of the kernel structs, as compiled. */
napi_value netio_layouts(napi_env env);

/* ---------------------------------------------------------------- errors */

/* errno -> "EADDRINUSE": Linux's names (errno-names.h, any C library), libuv's for the rest. */
static const char *errno_name(int err) {
  const char *n = errno_table_name(err);
  if (n != NULL) return n;
  return uv_err_name(-err);
}

/* Throws Error("<syscall>: <strerror>") with .code, .errno (positive), .syscall. */
static void throw_errno(napi_env env, const char *syscall, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value code, message, error, errnum, sc;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "errno", errnum);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
}

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      bool pending_ = false;                                         \
      napi_is_exception_pending(env, &pending_);                     \
      if (!pending_) napi_throw_error(env, NULL, "netio: " #call);   \
      return NULL;                                                   \
    }                                                                \
  } while (0)

/* --------------------------------------------------------- argument helpers */

static bool get_args(napi_env env, napi_callback_info info, size_t min, size_t max, napi_value *argv,
                     size_t *argc) {
  size_t n = max;
  if (napi_get_cb_info(env, info, &n, argv, NULL, NULL) != napi_ok) return false;
  if (n < min) {
    napi_throw_type_error(env, NULL, "netio: too few arguments");
    return false;
  }
  if (argc) *argc = n < max ? n : max;
  return true;
}

static bool get_int(napi_env env, napi_value v, const char *what, int32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    char msg[96];
    snprintf(msg, sizeof msg, "netio: %s must be a number", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static bool get_uint(napi_env env, napi_value v, const char *what, uint32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    char msg[96];
    snprintf(msg, sizeof msg, "netio: %s must be a number", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

/*
 * A file descriptor argument: an integer from 0 to INT32_MAX. NaN, a fraction or a negative
 * number is a RangeError (napi_get_value_int32 would make NaN fd 0, stdin).
 */
static bool get_fd(napi_env env, napi_value v, int32_t *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok) {
    napi_throw_type_error(env, NULL, "netio: fd must be a number");
    return false;
  }
  if (!(d >= 0 && d <= INT32_MAX) || d != (double)(int32_t)d) {
    napi_throw_range_error(env, NULL, "netio: fd must be an integer >= 0");
    return false;
  }
  *out = (int32_t)d;
  return true;
}

/* Accepts a Buffer or any Uint8Array-like typed array; returns its bytes in place. */
static bool get_bytes(napi_env env, napi_value v, const char *what, void **data, size_t *len) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (is_ta) {
    napi_typedarray_type type;
    size_t length;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &off) != napi_ok) return false;
    if (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array) {
      char msg[96];
      snprintf(msg, sizeof msg, "netio: %s must be a Buffer or Uint8Array", what);
      napi_throw_type_error(env, NULL, msg);
      return false;
    }
    *len = length;
    return true;
  }
  bool is_buf = false;
  napi_is_buffer(env, v, &is_buf);
  if (is_buf) return napi_get_buffer_info(env, v, data, len) == napi_ok;
  char msg[96];
  snprintf(msg, sizeof msg, "netio: %s must be a Buffer or Uint8Array", what);
  napi_throw_type_error(env, NULL, msg);
  return false;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

static napi_value make_undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

static napi_value make_copy(napi_env env, const void *data, size_t len) {
  napi_value r;
  void *out;
  if (napi_create_buffer_copy(env, len, data, &out, &r) != napi_ok) return NULL;
  return r;
}

/* ------------------------------------------------------ per-env state (polls) */

typedef struct poll_s {
  uv_poll_t handle; /* first: the uv handle's data points back here anyway */
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int fd;
  bool active;
  struct poll_s *next;
} poll_t;

typedef struct {
  poll_t *polls;   /* active polls of this env */
  int *fds;        /* sockets opened through socket() and not yet closed */
  size_t nfds, capfds;
} state_t;

static state_t *get_state(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return (state_t *)data;
}

static void poll_closed(uv_handle_t *h) { free(h->data); }

/* Stops and releases one poll. `env_alive` false during env teardown. */
static void poll_release(poll_t *p, bool env_alive) {
  if (!p->active) return;
  p->active = false;
  uv_poll_stop(&p->handle);
  if (env_alive) {
    if (p->callback) napi_delete_reference(p->env, p->callback);
    if (p->async) napi_async_destroy(p->env, p->async);
  }
  p->callback = NULL;
  p->async = NULL;
  uv_close((uv_handle_t *)&p->handle, poll_closed);
}

static poll_t *poll_unlink(state_t *st, int fd) {
  for (poll_t **pp = &st->polls; *pp; pp = &(*pp)->next) {
    if ((*pp)->fd == fd) {
      poll_t *p = *pp;
      *pp = p->next;
      p->next = NULL;
      return p;
    }
  }
  return NULL;
}

static void track_fd(state_t *st, int fd) {
  if (st->nfds == st->capfds) {
    size_t cap = st->capfds ? st->capfds * 2 : 16;
    int *n = realloc(st->fds, cap * sizeof *n);
    if (!n) return; /* untracked: only the exit-time cleanup misses it */
    st->fds = n;
    st->capfds = cap;
  }
  st->fds[st->nfds++] = fd;
}

/* Forgets `fd`; false when it is not one of this env's sockets. */
static bool untrack_fd(state_t *st, int fd) {
  for (size_t i = 0; i < st->nfds; i++) {
    if (st->fds[i] == fd) {
      st->fds[i] = st->fds[--st->nfds];
      return true;
    }
  }
  return false;
}

/* Env teardown (process exit, worker exit): stop every poll, close every socket. */
static void env_cleanup(void *arg) {
  state_t *st = arg;
  while (st->polls) {
    poll_t *p = st->polls;
    st->polls = p->next;
    poll_release(p, true);
  }
  for (size_t i = 0; i < st->nfds; i++) close(st->fds[i]);
  st->nfds = 0;
}

static void state_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  state_t *st = data;
  free(st->fds);
  free(st);
}

/* ------------------------------------------------------------ socket basics */

/* socket(domain, type, protocol): fd. Always non-blocking and close-on-exec. */
static napi_value js_socket(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t domain, type, proto;
  if (!get_args(env, info, 3, 3, argv, NULL)) return NULL;
  if (!get_int(env, argv[0], "domain", &domain) || !get_int(env, argv[1], "type", &type) ||
      !get_int(env, argv[2], "protocol", &proto))
    return NULL;
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) {
    throw_errno(env, "socket", errno);
    return NULL;
  }
  state_t *st = get_state(env);
  if (st) track_fd(st, fd);
  return make_int(env, fd);
}

/*
 * close(fd). Only a socket this addon opened (and has not closed): any other descriptor
 * (stdin, one of Node's, a number reused) is refused with EBADF and left open. Stops a poll
 * on the fd first (a uv_poll_t must never outlive its fd).
 */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, 1, argv, NULL) || !get_fd(env, argv[0], &fd)) return NULL;
  state_t *st = get_state(env);
  if (!st || !untrack_fd(st, fd)) {
    throw_errno(env, "close", EBADF);
    return NULL;
  }
  poll_t *p = poll_unlink(st, fd);
  if (p) poll_release(p, true);
  if (close(fd) < 0 && errno != EINTR) {
    throw_errno(env, "close", errno);
    return NULL;
  }
  return make_undefined(env);
}

/* bind(fd, sockaddr) */
static napi_value js_bind(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  void *sa;
  size_t salen;
  if (!get_args(env, info, 2, 2, argv, NULL) || !get_fd(env, argv[0], &fd) ||
      !get_bytes(env, argv[1], "sockaddr", &sa, &salen))
    return NULL;
  if (bind(fd, (const struct sockaddr *)sa, (socklen_t)salen) < 0) {
    throw_errno(env, "bind", errno);
    return NULL;
  }
  return make_undefined(env);
}

/* getsockname(fd, buf): length of the address written into buf. */
static napi_value js_getsockname(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  void *buf;
  size_t len;
  if (!get_args(env, info, 2, 2, argv, NULL) || !get_fd(env, argv[0], &fd) ||
      !get_bytes(env, argv[1], "buf", &buf, &len))
    return NULL;
  socklen_t sl = (socklen_t)len;
  if (getsockname(fd, (struct sockaddr *)buf, &sl) < 0) {
    throw_errno(env, "getsockname", errno);
    return NULL;
  }
  return make_int(env, sl);
}

/* setsockopt(fd, level, name, value: Buffer | number). A number is passed as a C int. */
static napi_value js_setsockopt(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, level, name;
  if (!get_args(env, info, 4, 4, argv, NULL) || !get_fd(env, argv[0], &fd) ||
      !get_int(env, argv[1], "level", &level) || !get_int(env, argv[2], "name", &name))
    return NULL;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[3], &t));
  int rc;
  if (t == napi_number) {
    int32_t v;
    CHECK(napi_get_value_int32(env, argv[3], &v));
    int iv = v;
    rc = setsockopt(fd, level, name, &iv, sizeof iv);
  } else {
    void *data;
    size_t len;
    if (!get_bytes(env, argv[3], "value", &data, &len)) return NULL;
    rc = setsockopt(fd, level, name, len ? data : NULL, (socklen_t)len);
  }
  if (rc < 0) {
    throw_errno(env, "setsockopt", errno);
    return NULL;
  }
  return make_undefined(env);
}

/* getsockopt(fd, level, name, buf): optlen. buf is in/out (MCAST_MSFILTER reads its input). */
static napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, level, name;
  void *buf;
  size_t len;
  if (!get_args(env, info, 4, 4, argv, NULL) || !get_fd(env, argv[0], &fd) ||
      !get_int(env, argv[1], "level", &level) || !get_int(env, argv[2], "name", &name) ||
      !get_bytes(env, argv[3], "buf", &buf, &len))
    return NULL;
  socklen_t ol = (socklen_t)len;
  if (getsockopt(fd, level, name, buf, &ol) < 0) {
    throw_errno(env, "getsockopt", errno);
    return NULL;
  }
  return make_int(env, ol);
}

/*
 * ioctl(fd, request, buf, size): the ioctl's return value. buf is in/out and must hold at
 * least `size` bytes, the size of the struct the request reads and writes (the kernel
 * trusts the pointer; a short buffer would be overrun).
 */
static napi_value js_ioctl(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd;
  uint32_t req, size;
  void *buf;
  size_t len;
  if (!get_args(env, info, 4, 4, argv, NULL) || !get_fd(env, argv[0], &fd) ||
      !get_uint(env, argv[1], "request", &req) || !get_bytes(env, argv[2], "buf", &buf, &len) ||
      !get_uint(env, argv[3], "size", &size))
    return NULL;
  if (size == 0 || len < size) {
    napi_throw_range_error(env, NULL, "netio: ioctl: buf is shorter than the request's struct");
    return NULL;
  }
  int rc = ioctl(fd, (unsigned long)req, buf);
  if (rc < 0) {
    throw_errno(env, "ioctl", errno);
    return NULL;
  }
  return make_int(env, rc);
}

/*
 * attachFilter(fd, program): setsockopt(SOL_SOCKET, SO_ATTACH_FILTER) with a classic BPF
 * program. `program` is the struct sock_filter array as bytes (8 per instruction: code u16,
 * jt u8, jf u8, k u32, host order), built in TypeScript (src/kernel/structs/bpf.ts). The
 * struct sock_fprog that setsockopt takes holds a pointer to it, which JS cannot pass: that
 * is all this function adds. The kernel checks the program itself (EINVAL).
 */
static napi_value js_attach_filter(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  void *code;
  size_t len;
  if (!get_args(env, info, 2, 2, argv, NULL) || !get_fd(env, argv[0], &fd) ||
      !get_bytes(env, argv[1], "program", &code, &len))
    return NULL;
  size_t n = len / sizeof(struct sock_filter);
  if (len == 0 || len % sizeof(struct sock_filter) != 0 || n > BPF_MAXINSNS) {
    napi_throw_range_error(env, NULL, "netio: attachFilter: program must be 1..4096 instructions of 8 bytes");
    return NULL;
  }
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = (struct sock_filter *)code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    throw_errno(env, "setsockopt", errno);
    return NULL;
  }
  return make_undefined(env);
}

/* ------------------------------------------------------------ capabilities */

/*
 * keepCapabilities(): prctl(PR_SET_KEEPCAPS, 1) on the calling (main) thread, so that the
 * setuid() that follows keeps its permitted capabilities (the effective set is cleared).
 * limitCapabilities(): capset() on the calling thread: permitted = effective =
 * CAP_NET_ADMIN | CAP_NET_RAW, inheritable empty, then PR_SET_KEEPCAPS back to 0.
 * Together they drop to an unprivileged user that can still open the raw socket of an
 * interface that appears later (docs/kernel.md "Native layer"). Both act on the calling
 * thread only: the others lose every capability in setuid() (glibc and musl apply
 * setuid to all threads; keep-caps is per thread).
 */
static napi_value js_keep_capabilities(napi_env env, napi_callback_info info) {
  if (!get_args(env, info, 0, 0, NULL, NULL)) return NULL;
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
    throw_errno(env, "prctl", errno);
    return NULL;
  }
  return make_undefined(env);
}

static napi_value js_limit_capabilities(napi_env env, napi_callback_info info) {
  if (!get_args(env, info, 0, 0, NULL, NULL)) return NULL;
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  uint32_t keep = (1u << CAP_NET_ADMIN) | (1u << CAP_NET_RAW);
  data[0].permitted = keep;
  data[0].effective = keep;
  if (syscall(SYS_capset, &hdr, data) < 0) {
    throw_errno(env, "capset", errno);
    return NULL;
  }
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  return make_undefined(env);
}

/* ------------------------------------------------------------ recvmsg/sendmsg */

#define CTL_SPACE 2048

/*
 * recvmsg(fd, buf): null on EAGAIN, else
 * { bytes, truncated, from, ifindex, dst, ttl, hopopts } (see addon.ts).
 */
static napi_value js_recvmsg(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  void *buf;
  size_t len;
  if (!get_args(env, info, 2, 2, argv, NULL) || !get_fd(env, argv[0], &fd) ||
      !get_bytes(env, argv[1], "buf", &buf, &len))
    return NULL;

  struct sockaddr_storage from;
  union {
    char buf[CTL_SPACE];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr msg = {
      .msg_name = &from,
      .msg_namelen = sizeof from,
      .msg_iov = &iov,
      .msg_iovlen = 1,
      .msg_control = ctl.buf,
      .msg_controllen = sizeof ctl.buf,
  };
  memset(&from, 0, sizeof from);
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    throw_errno(env, "recvmsg", errno);
    return NULL;
  }

  int ifindex = 0, ttl = -1;
  const void *dst = NULL;
  size_t dstlen = 0;
  const void *hopopts = NULL;
  size_t hoplen = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    size_t dlen = c->cmsg_len - CMSG_LEN(0);
    const unsigned char *d = CMSG_DATA(c);
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && dlen >= sizeof(struct in_pktinfo)) {
      struct in_pktinfo pi;
      memcpy(&pi, d, sizeof pi);
      ifindex = pi.ipi_ifindex;
      dst = d + offsetof(struct in_pktinfo, ipi_addr);
      dstlen = 4;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL && dlen >= sizeof(int)) {
      int v;
      memcpy(&v, d, sizeof v);
      ttl = v;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
               dlen >= sizeof(struct in6_pktinfo)) {
      struct in6_pktinfo pi;
      memcpy(&pi, d, sizeof pi);
      ifindex = (int)pi.ipi6_ifindex;
      dst = d + offsetof(struct in6_pktinfo, ipi6_addr);
      dstlen = 16;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT && dlen >= sizeof(int)) {
      int v;
      memcpy(&v, d, sizeof v);
      ttl = v;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPOPTS) {
      hopopts = d;
      hoplen = dlen;
    }
  }

  napi_value res, v;
  CHECK(napi_create_object(env, &res));
  CHECK(napi_set_named_property(env, res, "bytes", make_int(env, n)));
  CHECK(napi_get_boolean(env, (msg.msg_flags & MSG_TRUNC) != 0, &v));
  CHECK(napi_set_named_property(env, res, "truncated", v));
  CHECK(napi_get_boolean(env, (msg.msg_flags & MSG_CTRUNC) != 0, &v));
  CHECK(napi_set_named_property(env, res, "controlTruncated", v));
  size_t fromlen = msg.msg_namelen <= sizeof from ? msg.msg_namelen : sizeof from;
  v = make_copy(env, &from, fromlen);
  if (!v) return NULL;
  CHECK(napi_set_named_property(env, res, "from", v));
  CHECK(napi_set_named_property(env, res, "ifindex", make_int(env, ifindex)));
  if (dst) {
    v = make_copy(env, dst, dstlen);
    if (!v) return NULL;
  } else {
    napi_get_null(env, &v);
  }
  CHECK(napi_set_named_property(env, res, "dst", v));
  CHECK(napi_set_named_property(env, res, "ttl", make_int(env, ttl)));
  if (hopopts) {
    v = make_copy(env, hopopts, hoplen);
    if (!v) return NULL;
  } else {
    napi_get_null(env, &v);
  }
  CHECK(napi_set_named_property(env, res, "hopopts", v));
  return res;
}

/* Reads an optional numeric property; returns false (no exception) when absent. */
static bool opt_int_prop(napi_env env, napi_value obj, const char *name, int32_t *out, bool *err) {
  bool has = false;
  *err = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return false;
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) {
    *err = true;
    return false;
  }
  if (t == napi_undefined || t == napi_null) return false;
  if (!get_int(env, v, name, out)) {
    *err = true;
    return false;
  }
  return true;
}

/*
 * sendmsg(fd, data, to, ctl?): bytes sent. `to` is a raw sockaddr whose family picks the
 * ancillary data: AF_INET -> IP_PKTINFO (ifindex, spec_dst = src) and IP_TTL;
 * AF_INET6 -> IPV6_PKTINFO (ifindex, src) and IPV6_HOPLIMIT; other families
 * (AF_NETLINK) -> none.
 */
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc;
  int32_t fd;
  void *data, *to;
  size_t len, tolen;
  if (!get_args(env, info, 3, 4, argv, &argc) || !get_fd(env, argv[0], &fd) ||
      !get_bytes(env, argv[1], "data", &data, &len) || !get_bytes(env, argv[2], "to", &to, &tolen))
    return NULL;
  if (tolen < sizeof(sa_family_t)) {
    napi_throw_range_error(env, NULL, "netio: sendmsg: `to` is shorter than a sockaddr family");
    return NULL;
  }
  sa_family_t family;
  memcpy(&family, to, sizeof family);

  int32_t ifindex = 0, hop = -1;
  bool has_if = false, has_hop = false, has_src = false;
  void *src = NULL;
  size_t srclen = 0;
  if (argc >= 4) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[3], &t));
    if (t == napi_object) {
      bool err;
      has_if = opt_int_prop(env, argv[3], "ifindex", &ifindex, &err);
      if (err) return NULL;
      has_hop = opt_int_prop(env, argv[3], "hopLimit", &hop, &err);
      if (err) return NULL;
      bool has = false;
      CHECK(napi_has_named_property(env, argv[3], "src", &has));
      if (has) {
        napi_value v;
        napi_valuetype st;
        CHECK(napi_get_named_property(env, argv[3], "src", &v));
        CHECK(napi_typeof(env, v, &st));
        if (st != napi_undefined && st != napi_null) {
          if (!get_bytes(env, v, "ctl.src", &src, &srclen)) return NULL;
          has_src = true;
        }
      }
    } else if (t != napi_undefined && t != napi_null) {
      napi_throw_type_error(env, NULL, "netio: sendmsg: ctl must be an object");
      return NULL;
    }
  }

  union {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg = {
      .msg_name = to,
      .msg_namelen = (socklen_t)tolen,
      .msg_iov = &iov,
      .msg_iovlen = 1,
      .msg_control = ctl.buf,
      .msg_controllen = sizeof ctl.buf,
  };
  size_t used = 0;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (family == AF_INET) {
    if (has_src && srclen != 4) {
      napi_throw_range_error(env, NULL, "netio: sendmsg: IPv4 ctl.src must be 4 bytes");
      return NULL;
    }
    if (has_if || has_src) {
      struct in_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      pi.ipi_ifindex = ifindex;
      if (has_src) memcpy(&pi.ipi_spec_dst, src, 4);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      used += CMSG_SPACE(sizeof pi);
      c = (struct cmsghdr *)(ctl.buf + used);
    }
    if (has_hop) {
      int v = hop;
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_TTL;
      c->cmsg_len = CMSG_LEN(sizeof v);
      memcpy(CMSG_DATA(c), &v, sizeof v);
      used += CMSG_SPACE(sizeof v);
    }
  } else if (family == AF_INET6) {
    if (has_src && srclen != 16) {
      napi_throw_range_error(env, NULL, "netio: sendmsg: IPv6 ctl.src must be 16 bytes");
      return NULL;
    }
    if (has_if || has_src) {
      struct in6_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      pi.ipi6_ifindex = (unsigned int)ifindex;
      if (has_src) memcpy(&pi.ipi6_addr, src, 16);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      used += CMSG_SPACE(sizeof pi);
      c = (struct cmsghdr *)(ctl.buf + used);
    }
    if (has_hop) {
      int v = hop;
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_HOPLIMIT;
      c->cmsg_len = CMSG_LEN(sizeof v);
      memcpy(CMSG_DATA(c), &v, sizeof v);
      used += CMSG_SPACE(sizeof v);
    }
  }
  msg.msg_controllen = used;
  if (used == 0) msg.msg_control = NULL;

  ssize_t n;
  do {
    n = sendmsg(fd, &msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    throw_errno(env, "sendmsg", errno);
    return NULL;
  }
  return make_int(env, n);
}

/* -------------------------------------------------------------------- polling */

static void on_poll(uv_poll_t *h, int status, int events) {
  poll_t *p = h->data;
  if (!p->active || !p->callback) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  if (napi_get_reference_value(env, p->callback, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv); /* make_callback needs an object receiver */
    napi_get_boolean(env, status == 0 && (events & UV_READABLE) != 0, &arg);
    /* make_callback: runs microtasks/nextTicks afterwards like any libuv-driven callback. */
    napi_status s = napi_make_callback(env, p->async, recv, cb, 1, &arg, &result);
    if (s == napi_pending_exception) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* pollStart(fd, callback(readable)): readable events on the libuv loop; replaces an existing poll. */
static napi_value js_poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  if (!get_args(env, info, 2, 2, argv, NULL) || !get_fd(env, argv[0], &fd)) return NULL;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[1], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "netio: pollStart: callback must be a function");
    return NULL;
  }
  state_t *st = get_state(env);
  if (!st) {
    napi_throw_error(env, NULL, "netio: no instance state");
    return NULL;
  }
  poll_t *old = poll_unlink(st, fd);
  if (old) poll_release(old, true);

  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  poll_t *p = calloc(1, sizeof *p);
  if (!p) {
    throw_errno(env, "pollStart", ENOMEM);
    return NULL;
  }
  p->env = env;
  p->fd = fd;
  int rc = uv_poll_init_socket(loop, &p->handle, fd);
  if (rc < 0) {
    free(p);
    throw_errno(env, "uv_poll_init", -rc);
    return NULL;
  }
  p->handle.data = p;
  p->active = true;
  napi_value name;
  napi_create_string_utf8(env, "netio.poll", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[1], 1, &p->callback) != napi_ok ||
      napi_async_init(env, NULL, name, &p->async) != napi_ok) {
    poll_release(p, true);
    napi_throw_error(env, NULL, "netio: pollStart: cannot set up the callback");
    return NULL;
  }
  rc = uv_poll_start(&p->handle, UV_READABLE, on_poll);
  if (rc < 0) {
    poll_release(p, true);
    throw_errno(env, "uv_poll_start", -rc);
    return NULL;
  }
  p->next = st->polls;
  st->polls = p;
  return make_undefined(env);
}

/* pollStop(fd): no-op if the fd is not polled. */
static napi_value js_poll_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, 1, argv, NULL) || !get_fd(env, argv[0], &fd)) return NULL;
  state_t *st = get_state(env);
  if (st) {
    poll_t *p = poll_unlink(st, fd);
    if (p) poll_release(p, true);
  }
  return make_undefined(env);
}

/* ----------------------------------------------------------------- interfaces */

static napi_value js_if_name_to_index(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, 1, argv, NULL)) return NULL;
  char name[IF_NAMESIZE + 1];
  size_t n;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[0], &t));
  if (t != napi_string) {
    napi_throw_type_error(env, NULL, "netio: ifNameToIndex: name must be a string");
    return NULL;
  }
  CHECK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &n));
  if (n >= IF_NAMESIZE) return make_int(env, 0); /* too long (or truncated): no such interface */
  return make_int(env, if_nametoindex(name));
}

static napi_value js_if_index_to_name(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t idx;
  if (!get_args(env, info, 1, 1, argv, NULL) || !get_uint(env, argv[0], "index", &idx)) return NULL;
  char name[IF_NAMESIZE];
  napi_value r;
  if (idx == 0 || if_indextoname(idx, name) == NULL) {
    napi_get_null(env, &r);
    return r;
  }
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &r));
  return r;
}

/* layouts(): the kernel structs' sizes and offsets as this addon was compiled (layouts.c). */
static napi_value js_layouts(napi_env env, napi_callback_info info) {
  if (!get_args(env, info, 0, 0, NULL, NULL)) return NULL;
  napi_value r = netio_layouts(env);
  if (r == NULL) napi_throw_error(env, NULL, "netio: layouts: cannot build the object");
  return r;
}

/* ---------------------------------------------------------------------- init */

static napi_value Init(napi_env env, napi_value exports) {
  state_t *st = calloc(1, sizeof *st);
  if (!st || napi_set_instance_data(env, st, state_finalize, NULL) != napi_ok) {
    free(st);
    napi_throw_error(env, NULL, "netio: cannot allocate instance state");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, env_cleanup, st);

  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"socket", js_socket},
      {"close", js_close},
      {"bind", js_bind},
      {"getsockname", js_getsockname},
      {"setsockopt", js_setsockopt},
      {"getsockopt", js_getsockopt},
      {"attachFilter", js_attach_filter},
      {"keepCapabilities", js_keep_capabilities},
      {"limitCapabilities", js_limit_capabilities},
      {"ioctl", js_ioctl},
      {"recvmsg", js_recvmsg},
      {"sendmsg", js_sendmsg},
      {"pollStart", js_poll_start},
      {"pollStop", js_poll_stop},
      {"ifNameToIndex", js_if_name_to_index},
      {"ifIndexToName", js_if_index_to_name},
      {"layouts", js_layouts},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f));
    CHECK(napi_set_named_property(env, exports, fns[i].name, f));
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
