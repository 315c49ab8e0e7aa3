#!/bin/sh
# IPv6 addresses when a link goes down (addrconf_ifdown): with the default
# keep_addr_on_down=0 every address goes, the link-local one included, and
# only the link-local address comes back (with DAD) when the link comes up.
# With keep_addr_on_down=1 global addresses stay (and redo DAD when the
# link comes up again); the link-local address still goes and comes back.
set -e
ip netns add a
ip netns add b
ip -n a link add veth0 address 02:00:00:00:00:0a type veth peer name veth0 address 02:00:00:00:00:0b netns b
ip -n a link set veth0 up
ip -n b link set veth0 up
ip -n a addr add 2001:db8::1/64 dev veth0 nodad
ip -n a addr add 2001:db8:1::1/64 dev veth0
ip -n a addr add 10.0.0.1/24 dev veth0
sleep 3
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
sleep 3
ip -n a -6 addr show dev veth0
ip -n a -6 route show
# The peer keeps its addresses: only carrier went.
ip -n b -6 addr show dev veth0

echo "== keep_addr_on_down=1"
ip netns exec a sysctl -w net.ipv6.conf.veth0.keep_addr_on_down=1
ip netns exec a sysctl net.ipv6.conf.all.keep_addr_on_down net.ipv6.conf.default.keep_addr_on_down
ip -n a addr add 2001:db8::1/64 dev veth0 nodad
ip -n a addr add 2001:db8:1::1/64 dev veth0
sleep 3
ip -n a link set veth0 down
ip -n a -6 addr show dev veth0
ip -n a -6 route show
ip -n a link set veth0 up
ip -n a -6 addr show dev veth0
sleep 3
ip -n a -6 addr show dev veth0
ip -n a -6 route show
ip -n a -6 route show table local
