# TUN/TAP devices made by `ip tuntap add` with nobody attached: persistent,
# no carrier, the kind's MTU bounds and queue length; add/del errors.
ip netns add tt
ip -n tt tuntap add dev tp0 mode tap
ip -n tt tuntap add dev tn0 mode tun
ip -n tt tuntap add dev tp1 mode tap vnet_hdr multi_queue
ip -n tt tuntap add dev tp0 mode tap
echo "status $?"
ip -n tt tuntap add dev tp2
echo "status $?"
ip -n tt tuntap add dev tp2 mode foo
echo "status $?"
ip -n tt link set tp0 address 02:00:00:00:00:0a
ip -n tt link set tp1 address 02:00:00:00:00:0b
ip -n tt link set tp0 up
ip -n tt link set tn0 up
ip -n tt tuntap show
ip -n tt link show
ip -n tt -j link show tn0
ip -n tt link set tp0 mtu 65522
echo "status $?"
ip -n tt link set tn0 mtu 65535
echo "status $?"
ip -n tt tuntap del dev tp1 mode tun
echo "status $?"
ip -n tt tuntap del dev tp1 mode tap
ip -n tt tuntap del dev nope mode tap
echo "status $?"
ip -n tt -br link
ip -n tt route get 10.1.1.1
echo "status $?"
ip -n tt addr add 10.9.0.1/24 dev tn0
ip -n tt -4 addr show dev tn0
ip -n tt route show
ip netns del tt
