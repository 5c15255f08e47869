#!/usr/bin/env bash
# `apply --confirm` of a 100,000-prefix policy with N prefixes moved, then `revert`:
# what the previous state costs when it is the in-place change's inverse (the table
# record is current: nothing of the table is read) against a copy of the whole table
# (the record removed first, as before the inverse existed: the capture dumps our table
# and the apply plans from that copy). Prints, per shape and mode, the bytes stored for
# the revert (pending-*.prev) and the whole-process medians of the apply and the revert.
#
# Usage (root, from the repository root): benches/confirm.sh [RUNS]
set -euo pipefail
runs=${1:-5}
# shellcheck source=benches/lib.sh
source benches/lib.sh

bench_hostwall gen_policy
bench_netns confirm
mkdir -m 0700 "$tmp/state"
chmod 0755 "$tmp"
gen=target/release/examples

"$gen/gen_policy" 100000 10 >"$tmp/p0.policy"
for n in 1 1000; do
  awk -v n="$n" '/define big = / {
      k = split(substr($0, index($0, "= ") + 2), a, ", ")
      printf "    define big = "
      for (i = 1; i <= k; i++) {
        if (i <= n) { v = (i - 1) * 8; a[i] = sprintf("11.%d.%d.%d/30", int(v / 65536) % 256, int(v / 256) % 256, v % 256) }
        printf "%s%s", (i > 1 ? ", " : ""), a[i]
      }
      print ""; next }
    { print }' "$tmp/p0.policy" >"$tmp/p$n.policy"
done
chmod 0644 "$tmp"/*.policy

hw() { "$bin" "$1" --netns "$ns" --state-dir "$tmp/state" "${@:2}" 2>&1; }
usec() { echo "$1 $2" | awk '{printf "%d\n", ($2 - $1) * 1e6}'; }
ms() { awk -v u="$1" 'BEGIN{printf "%8.1f", u/1000}'; }

# shape mode -> "bytes apply_us revert_us" (medians)
measure() {
  local to=$1 mode=$2 t0
  : >"$tmp/bytes"; : >"$tmp/apply"; : >"$tmp/revert"
  hw apply --replace --insecure-perms "$tmp/p0.policy" >/dev/null
  for _ in $(seq "$runs"); do
    # Each revert leaves the record behind its generation: a plain apply (nothing to
    # change, so the unchanged check answers) would not renew it, --replace does.
    hw apply --replace --insecure-perms "$tmp/p0.policy" >/dev/null
    [[ $mode == copy ]] && rm -f "$tmp/state/"*.table
    t0=$EPOCHREALTIME
    hw apply --insecure-perms --confirm 600 "$to" >"$tmp/out" || { cat "$tmp/out"; exit 1; }
    usec "$t0" "$EPOCHREALTIME" >>"$tmp/apply"
    stat -c %s "$tmp/state/"pending-*.prev >>"$tmp/bytes"
    if [[ $mode == inverse ]] && ! grep -q '"inverse"' "$tmp/state/"pending-*.prev; then
      echo "the stored state is not the inverse" >&2; exit 1
    fi
    t0=$EPOCHREALTIME
    hw revert >/dev/null
    usec "$t0" "$EPOCHREALTIME" >>"$tmp/revert"
  done
  echo "$(median <"$tmp/bytes") $(median <"$tmp/apply") $(median <"$tmp/revert")"
}

echo "medians of $runs runs, whole process; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %-8s %12s %12s %12s\n' shape revert "bytes stored" "apply ms" "revert ms"
for n in 1 1000; do
  for mode in copy inverse; do
    read -r -a r <<<"$(measure "$tmp/p$n.policy" "$mode")"
    printf '%-28s %-8s %12s %12s %12s\n' "100k prefixes, $n changed" "$mode" "${r[0]}" "$(ms "${r[1]}")" "$(ms "${r[2]}")"
  done
done
