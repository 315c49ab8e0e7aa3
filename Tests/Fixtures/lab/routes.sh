ip netns add r
ip -n r link add e0 address 02:00:00:00:00:01 type veth peer name e1 address 02:00:00:00:00:02
ip -n r addr add 10.0.0.1/24 dev e0
ip -n r link set e0 up
ip -n r link set e1 up
ip -n r route add 192.168.0.0/16 via 10.0.0.254
ip -n r route add 192.168.0.0/16 via 10.0.0.253
echo "status $?"
ip -n r route append 192.168.0.0/16 via 10.0.0.253 metric 10
ip -n r route replace 172.16.0.0/12 via 10.0.0.250 proto static
ip -n r route add blackhole 198.51.100.0/24
ip -n r route add unreachable 198.51.100.128/25
ip -n r route add prohibit 203.0.113.0/24 table 42
ip -n r route add 10.9.0.0/16 via 10.99.0.1
echo "status $?"
ip -n r route del 10.8.0.0/16
echo "status $?"
ip -n r route show
ip -n r route show table 42
ip -n r -j route show
ip -n r route get 192.168.3.4
ip -n r route get 198.51.100.200
echo "status $?"
ip -n r route get 198.51.100.7
echo "status $?"
ip -n r route flush table 42
ip -n r -4 route show table all
