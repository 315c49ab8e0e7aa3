#!/usr/bin/env bash
# CPU seconds per GB of a TAP stack under test (the peers harness reports
# throughput only): runs the harness's tcpperf send/recv against CMD the
# way its TAP suite does (own netns, persistent TAP, CMD pinned to CPU 1,
# client to CPU 0) and reads CMD's utime+stime from /proc around each run.
#
#   Benchmarks/scripts/peers-cpu.sh TCPPERF SECONDS CMD...
#     e.g. ... .build-peers/tcpperf 5 Benchmarks/scripts/peers-sut-cmd.sh
#          ... .build-peers/tcpperf 5 .build-peers/gvbench tap -tap peerstapc -addr 10.204.0.2/24 -t 3600
# PEERS_WORKLOADS picks some of send recv rr crr (default all).
# Prints, per workload, its own figure (Gbps, trans/s, conn/s), CMD's CPU
# seconds, and the CPU cost: s/GB for send/recv, us per transaction (rr)
# or per connection (crr). CPU cost moves far less than throughput when
# the shared machine is busy.
set -u
tp=$1 secs=$2
shift 2
ns=peers-c dev=peerstapc kip=10.204.0.1 sip=10.204.0.2
ip netns del $ns 2>/dev/null
ip netns add $ns && ip -n $ns link set lo up || exit 1
ip -n $ns tuntap add dev $dev mode tap
ip netns exec $ns sysctl -qw net.ipv6.conf.$dev.disable_ipv6=1
ip -n $ns addr add $kip/24 dev $dev && ip -n $ns link set $dev up
PEERS_TAP_DEV=$dev PEERS_SUT_IP=$sip PEERS_SUT_PREFIX=24 PEERS_KERNEL_IP=$kip \
    ip netns exec $ns taskset -c 1 "$@" >/tmp/peers-cpu-sut.$$.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; sleep 1; kill -9 $pid 2>/dev/null; ip netns del $ns; rm -f /tmp/peers-cpu-sut.$$.log' EXIT
ip netns exec $ns "$tp" probe $sip -p 5001 -t 20 || { cat /tmp/peers-cpu-sut.$$.log; exit 1; }
sleep 0.5
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
for w in ${PEERS_WORKLOADS:-send recv rr crr}; do
    c0=$(ticks) t0=$(date +%s.%N)
    v=$(ip netns exec $ns taskset -c 0 "$tp" $w $sip -t "$secs" | awk '/^RESULT tcp_(send|recv|rr|crr)_(Gbps|tps|cps)/ {print $3}')
    t1=$(date +%s.%N) c1=$(ticks)
    awk -v w=$w -v v="$v" -v c=$((c1 - c0)) -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN {
        cpu = c / hz; dt = t1 - t0
        if (w == "send" || w == "recv") {
            printf "RESULT tcp_%s_Gbps %s Gbps\nRESULT tcp_%s_cpu_s_per_GB %.3f s/GB\n", w, v, w, cpu / (v * dt / 8)
        } else {
            printf "RESULT tcp_%s_per_s %s /s\nRESULT tcp_%s_cpu_us_per_op %.1f us\n", w, v, w, cpu * 1e6 / (v * dt)
        }
        printf "RESULT tcp_%s_cpu_share %.2f cpu\n", w, cpu / dt }'
done
