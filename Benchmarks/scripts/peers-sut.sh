# swift-netstack as the peers harness's TAP stack under test
# (../shared/peers/README.md, "Plugging in a stack under test"): attach to
# the harness's persistent TAP, take the SUT address and serve its four
# ports. A `netstack run` script; the lab language has no environment, so
# Benchmarks/scripts/peers-sut-cmd.sh puts the harness's variables in
# front of this file as assignments:
#   PEERS_TAP_DEV=peerstap0  PEERS_SUT_IP=10.202.0.2  PEERS_SUT_PREFIX=24
# PEERS_TAP_FLAGS is `vnet_hdr` when NETSTACK_VNET=1 (TSO super-frames both ways);
# PEERS_BUSY_POLL is NETSTACK_BUSY_POLL (µs, default 0).
sysctl -qw net.core.busy_poll=$PEERS_BUSY_POLL
ip tuntap add dev $PEERS_TAP_DEV mode tap $PEERS_TAP_FLAGS
ip link set dev $PEERS_TAP_DEV address 02:00:00:00:ca:02
ip addr add $PEERS_SUT_IP/$PEERS_SUT_PREFIX dev $PEERS_TAP_DEV
ip link set dev $PEERS_TAP_DEV up
# The harness's reference server sets TCP_NODELAY on every accepted socket.
serve --nodelay discard 5001 &
serve --nodelay chargen 5002 &
serve --nodelay echo 5003 &
serve --nodelay crr 5004 &
wait
