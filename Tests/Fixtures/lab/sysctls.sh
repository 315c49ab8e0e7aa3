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

# Defaults that differ between all, default and lo (ipv4_devconf_dflt,
# ipv6_devconf, inetdev_init / ipv6_add_dev for lo), nd_tbl's locktime and
# the ICMPv6 rate limit.
ip netns exec s sysctl net.ipv4.conf.all.accept_source_route net.ipv4.conf.default.accept_source_route
ip netns exec s sysctl net.ipv4.conf.lo.accept_source_route net.ipv4.conf.lo.disable_policy
ip netns exec s sysctl net.ipv6.conf.all.accept_dad net.ipv6.conf.default.accept_dad net.ipv6.conf.lo.accept_dad
ip netns exec s sysctl net.ipv6.icmp.ratelimit net.ipv6.conf.lo.mtu
ip netns exec s sysctl net.ipv6.conf.all.keep_addr_on_down net.ipv6.conf.default.keep_addr_on_down
# A new device copies `default` (written before it exists); mtu6 is its MTU.
ip netns exec s sysctl -w net.ipv4.conf.default.rp_filter=2 net.ipv6.conf.default.hop_limit=33
ip netns exec s sysctl -w net.ipv6.conf.default.keep_addr_on_down=1
ip -n s link add v0 type veth peer name v1
ip netns exec s sysctl net.ipv4.conf.v0.rp_filter net.ipv4.conf.v0.accept_source_route
ip netns exec s sysctl net.ipv6.conf.v0.hop_limit net.ipv6.conf.v0.keep_addr_on_down net.ipv6.conf.v0.mtu
ip -n s link set v0 mtu 1400
ip netns exec s sysctl net.ipv6.conf.v0.mtu net.ipv6.conf.v1.mtu
ip netns exec s sysctl net.ipv4.neigh.v0.locktime net.ipv6.neigh.v0.locktime
# Listings leave out the deprecated jiffies files; naming one reads it.
ip netns exec s sysctl net.ipv6.neigh.v0
ip netns exec s sysctl net.ipv6.neigh.v0.retrans_time
# neigh/default exists in the initial namespace only.
ip netns exec s sysctl net.ipv4.neigh.default.locktime
echo "status $?"
# nd_tbl's retrans_time counts kernel jiffies (HZ 250), arp_tbl's USER_HZ.
ip netns exec s sysctl -w net.ipv6.neigh.v0.retrans_time=500 net.ipv4.neigh.v0.retrans_time=50
ip netns exec s sysctl net.ipv6.neigh.v0.retrans_time_ms net.ipv4.neigh.v0.retrans_time_ms
# A write to conf.default reaches IPv4 devices that did not set the key
# themselves (devinet_copy_dflt_conf), lo included; IPv6 devices keep theirs.
ip netns exec s sysctl -qw net.ipv4.conf.v1.arp_ignore=2 net.ipv4.conf.v1.arp_evict_nocarrier=1
ip netns exec s sysctl -qw net.ipv4.conf.default.arp_ignore=1 net.ipv4.conf.default.accept_source_route=0
ip netns exec s sysctl -qw net.ipv4.conf.default.arp_evict_nocarrier=0 net.ipv6.conf.default.hop_limit=44
ip netns exec s sysctl net.ipv4.conf.v0.arp_ignore net.ipv4.conf.v1.arp_ignore net.ipv4.conf.lo.arp_ignore
ip netns exec s sysctl net.ipv4.conf.v0.accept_source_route net.ipv4.conf.lo.accept_source_route
ip netns exec s sysctl net.ipv4.conf.v0.arp_evict_nocarrier net.ipv4.conf.v1.arp_evict_nocarrier
ip netns exec s sysctl net.ipv6.conf.v0.hop_limit net.ipv6.conf.lo.hop_limit
ip netns exec s sysctl -qw net.ipv4.conf.default.disable_policy=1 net.ipv4.conf.default.disable_xfrm=0
ip netns exec s sysctl net.ipv4.conf.v0.disable_policy net.ipv4.conf.lo.disable_policy net.ipv4.conf.lo.disable_xfrm
ip -n s link add v2 type veth peer name v3
ip netns exec s sysctl net.ipv4.conf.v2.arp_ignore net.ipv4.conf.v2.arp_evict_nocarrier net.ipv6.conf.v2.hop_limit
