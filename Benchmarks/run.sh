#!/usr/bin/env bash
# Builds the benchmarks in release mode and runs them:
#   1. ChecksumRatio: Swift vs C checksum in one process, ratio checked
#      against ChecksumRatio.budget (non-zero exit when under budget);
#   2. with --callgrind: instructions per checksum under valgrind (exact,
#      unaffected by the other engineers' load on this 2-core machine);
#   3. the ordo-one/benchmark suite (ns and mallocs per operation), and with
#      --check, a comparison against the checked-in Thresholds/;
#   4. with --check, ForwardBench on a 100k-route FIB: every packet forwarded
#      and zero heap allocations over 100,000 forwarded packets (release);
#   5. with --check, TCPSoak: 100 MB per case through netem loss, reordering,
#      jitter, duplication, corruption and a rate limit (digests compared),
#      a SYN flood beside legitimate clients, 100,000 connection cycles back
#      to baseline (about 15 s wall in release; non-zero exit on a mismatch,
#      stall or leak);
#   6. with --check, InprocBench: the in-process workloads in real time
#      (bulk with and without GSO, 1-byte rr, connect+close, 20,000 idle
#      connections), 1 s each: they must complete (figures are printed,
#      not judged: wall times on a shared machine are not a test).
#
#   Benchmarks/run.sh [--check] [--callgrind] [--quick]
set -euo pipefail
cd "$(dirname "$0")"

check=0; callgrind=0; rounds=31
for arg in "$@"; do
    case "$arg" in
        --check) check=1 ;;
        --callgrind) callgrind=1 ;;
        --quick) rounds=7 ;;
        *) echo "usage: $0 [--check] [--callgrind] [--quick]" >&2; exit 2 ;;
    esac
done

swift build -c release --product ChecksumRatio 2>&1 | grep -E "error|warning|Compiling|Build complete" || true
bin="$(swift build -c release --show-bin-path)"

echo
echo "### Swift vs C checksum, one process (best of $rounds)"
ratio_status=0
"$bin/ChecksumRatio" --rounds "$rounds" --budget ChecksumRatio.budget || ratio_status=$?

if ((callgrind)); then
    echo
    echo "### Instructions per checksum (valgrind --tool=callgrind, 1000 calls minus 0 calls)"
    printf '%-8s %-8s %14s %12s\n' size impl instr/call instr/byte
    count() { # impl size calls -> total instructions of the run
        local out; out=$(mktemp)
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin/ChecksumRatio" --count "$1" "$2" "$3" 2>"$out" >/dev/null
        grep -o 'Collected : [0-9]*' "$out" | grep -o '[0-9]*'; rm -f "$out"
    }
    for size in 1500 65536; do
        for impl in swift acc32 adc64; do
            base=$(count "$impl" "$size" 0); full=$(count "$impl" "$size" 1000)
            per=$(( (full - base) / 1000 ))
            printf '%-8s %-8s %14s %12s\n' "$size" "$impl" "$per" "$(awk -v p="$per" -v s="$size" 'BEGIN{printf "%.3f", p/s}')"
        done
    done
fi

echo
echo "### ordo-one/benchmark suite (NetWireBenchmarks)"
swift package benchmark --target NetWireBenchmarks --no-progress
if ((check)); then
    echo
    echo "### Thresholds check (Thresholds/*.json)"
    swift package benchmark thresholds check --target NetWireBenchmarks --no-progress
    echo
    echo "### Forwarding: every packet forwarded, 0 heap allocations (ForwardBench, 100k routes)"
    swift build -c release --product ForwardBench 2>&1 | grep -E "error|warning|Build complete" || true
    "$bin/ForwardBench" 200000 100000
    echo
    echo "### TCP soak: 100 MB per impairment case, SYN flood, 100k connection cycles (TCPSoak)"
    swift build -c release --product TCPSoak 2>&1 | grep -E "error|warning|Build complete" || true
    "$bin/TCPSoak" --mb 100 --churn 100000 --flood-rate 10000 --flood-seconds 10
    echo
    echo "### In-process TCP over a veth, real time (InprocBench; Benchmarks/scripts/inproc-compare.sh puts Linux and gVisor beside it)"
    swift build -c release --product InprocBench 2>&1 | grep -E "error|warning|Build complete" || true
    "$bin/InprocBench" bulk -t 1
    "$bin/InprocBench" bulk -t 1 -nogso
    "$bin/InprocBench" rr -t 1
    "$bin/InprocBench" crr -t 1
    "$bin/InprocBench" idle -n 20000
fi
exit $ratio_status
