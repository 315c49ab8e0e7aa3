#!/usr/bin/env bash
# USO against the real kernel: `netstack run` owns a vnet_hdr TAP whose
# kernel end sits in a test namespace; a kernel UDP socket with
# UDP_SEGMENT (1400) sends 14,000 bytes in one send. With USO negotiated
# (TUNSETOFFLOAD with TUN_F_USO4|TUN_F_USO6) the kernel hands the TAP ONE
# super-frame (gso_type UDP_L4; its TAP counts one tx packet), the stack
# cuts it into 10 datagrams on entry, and its `serve --udp echo` answers
# each: 10 replies of 1400 bytes whose bytes rejoin the send. IPv4 and IPv6.
#
#   scripts/uso-check.sh path/to/netstack      (root; builds nothing)
#
# Prints "ok"/"FAIL" per check; exit status = failures. Cleans up on exit.
set -u
BIN=${1:?usage: uso-check.sh path/to/netstack}
[ -x "$BIN" ] || { echo "uso-check: $BIN is not executable" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "uso-check: needs root" >&2; exit 2; }
BIN=$(readlink -f "$BIN")

S=uso-s$$; A=uso-a$$; T=usot$$
WORK=$(mktemp -d /tmp/uso-check.XXXXXX)
export NETSTACK_CONTROL=$WORK/control.sock
STACK_PID=""
failures=0

cleanup() {
    if [ -n "$STACK_PID" ] && kill -0 "$STACK_PID" 2>/dev/null; then
        kill -TERM "$STACK_PID"; sleep 0.5; kill -KILL "$STACK_PID" 2>/dev/null
    fi
    for ns in $S $A; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

ok()   { echo "ok    $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
check() {  # check NAME CMD… : ok when CMD exits 0
    local name=$1; shift
    if "$@" > "$WORK/out" 2>&1; then ok "$name"; sed 's/^/      /' "$WORK/out" | tail -6
    else fail "$name"; sed 's/^/      /' "$WORK/out" | tail -15; fi
}

for ns in $S $A; do ip netns add $ns; ip -n $ns link set lo up; done
ip -n $S tuntap add dev $T mode tap

cat > "$WORK/stack.sh" <<SCRIPT
ip tuntap add dev $T mode tap vnet_hdr
ip link set $T address 02:00:00:00:0a:02
ip addr add 10.97.1.2/24 dev $T
ip -6 addr add fd97:1::2/64 dev $T nodad
ip link set $T up
serve --udp echo 7 &
serve --udp --gso 1400 echo 8 &
SCRIPT
nsenter --net=/run/netns/$S "$BIN" run "$WORK/stack.sh" > "$WORK/stack.log" 2>&1 &
STACK_PID=$!
for _ in $(seq 1 100); do "$BIN" ip link show $T > /dev/null 2>&1 && break; sleep 0.1; done

ip -n $S link set $T netns $A
ip -n $A addr add 10.97.1.1/24 dev $T
ip -n $A -6 addr add fd97:1::1/64 dev $T nodad
ip -n $A link set $T up
echo "# kernel $(uname -r); stack $BIN (pid $STACK_PID); namespaces $S $A; tap $T"

check "the kernel's TAP shows tx-udp-segmentation on (USO negotiated)" \
    bash -c "ip netns exec $A ethtool -k $T | grep -x 'tx-udp-segmentation: on'"
check "the stack's ethtool -k shows tx-udp-segmentation on" \
    bash -c "'$BIN' ethtool -k $T | grep -x 'tx-udp-segmentation: on'"
check "the stack's ethtool -k of the TAP is the kernel's" \
    bash -c "diff <(ip netns exec $A ethtool -k $T) <('$BIN' ethtool -k $T) && echo same"

# One Python client for both directions:
#   in:  a 14,000-byte send with UDP_SEGMENT 1400 to `serve --udp echo 7`:
#        the kernel's TAP sends ONE super-frame (1 tx packet; a stray ND/ARP
#        packet of the kernel's may add one or two; the kernel cutting it
#        itself would count 10 or more), the stack echoes 10 datagrams;
#   out: one 14,000-byte datagram (the kernel fragments it, the stack
#        reassembles it) to `serve --udp --gso 1400 echo 8`: the reply is
#        ONE GSO packet written as a USO frame (the kernel's TAP counts one
#        rx packet), which the kernel's UDP receive cuts into 10 datagrams.
cat > "$WORK/uso.py" <<'PY'
import socket, sys
way, family, local, remote, tap = sys.argv[1:6]
port, counter = (7, "tx_packets") if way == "in" else (8, "rx_packets")
af = socket.AF_INET6 if family == "6" else socket.AF_INET
s = socket.socket(af, socket.SOCK_DGRAM)
s.bind((local, 0))
s.settimeout(3)
for _ in range(3):                      # warm up: neighbours resolved both ways
    s.sendto(b"w", (remote, port))
    try:
        s.recvfrom(2048); break
    except socket.timeout:
        pass
def frames():
    return int(open(f"/sys/class/net/{tap}/statistics/{counter}").read())
before = frames()
if way == "in":
    s.setsockopt(socket.SOL_UDP, 103, 1400)    # UDP_SEGMENT
data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(14000))
s.sendto(data, (remote, port))
got = []
try:
    while len(got) < 10:
        got.append(s.recvfrom(65535)[0])
    s.settimeout(0.3)
    got.append(s.recvfrom(65535)[0])    # an 11th would be wrong
except socket.timeout:
    pass
n = frames() - before
print(f"IPv{family} {way}: 14000 bytes, TAP {counter} {n}; "
      f"datagrams {len(got)}, sizes {sorted(set(len(g) for g in got))}, intact {b''.join(got) == data}")
sys.exit(0 if 1 <= n <= 3 and len(got) == 10 and all(len(g) == 1400 for g in got) and b"".join(got) == data else 1)
PY
check "IPv4: one USO super-frame in, 10 datagrams echoed" \
    ip netns exec $A python3 "$WORK/uso.py" in 4 10.97.1.1 10.97.1.2 $T
check "IPv6: one USO super-frame in, 10 datagrams echoed" \
    ip netns exec $A python3 "$WORK/uso.py" in 6 fd97:1::1 fd97:1::2 $T
check "the stack's TAP counted the datagrams it received" \
    bash -c "'$BIN' ip -s link show $T"

check "IPv4: the stack's UDP_SEGMENT reply is one USO frame, 10 datagrams at the kernel" \
    ip netns exec $A python3 "$WORK/uso.py" out 4 10.97.1.1 10.97.1.2 $T
check "IPv6: the stack's UDP_SEGMENT reply is one USO frame, 10 datagrams at the kernel" \
    ip netns exec $A python3 "$WORK/uso.py" out 6 fd97:1::1 fd97:1::2 $T
echo "# $failures failure(s)"
exit $((failures > 100 ? 100 : failures))
