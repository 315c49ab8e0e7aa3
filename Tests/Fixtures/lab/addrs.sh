ip netns add a
ip -n a link add e0 address 02:00:00:00:00:01 type veth peer name e1 address 02:00:00:00:00:02
ip -n a link set lo up
ip -n a addr add 10.0.0.1/24 dev e0
ip -n a addr add 10.0.0.2/24 brd + dev e0
ip -n a addr add 10.0.0.1/24 dev e0
echo "status $?"
ip -n a addr add 192.168.7.1/16 dev e0 label e0:1
ip -n a addr add 300.1.1.1/24 dev e0
echo "status $?"
ip -n a -4 addr show dev e0
ip -n a -j -p addr show dev e0
ip -n a addr del 10.0.0.1/24 dev e0
ip -n a addr del 10.0.0.77/24 dev e0
echo "status $?"
ip -n a -o -4 addr
ip -n a route show table local
