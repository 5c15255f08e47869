#!/usr/bin/env bash
# Apply benchmark: hostwall's one-send netlink apply vs `nft -f` of the same
# ruleset's text form, interleaved, in a throwaway network namespace.
# Prints per-shape medians, ratios, and the kernel's own time for the batch
# (the time spent inside the single sendmsg, as measured by hostwall).
#
#   benches/apply.sh [RUNS]        (default 5; needs root; never touches the
#                                   namespace it is started in)
# Shapes: 10k rules; 10k ports; 100k and 1M IPv4 prefixes. SHAPES="rules:10000"
# overrides the list.
set -euo pipefail
RUNS=${1:-5}
SHAPES=${SHAPES:-"rules:10000 ports:10000 prefixes:100000 prefixes:1000000"}
cd "$(dirname "$0")/.."

if [[ "${HW_BENCH_INNER:-}" != 1 ]]; then
    cargo build --release --example apply_bench >&2
    # Re-run this script inside a fresh network namespace (dies with it).
    exec unshare --net env HW_BENCH_INNER=1 "$0" "$@"
fi

BIN=target/release/examples/apply_bench
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ms() { date +%s%N; }

printf '%-18s %10s %10s %10s %10s %9s %9s\n' shape hostwall kernel nft-f batchMB hw/kern nft/hw
for s in $SHAPES; do
    shape=${s%%:*}; n=${s##*:}
    "$BIN" "$shape" "$n" text > "$TMP/rs.nft"
    : > "$TMP/hw"; : > "$TMP/kern"; : > "$TMP/nft"
    for ((i = 0; i < RUNS; i++)); do
        nft flush ruleset
        line=$("$BIN" "$shape" "$n" apply)
        total=$(sed -E 's/.*total_ms=([0-9.]+).*/\1/' <<<"$line")
        kern=$(sed -E 's/.*sendmsg_ms=([0-9.]+).*/\1/' <<<"$line")
        bytes=$(sed -E 's/.*bytes=([0-9]+).*/\1/' <<<"$line")
        echo "$total" >> "$TMP/hw"; echo "$kern" >> "$TMP/kern"
        nft flush ruleset
        t0=$(ms); nft -f "$TMP/rs.nft"; t1=$(ms)
        awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", (b - a) / 1e6}' >> "$TMP/nft"
    done
    hw=$(median < "$TMP/hw"); kern=$(median < "$TMP/kern"); nftm=$(median < "$TMP/nft")
    awk -v s="$shape:$n" -v hw="$hw" -v k="$kern" -v nf="$nftm" -v b="$bytes" 'BEGIN {
        printf "%-18s %8.1fms %8.1fms %8.1fms %10.1f %8.2fx %8.2fx\n", s, hw, k, nf, b / 1048576, hw / k, nf / hw }'
done
echo "hostwall = whole apply() (genid read, batch build, one sendmsg, replies, genid check);"
echo "kernel = time inside the one sendmsg; nft-f = wall time of nft -f on the text form. Medians of $RUNS runs."
