#!/usr/bin/env bash
# Builds and runs the NetWire libFuzzer targets.
#
#   Fuzz/run.sh [SECONDS] [TARGET...]      default: 60 s each, every target in targets.txt
#   Fuzz/run.sh --build-only [TARGET...]
#
# Each target is `swiftc -sanitize=fuzzer,address -parse-as-library -O` over
# Sources/NetWire/*.swift + Targets/FuzzSupport.swift + Targets/<Name>.swift,
# written to Fuzz/bin/<Name> (gitignored). Each runs for SECONDS with a
# 5 s per-input timeout and a 2 GiB RSS limit, starting from the seeds in
# Corpus/<Name>/ (read-only) and a working corpus in bin/corpus/<Name>/.
# Crashing inputs land in bin/artifacts/<Name>/. Exit status is non-zero if
# any target fails to build or finds a crash.
#
# Reproduce a crash:  SWIFT_BACKTRACE=enable=no Fuzz/bin/<Name> Fuzz/bin/artifacts/<Name>/crash-…
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="$here/bin"

seconds=60
build_only=0
if [[ "${1:-}" == "--build-only" ]]; then build_only=1; shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds="$1"; shift
fi

if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(grep -v -E '^\s*(#|$)' "$here/targets.txt")
fi

# A Swift runtime crash would otherwise start swift-backtrace, which waits
# on an interactive terminal; libFuzzer must see the signal at once.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"

mkdir -p "$bin"
sources=("$root"/Sources/NetWire/*.swift)
status=0
declare -a rows=()

for name in "${targets[@]}"; do
    target="$here/Targets/$name.swift"
    if [[ ! -f "$target" ]]; then echo "no such target: $target" >&2; status=1; continue; fi
    echo "== build $name"
    start=$(date +%s)
    # -O for speed; -g so ASan and libFuzzer reports name lines.
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
            -module-name "$name" -o "$bin/$name" \
            "${sources[@]}" "$here/Targets/FuzzSupport.swift" "$target" \
            2> >(grep -v "Cannot export local symbol '__asan" >&2); then
        echo "BUILD FAILED: $name" >&2; status=1; rows+=("$name build-failed - - - -"); continue
    fi
    echo "   built in $(( $(date +%s) - start )) s"
    ((build_only)) && continue

    work="$bin/corpus/$name"; artifacts="$bin/artifacts/$name"; seeds="$here/Corpus/$name"
    mkdir -p "$work" "$artifacts" "$seeds"
    log="$bin/$name.log"
    echo "== run $name for $seconds s (log: ${log#$root/})"
    "$bin/$name" "$work" "$seeds" \
        -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if ((rc == 0)); then result=ok; else result="CRASH(rc=$rc)"; status=1; grep -m5 -E 'ERROR|fuzz check failed|Fatal error|SUMMARY' "$log" >&2; fi
    rows+=("$name $result ${execs:--} ${rate:--} ${cov:--} ${rss:--}")
done

if ((!build_only)); then
    echo
    printf '%-18s %-14s %12s %10s %6s %8s\n' target result execs exec/s cov rss_MB
    for row in "${rows[@]}"; do
        # shellcheck disable=SC2086
        printf '%-18s %-14s %12s %10s %6s %8s\n' $row
    done
fi
exit $status
