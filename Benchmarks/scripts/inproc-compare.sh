#!/bin/bash
# In-process TCP side by side, one run: swift-netstack's InprocBench, gVisor's
# gvbench (../shared/peers) and the Linux kernel over a veth between two
# namespaces (tcpperf rr/crr as the peers harness runs them: server pinned
# to CPU 1, client to CPU 0). Prints RESULT lines; run as root from the
# project's root after building:
#   (cd Benchmarks && swift build -c release --product InprocBench)
#   make -s -C ../shared/peers/c OUT=$PEERS_BUILD && ../shared/peers/gvisor/build.sh $PEERS_BUILD/gvbench
#   Benchmarks/scripts/inproc-compare.sh [SECONDS] [ROUNDS]
set -u
T=${1:-3}
ROUNDS=${2:-2}
PEERS_BUILD=${PEERS_BUILD:-/work/.build-peers}
BENCH=${BENCH:-Benchmarks/.build/release/InprocBench}
TCPPERF=$PEERS_BUILD/tcpperf
GVBENCH=$PEERS_BUILD/gvbench
A=inpcmp-a B=inpcmp-b

cleanup() {
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    ip netns del $A 2>/dev/null
    ip netns del $B 2>/dev/null
}
trap cleanup EXIT

linux() {
    ip netns add $A && ip netns add $B || return 1
    ip link add ipc0 netns $A type veth peer name ipc1 netns $B
    ip -n $A addr add 10.0.0.1/24 dev ipc0
    ip -n $B addr add 10.0.0.2/24 dev ipc1
    for n in $A $B; do ip -n $n link set lo up; done
    ip -n $A link set ipc0 up
    ip -n $B link set ipc1 up
    taskset -c 1 ip netns exec $B "$TCPPERF" server -b 10.0.0.2 -t 600 >/dev/null &
    SERVER=$!
    ip netns exec $A "$TCPPERF" probe 10.0.0.2 -t 10 >/dev/null || return 1
    for m in rr crr; do taskset -c 0 ip netns exec $A "$TCPPERF" $m 10.0.0.2 -t "$T" -m veth | grep RESULT; done
    kill "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=
    ip netns del $A; ip netns del $B
}

for r in $(seq 1 "$ROUNDS"); do
    echo "# round $r, load $(cut -d' ' -f1 /proc/loadavg)"
    linux
    for m in rr crr; do "$BENCH" $m -t "$T" | grep RESULT; done
    [ -x "$GVBENCH" ] && for m in rr crr; do "$GVBENCH" $m -t "$T" | grep RESULT; done
done
