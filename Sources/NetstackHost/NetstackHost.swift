// NetstackHost: the one module that touches the operating system.
//
// What it promises
// - Every syscall the stack makes sits behind one seam (`HostSystem`) that
//   tests can record or make fail.
// - Capture files (pcap, pcapng) written from any device and read back.
// - Later: TAP/TUN (with IFF_VNET_HDR offloads), AF_PACKET, epoll, threads
//   per shard, the monotonic clock, the control socket.
//
// Kernel counterpart: the edges of the stack — drivers/net/tun.c on the far
// side of the fd, and net/packet for capture.
