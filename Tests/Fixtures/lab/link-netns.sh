# `ip link add NAME netns NS …`: the new device is made in NS; a veth peer
# without its own `netns` stays in the caller's namespace. A namespace that
# does not exist is an invalid argument.
ip netns add a
ip netns add b
ip link add va netns a address 02:00:00:00:00:0a type veth peer name vb netns b address 02:00:00:00:00:0b
ip link add x0 netns a address 02:00:00:00:00:10 type veth peer name x1 address 02:00:00:00:00:11
ip link add y0 netns nope type veth peer name y1
echo "status $?"
ip link add v0 type veth peer name v1 netns nope
echo "status $?"
ip -n a link show
ip -n b -j link show
ip link show
ip -n a link set va up
ip -n b link set vb up
ip -n a addr add 10.9.0.1/24 dev va
ip -n b addr add 10.9.0.2/24 dev vb
ip netns exec a ping -c 1 -W 1 10.9.0.2 > /dev/null
echo "ping $?"
