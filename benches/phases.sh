#!/usr/bin/env bash
# Two hostwall builds compared phase by phase (a benchmark, not a test): each build has
# its own namespace and state directory, and the two take turns, apply by apply, so both
# see the same machine state. Each in-place apply moves the table between two policies
# (A over B, then B over A), 50 ms after the last, under `HOSTWALL_TRACE_PHASES=time`;
# prints the median of each phase's time and of the whole process's wall time (from the
# shell, with bash's EPOCHREALTIME), one column a build. Give the same build twice first
# to see the machine's own spread: on the development machine the two columns' phase
# medians agreed within 0.05 ms in quiet minutes and differed by up to 0.8 ms in others
# (wall times by 0.1-2 ms), so compare only runs whose same-build spread is small.
# Usage: benches/phases.sh BUILD_A BUILD_B [PAIRS] [POLICY_A POLICY_B]   (as root;
# namespaces and temp files removed on exit). The policies default to the 100,000-prefix
# list of benches/reapply.sh and the same list with its first prefix moved. Each build
# runs as read from disk (bench_from_disk in lib.sh). Another build: `git
# worktree add /tmp/old REV && CARGO_TARGET_DIR=/tmp/old-target cargo build --release
# --manifest-path /tmp/old/Cargo.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
[[ $# -ge 2 && $# -ne 4 && $# -le 5 ]] || { sed -n '2,16p' "$0"; exit 2; }
builds=("$(realpath "$1")" "$(realpath "$2")")
pairs=${3:-20}

bench_netns phases
nsb="$ns-b"
trap 'ip netns del "$ns" 2>/dev/null || true; ip netns del "$nsb" 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
ip netns add "$nsb"
for f in "${builds[@]}"; do bench_from_disk "$f"; done
if [[ $# -ge 5 ]]; then
  a=$(realpath "$4") b=$(realpath "$5")
else
  cargo build --release --quiet --example gen_policy
  a=$tmp/a.policy b=$tmp/b.policy
  target/release/examples/gen_policy 100000 10 >"$a"
  sed 's#define big = 10\.0\.0\.0/30,#define big = 11.0.0.0/30,#' "$a" >"$b"
fi
nss=("$ns" "$nsb")
for i in 0 1; do mkdir -m 700 "$tmp/state$i"; done
apply() { # build-index policy [env...]
  local i=$1 p=$2
  shift 2
  env "$@" "${builds[$i]}" apply "$p" --netns "${nss[$i]}" --state-dir "$tmp/state$i" --insecure-perms
}
for i in 0 1; do apply "$i" "$a" >/dev/null 2>&1; done
sleep 1
to=$b
for _ in $(seq "$pairs"); do
  for i in 0 1; do
    sleep 0.05
    t0=$EPOCHREALTIME
    apply "$i" "$to" HOSTWALL_TRACE_PHASES=time >/dev/null 2>"$tmp/err"
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "whole process (wall)\t%.3f\n", (b - a) * 1e3}' >>"$tmp/phases$i"
    # Phase lines: two spaces, the name, the time last.
    awk '/^  / && $NF ~ /^[0-9.]+$/ {v = $NF; $NF = ""; sub(/^ +/, ""); sub(/ +$/, ""); print $0 "\t" v}' "$tmp/err" >>"$tmp/phases$i"
  done
  [[ $to == "$b" ]] && to=$a || to=$b
done
printf '%-36s %10s %10s\n' "median of $pairs, ms" A B
awk -F'\t' '!seen[$1]++ {print $1}' "$tmp/phases0" | while IFS= read -r name; do
  col() { awk -F'\t' -v n="$name" '$1 == n {print $2}' "$tmp/phases$1" | median; }
  printf '%-36s %10s %10s\n' "$name" "$(col 0)" "$(col 1)"
done
echo "A: ${builds[0]}"
echo "B: ${builds[1]}"
