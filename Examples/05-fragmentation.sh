#!/bin/sh
# Fragmentation and path MTU.
#
# a ── r ── b, where the r–b link has MTU 1400. A 1472-byte ping (a
# 1500-byte packet) is fragmented by the router; with DF set (-M do) the
# router answers "Frag needed" and the sender learns the path MTU.
set -e
ip netns add a
ip netns add r
ip netns add b
ip -n a link add eth0 address 02:00:00:00:0a:01 type veth peer name eth0 address 02:00:00:00:01:01 netns r
ip -n b link add eth0 address 02:00:00:00:0b:01 type veth peer name eth1 address 02:00:00:00:01:02 netns r
ip -n r link set eth1 mtu 1400
ip -n b link set eth0 mtu 1400
ip -n a addr add 10.1.0.2/24 dev eth0
ip -n r addr add 10.1.0.1/24 dev eth0
ip -n r addr add 10.2.0.1/24 dev eth1
ip -n b addr add 10.2.0.2/24 dev eth0
for n in a r b; do ip -n $n link set lo up; done
ip -n a link set eth0 up
ip -n b link set eth0 up
ip -n r link set eth0 up
ip -n r link set eth1 up
ip -n a route add default via 10.1.0.1
ip -n b route add default via 10.2.0.1
ip netns exec r sysctl -qw net.ipv4.ip_forward=1

# Without DF the router fragments: the reply comes back (b fragments it too).
ip netns exec a ping -c 1 -s 1472 -M dont 10.2.0.2

# With DF the router refuses and says why.
ip netns exec a ping -c 1 -s 1472 -M do -W 1 10.2.0.2 || true
