/*
 * The size and offset of every kernel struct the TypeScript side packs or parses
 * (src/kernel/structs), as this compiler lays them out for its ABI. One list, two users:
 * native/layouts.c exports it from the addon (checked against the TypeScript tables when the
 * addon loads), and test/fixtures/layout-probe.c compiles it for other ABIs (gcc -m32,
 * arm-linux-gnueabihf-gcc, musl-gcc) to prove the TypeScript tables for them too
 * (docs/kernel.md "Struct layouts").
 *
 * Only the kernel's UAPI headers are included (no C library networking headers), so the
 * structs are the kernel's own definitions and the list compiles the same with glibc and
 * musl. The names are "struct" for sizeof and "struct.field" for offsetof.
 */
#ifndef NETIO_LAYOUTS_H
#define NETIO_LAYOUTS_H

#include <stddef.h>
#include <linux/icmpv6.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/mroute.h>
#include <linux/mroute6.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#define NETIO_SIZE(s) X(#s, sizeof(struct s))
#define NETIO_OFF(s, f) X(#s "." #f, offsetof(struct s, f))

/* X(name, value) for each entry; define X before expanding NETIO_LAYOUTS. */
#define NETIO_LAYOUTS                                                                       \
  X("long", sizeof(long))                                                                   \
  X("__kernel_sockaddr_storage.align", _Alignof(struct __kernel_sockaddr_storage))         \
  NETIO_SIZE(__kernel_sockaddr_storage)                                                     \
  NETIO_SIZE(sockaddr_in)                                                                   \
  NETIO_OFF(sockaddr_in, sin_port)                                                          \
  NETIO_OFF(sockaddr_in, sin_addr)                                                          \
  NETIO_SIZE(sockaddr_in6)                                                                  \
  NETIO_OFF(sockaddr_in6, sin6_port)                                                        \
  NETIO_OFF(sockaddr_in6, sin6_flowinfo)                                                    \
  NETIO_OFF(sockaddr_in6, sin6_addr)                                                        \
  NETIO_OFF(sockaddr_in6, sin6_scope_id)                                                    \
  NETIO_SIZE(sockaddr_nl)                                                                   \
  NETIO_OFF(sockaddr_nl, nl_pid)                                                            \
  NETIO_OFF(sockaddr_nl, nl_groups)                                                         \
  NETIO_SIZE(group_req)                                                                     \
  NETIO_OFF(group_req, gr_group)                                                            \
  NETIO_SIZE(group_source_req)                                                              \
  NETIO_OFF(group_source_req, gsr_group)                                                    \
  NETIO_OFF(group_source_req, gsr_source)                                                   \
  NETIO_SIZE(group_filter)                                                                  \
  NETIO_OFF(group_filter, gf_group)                                                         \
  NETIO_OFF(group_filter, gf_fmode)                                                         \
  NETIO_OFF(group_filter, gf_numsrc)                                                        \
  NETIO_OFF(group_filter, gf_slist)                                                         \
  NETIO_SIZE(ip_mreqn)                                                                      \
  NETIO_OFF(ip_mreqn, imr_address)                                                          \
  NETIO_OFF(ip_mreqn, imr_ifindex)                                                          \
  NETIO_SIZE(ipv6_mreq)                                                                     \
  NETIO_OFF(ipv6_mreq, ipv6mr_ifindex)                                                      \
  NETIO_SIZE(icmp6_filter)                                                                  \
  NETIO_SIZE(vifctl)                                                                        \
  NETIO_OFF(vifctl, vifc_flags)                                                             \
  NETIO_OFF(vifctl, vifc_threshold)                                                         \
  NETIO_OFF(vifctl, vifc_rate_limit)                                                        \
  NETIO_OFF(vifctl, vifc_lcl_ifindex)                                                       \
  NETIO_OFF(vifctl, vifc_rmt_addr)                                                          \
  NETIO_SIZE(mfcctl)                                                                        \
  NETIO_OFF(mfcctl, mfcc_mcastgrp)                                                          \
  NETIO_OFF(mfcctl, mfcc_parent)                                                            \
  NETIO_OFF(mfcctl, mfcc_ttls)                                                              \
  NETIO_OFF(mfcctl, mfcc_pkt_cnt)                                                           \
  NETIO_OFF(mfcctl, mfcc_byte_cnt)                                                          \
  NETIO_OFF(mfcctl, mfcc_wrong_if)                                                          \
  NETIO_OFF(mfcctl, mfcc_expire)                                                            \
  NETIO_SIZE(igmpmsg)                                                                       \
  NETIO_OFF(igmpmsg, im_msgtype)                                                            \
  NETIO_OFF(igmpmsg, im_mbz)                                                                \
  NETIO_OFF(igmpmsg, im_vif)                                                                \
  NETIO_OFF(igmpmsg, im_vif_hi)                                                             \
  NETIO_OFF(igmpmsg, im_src)                                                                \
  NETIO_OFF(igmpmsg, im_dst)                                                                \
  NETIO_SIZE(sioc_sg_req)                                                                   \
  NETIO_OFF(sioc_sg_req, grp)                                                               \
  NETIO_OFF(sioc_sg_req, pktcnt)                                                            \
  NETIO_OFF(sioc_sg_req, bytecnt)                                                           \
  NETIO_OFF(sioc_sg_req, wrong_if)                                                          \
  NETIO_SIZE(sioc_vif_req)                                                                  \
  NETIO_OFF(sioc_vif_req, icount)                                                           \
  NETIO_OFF(sioc_vif_req, ocount)                                                           \
  NETIO_OFF(sioc_vif_req, ibytes)                                                           \
  NETIO_OFF(sioc_vif_req, obytes)                                                           \
  NETIO_SIZE(mif6ctl)                                                                       \
  NETIO_OFF(mif6ctl, mif6c_flags)                                                           \
  NETIO_OFF(mif6ctl, vifc_threshold)                                                        \
  NETIO_OFF(mif6ctl, mif6c_pifi)                                                            \
  NETIO_OFF(mif6ctl, vifc_rate_limit)                                                       \
  NETIO_SIZE(mf6cctl)                                                                       \
  NETIO_OFF(mf6cctl, mf6cc_mcastgrp)                                                        \
  NETIO_OFF(mf6cctl, mf6cc_parent)                                                          \
  NETIO_OFF(mf6cctl, mf6cc_ifset)                                                           \
  NETIO_SIZE(mrt6msg)                                                                       \
  NETIO_OFF(mrt6msg, im6_msgtype)                                                           \
  NETIO_OFF(mrt6msg, im6_mif)                                                               \
  NETIO_OFF(mrt6msg, im6_src)                                                               \
  NETIO_OFF(mrt6msg, im6_dst)                                                               \
  NETIO_SIZE(sioc_sg_req6)                                                                  \
  NETIO_OFF(sioc_sg_req6, grp)                                                              \
  NETIO_OFF(sioc_sg_req6, pktcnt)                                                           \
  NETIO_OFF(sioc_sg_req6, bytecnt)                                                          \
  NETIO_OFF(sioc_sg_req6, wrong_if)                                                         \
  NETIO_SIZE(sioc_mif_req6)                                                                 \
  NETIO_OFF(sioc_mif_req6, icount)                                                          \
  NETIO_OFF(sioc_mif_req6, ocount)                                                          \
  NETIO_OFF(sioc_mif_req6, ibytes)                                                          \
  NETIO_OFF(sioc_mif_req6, obytes)                                                          \
  NETIO_SIZE(nlmsghdr)                                                                      \
  NETIO_SIZE(nlmsgerr)                                                                      \
  NETIO_SIZE(ifinfomsg)                                                                     \
  NETIO_SIZE(ifaddrmsg)                                                                     \
  NETIO_SIZE(rtattr)

#endif
