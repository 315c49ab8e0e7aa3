ip link add v0 address 02:00:00:00:00:01 type veth peer name v1 address 02:00:00:00:00:02
ip link add v0 type veth peer name v2
echo "status $?"
ip link del nope
echo "status $?"
ip link set v0 mtu 70000
echo "status $?"
ip link set v0 mtu 9000
ip link set v0 up
ip link show
ip link set v1 up
ip -br link
ip -j link show v0
ip link set v1 name v9
ip link set v1 down
ip link del v0
ip link show
