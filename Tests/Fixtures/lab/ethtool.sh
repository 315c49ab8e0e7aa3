# ethtool's feature list (-k) for a veth and loopback, and -K of the
# features the stack uses (tso: segmentationOffload, gso:
# genericSegmentation), a fixed feature, an unknown name, no such device.
ip netns add et
ip -n et link add va type veth peer name vb
ip netns exec et ethtool -k va
ip netns exec et ethtool -k lo
ip netns exec et ethtool -K va tso off
echo "status $?"
ip netns exec et ethtool -K va gso off
echo "status $?"
ip netns exec et ethtool --show-offload va
ip netns exec et ethtool -K lo tso off gso off
ip netns exec et ethtool -k lo
ip netns exec et ethtool -K va tso on gso on
ip netns exec et ethtool -k va
# sg off takes TSO and GSO with it; a fixed feature cannot change.
ip netns exec et ethtool -K va sg off
ip netns exec et ethtool -k va
ip netns exec et ethtool -K va sg on
ip netns exec et ethtool -K va lro on
echo "status $?"
ip netns exec et ethtool -K lo sg off
echo "status $?"
ip netns exec et ethtool -K va foo on
echo "status $?"
ip netns exec et ethtool -K va tso off bar on
echo "status $?"
ip netns exec et ethtool -K va tso
echo "status $?"
ip netns exec et ethtool -k nope
echo "status $?"
ip netns exec et ethtool -K nope tso off
echo "status $?"
ip netns exec et ethtool -k va extra
echo "status $?"
ip netns del et
