#!/usr/bin/env bash
# No-op apply speed (a benchmark, not a test): median wall time of the whole
# `hostwall apply` process when the live table already is the policy (it sends
# nothing and says `unchanged (generation N)`), beside a full apply of the same
# policy (`--replace`) in the same run, for the built-in kvm-host policy and for a
# policy with CIDRS addresses. Both no-op paths are measured: from the apply record
# (same files: digest, namespace identity, one GETGEN, two sysctl files; no compile)
# and by read-back (record removed each time: compile, dump, compare).
# Usage: [HOSTWALL_BIN=path] benches/noop.sh [CIDRS] [RUNS]   (as root; namespace and temp files removed on
# exit; wall time with bash's EPOCHREALTIME, so no fork is counted; CPU time from bash's
# `times`). Target: record ≤ 5 ms.
# Then the re-apply of the CIDRS policy under `perf stat` (needs perf): one prefix
# changed (the last, alternately swapped and restored: the in-place path), nothing
# changed (from the records), the one changed again with `forwarding on` in the policy,
# and `nft -f`'s full reload of the same compiled script
# (through nsenter, which is counted): median wall time, CPU time (task-clock: user +
# system, every thread and child) and page faults of the whole process. Targets (issue
# #14): one changed ≤ 10 ms, nothing changed ≤ 5 ms.
# On a machine with firewalld installed, a system D-Bus and no systemd running, every
# apply reads the process table for a running firewalld (src/coexist.rs; 1.5 ms for 66
# processes); a systemd host reads it only while firewalld's unit is active.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
cidrs=${1:-100000}
runs=${2:-21}

bench_hostwall gen_policy
# HOSTWALL_BIN=path measures another build (an A/B comparison in one machine state).
bin=${HOSTWALL_BIN:-$bin}
bench_from_disk "$bin"
bench_netns noop
mkdir -m 0700 "$tmp/state"
chmod 0755 "$tmp"
target/release/examples/gen_policy "$cidrs" 10 >"$tmp/big.policy"
cp policies/kvm-host.policy "$tmp/kvm.policy"
chmod 0644 "$tmp/big.policy" "$tmp/kvm.policy"

apply() { "$bin" apply --netns "$ns" --state-dir "$tmp/state" "$@" 2>&1; }
# Children's user+sys CPU in a `times` output file, in microseconds (ms resolution).
cpu() { tail -1 "$1" | awk '{gsub(/[ms]/," "); print int(($1*60+$2+$3*60+$4)*1e6)}'; }
# policy file, mode (record | readback | full) -> "median-wall-us median-cpu-us"
measure() {
  local p=$1 mode=$2 extra=() out t0 t1
  [[ $mode == full ]] && extra=(--replace)
  apply "$p" >/dev/null
  : >"$tmp/wall"; : >"$tmp/cpu"
  for _ in $(seq "$runs"); do
    [[ $mode == readback ]] && rm -f "$tmp"/state/applied-*.json
    times >"$tmp/t0"; t0=$EPOCHREALTIME
    apply "${extra[@]}" "$p" >"$tmp/out"
    t1=$EPOCHREALTIME
    times >"$tmp/t1"
    # After `times`: this awk's own CPU time must not count as hostwall's.
    echo "$t0 $t1" | awk '{printf "%d\n", ($2 - $1) * 1e6}' >>"$tmp/wall"
    echo $(($(cpu "$tmp/t1") - $(cpu "$tmp/t0"))) >>"$tmp/cpu"
    out=$(cat "$tmp/out")
    case $mode in
      full) grep -q "applied table" <<<"$out" ;;
      *) grep -q "unchanged (generation" <<<"$out" ;;
    esac || { echo "unexpected answer ($mode, $p): $out" >&2; exit 1; }
  done
  echo "$(median <"$tmp/wall") $(median <"$tmp/cpu")"
}
ms() { awk -v u="$1" -v c="$2" 'BEGIN{printf "%7.1f / %5.1f ms", u/1000, c/1000}'; }
echo "wall / cpu (user+sys) per run; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %18s %18s %18s\n' policy "no-op:record" "no-op:readback" "full apply"
for p in kvm big; do
  name=$p; [[ $p == big ]] && name="$cidrs addresses ($(du -k "$tmp/big.policy" | cut -f1) KiB)"
  printf '%-28s %18s %18s %18s\n' "$name" "$(ms $(measure "$tmp/$p.policy" record))" \
    "$(ms $(measure "$tmp/$p.policy" readback))" "$(ms $(measure "$tmp/$p.policy" full))"
