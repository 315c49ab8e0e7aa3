ip netns add h
ip -n h link add e0 address 02:00:00:00:00:01 type veth peer name e1 address 02:00:00:00:00:02
ip -n h addr add 10.0.0.1/24 dev e0
ip -n h link set lo up
ip -n h link set e0 up
ip -n h link set e1 up
ip netns exec h ping -c 1 192.0.2.1
echo "status $?"
ip netns exec h ping -c 2 -i 0.5 127.0.0.1
echo "status $?"
ip netns exec h ping -c 2 -W 1 10.0.0.7
echo "status $?"
ip -n h neigh show
