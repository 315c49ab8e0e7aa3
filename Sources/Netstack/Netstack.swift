// Netstack: the kernel, sans-IO.
//
// What it promises
// - The Linux packet path (DESIGN.md §2) as straight-line Swift: receive,
//   route, netfilter hooks, local delivery, output, neighbour resolution,
//   queueing, transmit — with Linux's names for functions, drop reasons and
//   counters.
// - Nothing in this module reads a clock or calls the OS. Time arrives as an
//   `Instant` argument; every component can say when it next needs to run.
// - The packet moves as a noncopyable `PacketBuffer` (sk_buff), owned by one
//   shard at a time, drawn from that shard's `PacketPool`; in steady state no
//   packet costs a heap allocation (tested).
//
// Kernel counterpart: net/core (skbuff.c, dev.c, drop reasons, SNMP MIBs) and,
// as later work lands, net/ipv4, net/ipv6, net/netfilter, net/sched. Folders
// inside this module mirror Linux's net/.
