#!/bin/sh
# Equal-cost multipath: one prefix, two next hops.
#
# With net.ipv4.fib_multipath_hash_policy=1 the hash covers ports, so
# different flows to the same host may take different paths; each flow
# always takes the same one.
set -e
ip netns add r
ip netns add n1
ip netns add n2
ip -n r link add e1 address 02:00:00:00:00:01 type veth peer name e0 address 02:00:00:00:01:00 netns n1
ip -n r link add e2 address 02:00:00:00:00:02 type veth peer name e0 address 02:00:00:00:02:00 netns n2
ip -n r addr add 10.0.1.1/24 dev e1
ip -n r addr add 10.0.2.1/24 dev e2
ip -n r link set e1 up
ip -n r link set e2 up
ip -n n1 link set e0 up
ip -n n2 link set e0 up

ip -n r route add 172.16.0.0/16 nexthop via 10.0.1.2 dev e1 weight 1 nexthop via 10.0.2.2 dev e2 weight 1
ip -n r route show 172.16.0.0/16
ip netns exec r sysctl -w net.ipv4.fib_multipath_hash_policy=1

# The same flow asked twice gets the same next hop.
ip -n r route get 172.16.5.5 ipproto udp sport 1000 dport 53
ip -n r route get 172.16.5.5 ipproto udp sport 1000 dport 53
