#!/bin/sh
# A router between two subnets.
#
# a (10.1.0.2) ── r (10.1.0.1 | 10.2.0.1) ── b (10.2.0.2)
#
# The router forwards only after net.ipv4.ip_forward=1; before that it
# drops packets that are not for it (counted as InAddrErrors).
set -e
ip netns add a
ip netns add r
ip netns add b
ip -n a link add eth0 address 02:00:00:00:0a:01 type veth peer name eth0 address 02:00:00:00:01:01 netns r
ip -n b link add eth0 address 02:00:00:00:0b:01 type veth peer name eth1 address 02:00:00:00:01:02 netns r
ip -n a addr add 10.1.0.2/24 dev eth0
ip -n r addr add 10.1.0.1/24 dev eth0
ip -n r addr add 10.2.0.1/24 dev eth1
ip -n b addr add 10.2.0.2/24 dev eth0
for n in a r b; do ip -n $n link set lo up; done
ip -n a link set eth0 up
ip -n b link set eth0 up
ip -n r link set eth0 up
ip -n r link set eth1 up

# Hosts send everything off-link to the router.
ip -n a route add default via 10.1.0.1
ip -n b route add default via 10.2.0.1

# Forwarding is off by default: the ping gets no answer.
ip netns exec a ping -c 1 -W 1 10.2.0.2 || echo "no reply while forwarding is off"

ip netns exec r sysctl -w net.ipv4.ip_forward=1
ip netns exec a ping -c 2 -i 0.2 10.2.0.2

# The router's view of the path, as the kernel decides it.
ip -n r route get 10.2.0.2 from 10.1.0.2 iif eth0

# TTL 1 expires at the router: it answers with ICMP time exceeded.
ip netns exec a ping -c 1 -t 1 -W 1 10.2.0.2 || true
