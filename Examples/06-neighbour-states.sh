#!/bin/sh
# A neighbour entry's life: REACHABLE → STALE → DELAY → PROBE → REACHABLE.
#
# After base_reachable_time (here 2 s, randomised to 1–3 s) without
# confirmation the entry goes STALE. The next packet sent to it moves it to
# DELAY; if nothing confirms it within delay_first_probe_time (5 s) it
# goes to PROBE and a unicast ARP request confirms it again.
set -e
ip netns add h1
ip netns add h2
ip -n h1 link add veth0 address 02:00:00:00:01:01 type veth peer name veth0 address 02:00:00:00:02:01 netns h2
ip -n h1 addr add 10.0.0.1/24 dev veth0
ip -n h2 addr add 10.0.0.2/24 dev veth0
ip -n h1 link set veth0 up
ip -n h2 link set veth0 up
ip netns exec h1 sysctl -qw net.ipv4.neigh.veth0.base_reachable_time_ms=2000

ip netns exec h1 ping -c 1 10.0.0.2 > /dev/null
ip -n h1 neigh show 10.0.0.2
sleep 10
ip -n h1 neigh show 10.0.0.2
# One UDP datagram (no reply) uses the stale entry: DELAY.
echo hi | ip netns exec h1 nc -u -w 0 10.0.0.2 9
ip -n h1 neigh show 10.0.0.2
sleep 6
ip -n h1 neigh show 10.0.0.2
