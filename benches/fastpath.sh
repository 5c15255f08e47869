#!/usr/bin/env bash
# `hostwall diff` fast-path speed (a benchmark, not a test): median wall time of the
# whole process answering "in sync" from the apply record (SHA-256 of the inputs, the
# namespace identity by SO_NETNS_COOKIE read before and after, one GETGEN, two sysctl
# files), for the built-in kvm-host policy and for a policy with CIDRS addresses.
# Usage: benches/fastpath.sh [CIDRS] [RUNS]   (as root; namespace and temp files removed
# on exit). Needs the release build and the gen_policy example (built here).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
cidrs=${1:-100000}
runs=${2:-31}

bench_hostwall gen_policy
bench_netns fast
mkdir -m 0700 "$tmp/state"
target/release/examples/gen_policy "$cidrs" 10 >"$tmp/big.policy"
"$bin" compile >/dev/null
cp policies/kvm-host.policy "$tmp/kvm.policy"

measure() { # policy file -> median microseconds of `diff` on the fast path
  "$bin" apply --insecure-perms --netns "$ns" --state-dir "$tmp/state" "$1" 2>/dev/null
  "$bin" diff --netns "$ns" --state-dir "$tmp/state" "$1" | grep -q "fast path" ||
    { echo "not on the fast path: $1" >&2; exit 1; }
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    "$bin" diff --netns "$ns" --state-dir "$tmp/state" "$1" >/dev/null
    echo $((($(date +%s%N) - t0) / 1000))
  done | median
}
kvm=$(measure "$tmp/kvm.policy")
big=$(measure "$tmp/big.policy")
echo "runs:                                $runs"
echo "kvm-host diff (fast path) median:    $(awk -v u="$kvm" 'BEGIN{printf "%.1f", u/1000}') ms"
echo "$cidrs-address policy ($(du -k "$tmp/big.policy" | cut -f1) KiB) median: $(awk -v u="$big" 'BEGIN{printf "%.1f", u/1000}') ms"
