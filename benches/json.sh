#!/usr/bin/env bash
# Issue #12's speed check for JSON (a benchmark, not a test): the median wall time of
# each command with text output and with `--format json` on the same big input, runs
# interleaved, and the ratio json/text (target: <= 1.05, JSON adds under 5%).
#
#   check-clean   hostwall check:   N rules, each its own group, no diagnostic
#   check-diags   hostwall check --max-diagnostics 0: N error lines, every one printed
#   check-warn    hostwall check --max-diagnostics 0: N - 1000 shadowed-rule warnings
#   fmt           hostwall fmt --check: N rules (already formatted)
#   explain       hostwall explain: one packet through N rules
#   diff          hostwall diff --full in a throwaway namespace the N-rule policy was applied to (root)
#   verify        hostwall verify of the kvm-host policy (root)
#
# Usage: benches/json.sh [N] [RUNS]   (default N 50000, RUNS 7; root adds diff and verify)
#
# Recorded (2-core shared dev VM, seven other builds and tests running, N 20000, 11 runs):
#   check-clean 230 / 234 ms 1.02; check-diags 246 / 200 ms 0.81; check-warn 355 / 236 ms
#   0.66 (rendering excerpts costs more than JSON); fmt 265 / 239 ms 0.90; explain 430 /
#   411 ms 0.96; diff --full 4133 / 4237 ms 1.03; verify (kvm-host) 247 / 256 ms 1.04.
#   Differences under ~5% are within the run-to-run spread on that machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
n=${1:-50000}
runs=${2:-7}

bench_hostwall gen_scaling
gen=$PWD/target/release/examples/gen_scaling
if [ "$(id -u)" = 0 ]; then
  bench_netns json
else
  ns=
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
fi
mkdir "$tmp/etc"
"$gen" rules "$n" >"$tmp/rules.policy"
"$bin" fmt "$tmp/rules.policy" --config-dir "$tmp/etc" >"$tmp/fmt.policy"
"$gen" diagnostics "$n" >"$tmp/diags.policy"
"$gen" warnings "$n" >"$tmp/warn.policy"

ms() { # wall milliseconds of one command, output discarded, exit code ignored
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || true
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

# bench NAME ARGS...: runs `hostwall ARGS` and `hostwall ARGS --format json` interleaved.
bench() {
  local name=$1
  shift
  : >"$tmp/$name.text"
  : >"$tmp/$name.json"
  for _ in $(seq "$runs"); do
    ms "$bin" "$@" --config-dir "$tmp/etc" >>"$tmp/$name.text"
    ms "$bin" "$@" --config-dir "$tmp/etc" --format json >>"$tmp/$name.json"
  done
  local t j
  t=$(median <"$tmp/$name.text")
  j=$(median <"$tmp/$name.json")
  awk -v n="$name" -v t="$t" -v j="$j" \
    'BEGIN { printf "%-12s text %6d ms   json %6d ms   ratio %.3f\n", n, t, j, (t > 0 ? j / t : 0) }'
}

echo "N = $n, $runs interleaved runs each, medians (target ratio <= 1.05)"
bench check-clean check "$tmp/rules.policy"
bench check-diags check --max-diagnostics 0 "$tmp/diags.policy"
bench check-warn check --max-diagnostics 0 "$tmp/warn.policy"
bench fmt fmt --check "$tmp/fmt.policy"
bench explain explain "tcp 10.0.0.9 -> 192.0.2.1:22 on eth0 new" "$tmp/rules.policy"
if [ -n "$ns" ]; then
  "$bin" apply --insecure-perms --netns "$ns" --state-dir "$tmp/state" \
    --journal-socket "$tmp/j" --syslog-socket "$tmp/s" --config-dir "$tmp/etc" \
    "$tmp/rules.policy" >/dev/null
  bench diff diff --full --netns "$ns" --state-dir "$tmp/state" "$tmp/rules.policy"
  bench verify verify
fi
