#!/bin/sh
# Two hosts on a veth pair: the smallest network there is.
#
# h1 (10.0.0.1) ── veth ── h2 (10.0.0.2)
#
# Run it here:   netstack lab Examples/01-two-hosts.sh
# Run it on Linux (as root) for comparison:  sh Examples/01-two-hosts.sh
set -e

# Each namespace is a separate host with its own devices, routes and ARP table.
ip netns add h1
ip netns add h2

# A veth pair is a cable: what goes in one end comes out of the other.
# Fixed MAC addresses keep the output the same on every run.
ip -n h1 link add veth0 address 02:00:00:00:01:01 type veth peer name veth0 address 02:00:00:00:02:01 netns h2

ip -n h1 addr add 10.0.0.1/24 dev veth0
ip -n h2 addr add 10.0.0.2/24 dev veth0
for h in h1 h2; do
    ip -n $h link set lo up
    ip -n $h link set veth0 up
done

# Adding an address made the kernel add a connected route (proto kernel).
ip -n h1 route show
ip -n h1 -br addr show dev veth0

# The first packet to 10.0.0.2 has to resolve its MAC with ARP first.
ip netns exec h1 ping -c 3 -i 0.2 10.0.0.2

# Now h1 knows h2's MAC: the neighbour entry is REACHABLE.
ip -n h1 neigh show dev veth0
