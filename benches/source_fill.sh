#!/usr/bin/env bash
# How much a full per-source limit set costs `hostwall metrics` and `diff --check`
# (a benchmark, not a test): a policy with one `limit ... per source` line is applied,
# its IPv4 set filled with ENTRIES entries by `nft`, and applied again (unchanged: the
# record then proves the fast path); then the median wall time of the whole process
# of `metrics` and `diff --check` on the fast path, with the set empty and full, and
# in process the set read counted (`live::learned::fill`, what both read) against
# decoded (`live::learned::read`) (examples/source_fill_read.rs).
# Usage: benches/source_fill.sh [ENTRIES] [RUNS]   (as root; namespace and temp files
# removed on exit; needs nft).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
entries=${1:-65534}
runs=${2:-21}

bench_hostwall source_fill_read
bench_netns srcfill
mkdir -m 0700 "$tmp/state"
cat >"$tmp/sl.policy" <<'POLICY'
policy sl {
    allow ssh limit 10/minute per source
}
POLICY
common=(--netns "$ns" --state-dir "$tmp/state")

time_it() { # command... -> median microseconds over $runs runs
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    echo $((($(date +%s%N) - t0) / 1000))
  done | median
}
ms() { awk -v u="$1" 'BEGIN{printf "%.1f", u/1000}'; }

row() { # label
  "$bin" apply --insecure-perms "${common[@]}" "$tmp/sl.policy" >/dev/null 2>&1
  "$bin" metrics "${common[@]}" "$tmp/sl.policy" | grep -q '^hostwall_fast_path 1' ||
    { echo "metrics not on the fast path" >&2; exit 1; }
  local m d read
  m=$(time_it "$bin" metrics "${common[@]}" "$tmp/sl.policy")
  d=$(time_it "$bin" diff --check "${common[@]}" "$tmp/sl.policy")
  read=$(target/release/examples/source_fill_read "$ns" hostwall "$runs")
  printf '%-8s %8s %10s %14s %10s %10s\n' "$1" "$(echo "$read" | cut -d' ' -f3)" \
    "$(ms "$m")" "$(ms "$d")" "$(ms "$(echo "$read" | cut -d' ' -f1)")" \
    "$(ms "$(echo "$read" | cut -d' ' -f2)")"
}

echo "runs: $runs; medians in ms; 'entries': both sets together"
printf '%-8s %8s %10s %14s %10s %10s\n' set entries metrics diff-check counted decoded
row empty
awk -v n="$entries" 'BEGIN {
  printf "add element inet hostwall allow_limit4 { "
  for (i = 0; i < n; i++) printf "%s100.%d.%d.%d timeout 1h", (i ? ", " : ""), 64 + int(i / 65536), int(i / 256) % 256, i % 256
  print " }"
}' | ip netns exec "$ns" nft -f -
row full
