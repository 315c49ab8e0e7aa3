#!/usr/bin/env bash
# Fuzz every NetWire parser with libFuzzer for SECONDS each (default 10).
#
#   Fuzz/run.sh [SECONDS] [TARGET...]
#
# Builds one binary (NetWire sources + Fuzz/Targets.swift, -O, ASan +
# libFuzzer) into Fuzz/bin/, seeds each target from the project's real
# captures, and runs each target bounded in time, memory and per-input time.
# Exits non-zero on the first crash, leak, timeout or broken round trip;
# libFuzzer leaves the failing input as Fuzz/bin/crash-* (or leak-/timeout-).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
all=(ethernet vlan arp ipv4 ipv6 icmpv4 icmpv6 udp tcp vxlan capture summary checksum)
targets=("${@:-${all[@]}}")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

mkdir -p Fuzz/bin
bin=Fuzz/bin/fuzz-netwire
sources=(Sources/NetWire/*.swift Fuzz/Targets.swift)
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" -newer "$bin" 2>/dev/null)" ]; then
    echo "fuzz: building $bin"
    # ld.gold's "Cannot export local symbol __asan_*" lines are noise from
    # the sanitizer runtime, not from our code.
    swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name NetWireFuzz \
        "${sources[@]}" -o "$bin" 2>&1 | grep -v "Cannot export local symbol '__asan" || true
    [ -x "$bin" ] || { echo "fuzz: build failed" >&2; exit 1; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/env python3 Fuzz/seeds.py "$work/seeds" Tests/Fixtures/capture/*.pcap* Tests/NetWireTests/Fixtures/*.pcap

cd Fuzz/bin
# A trap must end the process at once: Swift's interactive backtracer can
# hang for minutes under ASan's shadow memory.
export SWIFT_BACKTRACE=enable=no
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t"
    seeds="$work/seeds/$t"; [ -d "$seeds" ] || seeds=""
    log="$work/$t.log"
    if ! FUZZ_TARGET=$t ./fuzz-netwire "$work/corpus/$t" $seeds -max_total_time="$seconds" -timeout=5 \
            -rss_limit_mb=2048 -max_len=70000 -print_final_stats=1 >"$log" 2>&1; then
        echo "fuzz: $t FAILED" >&2
        tail -40 "$log" >&2
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    printf 'fuzz: %-9s ok  %s runs in %ss, %s\n' "$t" "$runs" "$seconds" "$cov"
done
