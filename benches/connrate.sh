#!/usr/bin/env bash
# Connection-rate benchmark: new TCP connections per second from a client
# namespace to the LAST allowed port of a host namespace, with no ruleset,
# with hostwall's ruleset for a policy of N allowed ports (one interval set,
# one lookup per new connection), and with N linear `tcp dport P accept` rules
# loaded by nft -f (the reference). Interleaved rounds; prints medians, the
# ratio of medians to no-ruleset, and the median of per-round paired ratios.
#
#   benches/connrate.sh [ROUNDS] [SECONDS]   (default 5 rounds of 3 s; root)
#   PORTS=10000 THREADS=2 benches/connrate.sh
#
# Two throwaway namespaces (hw-crh-PID, hw-crc-PID) joined by a veth; both are
# removed on every exit path. Nothing touches the namespace it is started in:
# the veth is created inside the host namespace, all traffic stays between the
# two, and every loop is bounded by time.
set -euo pipefail
ROUNDS=${1:-5}
SECS=${2:-3}
PORTS=${PORTS:-10000}
THREADS=${THREADS:-2}
cd "$(dirname "$0")/.."
cargo build --release --example connrate >&2
BIN=$PWD/target/release/examples/connrate

H=hw-crh-$$
C=hw-crc-$$
TMP=$(mktemp -d)
SERVER=
cleanup() {
    set +e # every step runs, whatever failed before
    if [[ -n "$SERVER" ]]; then
        kill "$SERVER" 2>/dev/null
        wait "$SERVER" 2>/dev/null
    fi
    ip netns del "$H" 2>/dev/null || true
    ip netns del "$C" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$H"
ip netns add "$C"
ip -n "$H" link add vh type veth peer name vc netns "$C"
ip -n "$H" addr add 10.201.0.1/24 dev vh
ip -n "$C" addr add 10.201.0.2/24 dev vc
for ns in "$H" "$C"; do
    ip -n "$ns" link set lo up
done
ip -n "$H" link set vh up
ip -n "$C" link set vc up
# Wide ephemeral range in the client namespace (its own sysctl, not the host's).
ip netns exec "$C" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"

LAST=$((10000 + 2 * (PORTS - 1)))
"$BIN" linear "$PORTS" > "$TMP/linear.nft"
TOTAL=$(( (ROUNDS * 3 + 1) * (SECS + 10) + 60 ))
ip netns exec "$H" "$BIN" serve "10.201.0.1:$LAST" "$TOTAL" > "$TMP/server.out" &
SERVER=$!
sleep 0.3

set_ruleset() {
    ip netns exec "$H" nft flush ruleset
    case $1 in
        none) ;;
        hostwall) ip netns exec "$H" "$BIN" policy "$PORTS" > "$TMP/policy.out" ;;
        linear) ip netns exec "$H" nft -f "$TMP/linear.nft" ;;
    esac
}
measure() {
    ip netns exec "$C" "$BIN" connect "10.201.0.1:$LAST" "$SECS" "$THREADS"
}

set_ruleset none
measure > /dev/null # warm-up
echo "load: $(uptime | sed 's/.*load average/load average/')"
for ((r = 1; r <= ROUNDS; r++)); do
    for cfg in none hostwall linear; do
        set_ruleset "$cfg"
        line=$(measure)
        echo "round $r $cfg $line" >&2
        sed -E 's/.*rate=([0-9.]+).*/\1/' <<<"$line" >> "$TMP/$cfg"
    done
done
set_ruleset none
echo "hostwall ruleset: $(cat "$TMP/policy.out")"
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
base=$(median < "$TMP/none")
# Paired: each round's rate over the same round's no-ruleset rate, so a load
# change on the (shared) machine between rounds cancels out.
paired() { paste "$TMP/$1" "$TMP/none" | awk '{printf "%.4f\n", $1 / $2}' | median; }
printf '%-10s %12s %10s %12s\n' ruleset 'conns/s' 'vs none' 'paired'
for cfg in none hostwall linear; do
    m=$(median < "$TMP/$cfg")
    awk -v c="$cfg" -v m="$m" -v b="$base" -v p="$(paired "$cfg")" \
        'BEGIN { printf "%-10s %12.0f %9.2fx %11.2fx\n", c, m, m / b, p }'
done
echo "Medians of $ROUNDS interleaved rounds of ${SECS}s, $THREADS client threads, port $LAST"
echo "(the last of $PORTS allowed ports). load: $(uptime | sed 's/.*load average/load average/')"
