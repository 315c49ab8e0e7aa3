# Which table `ip route get` names. Until the first IPv4 rule write the
# local and main tables are one trie looked up as main (fib_lookup without
# custom rules), so a local address's answer names no table, and the
# longest prefix of either table wins. The first `ip rule add` splits them
# (fib_unmerge) for good: deleting the rule again leaves `table local`,
# and the local table is consulted before main whatever the prefix
# lengths. IPv6 never merges.
ip netns add n
ip -n n link set lo up
ip -n n link add e0 address 02:00:00:00:00:01 type veth peer name e1 address 02:00:00:00:00:02
ip -n n addr add 10.9.0.1/24 dev e0
ip -n n link set e0 up
ip -n n link set e1 up
ip -n n route get 127.0.0.1
ip -n n -j route get 127.0.0.1
ip -n n route get 10.9.0.1
ip -n n -j route get 10.9.0.1
ip -n n route get fibmatch 10.9.0.1
ip -n n route get 10.9.0.255
ip -n n route get 10.9.0.1 from 10.9.0.2 iif e1
ip -n n route get 10.9.0.2
ip -n n -6 route get ::1
# A local /8 in the local table, a /16 in main: merged, the /16 wins.
ip -n n route add local 10.0.0.0/8 dev lo table local
ip -n n route add 10.1.0.0/16 dev e0
ip -n n route get 10.1.0.1
ip -n n route get 10.2.0.1
ip -n n rule add from 10.200.0.0/16 lookup 100
ip -n n route get 127.0.0.1
ip -n n -j route get 127.0.0.1
ip -n n route get fibmatch 10.9.0.1
ip -n n route get 10.9.0.2
ip -n n rule del from 10.200.0.0/16 lookup 100
ip -n n route get 10.9.0.1
ip -n n -j route get 10.9.0.1
# Split: local first, so the /8 now answers for 10.1.0.1.
ip -n n route get 10.1.0.1
# A second namespace: deleting a default rule splits the tables too.
ip netns add m
ip -n m link set lo up
ip -n m route get 127.0.0.1
ip -n m rule del pref 32767
ip -n m route get 127.0.0.1
