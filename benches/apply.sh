#!/usr/bin/env bash
# Apply benchmark: hostwall's one-send netlink apply vs `nft -f` of the same
# ruleset's text form, interleaved, in a throwaway network namespace.
# Prints per-shape medians, ratios, and the kernel's own time for the batch
# (the time spent inside the single sendmsg, as measured by hostwall), the
# batch build time, the rest (mostly the socket close, which
# waits for the kernel's deferred release of the committed transaction: an RCU
# grace period; nft -f pays it at exit too), and peak memory vs batch size.
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

printf '%-16s %9s %8s %9s %8s %9s %8s %8s %8s %8s\n' \
    shape hostwall build kernel other nft-f batchMB peakMB hw/kern nft/hw
for s in $SHAPES; do
    shape=${s%%:*}; n=${s##*:}
    "$BIN" "$shape" "$n" text > "$TMP/rs.nft"
    for f in hw build kern other nft rss; do : > "$TMP/$f"; done
    for ((i = 0; i < RUNS; i++)); do
        nft flush ruleset
        line=$(/usr/bin/time -f "maxrss_kb=%M" "$BIN" "$shape" "$n" apply 2>&1)
        get() { sed -nE "s/.*$1=([0-9.]+).*/\1/p" <<<"$line" | head -1; }
        total=$(get total_ms); build=$(get build_ms); kern=$(get sendmsg_ms)
        sa=$(get send_ack_ms); bytes=$(get bytes)
        echo "$total" >> "$TMP/hw"; echo "$build" >> "$TMP/build"; echo "$kern" >> "$TMP/kern"
        awk -v t="$total" -v b="$build" -v s="$sa" 'BEGIN {print t - b - s}' >> "$TMP/other"
        echo "$(get maxrss_kb)" >> "$TMP/rss"
        nft flush ruleset
        t0=$(ms); nft -f "$TMP/rs.nft"; t1=$(ms)
        awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", (b - a) / 1e6}' >> "$TMP/nft"
    done
    m() { median < "$TMP/$1"; }
    awk -v s="$shape:$n" -v hw="$(m hw)" -v bu="$(m build)" -v k="$(m kern)" -v af="$(m other)" \
        -v nf="$(m nft)" -v b="$bytes" -v rss="$(m rss)" 'BEGIN {
        printf "%-16s %7.1fms %6.1fms %7.1fms %6.1fms %7.1fms %8.1f %8.0f %7.2fx %7.2fx\n",
            s, hw, bu, k, af, nf, b / 1048576, rss / 1024, hw / k, nf / hw }'
done
echo "hostwall = whole apply() (genid read, batch build, one sendmsg, replies, genid check, close);"
echo "build = IR -> batch; kernel = time inside the one sendmsg; other = hostwall - build - send/replies"
echo "(socket open, genid reads, and the close, which waits for the kernel's deferred release of the"
echo "committed transaction: an RCU grace period); nft-f = wall time of"
echo "nft -f on the text form; peakMB = max RSS of the apply process (it also holds the generated IR)."
echo "Medians of $RUNS interleaved runs. $(uptime | sed 's/.*load average/load average/')"
