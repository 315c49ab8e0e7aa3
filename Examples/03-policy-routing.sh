#!/bin/sh
# Source-based policy routing over two uplinks.
#
# A host with two uplinks (isp1, isp2) sends traffic from each source
# address out of the matching uplink: one routing table per uplink, and
# `ip rule from ADDR lookup TABLE` to choose it.
set -e
ip netns add host
ip netns add isp1
ip netns add isp2
ip -n host link add up1 address 02:00:00:00:00:11 type veth peer name wan address 02:00:00:00:01:11 netns isp1
ip -n host link add up2 address 02:00:00:00:00:12 type veth peer name wan address 02:00:00:00:02:12 netns isp2
ip -n host addr add 192.0.2.10/24 dev up1
ip -n host addr add 198.51.100.10/24 dev up2
ip -n isp1 addr add 192.0.2.1/24 dev wan
ip -n isp2 addr add 198.51.100.1/24 dev wan
for n in host isp1 isp2; do ip -n $n link set lo up; done
ip -n host link set up1 up
ip -n host link set up2 up
ip -n isp1 link set wan up
ip -n isp2 link set wan up

# The main table's default goes to isp1.
ip -n host route add default via 192.0.2.1
# Table 100 for isp1, table 200 for isp2.
ip -n host route add default via 192.0.2.1 dev up1 table 100
ip -n host route add default via 198.51.100.1 dev up2 table 200
ip -n host rule add from 192.0.2.10 lookup 100 pref 1000
ip -n host rule add from 198.51.100.10 lookup 200 pref 1001
# Marked traffic (e.g. by a firewall) also goes to isp2.
ip -n host rule add fwmark 0x2 lookup 200 pref 1002

ip -n host rule show
ip -n host route show table 200

# The same destination, three decisions.
ip -n host route get 203.0.113.7
ip -n host route get 203.0.113.7 from 198.51.100.10
ip -n host route get 203.0.113.7 mark 2
