ip netns add a
ip netns add b
ip -n a link add e0 address 02:00:00:00:00:01 type veth peer name e0 address 02:00:00:00:00:02 netns b
ip -n a addr add 10.0.0.1/24 dev e0
ip -n b addr add 10.0.0.2/24 dev e0
ip -n a link set e0 up
ip -n b link set e0 up
ip netns exec b nc -u -l 9000 > received.txt &
sleep 1
echo hello | ip netns exec a nc -u -w 1 10.0.0.2 9000
sleep 1
kill %1
wait
cat received.txt
ip -n a neigh show
ip -n b neigh show
