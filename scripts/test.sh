#!/usr/bin/env bash
# The whole test run (README "Run all tests"): installs what the tests need on
# a fresh Debian machine, then builds and runs every layer of tests.
#
#   scripts/test.sh            everything (needs root for apt and namespaces)
#   FUZZ_SECONDS=60 scripts/test.sh    longer fuzzing smoke
#   SKIP_BENCH=1 scripts/test.sh       skip the release benchmark run
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==== %s\n' "$*"; }

# --- dependencies ---------------------------------------------------------
need_pkgs=()
command -v tshark  >/dev/null || need_pkgs+=(tshark)
command -v tcpdump >/dev/null || need_pkgs+=(tcpdump)
command -v editcap >/dev/null || need_pkgs+=(wireshark-common)
command -v ip      >/dev/null || need_pkgs+=(iproute2)
# The differential tests run the same scripts on the kernel: iputils ping,
# OpenBSD nc (-u -w), procps sysctl and util-linux unshare must exist there.
command -v ping    >/dev/null || need_pkgs+=(iputils-ping)
command -v nc.openbsd >/dev/null || need_pkgs+=(netcat-openbsd)
command -v sysctl  >/dev/null || need_pkgs+=(procps)
command -v unshare >/dev/null || need_pkgs+=(util-linux)
/usr/bin/python3 -c 'import scapy' 2>/dev/null || need_pkgs+=(python3-scapy)
command -v socat   >/dev/null || need_pkgs+=(socat)
command -v curl    >/dev/null || need_pkgs+=(curl)
command -v iperf3  >/dev/null || need_pkgs+=(iperf3)
command -v ethtool >/dev/null || need_pkgs+=(ethtool)
command -v bc      >/dev/null || need_pkgs+=(bc)
# libFuzzer's runtime for `swiftc -sanitize=fuzzer` ships with the Swift
# toolchain; clang's rt package adds nothing it needs, so it is not listed.
if ((${#need_pkgs[@]})); then
    step "installing: ${need_pkgs[*]}"
    if [ "$(id -u)" -ne 0 ]; then echo "need root to apt-get install ${need_pkgs[*]}" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH (expected the Swift 6.3 toolchain)" >&2; exit 1; }

# --- build and unit/integration tests (debug) -----------------------------
step "swift build (debug, warnings are errors in CI)"
swift build --build-tests 2>&1 | tee /tmp/netstack-build.log | grep -E "warning:|error:" || true
if grep -qE "^/.*(warning|error):" /tmp/netstack-build.log; then
    echo "build produced warnings or errors" >&2; exit 1
fi

step "swift test"
set +e
swift test --skip-build > /tmp/netstack-test.log 2>&1
rc=$?
set -e
# Failures in full, then the runners' closing lines (Swift Testing and XCTest).
grep -E "✘|error:|Test run with|Executed [1-9][0-9]* test" /tmp/netstack-test.log || true
if [ "$rc" -ne 0 ]; then echo "swift test failed ($rc); full log in /tmp/netstack-test.log" >&2; exit "$rc"; fi

# --- release build: zero warnings too -------------------------------------
step "swift build -c release"
swift build -c release 2>&1 | tee /tmp/netstack-release.log | grep -E "warning:|error:" || true
if grep -qE "^/.*(warning|error):" /tmp/netstack-release.log; then
    echo "release build produced warnings or errors" >&2; exit 1
fi

# --- fuzzing smoke ---------------------------------------------------------
step "interop with the Linux kernel over TAP (scripts/interop.sh)"
scripts/interop.sh "$root/.build/release/netstack"

step "UDP segmentation offload with the Linux kernel over a vnet_hdr TAP (scripts/uso-check.sh)"
scripts/uso-check.sh "$root/.build/release/netstack"

conformance=$root/../shared/conformance
if [ -x "$conformance/run-tap-sut.sh" ]; then
    step "conformance suite over TAP ($conformance)"
    SUT_CMD="$root/.build/release/netstack run $conformance/netstack-sut.sh" \
        TESTER_NS="cf-tester-$$" NETSTACK_CONTROL="/tmp/cf-control.$$.sock" "$conformance/run-tap-sut.sh"
else
    echo "conformance suite not found at $conformance: not run" >&2
fi

if [ -x Fuzz/run.sh ]; then
    step "fuzzing smoke (${FUZZ_SECONDS:-10}s per target)"
    Fuzz/run.sh "${FUZZ_SECONDS:-10}"
fi

# --- benchmarks (release, side by side, budgets checked) ------------------
if [ -z "${SKIP_BENCH:-}" ] && [ -x Benchmarks/run.sh ]; then
    step "benchmarks"
    Benchmarks/run.sh --check
fi

step "all tests passed"
