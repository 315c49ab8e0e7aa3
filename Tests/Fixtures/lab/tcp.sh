ip netns add a
ip netns add b
ip -n a link add e0 address 02:00:00:00:00:01 type veth peer name e0 address 02:00:00:00:00:02 netns b
ip -n a addr add 10.0.0.1/24 dev e0
ip -n b addr add 10.0.0.2/24 dev e0
ip -n a link set e0 up
ip -n b link set e0 up
ip netns exec b nc -l 9000 > received.txt &
sleep 1
ip netns exec b ss -t -a -n
echo hello | ip netns exec a nc -N -p 40001 10.0.0.2 9000
echo "client: $?"
sleep 1
cat received.txt
ip netns exec b ss -t -a -n
ip netns exec a ss -t -a -n
ip netns exec b nc -l -k -p 9001 > /dev/null &
K=$!
sleep 1
ip netns exec a nc -z -v 10.0.0.2 9001
echo "open: $?"
ip netns exec a nc -z -v 10.0.0.2 9
echo "closed: $?"
ip netns exec a nc -z 10.0.0.2 9002
echo "closed, quiet: $?"
ip netns exec a nc -z -v 10.0.0.2 9001 9
echo "one of two: $?"
sleep 1
ip netns exec b ss -t -l -n
ip netns exec b ss -t -a -n state established
ip netns exec a ss -t -a -n sport = :40001
kill $K
wait
ip netns exec b ss -t -a -n
