# An address with a prefix on lo (outside 127/8): fib_add_ifaddr makes the
# prefix a `local` route in the local table (RTN_LOCAL for a loopback
# device), not a `proto kernel scope link` route in main, so every address
# in it is local (a ping to any of them is answered, as for 127/8);
# deleting the address takes the routes with it.
ip netns add n
ip -n n link set lo up
ip -n n addr add 10.5.0.1/24 dev lo
ip -n n addr add 10.6.0.1/24 dev lo noprefixroute
ip -n n route show table local
ip -n n -j route show table main
ip netns exec n ping -c 1 -W 1 10.5.0.77 > /dev/null
echo "ping $?"
ip netns exec n ping -c 1 -W 1 127.0.0.77 > /dev/null
echo "ping $?"
ip -n n addr del 10.5.0.1/24 dev lo
ip -n n route show table local
