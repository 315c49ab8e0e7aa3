ip netns add n
ip -n n link add e0 address 02:00:00:00:00:01 type veth peer name e1 address 02:00:00:00:00:02
ip -n n addr add 10.0.0.1/24 dev e0
ip -n n link set e0 up
ip -n n link set e1 up
ip -n n neigh add 10.0.0.5 lladdr 02:00:00:00:00:05 dev e0
ip -n n neigh add 10.0.0.6 lladdr 02:00:00:00:00:06 dev e0 nud stale
ip -n n neigh add 10.0.0.5 lladdr 02:00:00:00:00:05 dev e0
echo "status $?"
ip -n n neigh show 10.0.0.5
ip -n n -j neigh show 10.0.0.6
ip -n n neigh del 10.0.0.6 dev e0
ip -n n neigh del 10.0.0.6 dev e0
echo "status $?"
ip -n n neigh show dev e0
