ip netns add p
ip -n p link add e0 address 02:00:00:00:00:01 type veth peer name e1 address 02:00:00:00:00:02
ip -n p addr add 10.0.0.1/24 dev e0
ip -n p link set e0 up
ip -n p link set e1 up
ip -n p rule add from 10.1.0.0/16 lookup 100
ip -n p rule add to 10.2.0.0/16 table 200 pref 500
ip -n p rule add fwmark 0x10/0xf0 lookup 300
ip -n p rule add not from 10.3.0.0/16 ipproto udp dport 53 lookup main pref 700
ip -n p rule add iif e0 lookup 100 pref 800
ip -n p rule add pref 900 lookup main suppress_prefixlength 0
ip -n p rule show
ip -n p -j rule show
ip -n p rule del pref 500
ip -n p rule del pref 12345
echo "status $?"
ip -n p route add default via 10.0.0.9 table 100
ip -n p route get 8.8.8.8 from 10.1.2.3
ip -n p route get 8.8.8.8 from 10.0.0.1 iif e0
echo "status $?"
