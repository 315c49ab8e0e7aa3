# IPv6 across a router: DAD (tentative, nodad), default routes via an IPv6 gateway,
# ping -6 through the router, hop limit exceeded, no route, local and ::1 pings, NDP state.
ip netns add a
ip netns add r
ip netns add b
ip -n a link add e0 address 02:00:00:00:0a:01 type veth peer name e0 address 02:00:00:00:01:01 netns r
ip -n b link add e0 address 02:00:00:00:0b:01 type veth peer name e1 address 02:00:00:00:01:02 netns r
for n in a r b; do ip -n $n link set lo up; done
ip -n a addr add 2001:db8:1::2/64 dev e0
ip -n r addr add 2001:db8:1::1/64 dev e0 nodad
ip -n r addr add 2001:db8:2::1/64 dev e1 nodad
ip -n b addr add 2001:db8:2::2/64 dev e0
ip -n a link set e0 up
ip -n b link set e0 up
ip -n r link set e0 up
ip -n r link set e1 up
ip -n a -6 addr show dev e0
ip -n r -6 addr show dev e0
sleep 3
ip -n a -6 addr show dev e0
ip -n a route add default via 2001:db8:1::1
ip -n b route add default via 2001:db8:2::1
ip netns exec r sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n a -6 route
ip -n a -6 -j route
ip netns exec a ping -c 2 -i 0.2 2001:db8:2::2
echo "status $?"
ip netns exec a ping -6 -c 1 -t 1 -W 1 2001:db8:2::2
echo "status $?"
ip netns exec a ping -c 1 -W 1 2001:db8:3::1
echo "status $?"
ip netns exec a ping -c 1 -W 1 2001:db8:1::1
echo "status $?"
ip netns exec a ping -c 1 -W 1 ::1
echo "status $?"
ip -n a -6 neigh
ip -n r -6 -j neigh show dev e0
ip -n r -6 -j neigh show dev e1
ip -n b -6 neigh show 2001:db8:2::1
ip -n b -6 neigh show fe80::ff:fe00:102
