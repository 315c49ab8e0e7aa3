#!/usr/bin/env bash
# Interop over TAP with the Linux kernel (issue 5): `netstack run` owns two
# TAP devices whose kernel ends sit in two test namespaces; real tools on
# the kernel side (ping, nc, socat, curl, iperf3) talk to the stack, the
# stack's tools (via `netstack ping|nc|ip …`) talk to the kernel, and the
# stack routes between the two namespaces.
#
#   scripts/interop.sh [path/to/netstack]      (root; release build by default)
#
# Every check prints "ok" or "FAIL"; the exit status is the number of
# failures (capped at 100). Namespaces, TAPs and processes it made are
# removed on exit, whatever happens.
set -u
cd "$(dirname "$0")/.."
BIN=${1:-$PWD/.build/release/netstack}
[ -x "$BIN" ] || { echo "interop: $BIN not built" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "interop: needs root" >&2; exit 2; }

P=nsi$$                         # namespace prefix, unique per run
S=$P-s; A=$P-a; B=$P-b
WORK=$(mktemp -d /tmp/interop.XXXXXX)
export NETSTACK_CONTROL=$WORK/control.sock
STACK_PID=""
BG_PIDS=()
failures=0

cleanup() {
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [ -n "$STACK_PID" ] && kill -0 "$STACK_PID" 2>/dev/null; then
        kill -TERM "$STACK_PID"; sleep 0.5; kill -KILL "$STACK_PID" 2>/dev/null
    fi
    for ns in $S $A $B; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

ok()   { echo "ok    $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
check() {  # check NAME CMD… : ok when CMD exits 0
    local name=$1; shift
    if "$@" > "$WORK/out" 2>&1; then ok "$name"; else fail "$name"; sed 's/^/      /' "$WORK/out" | tail -15; fi
}
ns_a() { ip netns exec $A "$@"; }
ns_b() { ip netns exec $B "$@"; }

for ns in $S $A $B; do ip netns add $ns; ip -n $ns link set lo up; done
# Persistent TAPs in the stack's namespace: `netstack run` attaches to
# them by name and leaves them as it found them.
ip -n $S tuntap add dev ${P}a mode tap
ip -n $S tuntap add dev ${P}b mode tap

# ${P}a carries virtio-net headers (the kernel hands it TCP super-frames
# and partial checksums); ${P}b is a plain TAP.
cat > "$WORK/stack.sh" <<SCRIPT
ip tuntap add dev ${P}a mode tap vnet_hdr
ip tuntap add dev ${P}b mode tap
ip link set ${P}a address 02:00:00:00:0a:02
ip link set ${P}b address 02:00:00:00:0b:02
ip addr add 10.98.1.2/24 dev ${P}a
ip addr add 10.98.2.2/24 dev ${P}b
ip -6 addr add fd98:1::2/64 dev ${P}a nodad
ip -6 addr add fd98:2::2/64 dev ${P}b nodad
ip link set ${P}a up
ip link set ${P}b up
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv6.conf.all.forwarding=1
serve echo 7 &
serve discard 9 &
serve chargen 19 &
serve --udp echo 7 &
serve http 80 &
SCRIPT
nsenter --net=/run/netns/$S "$BIN" run "$WORK/stack.sh" > "$WORK/stack.log" 2>&1 &
STACK_PID=$!
for _ in $(seq 1 100); do "$BIN" ip link show ${P}a > /dev/null 2>&1 && break; sleep 0.1; done

# The kernel ends move to their namespaces (a TAP keeps its fd when moved).
ip -n $S link set ${P}a netns $A
ip -n $S link set ${P}b netns $B
ip -n $A addr add 10.98.1.1/24 dev ${P}a; ip -n $A -6 addr add fd98:1::1/64 dev ${P}a nodad
ip -n $B addr add 10.98.2.1/24 dev ${P}b; ip -n $B -6 addr add fd98:2::1/64 dev ${P}b nodad
ip -n $A link set ${P}a up; ip -n $B link set ${P}b up
ip -n $A route add default via 10.98.1.2; ip -n $A -6 route add default via fd98:1::2
ip -n $B route add default via 10.98.2.2; ip -n $B -6 route add default via fd98:2::2

echo "# stack: $BIN (pid $STACK_PID), namespaces $S $A $B"

# --- ping both ways, IPv4 and IPv6, small, 1400 bytes, fragmented
for size in 56 1400 3000; do
    check "kernel -> stack ping -s $size"    ns_a ping -c 2 -i 0.2 -W 2 -s $size 10.98.1.2
    check "kernel -> stack ping -6 -s $size" ns_a ping -6 -c 2 -i 0.2 -W 2 -s $size fd98:1::2
    check "stack -> kernel ping -s $size"    "$BIN" ping -c 2 -i 0.2 -W 2 -s $size 10.98.1.1
    check "stack -> kernel ping -6 -s $size" "$BIN" ping -6 -c 2 -i 0.2 -W 2 -s $size fd98:1::1
done

check "the kernel offers TSO on the vnet_hdr TAP" bash -c "ip netns exec $A ethtool -k ${P}a | grep -q 'tcp-segmentation-offload: on'"

# --- ARP and NDP both ways: each side holds the other's MAC
check "kernel learned the stack's MAC (ARP)" bash -c "ip -n $A neigh show 10.98.1.2 | grep -q 02:00:00:00:0a:02"
check "kernel learned the stack's MAC (NDP)" bash -c "ip -n $A -6 neigh show fd98:1::2 | grep -q 02:00:00:00:0a:02"
KMAC=$(ip -n $A -br link show ${P}a | awk '{print $3}')
check "stack learned the kernel's MAC (ARP)" bash -c "'$BIN' ip neigh show 10.98.1.1 | grep -q '$KMAC'"
check "stack learned the kernel's MAC (NDP)" bash -c "'$BIN' ip -6 neigh show fd98:1::1 | grep -q '$KMAC'"

# --- UDP both ways
check "kernel -> stack UDP echo (IPv4)" bash -c "[ \"\$(echo udp4 | ip netns exec $A nc -u -w1 10.98.1.2 7)\" = udp4 ]"
check "kernel -> stack UDP echo (IPv6)" bash -c "[ \"\$(echo udp6 | ip netns exec $A nc -6 -u -w1 fd98:1::2 7)\" = udp6 ]"
ns_a socat -T3 UDP4-RECVFROM:5007 OPEN:$WORK/udp.in,creat,trunc > /dev/null 2>&1 &
BG_PIDS+=($!); sleep 0.3
echo "from-stack" | "$BIN" nc -u -w1 10.98.1.1 5007 > /dev/null 2>&1
sleep 0.3
check "stack -> kernel UDP datagram" grep -qx from-stack "$WORK/udp.in"

# --- TCP both ways, 100 MB with equal sha256
head -c 100000000 /dev/urandom > "$WORK/100m"
SUM=$(sha256sum < "$WORK/100m" | cut -d' ' -f1)
start=$(date +%s.%N)
ns_a timeout 120 nc -N 10.98.1.2 7 < "$WORK/100m" > "$WORK/echoed"
t=$(echo "$(date +%s.%N) - $start" | bc)
check "kernel -> stack TCP echo of 100 MB: same sha256 (${t}s)" bash -c "[ \"\$(sha256sum < $WORK/echoed | cut -d' ' -f1)\" = $SUM ]"
ns_a timeout 120 nc -l -N 10.98.1.1 5001 < "$WORK/100m" > /dev/null &
BG_PIDS+=($!); sleep 0.3
start=$(date +%s.%N)
timeout 120 "$BIN" nc 10.98.1.1 5001 < /dev/null > "$WORK/fetched"
t=$(echo "$(date +%s.%N) - $start" | bc)
check "stack -> kernel TCP fetch of 100 MB: same sha256 (${t}s)" bash -c "[ \"\$(sha256sum < $WORK/fetched | cut -d' ' -f1)\" = $SUM ]"
ns_a timeout 60 nc -l -N 10.98.1.1 5002 > "$WORK/pushed" &
PUSH=$!; sleep 0.3
timeout 120 "$BIN" nc -N 10.98.1.1 5002 < "$WORK/100m" > /dev/null
wait $PUSH
check "stack -> kernel TCP push of 100 MB: same sha256" bash -c "[ \"\$(sha256sum < $WORK/pushed | cut -d' ' -f1)\" = $SUM ]"
check "kernel -> stack TCP over IPv6" bash -c "[ \"\$(echo tcp6 | ip netns exec $A timeout 5 nc -6 -N fd98:1::2 7)\" = tcp6 ]"
check "socat -> stack echo" bash -c "[ \"\$(echo via-socat | ip netns exec $A timeout 5 socat - TCP4:10.98.1.2:7,shut-down)\" = via-socat ]"

# --- HTTP
check "curl -> stack serve http" bash -c "ip netns exec $A curl -sS --max-time 5 http://10.98.1.2/ | grep -q netstack"

# --- iperf3 (the real one against ours, both ways) when both are there
if command -v iperf3 > /dev/null && "$BIN" iperf3 --version > /dev/null 2>&1; then
    "$BIN" iperf3 -s -1 > "$WORK/iperf-s.txt" 2>&1 &
    BG_PIDS+=($!); sleep 0.5
    check "kernel iperf3 -c -> stack iperf3 -s" ns_a timeout 20 iperf3 -c 10.98.1.2 -t 2
    ns_a timeout 30 iperf3 -s -1 > "$WORK/iperf-k.txt" 2>&1 &
    BG_PIDS+=($!); sleep 0.5
    check "stack iperf3 -c -> kernel iperf3 -s" timeout 20 "$BIN" iperf3 -c 10.98.1.1 -t 2
else
    fail "iperf3 interop (iperf3 missing on the kernel side or in the stack)"
fi

# --- the stack as a router between two kernel namespaces
check "route: ping a -> b through the stack"    ns_a ping -c 2 -i 0.2 -W 2 10.98.2.1
check "route: ping -6 a -> b through the stack" ns_a ping -6 -c 2 -i 0.2 -W 2 fd98:2::1
check "route: ping a -> b 3000 bytes (fragments forwarded)" ns_a ping -c 2 -i 0.2 -W 2 -s 3000 10.98.2.1
head -c 10000000 /dev/urandom > "$WORK/10m"
SUM10=$(sha256sum < "$WORK/10m" | cut -d' ' -f1)
ns_b timeout 60 nc -l -N 10.98.2.1 5003 > "$WORK/routed" &
R=$!; sleep 0.3
ns_a timeout 60 nc -N 10.98.2.1 5003 < "$WORK/10m"
wait $R
check "route: TCP 10 MB a -> b, same sha256" bash -c "[ \"\$(sha256sum < $WORK/routed | cut -d' ' -f1)\" = $SUM10 ]"
check "route: the stack counted forwarded packets" bash -c "'$BIN' ip -s link show ${P}b | awk '/TX:/{getline; exit !(\$2 > 5000)}'"

# --- control socket and shutdown
check "control: bad command fails non-zero" bash -c "! '$BIN' ip route add 300.1.1.1 dev ${P}a"
check "control: unknown command is 127" bash -c "'$BIN' ip netns exec nope true; [ \$? -ne 0 ]"
check "netstack stop ends the run" "$BIN" stop
for _ in $(seq 1 50); do kill -0 $STACK_PID 2>/dev/null || break; sleep 0.1; done
check "the run exited with status 0" bash -c "! kill -0 $STACK_PID 2>/dev/null && wait $STACK_PID 2>/dev/null; true"
if kill -0 $STACK_PID 2>/dev/null; then fail "run still alive after stop"; else
    wait $STACK_PID; rc=$?
    [ $rc = 0 ] && ok "run exit status 0" || fail "run exit status $rc"
    STACK_PID=""
fi
check "persistent TAP left in place (no carrier)" bash -c "ip -n $A link show ${P}a | grep -q NO-CARRIER"
check "control socket removed" test ! -e "$NETSTACK_CONTROL"

# --- a TAP the run made itself goes away with it; SIGTERM is a clean stop
printf 'ip tuntap add dev %s mode tap\nip link set %s up\n' ${P}t ${P}t > "$WORK/own.sh"
nsenter --net=/run/netns/$S "$BIN" run "$WORK/own.sh" > "$WORK/own.log" 2>&1 &
OWN=$!
for _ in $(seq 1 50); do ip -n $S link show ${P}t > /dev/null 2>&1 && break; sleep 0.1; done
check "run made its own TAP" ip -n $S link show ${P}t
kill -TERM $OWN; wait $OWN; rc=$?
[ $rc = 0 ] && ok "SIGTERM: exit status 0" || fail "SIGTERM: exit status $rc"
check "its own TAP is gone" bash -c "! ip -n $S link show ${P}t 2>/dev/null"

echo "# $failures failure(s); stack log:"
sed 's/^/#   /' "$WORK/stack.log" | tail -20
exit $((failures > 100 ? 100 : failures))
