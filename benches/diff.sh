#!/usr/bin/env bash
# Issue #4 speed check (a benchmark, not a test): median wall time of hostwall's live
# read + decode of a 100,000-element table vs `nft list table inet hostwall`, in the same
# throwaway network namespace, runs interleaved, and their ratio (target: <= 0.5).
# Both commands start under `ip netns exec`, so process start-up is counted on both sides.
# Usage: benches/diff.sh [ELEMENTS] [RUNS] [MAX]   (as root; the namespace is removed on exit)
# The table is the one hostwall compiles for a policy with an ELEMENTS-network `define`;
# MAX is the compiler's largest set before it splits (default: hostwall's; 0: one set).
#
# Recorded (2-core shared dev VM, load average ~2-4 from other jobs, kernel 6.18, nftables
# 1.0.6, 100,000 /30 networks = 200,000 kernel elements, 11 interleaved runs):
#   one set (MAX=0, the old layout): hostwall 955-1137 ms, nft 1246-1621 ms, ratio 0.70-0.77.
#   `strace -c`: 99.7% of hostwall's read is inside recvmsg. The kernel's rbtree set dump
#   (nft_rbtree_walk) restarts from the first element for every 32 KiB message and skips
#   what earlier messages held (nf_tables_dump_set: iter.skip = cb->args[0]): quadratic.
#   default layout (sets of at most 16,384, 7 sets): hostwall 202 ms, nft 569 ms, ratio 0.36.
# benches/set_split.sh sweeps the set size (read time vs. rules per packet).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
n=${1:-100000}
runs=${2:-11}
max=${3:-}

bench_example live_bench
bench_netns diff

"$bin" gen "$n" $max >"$tmp/table.nft"
sets=$(grep -c '^\s*set ' "$tmp/table.nft")
t0=$(date +%s%N)
ip netns exec "$ns" nft -f "$tmp/table.nft"
load=$((($(date +%s%N) - t0) / 1000000))
got=$(ip netns exec "$ns" "$bin" read hostwall)
[ "$got" = "$n" ] || { echo "decoded $got elements, expected $n" >&2; exit 1; }

ms() { # wall milliseconds of one command, output discarded
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

for _ in $(seq "$runs"); do
  ms ip netns exec "$ns" "$bin" read hostwall >>"$tmp/hostwall"
  ms ip netns exec "$ns" nft list table inet hostwall >>"$tmp/nft"
done
hw=$(median <"$tmp/hostwall")
nf=$(median <"$tmp/nft")
echo "elements:                         $n (in $((sets - 1)) address sets + icmpv6_nd)"
echo "nft -f load (once):               ${load} ms"
echo "runs (interleaved):               $runs"
echo "hostwall live read+decode median: ${hw} ms"
echo "nft list table median:            ${nf} ms"
awk -v a="$hw" -v b="$nf" 'BEGIN { printf "ratio hostwall/nft:               %.2f (target <= 0.50)\n", (b > 0 ? a / b : 0) }'
