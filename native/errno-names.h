/*
 * errno value -> its name ("EADDRINUSE"), for the .code of the errors netio throws. Plain
 * C: glibc's strerrorname_np (2.32+) does not exist in musl or older glibc. The names are
 * Linux's (asm-generic/errno-base.h, asm-generic/errno.h); each entry is compiled only
 * where the C library defines it. Aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP) are left out:
 * the first name of a value is the one the kernel documents.
 */
#ifndef NETIO_ERRNO_NAMES_H
#define NETIO_ERRNO_NAMES_H

#include <errno.h>

struct errno_name_s {
  int value;
  const char *name;
};

#define ERRNO_NAME(e) {e, #e},
static const struct errno_name_s errno_names[] = {
#ifdef EPERM
    ERRNO_NAME(EPERM)
#endif
#ifdef ENOENT
    ERRNO_NAME(ENOENT)
#endif
#ifdef ESRCH
    ERRNO_NAME(ESRCH)
#endif
#ifdef EINTR
    ERRNO_NAME(EINTR)
#endif
#ifdef EIO
    ERRNO_NAME(EIO)
#endif
#ifdef ENXIO
    ERRNO_NAME(ENXIO)
#endif
#ifdef E2BIG
    ERRNO_NAME(E2BIG)
#endif
#ifdef ENOEXEC
    ERRNO_NAME(ENOEXEC)
#endif
#ifdef EBADF
    ERRNO_NAME(EBADF)
#endif
#ifdef ECHILD
    ERRNO_NAME(ECHILD)
#endif
#ifdef EAGAIN
    ERRNO_NAME(EAGAIN)
#endif
#ifdef ENOMEM
    ERRNO_NAME(ENOMEM)
#endif
#ifdef EACCES
    ERRNO_NAME(EACCES)
#endif
#ifdef EFAULT
    ERRNO_NAME(EFAULT)
#endif
#ifdef ENOTBLK
    ERRNO_NAME(ENOTBLK)
#endif
#ifdef EBUSY
    ERRNO_NAME(EBUSY)
#endif
#ifdef EEXIST
    ERRNO_NAME(EEXIST)
#endif
#ifdef EXDEV
    ERRNO_NAME(EXDEV)
#endif
#ifdef ENODEV
    ERRNO_NAME(ENODEV)
#endif
#ifdef ENOTDIR
    ERRNO_NAME(ENOTDIR)
#endif
#ifdef EISDIR
    ERRNO_NAME(EISDIR)
#endif
#ifdef EINVAL
    ERRNO_NAME(EINVAL)
#endif
#ifdef ENFILE
    ERRNO_NAME(ENFILE)
#endif
#ifdef EMFILE
    ERRNO_NAME(EMFILE)
#endif
#ifdef ENOTTY
    ERRNO_NAME(ENOTTY)
#endif
#ifdef ETXTBSY
    ERRNO_NAME(ETXTBSY)
#endif
#ifdef EFBIG
    ERRNO_NAME(EFBIG)
#endif
#ifdef ENOSPC
    ERRNO_NAME(ENOSPC)
#endif
#ifdef ESPIPE
    ERRNO_NAME(ESPIPE)
#endif
#ifdef EROFS
    ERRNO_NAME(EROFS)
#endif
#ifdef EMLINK
    ERRNO_NAME(EMLINK)
#endif
#ifdef EPIPE
    ERRNO_NAME(EPIPE)
#endif
#ifdef EDOM
    ERRNO_NAME(EDOM)
#endif
#ifdef ERANGE
    ERRNO_NAME(ERANGE)
#endif
#ifdef EDEADLK
    ERRNO_NAME(EDEADLK)
#endif
#ifdef ENAMETOOLONG
    ERRNO_NAME(ENAMETOOLONG)
#endif
#ifdef ENOLCK
    ERRNO_NAME(ENOLCK)
#endif
#ifdef ENOSYS
    ERRNO_NAME(ENOSYS)
#endif
#ifdef ENOTEMPTY
    ERRNO_NAME(ENOTEMPTY)
#endif
#ifdef ELOOP
    ERRNO_NAME(ELOOP)
#endif
#ifdef ENOMSG
    ERRNO_NAME(ENOMSG)
#endif
#ifdef EIDRM
    ERRNO_NAME(EIDRM)
#endif
#ifdef ECHRNG
    ERRNO_NAME(ECHRNG)
#endif
#ifdef EL2NSYNC
    ERRNO_NAME(EL2NSYNC)
#endif
#ifdef EL3HLT
    ERRNO_NAME(EL3HLT)
#endif
#ifdef EL3RST
    ERRNO_NAME(EL3RST)
#endif
#ifdef ELNRNG
    ERRNO_NAME(ELNRNG)
#endif
#ifdef EUNATCH
    ERRNO_NAME(EUNATCH)
#endif
#ifdef ENOCSI
    ERRNO_NAME(ENOCSI)
#endif
#ifdef EL2HLT
    ERRNO_NAME(EL2HLT)
#endif
#ifdef EBADE
    ERRNO_NAME(EBADE)
#endif
#ifdef EBADR
    ERRNO_NAME(EBADR)
#endif
#ifdef EXFULL
    ERRNO_NAME(EXFULL)
#endif
#ifdef ENOANO
    ERRNO_NAME(ENOANO)
#endif
#ifdef EBADRQC
    ERRNO_NAME(EBADRQC)
#endif
#ifdef EBADSLT
    ERRNO_NAME(EBADSLT)
#endif
#ifdef EBFONT
    ERRNO_NAME(EBFONT)
#endif
#ifdef ENOSTR
    ERRNO_NAME(ENOSTR)
#endif
#ifdef ENODATA
    ERRNO_NAME(ENODATA)
#endif
#ifdef ETIME
    ERRNO_NAME(ETIME)
#endif
#ifdef ENOSR
    ERRNO_NAME(ENOSR)
#endif
#ifdef ENONET
    ERRNO_NAME(ENONET)
#endif
#ifdef ENOPKG
    ERRNO_NAME(ENOPKG)
#endif
#ifdef EREMOTE
    ERRNO_NAME(EREMOTE)
#endif
#ifdef ENOLINK
    ERRNO_NAME(ENOLINK)
#endif
#ifdef EADV
    ERRNO_NAME(EADV)
#endif
#ifdef ESRMNT
    ERRNO_NAME(ESRMNT)
#endif
#ifdef ECOMM
    ERRNO_NAME(ECOMM)
#endif
#ifdef EPROTO
    ERRNO_NAME(EPROTO)
#endif
#ifdef EMULTIHOP
    ERRNO_NAME(EMULTIHOP)
#endif
#ifdef EDOTDOT
    ERRNO_NAME(EDOTDOT)
#endif
#ifdef EBADMSG
    ERRNO_NAME(EBADMSG)
#endif
#ifdef EOVERFLOW
    ERRNO_NAME(EOVERFLOW)
#endif
#ifdef ENOTUNIQ
    ERRNO_NAME(ENOTUNIQ)
#endif
#ifdef EBADFD
    ERRNO_NAME(EBADFD)
#endif
#ifdef EREMCHG
    ERRNO_NAME(EREMCHG)
#endif
#ifdef ELIBACC
    ERRNO_NAME(ELIBACC)
#endif
#ifdef ELIBBAD
    ERRNO_NAME(ELIBBAD)
#endif
#ifdef ELIBSCN
    ERRNO_NAME(ELIBSCN)
#endif
#ifdef ELIBMAX
    ERRNO_NAME(ELIBMAX)
#endif
#ifdef ELIBEXEC
    ERRNO_NAME(ELIBEXEC)
#endif
#ifdef EILSEQ
    ERRNO_NAME(EILSEQ)
#endif
#ifdef ERESTART
    ERRNO_NAME(ERESTART)
#endif
#ifdef ESTRPIPE
    ERRNO_NAME(ESTRPIPE)
#endif
#ifdef EUSERS
    ERRNO_NAME(EUSERS)
#endif
#ifdef ENOTSOCK
    ERRNO_NAME(ENOTSOCK)
#endif
#ifdef EDESTADDRREQ
    ERRNO_NAME(EDESTADDRREQ)
#endif
#ifdef EMSGSIZE
    ERRNO_NAME(EMSGSIZE)
#endif
#ifdef EPROTOTYPE
    ERRNO_NAME(EPROTOTYPE)
#endif
#ifdef ENOPROTOOPT
    ERRNO_NAME(ENOPROTOOPT)
#endif
#ifdef EPROTONOSUPPORT
    ERRNO_NAME(EPROTONOSUPPORT)
#endif
#ifdef ESOCKTNOSUPPORT
    ERRNO_NAME(ESOCKTNOSUPPORT)
#endif
#ifdef EOPNOTSUPP
    ERRNO_NAME(EOPNOTSUPP)
#endif
#ifdef EPFNOSUPPORT
    ERRNO_NAME(EPFNOSUPPORT)
#endif
#ifdef EAFNOSUPPORT
    ERRNO_NAME(EAFNOSUPPORT)
#endif
#ifdef EADDRINUSE
    ERRNO_NAME(EADDRINUSE)
#endif
#ifdef EADDRNOTAVAIL
    ERRNO_NAME(EADDRNOTAVAIL)
#endif
#ifdef ENETDOWN
    ERRNO_NAME(ENETDOWN)
#endif
#ifdef ENETUNREACH
    ERRNO_NAME(ENETUNREACH)
#endif
#ifdef ENETRESET
    ERRNO_NAME(ENETRESET)
#endif
#ifdef ECONNABORTED
    ERRNO_NAME(ECONNABORTED)
#endif
#ifdef ECONNRESET
    ERRNO_NAME(ECONNRESET)
#endif
#ifdef ENOBUFS
    ERRNO_NAME(ENOBUFS)
#endif
#ifdef EISCONN
    ERRNO_NAME(EISCONN)
#endif
#ifdef ENOTCONN
    ERRNO_NAME(ENOTCONN)
#endif
#ifdef ESHUTDOWN
    ERRNO_NAME(ESHUTDOWN)
#endif
#ifdef ETOOMANYREFS
    ERRNO_NAME(ETOOMANYREFS)
#endif
#ifdef ETIMEDOUT
    ERRNO_NAME(ETIMEDOUT)
#endif
#ifdef ECONNREFUSED
    ERRNO_NAME(ECONNREFUSED)
#endif
#ifdef EHOSTDOWN
    ERRNO_NAME(EHOSTDOWN)
#endif
#ifdef EHOSTUNREACH
    ERRNO_NAME(EHOSTUNREACH)
#endif
#ifdef EALREADY
    ERRNO_NAME(EALREADY)
#endif
#ifdef EINPROGRESS
    ERRNO_NAME(EINPROGRESS)
#endif
#ifdef ESTALE
    ERRNO_NAME(ESTALE)
#endif
#ifdef EUCLEAN
    ERRNO_NAME(EUCLEAN)
#endif
#ifdef ENOTNAM
    ERRNO_NAME(ENOTNAM)
#endif
#ifdef ENAVAIL
    ERRNO_NAME(ENAVAIL)
#endif
#ifdef EISNAM
    ERRNO_NAME(EISNAM)
#endif
#ifdef EREMOTEIO
    ERRNO_NAME(EREMOTEIO)
#endif
#ifdef EDQUOT
    ERRNO_NAME(EDQUOT)
#endif
#ifdef ENOMEDIUM
    ERRNO_NAME(ENOMEDIUM)
#endif
#ifdef EMEDIUMTYPE
    ERRNO_NAME(EMEDIUMTYPE)
#endif
#ifdef ECANCELED
    ERRNO_NAME(ECANCELED)
#endif
#ifdef ENOKEY
    ERRNO_NAME(ENOKEY)
#endif
#ifdef EKEYEXPIRED
    ERRNO_NAME(EKEYEXPIRED)
#endif
#ifdef EKEYREVOKED
    ERRNO_NAME(EKEYREVOKED)
#endif
#ifdef EKEYREJECTED
    ERRNO_NAME(EKEYREJECTED)
#endif
#ifdef EOWNERDEAD
    ERRNO_NAME(EOWNERDEAD)
#endif
#ifdef ENOTRECOVERABLE
    ERRNO_NAME(ENOTRECOVERABLE)
#endif
#ifdef ERFKILL
    ERRNO_NAME(ERFKILL)
#endif
#ifdef EHWPOISON
    ERRNO_NAME(EHWPOISON)
#endif
};
#undef ERRNO_NAME

/* The name of `err`, or NULL when it is not a Linux errno this table knows. */
static const char *errno_table_name(int err) {
  for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
    if (errno_names[i].value == err) return errno_names[i].name;
  return NULL;
}

#endif
