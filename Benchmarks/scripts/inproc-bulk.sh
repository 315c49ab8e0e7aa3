# One TCP flow between two namespaces on a veth (MTU 1500), iperf3 for 3 s.
# The same file is a Linux script: run it in-process with
#   .build/release/netstack lab --realtime Benchmarks/scripts/inproc-bulk.sh
# and on the kernel with
#   unshare --mount --net --pid --fork bash -c 'mkdir -p /run/netns &&
#     mount -t tmpfs tmpfs /run/netns; bash Benchmarks/scripts/inproc-bulk.sh'
# inproc-bulk-nogso.sh is the same with `ethtool -K … tso off gso off`.
ip netns add a
ip netns add b
ip link add va netns a type veth peer name vb netns b
ip -n a addr add 10.9.0.1/24 dev va
ip -n b addr add 10.9.0.2/24 dev vb
ip -n a link set va up
ip -n b link set vb up
ip netns exec b iperf3 -s -1 &
sleep 1
ip netns exec a iperf3 -c 10.9.0.2 -t 3
wait
