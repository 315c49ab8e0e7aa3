#!/usr/bin/env bash
# Fuzz every NetWire parser, and the stack's whole receive path, with
# libFuzzer for SECONDS each (default 10).
#
#   Fuzz/run.sh [SECONDS] [TARGET...]
#
# Builds one binary (NetWire sources + Fuzz/Targets.swift, -O, ASan +
# libFuzzer) into Fuzz/bin/, seeds each target from the project's real
# captures, and runs each target bounded in time, memory and per-input time.
# The `stack` target (Fuzz/Stack/StackTarget.swift) links NetWire and
# Netstack built as static libraries with the same instrumentation into
# Fuzz/bin/fuzz-stack: frames into a forwarding router namespace, timers
# drained, and every buffer back in the pool afterwards.
# Exits non-zero on the first crash, leak, timeout or broken round trip;
# libFuzzer leaves the failing input as Fuzz/bin/crash-* (or leak-/timeout-).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
all=(ethernet vlan arp ipv4 ipv6 icmpv4 icmpv6 udp tcp vxlan capture summary checksum stack)
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

# The stack target: the libraries are rebuilt when any of their sources changed.
if [[ " ${targets[*]} " == *" stack "* ]]; then
    stack_bin=Fuzz/bin/fuzz-stack
    lib_sources=(Sources/NetWire/*.swift $(find Sources/Netstack -name '*.swift') Fuzz/Stack/StackTarget.swift)
    if [ ! -x "$stack_bin" ] || [ -n "$(find "${lib_sources[@]}" -newer "$stack_bin" 2>/dev/null)" ]; then
        echo "fuzz: building $stack_bin"
        flags=(-parse-as-library -O -sanitize=fuzzer,address -enable-testing -I Fuzz/bin -L Fuzz/bin)
        quiet() { grep -v "Cannot export local symbol '__asan" || true; }
        rm -f Fuzz/bin/libNetWire.a Fuzz/bin/libNetstack.a "$stack_bin"
        swiftc "${flags[@]}" -module-name NetWire -emit-module -emit-module-path Fuzz/bin/NetWire.swiftmodule \
            -emit-library -static -o Fuzz/bin/libNetWire.a Sources/NetWire/*.swift 2>&1 | quiet
        swiftc "${flags[@]}" -module-name Netstack -emit-module -emit-module-path Fuzz/bin/Netstack.swiftmodule \
            -emit-library -static -o Fuzz/bin/libNetstack.a $(find Sources/Netstack -name '*.swift') 2>&1 | quiet
        swiftc "${flags[@]}" -lNetstack -lNetWire Fuzz/Stack/StackTarget.swift -o "$stack_bin" 2>&1 | quiet
        [ -x "$stack_bin" ] || { echo "fuzz: stack target build failed" >&2; exit 1; }
    fi
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
    binary=./fuzz-netwire; max_len=70000
    [ "$t" = stack ] && { binary=./fuzz-stack; max_len=4096; }
    if ! FUZZ_TARGET=$t $binary "$work/corpus/$t" $seeds -max_total_time="$seconds" -timeout=5 \
            -rss_limit_mb=2048 -max_len=$max_len -print_final_stats=1 >"$log" 2>&1; then
        echo "fuzz: $t FAILED" >&2
        tail -40 "$log" >&2
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    printf 'fuzz: %-9s ok  %s runs in %ss, %s\n' "$t" "$runs" "$seconds" "$cov"
done
