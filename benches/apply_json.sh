#!/usr/bin/env bash
# What `--format json` costs (a benchmark, not a test): median wall time of the whole
# process with and without it, runs interleaved, for `apply` when unchanged (the record's
# answer), `apply --replace` (a full send), `apply --dry-run` (which with json also reads
# the live table once more for its `view`) and `status`; the built-in kvm-host policy in
# a throwaway namespace. Target: ratio ≤ 1.05 (issue #12).
# Usage: benches/apply_json.sh [RUNS]   (as root; namespace and temp files removed on exit)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
runs=${1:-41}

cargo build --release --quiet --bin hostwall
bin=$PWD/target/release/hostwall
bench_netns json
mkdir -m 0700 "$tmp/state"
chmod 0755 "$tmp"
cp policies/kvm-host.policy "$tmp/kvm.policy"
chmod 0644 "$tmp/kvm.policy"
logs=(--journal-socket "$tmp/j.sock" --syslog-socket "$tmp/s.sock")
"$bin" apply --netns "$ns" --state-dir "$tmp/state" "${logs[@]}" "$tmp/kvm.policy" 2>/dev/null

run() { # kind, then extra arguments
  local kind=$1; shift
  case $kind in
    status) "$bin" status --netns "$ns" --state-dir "$tmp/state" "${logs[@]}" "$@" ;;
    unchanged) "$bin" apply --netns "$ns" --state-dir "$tmp/state" "${logs[@]}" "$@" "$tmp/kvm.policy" ;;
    *) "$bin" apply --netns "$ns" --state-dir "$tmp/state" "${logs[@]}" "--$kind" "$@" "$tmp/kvm.policy" ;;
  esac >/dev/null 2>&1
}
us() { local t0=$EPOCHREALTIME; "$@"; echo "$t0 $EPOCHREALTIME" | awk '{printf "%d\n", ($2 - $1) * 1e6}'; }

echo "median wall time per run ($runs runs each, interleaved); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %10s %10s %7s\n' command text json ratio
for kind in unchanged replace dry-run status; do
  : >"$tmp/text"; : >"$tmp/json"
  for _ in $(seq "$runs"); do
    us run "$kind" >>"$tmp/text"
    us run "$kind" --format json >>"$tmp/json"
  done
  t=$(median <"$tmp/text"); j=$(median <"$tmp/json")
  awk -v k="$kind" -v t="$t" -v j="$j" 'BEGIN{printf "%-12s %7.2f ms %7.2f ms %7.3f\n", k, t/1000, j/1000, j/t}'
done
