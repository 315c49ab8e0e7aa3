// Thin wrappers around variadic or struct-heavy Linux calls (see the header).
#define _GNU_SOURCE
#include "CNetstackHost.h"
#include <string.h>
#include <sys/ioctl.h>
#include <errno.h>
#include <malloc.h>

int cnh_tunsetiff(int fd, const char *name, short flags, char *nameOut) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (name) strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_flags = flags;
    int r = ioctl(fd, TUNSETIFF, &ifr);
    if (r == 0 && nameOut) memcpy(nameOut, ifr.ifr_name, IFNAMSIZ);
    return r;
}

int cnh_tunsetoffload(int fd, unsigned int offloads) {
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads);
}

int cnh_tunsetvnethdrsz(int fd, int size) {
    return ioctl(fd, TUNSETVNETHDRSZ, &size);
}

int cnh_signalfd(uint64_t signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int s = 1; s < 64; s++) if (signals & (1ULL << s)) sigaddset(&set, s);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

long cnh_peer_uid(int fd) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    return (long)cred.uid;
}

int cnh_malloc_keep(int mmapThreshold, int trimThreshold) {
    return mallopt(M_MMAP_THRESHOLD, mmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, trimThreshold) == 1;
}