done
echo "runs: $runs each; medians of the whole process (wall time; CPU time of the process, which is"
echo "what a busy machine stretches into wall time)"

# The re-apply table: whole processes under perf stat.
# perf-stat output file -> "wall-us cpu-us faults"
stat_of() {
  awk '/task-clock/ {c=$1} /page-faults/ {gsub(",","",$1); f=$1}
       /seconds time elapsed/ {w=$1} END {printf "%d %d %d\n", w*1e6, c*1e3, f}' "$1"
}
# label, runs, command... (a command word "@ALT" alternates two policies: $tmp/$ALT_A
# and $tmp/$ALT_B, by default last.policy and big.policy) -> one row
restat() {
  local label=$1 n=$2 a=${ALT_A:-last} b=${ALT_B:-big}; shift 2
  : >"$tmp/rows"
  for i in $(seq "$n"); do
    local cmd=("${@//@ALT/$([[ $((i % 2)) == 1 ]] && echo "$tmp/$a.policy" || echo "$tmp/$b.policy")}")
    perf stat -e task-clock,page-faults -o "$tmp/perf" "${cmd[@]}" >/dev/null 2>&1 ||
      { echo "failed: ${cmd[*]}" >&2; exit 1; }
    stat_of "$tmp/perf" >>"$tmp/rows"
  done
  printf '%-34s %9.1f %9.1f %9d\n' "$label" \
    "$(cut -d' ' -f1 "$tmp/rows" | median | awk '{print $1/1000}')" \
    "$(cut -d' ' -f2 "$tmp/rows" | median | awk '{print $1/1000}')" \
    "$(cut -d' ' -f3 "$tmp/rows" | median)"
}
if command -v perf >/dev/null; then
  sed 's#, 10\.[0-9.]*/30$#, 12.0.0.0/30#' "$tmp/big.policy" >"$tmp/last.policy"
  cmp -s "$tmp/big.policy" "$tmp/last.policy" && { echo "no prefix swapped" >&2; exit 1; }
  "$bin" compile "$tmp/big.policy" >"$tmp/big.nft"
  apply "$tmp/big.policy" >/dev/null
  a=(--netns "$ns" --state-dir "$tmp/state")
  echo
  echo "re-apply of the $cidrs-address policy (medians of $runs; perf stat of the whole process)"
  printf '%-34s %9s %9s %9s\n' "" "wall ms" "cpu ms" faults
  restat "hostwall: one prefix changed" "$runs" "$bin" apply "${a[@]}" @ALT
  # The same with `forwarding on` (a KVM host's policy): ip_forward is already 1 after
  # the first apply, so the sysctl step writes nothing and needs no copy of the table.
  for p in big last; do
    sed 's/^    allow icmp$/    forwarding on\n    allow icmp/' "$tmp/$p.policy" >"$tmp/fwd-$p.policy"
    chmod 0644 "$tmp/fwd-$p.policy"
  done
  grep -q '^    forwarding on$' "$tmp/fwd-big.policy" || { echo "no forwarding line" >&2; exit 1; }
  apply "$tmp/fwd-big.policy" >/dev/null
  ALT_A=fwd-last ALT_B=fwd-big restat "hostwall: 1 changed, forwarding on" "$runs" "$bin" apply "${a[@]}" @ALT
  apply "$tmp/big.policy" >/dev/null
  restat "hostwall: nothing changed" "$runs" "$bin" apply "${a[@]}" "$tmp/big.policy"
  restat "nft -f (full reload)" "$runs" nsenter --net="/run/netns/$ns" nft -f "$tmp/big.nft"
else
  echo "re-apply table skipped: perf is not installed"
fi
