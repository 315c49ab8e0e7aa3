#!/bin/sh
# IPv6 addresses when a link goes down (addrconf_ifdown): with the default
# keep_addr_on_down=0 every address goes, the link-local one included, and
# only the link-local address comes back (with DAD) when the link comes up.
# With keep_addr_on_down=1 global addresses stay (and redo DAD when the
# link comes up again); the link-local address still goes and comes back.
# The sleeps are 5 s: on a loaded machine Linux's carrier event (linkwatch,
# up to 1 s late) plus DAD's random delay and probe took longer than 3 s.
set -e
ip netns add a
ip netns add b
ip -n a link add veth0 address 02:00:00:00:00:0a type veth peer name veth0 address 02:00:00:00:00:0b netns b
ip -n a link set veth0 up
ip -n b link set veth0 up
ip -n a addr add 2001:db8::1/64 dev veth0 nodad
ip -n a addr add 2001:db8:1::1/64 dev veth0
ip -n a addr add 10.0.0.1/24 dev veth0
sleep 5
echo "== up"
ip -n a -6 addr show dev veth0
ip -n a -6 route show
echo "== down"
ip -n a link set veth0 down
ip -n a addr show dev veth0
ip -n a -6 route show
ip -n a -6 route show table local
echo "== up again"
ip -n a link set veth0 up
ip -n a -6 addr show dev veth0
sleep 5
ip -n a -6 addr show dev veth0
ip -n a -6 route show
# The peer keeps its addresses: only carrier went.
ip -n b -6 addr show dev veth0

echo "== keep_addr_on_down=1"
ip netns exec a sysctl -w net.ipv6.conf.veth0.keep_addr_on_down=1
ip netns exec a sysctl net.ipv6.conf.all.keep_addr_on_down net.ipv6.conf.default.keep_addr_on_down
ip -n a addr add 2001:db8::1/64 dev veth0 nodad
ip -n a addr add 2001:db8:1::1/64 dev veth0
sleep 5
ip -n a link set veth0 down
ip -n a -6 addr show dev veth0
ip -n a -6 route show
ip -n a link set veth0 up
ip -n a -6 addr show dev veth0
sleep 5
ip -n a -6 addr show dev veth0
ip -n a -6 route show
ip -n a -6 route show table local

echo "== neighbours on down"
ip -n a addr add 2001:db8:2::1/64 dev veth0 nodad
ip -n b addr add 2001:db8:2::2/64 dev veth0 nodad
ip -n b addr add 10.0.0.2/24 dev veth0
ip netns exec a sysctl -qw net.ipv4.neigh.veth0.ucast_solicit=5
ip -n a neigh add 10.0.0.9 lladdr 02:00:00:00:00:09 dev veth0
ip -n a neigh add 2001:db8:2::9 lladdr 02:00:00:00:00:09 dev veth0 nud stale
ip -n a neigh add proxy 10.0.0.7 dev veth0
ip netns exec a ping -c 1 10.0.0.2 > /dev/null
ip netns exec a ping -c 1 2001:db8:2::2 > /dev/null
# (one at a time: a dump walks Linux's randomly keyed hash)
ip -n a neigh show 10.0.0.9
ip -n a neigh show 10.0.0.2
ip -n a neigh show 2001:db8:2::9
ip -n a neigh show 2001:db8:2::2
ip -n a neigh show proxy
# Down: every entry goes, PERMANENT and proxy ones too; the parameters stay.
ip -n a link set veth0 down
ip -n a neigh show
ip -n a neigh show proxy
ip netns exec a sysctl net.ipv4.neigh.veth0.ucast_solicit
ip -n a link set veth0 up

# disable_ipv6 takes every IPv6 address, route and ND entry of the device
# (keep_addr_on_down notwithstanding); enabling it again brings only the
# link-local address back.
echo "== disable_ipv6"
sleep 5
ip -n a -6 addr show dev veth0
ip netns exec a ping -c 1 2001:db8:2::2 > /dev/null
ip netns exec a sysctl -w net.ipv6.conf.veth0.disable_ipv6=1
ip -n a -6 addr show dev veth0
ip -n a -6 route show
ip -n a -6 neigh show
ip netns exec a sysctl -w net.ipv6.conf.veth0.disable_ipv6=0
ip -n a -6 addr show dev veth0
sleep 5
ip -n a -6 addr show dev veth0
ip -n a -6 route show
ip -n a -6 route show table local
ip -n a addr show dev veth0

# Carrier loss (the peer goes down) takes the entries but PERMANENT and
# proxy ones; addresses stay, routes are marked linkdown. Linux acts from
# linkwatch a moment later, hence the sleep.
echo "== carrier down"
ip -n a neigh add 10.0.0.9 lladdr 02:00:00:00:00:09 dev veth0
ip -n a neigh add 10.0.0.8 lladdr 02:00:00:00:00:08 dev veth0 nud stale
ip -n a neigh add proxy 10.0.0.7 dev veth0
ip netns exec a ping -c 1 10.0.0.2 > /dev/null
ip -n b link set veth0 down
sleep 2
ip -n a neigh show 10.0.0.9
ip -n a neigh show 10.0.0.8
ip -n a neigh show 10.0.0.2
ip -n a neigh show proxy
ip -n a -6 addr show dev veth0
ip -n a -6 route show
