ip netns add a
ip netns add r
ip netns add b
ip -n a link add e0 address 02:00:00:00:0a:01 type veth peer name e0 address 02:00:00:00:01:01 netns r
ip -n b link add e0 address 02:00:00:00:0b:01 type veth peer name e1 address 02:00:00:00:01:02 netns r
ip -n a addr add 10.1.0.2/24 dev e0
ip -n r addr add 10.1.0.1/24 dev e0
ip -n r addr add 10.2.0.1/24 dev e1
ip -n b addr add 10.2.0.2/24 dev e0
for n in a r b; do ip -n $n link set lo up; done
ip -n a link set e0 up
ip -n b link set e0 up
ip -n r link set e0 up
ip -n r link set e1 up
ip -n a route add default via 10.1.0.1
ip -n b route add default via 10.2.0.1
ip netns exec r sysctl -qw net.ipv4.ip_forward=1
ip netns exec a ping -c 1 -t 1 -W 1 10.2.0.2
echo "status $?"
ip netns exec a ping -c 1 -W 1 10.3.0.1
echo "status $?"
ip netns exec a ping -c 1 10.2.0.2
echo "status $?"
