# A router learns hosts' link-local addresses from their router solicitations,
# sent when link-local DAD completes (and not answered: no RA is configured).
ip netns add a
ip netns add r
ip -n a link add e0 address 02:00:00:00:0a:01 type veth peer name e0 address 02:00:00:00:01:01 netns r
ip netns exec r sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n a link set e0 up
ip -n r link set e0 up
sleep 1
ip -n r -6 neigh
# Linux sends the solicitation 1-2 s after link up (DAD's random start
# delay of up to rtr_solicit_delay, then one retrans_time): look at 3 s.
sleep 2
ip -n r -6 neigh
ip -n a -6 neigh
sleep 5
ip -n r -6 neigh
ip -n r -6 route
