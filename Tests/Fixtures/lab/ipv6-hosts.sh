# IPv6 on one link: DAD failure (dadfailed tentative), the local table, fragmented echo,
# ping -M do local error, unresolved neighbour, UDP with nc -6 and ss, port unreachable.
ip netns add a
ip netns add b
ip -n a link add e0 address 02:00:00:00:00:01 type veth peer name e0 address 02:00:00:00:00:02 netns b
ip -n a addr add 2001:db8::1/64 dev e0 nodad
ip -n b addr add 2001:db8::2/64 dev e0
ip -n a link set e0 up
ip -n b link set e0 up
sleep 5
ip -n b addr add 2001:db8::1/64 dev e0
ip -n b -6 addr show dev e0
sleep 5
ip -n b -6 addr show dev e0
ip -n b -6 route show table local
ip -n b -j -6 route show table main
ip netns exec a ping -c 2 -i 0.5 2001:db8::2
echo "status $?"
ip netns exec a ping -6 -c 1 -s 3000 2001:db8::2
echo "status $?"
ip netns exec a ping -c 1 -M do -s 2000 2001:db8::2
echo "status $?"
ip netns exec a ping -c 1 -W 1 2001:db8::3
echo "status $?"
ip netns exec b nc -6 -u -l 9000 > received.txt &
sleep 1
ip netns exec b ss -u -a -n
echo hello | ip netns exec a nc -u -w 1 2001:db8::2 9000
sleep 1
kill %1
wait
cat received.txt
echo probe | ip netns exec a nc -u -w 1 2001:db8::2 9001
echo "status $?"
ip -n a -6 neigh show 2001:db8::2
ip -n a -6 neigh show fe80::ff:fe00:2
ip -n a -6 neigh show to 2001:db8::3
ip -n b -6 -j neigh show dev e0
