#!/usr/bin/env bash
# `hostwall metrics` and `hostwall diff` speed (a benchmark, not a test): median wall
# time of the whole process, on the fast path (apply record digest matches, generation
# id unchanged) and with --full (compile, dump, compare), for the built-in kvm-host
# policy and a policy with CIDRS addresses, each as shipped and with `counter` on every
# rule plus `count rejected` (metrics then reads and labels the counters); and the
# in-process cost of the counters read alone (examples/counters_read.rs).
# Usage: benches/metrics.sh [CIDRS] [RUNS]   (as root; namespace and temp files removed
# on exit). Needs the release build and the gen_policy example (built here).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
cidrs=${1:-100000}
runs=${2:-21}

bench_hostwall gen_policy
cargo build --release --quiet --example counters_read
bench_netns metrics
mkdir -m 0700 "$tmp/state"
target/release/examples/gen_policy "$cidrs" 10 >"$tmp/big.policy"
cp policies/kvm-host.policy "$tmp/kvm.policy"
# `counter` on every allow line (before its comment), and `count rejected`.
counted() { sed -E 's/^(    allow [^#]*[^ #])( *#.*)?$/\1 counter\2/; s/^}$/    count rejected\n}/' "$1"; }
counted "$tmp/kvm.policy" >"$tmp/kvm-counted.policy"
counted "$tmp/big.policy" >"$tmp/big-counted.policy"

ms() { awk -v u="$1" 'BEGIN{printf "%.1f", u/1000}'; }
time_it() { # command... -> median microseconds over $runs runs
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || [ $? -eq 1 ]
    echo $((($(date +%s%N) - t0) / 1000))
  done | median
}

row() { # label policy-file
  "$bin" apply --insecure-perms --netns "$ns" --state-dir "$tmp/state" "$2" 2>/dev/null
  local common=(--netns "$ns" --state-dir "$tmp/state")
  "$bin" metrics "${common[@]}" "$2" | grep -q '^hostwall_fast_path 1' ||
    { echo "metrics not on the fast path: $2" >&2; exit 1; }
  local series
  series=$("$bin" metrics "${common[@]}" "$2" | grep -c '^hostwall_rule_packets_total' || true)
  local df dF mf mF
  df=$(time_it "$bin" diff "${common[@]}" "$2")
  dF=$(time_it "$bin" diff --full "${common[@]}" "$2")
  mf=$(time_it "$bin" metrics "${common[@]}" "$2")
  mF=$(time_it "$bin" metrics --full "${common[@]}" "$2")
  local read
  read=$(target/release/examples/counters_read "$ns" hostwall "$runs" | cut -d' ' -f1)
  printf '%-22s %6s %9s %9s %9s %9s %8sx %9s\n' "$1" "$series" "$(ms "$df")" "$(ms "$dF")" \
    "$(ms "$mf")" "$(ms "$mF")" "$(awk -v a="$mF" -v b="$mf" 'BEGIN{printf "%.1f", a/b}')" \
    "$(awk -v u="$read" 'BEGIN{printf "%.2f", u/1000}')"
}

echo "runs: $runs; medians in ms of the whole process; 'series': counted rule series"
printf '%-22s %6s %9s %9s %9s %9s %9s %9s\n' policy series diff-fast diff-full metr-fast metr-full full/fast ctr-read
row kvm-host "$tmp/kvm.policy"
row kvm-host+counters "$tmp/kvm-counted.policy"
row "$cidrs-cidr" "$tmp/big.policy"
row "$cidrs-cidr+counters" "$tmp/big-counted.policy"
