ip netns add one
ip netns add two
ip netns add one
echo "status $?"
ip netns list
ip -n two link add d0 address 02:00:00:00:00:01 type veth peer name d1 address 02:00:00:00:00:02
ip -n two link set d1 netns one
ip -n one link show d1
ip -n one link show
ip netns del nope
echo "status $?"
ip -n nope link
echo "status $?"
