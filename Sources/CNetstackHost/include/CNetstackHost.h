// The Linux interfaces NetstackHost needs that Swift's Glibc module does
// not export: epoll, signalfd, TUN/TAP ioctls, virtio_net_hdr. Only
// declarations and thin non-variadic wrappers; every call goes through
// NetstackHost's HostSystem seam.
#ifndef CNETSTACKHOST_H
#define CNETSTACKHOST_H

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <signal.h>
#include <stdint.h>

/// ioctl(fd, TUNSETIFF, ifr) with a name and IFF_* flags; 0 or -1/errno.
int cnh_tunsetiff(int fd, const char *name, short flags, char *nameOut);
/// ioctl(fd, TUNSETOFFLOAD, offloads).
int cnh_tunsetoffload(int fd, unsigned int offloads);
/// ioctl(fd, TUNSETVNETHDRSZ, &size).
int cnh_tunsetvnethdrsz(int fd, int size);
/// Blocks `signals` (a bit per signal number) and returns a signalfd for them.
int cnh_signalfd(uint64_t signals);
/// The peer's uid on a connected Unix socket, or -1.
long cnh_peer_uid(int fd);
/// mallopt(M_MMAP_THRESHOLD, mmapThreshold) and (M_TRIM_THRESHOLD,
/// trimThreshold); 1 when both were taken.
int cnh_malloc_keep(int mmapThreshold, int trimThreshold);

#endif
