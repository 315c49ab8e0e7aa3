#!/usr/bin/env bash
# The peers harness's SUT_TAP_CMD for swift-netstack (issue 5 figures):
#
#   PEERS_BUILD=$PWD/.build-peers PEERS_OUT=$PWD/.build-peers/results-$(date +%s) \
#   SUT_NAME=netstack SUT_TAP_CMD="$PWD/Benchmarks/scripts/peers-sut-cmd.sh" \
#     ../shared/peers/run.sh quick kernel gvisor sut
#
# The harness runs this in its TAP namespace with PEERS_TAP_DEV,
# PEERS_SUT_IP and PEERS_SUT_PREFIX set; it prepends them as assignments
# to peers-sut.sh and execs `netstack run` on the result (exec: the
# harness signals and measures this very PID). NETSTACK (default: the
# release build) picks the binary; the control socket is private to the
# run ($NETSTACK_CONTROL, default /tmp/netstack-peers-PID.sock).
# NETSTACK_VNET=1 opens the TAP with vnet_hdr (TSO/checksum offloads);
# NETSTACK_BUSY_POLL=N sets net.core.busy_poll to N µs (default 0);
# NETSTACK_POLL_USECS=N is `netstack run --poll-usecs N` (default: run's own).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${NETSTACK:-$here/../../.build/release/netstack}
: "${PEERS_TAP_DEV:?}" "${PEERS_SUT_IP:?}" "${PEERS_SUT_PREFIX:=24}"
export NETSTACK_CONTROL=${NETSTACK_CONTROL:-/tmp/netstack-peers-$$.sock}
flags=""
[ "${NETSTACK_VNET:-0}" = 1 ] && flags=vnet_hdr
script=$(printf 'PEERS_TAP_DEV=%s\nPEERS_SUT_IP=%s\nPEERS_SUT_PREFIX=%s\nPEERS_TAP_FLAGS=%s\nPEERS_BUSY_POLL=%s\n' \
    "$PEERS_TAP_DEV" "$PEERS_SUT_IP" "$PEERS_SUT_PREFIX" "$flags" "${NETSTACK_BUSY_POLL:-0}"; cat "$here/peers-sut.sh")
exec "$bin" run ${NETSTACK_POLL_USECS:+--poll-usecs "$NETSTACK_POLL_USECS"} - <<<"$script"
