#!/usr/bin/env bash
# The kernel's cost of changing interval sets (a benchmark, not a test; nft is only the
# oracle that sends the batches): the time of one batch inside sendmsg (`strace -T`, so
# nft's own parsing and cache reads are not counted) for
#   size   adding, then deleting, K elements at the start / middle / end of one interval
#          set of N elements (N /30 prefixes, 8 addresses apart; the K new ones sit in the
#          gaps), for N in SIZES and K in KS (default 1 100; K=1000 on 16,384 takes nft
#          itself minutes under load: KS="1 100 1000" to include it);
#   sets   adding one element to each of M sets of N elements in one batch (N 1024, 4096).
# Usage: [KS="..."] benches/set_cost.sh [RUNS] [SIZES...]   (root; one throwaway namespace)
# Figures and what they mean for the split of big lists: docs/policy-language.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
runs=${1:-5}
shift || true
sizes=("${@:-1024 4096 16384}")
read -r -a sizes <<<"${sizes[*]}"
bench_netns setcost
in_ns() { ip netns exec "$ns" "$@"; }

# $1 elements from index $2 ($3: 0 the listed prefixes, 4 the gaps between them).
prefixes() {
  awk -v n="$1" -v from="$2" -v off="$3" 'BEGIN {
    for (i = from; i < from + n; i++) { v = i * 8 + off
      printf "%s10.%d.%d.%d/30", (i > from ? ", " : ""), int(v / 65536) % 256, int(v / 256) % 256, v % 256 } }'
}
# The set "s$1" of $2 elements in table t.
make_set() {
  echo "add set inet t s$1 { type ipv4_addr; flags interval; }"
  echo "add element inet t s$1 { $(prefixes "$2" 0 0) }"
}
# Microseconds inside sendmsg (the batch) of `nft -f $1`.
batch_us() {
  in_ns strace --seccomp-bpf -f -T -e trace=sendmsg nft -f "$1" 2>&1 >/dev/null |
    sed -n 's/.*<\([0-9.]*\)>$/\1/p' | awk '{s += $1} END {printf "%d\n", s * 1e6}'
}

echo "medians of $runs runs, us in the kernel (sendmsg); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-6s %6s %10s %10s\n' N at K add_us del_us
for n in "${sizes[@]}"; do
  { echo "add table inet t"; make_set 0 "$n"; } >"$tmp/base.nft"
  in_ns nft flush ruleset; in_ns nft -f "$tmp/base.nft"
  for k in ${KS:-1 100}; do
    ((k < n)) || continue
    for at in start middle end; do
      case $at in start) from=0 ;; middle) from=$(((n - k) / 2)) ;; end) from=$((n - k)) ;; esac
      echo "add element inet t s0 { $(prefixes "$k" "$from" 4) }" >"$tmp/add.nft"
      sed 's/^add/delete/' "$tmp/add.nft" >"$tmp/del.nft"
      : >"$tmp/a"; : >"$tmp/d"
      for _ in $(seq "$runs"); do
        batch_us "$tmp/add.nft" >>"$tmp/a"
        batch_us "$tmp/del.nft" >>"$tmp/d"
      done
      printf '%-8s %-6s %6s %10s %10s\n' "$n" "$at" "$k" "$(median <"$tmp/a")" "$(median <"$tmp/d")"
    done
  done
done

echo
printf '%-8s %4s %10s %10s\n' N M add_us del_us
for n in 1024 4096; do
  for m in 1 4 8; do
    { echo "add table inet t"; for s in $(seq "$m"); do make_set "$s" "$n"; done; } >"$tmp/base.nft"
    in_ns nft flush ruleset; in_ns nft -f "$tmp/base.nft"
    : >"$tmp/add.nft"
    for s in $(seq "$m"); do echo "add element inet t s$s { $(prefixes 1 $((n / 2)) 4) }" >>"$tmp/add.nft"; done
    sed 's/^add/delete/' "$tmp/add.nft" >"$tmp/del.nft"
    : >"$tmp/a"; : >"$tmp/d"
    for _ in $(seq "$runs"); do
      batch_us "$tmp/add.nft" >>"$tmp/a"
      batch_us "$tmp/del.nft" >>"$tmp/d"
    done
    printf '%-8s %4s %10s %10s\n' "$n" "$m" "$(median <"$tmp/a")" "$(median <"$tmp/d")"
  done
done
echo "add_us/del_us: one batch adding/deleting the K (or M) elements; nft -f's parsing is not in it."
