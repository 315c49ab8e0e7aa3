ip netns add s
ip netns exec s sysctl net.ipv4.ip_forward
ip netns exec s sysctl -w net.ipv4.ip_forward=1
ip netns exec s sysctl -n net.ipv4.conf.all.forwarding
ip netns exec s sysctl net.ipv4.ip_default_ttl
ip netns exec s sysctl -w net.ipv4.ip_default_ttl=0
echo "status $?"
ip netns exec s sysctl net.ipv4.nope
echo "status $?"
ip netns exec s sysctl net.ipv4.ip_local_port_range
ip netns exec s sysctl net.ipv4.icmp_echo_ignore_broadcasts net.ipv4.conf.default.rp_filter
