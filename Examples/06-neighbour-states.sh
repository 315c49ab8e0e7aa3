#!/bin/sh
# A neighbour entry's life: REACHABLE → STALE → DELAY → PROBE → REACHABLE.
#
# An entry confirmed by an ARP reply is REACHABLE for reachable_time, a
# random draw in [base/2, 3·base/2] (here base_reachable_time 4 s: 2–6 s).
# When that runs out, the entry goes DELAY if it was used within
# delay_first_probe_time, else STALE. Becoming REACHABLE counts as use, so
# with the default delay_first_probe_time (5 s) and a short base the entry
# cycles REACHABLE → DELAY → PROBE → REACHABLE forever; with 1 s it goes
# STALE. Traffic through a REACHABLE entry does not count as use either.
#
# The next packet sent through a STALE entry moves it to DELAY; when
# nothing confirms it within delay_first_probe_time it goes PROBE and sends
# unicast ARP requests every retrans_time (here 2 s). h2 ignores ARP for a
# while (arp_ignore 8), so the entry stays in PROBE until h2 answers again.
#
# h2 learnt h1 from h1's ARP request (STALE) and answered the ping through
# it: DELAY at once, then its own probe makes it REACHABLE after 5 s.
# The samples sit well away from every transition, so the output is the
# same whatever reachable_time Linux draws.
set -e
ip netns add h1
ip netns add h2
ip -n h1 link add veth0 address 02:00:00:00:01:01 type veth peer name veth0 address 02:00:00:00:02:01 netns h2
ip -n h1 addr add 10.0.0.1/24 dev veth0
ip -n h2 addr add 10.0.0.2/24 dev veth0
ip -n h1 link set veth0 up
ip -n h2 link set veth0 up
ip netns exec h1 sysctl -qw net.ipv4.neigh.veth0.base_reachable_time_ms=4000
ip netns exec h1 sysctl -qw net.ipv4.neigh.veth0.delay_first_probe_time=1
ip netns exec h1 sysctl -qw net.ipv4.neigh.veth0.retrans_time_ms=2000

# t=0: resolved by the ping.
ip netns exec h1 ping -c 1 10.0.0.2 > /dev/null
ip -n h1 neigh show 10.0.0.2
ip -n h2 neigh show 10.0.0.1
# t=8: reachable_time (at most 6 s) ran out with no use since: STALE.
sleep 8
ip -n h1 neigh show 10.0.0.2
ip -n h2 neigh show 10.0.0.1
# One UDP datagram uses the stale entry: DELAY.
ip netns exec h2 sysctl -qw net.ipv4.conf.veth0.arp_ignore=8
echo hi | ip netns exec h1 nc -u -w 0 10.0.0.2 9
ip -n h1 neigh show 10.0.0.2
# t=10: no confirmation within 1 s: PROBE (probes at t=9, 11, 13).
sleep 2
ip -n h1 neigh show 10.0.0.2
# h2 answers the probe at t=11: REACHABLE again.
ip netns exec h2 sysctl -qw net.ipv4.conf.veth0.arp_ignore=0
sleep 2
ip -n h1 neigh show 10.0.0.2
