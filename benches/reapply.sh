#!/usr/bin/env bash
# Re-apply speed (a benchmark, not a test): one run, side by side, the median wall time
# of the whole process for
#   nft -f      the compiled script (add, delete, add the table: nft's full reload),
#               minus the median of `ip netns exec NS true` plus that of `true`
#               (entering the namespace, but not starting a process: each column is
#               a whole process, started by this shell);
#   full        `hostwall apply --replace` (the whole table in one batch);
#   read        `hostwall apply` with its table record removed first (so it reads the
#               ruleset and our table, as it did before the record, and as it does
#               whenever the record cannot be trusted);
#   in place    `hostwall apply` (only the difference, by handle and element, planned
#               from the table record of the previous apply);
#   kernel      the kernel's own batch time (hostwall's "ms in the kernel") of each path;
# for these shapes, each run a real change (the policy alternates between two versions):
#   100k prefixes with 0 / 1 / 1,000 / 10,000 elements changed (the first N /30s swapped
#   for N others past the end of the list, in 11.0.0.0/8; the 1 both first and last), and
#   1,000 spread (1,000 /30s drawn by a fixed seed, each swapped for the single address 5
#   past its start: changes all over the list, each inside its own /24);
#   one service added to kvm-host, one rule inserted in the middle of a
#   10,000-rule policy; then, beside a libvirt-like table, 100k prefixes with 0 / 1 /
#   1,000 changed, planned from the record and with another table's commit before each
#   apply (the generation moved: our table is read); and, right after another apply (pairs
#   0.3 s apart), the second apply of kvm-host and of the last prefix changed.
# Wall time with bash's EPOCHREALTIME around the command itself, its output to a file (a
# command substitution would count the fork of a subshell, about 1 ms here).
# Usage: benches/reapply.sh [RUNS] [PATTERN]   (as root; namespace and temp files removed on
# exit; PATTERN: only the shapes whose name contains it).
# Targets (issue 14): 1 changed ≤ 10 ms, 1,000 ≤ 30 ms, nothing changed ≤ 5 ms, no batch.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
runs=${1:-7}
only=${2:-}

bench_hostwall gen_policy
# HOSTWALL_BIN=path measures another build (an A/B comparison in one machine state).
bin=${HOSTWALL_BIN:-$bin}
bench_from_disk "$bin"
cargo build --release --quiet --example gen_scaling
bench_netns reapply
mkdir -m 0700 "$tmp/state"
chmod 0755 "$tmp"
gen=target/release/examples

# The 100k policy with its first N prefixes moved to 11.0.0.0/8 (N removed, N added).
"$gen/gen_policy" 100000 10 >"$tmp/p0.policy"
for n in 1 1000 10000; do
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
# 1,000 spread: prefixes drawn by a fixed seed, each swapped for the address 5 past its start.
awk '/define big = / {
    k = split(substr($0, index($0, "= ") + 2), a, ", "); srand(14); m = 0
    while (m < 1000) { i = int(rand() * k) + 1; if (!(i in seen)) { seen[i] = 1; m++ } }
    printf "    define big = "
    for (i = 1; i <= k; i++) {
      if (i in seen) { split(a[i], p, "[./]"); a[i] = sprintf("%d.%d.%d.%d", p[1], p[2], p[3], p[4] + 5) }
      printf "%s%s", (i > 1 ? ", " : ""), a[i]
    }
    print ""; next }
  { print }' "$tmp/p0.policy" >"$tmp/pspread.policy"
# The last prefix moved: one change inside the last of the sets the compiler splits the
# list into (compile/sets.rs); the first prefix moved: one inside the first set.
sed 's#, 10\.[0-9.]*/30$#, 12.0.0.0/30#' "$tmp/p0.policy" >"$tmp/plast.policy"
cp policies/kvm-host.policy "$tmp/kvm0.policy"
sed 's/^}$/    allow tcp 9090  # one service more\n}/' policies/kvm-host.policy >"$tmp/kvm1.policy"
"$gen/gen_scaling" rules 10000 >"$tmp/r0.policy"
awk 'NR == 5002 { print "    allow tcp 7 from 192.0.2.1" } { print }' "$tmp/r0.policy" >"$tmp/r1.policy"
chmod 0644 "$tmp"/*.policy

apply() { "$bin" apply --netns "$ns" --state-dir "$tmp/state" --insecure-perms "$@" 2>&1; }
# Each mode starts from a full replace of the first policy. The kernel frees the table
# that replace took away after the command has ended (when its sockets are released:
# nft/sock/closer.rs), under the namespace's commit lock, and with 100,000 elements that
# takes several milliseconds: an in-place apply that commits meanwhile waits for it (3 to
# 15 ms in the kernel instead of 0.3, measured in the first applies after the replace).
# The runs start once that is done, so each mode measures its own runs only; "right after
# another" below measures an apply that follows another at once.
settle() { sleep 1; }
usec() { echo "$1 $2" | awk '{printf "%d\n", ($2 - $1) * 1e6}'; }
kernel_us() { sed -n 's/.* \([0-9.]*\) ms in the kernel.*/\1/p' | awk '{printf "%d\n", $1 * 1000}'; }

# Entering the namespace (ip netns exec, less a process start), to take off nft's figures.
: >"$tmp/enter"; : >"$tmp/start"
for _ in $(seq "$runs"); do
  t0=$EPOCHREALTIME; ip netns exec "$ns" true; usec "$t0" "$EPOCHREALTIME" >>"$tmp/enter"
  t0=$EPOCHREALTIME; /bin/true; usec "$t0" "$EPOCHREALTIME" >>"$tmp/start"
done
enter=$(($(median <"$tmp/enter") - $(median <"$tmp/start")))

# shape A B -> "nft full full-kernel read inplace inplace-kernel" (medians, us); each run
# applies B over A or A over B, alternating, so every run changes the table.
measure() {
  local a=$1 b=$2 mode out t0 t1 from to
  for f in "$a" "$b"; do "$bin" compile "$f" >"$f.nft" 2>/dev/null; done
  for mode in nft full read inplace; do
    : >"$tmp/$mode.wall"; : >"$tmp/$mode.kernel"
    apply --replace "$a" >/dev/null
    settle
    from=$a; to=$b
    for _ in $(seq "$runs"); do
      [[ $mode == read ]] && rm -f "$tmp/state/"*.table
      t0=$EPOCHREALTIME
      case $mode in
        nft) ip netns exec "$ns" nft -f "$to.nft"; : >"$tmp/out" ;;
        full) apply --replace "$to" >"$tmp/out" ;;
        read | inplace) apply "$to" >"$tmp/out" ;;
      esac
      t1=$EPOCHREALTIME
      out=$(<"$tmp/out")
      usec "$t0" "$t1" >>"$tmp/$mode.wall"
      [[ -n $out ]] && kernel_us <<<"$out" >>"$tmp/$mode.kernel"
      [[ $mode == inplace ]] && grep -o "incremental: [^$]*\|full replace: .*\|unchanged (generation [0-9]*)" <<<"$out" | head -1 >"$tmp/path"
      local x=$from; from=$to; to=$x
    done
  done
  # The full replace's time over its own batch's kernel time, run by run.
  local fk ik
  [[ $(wc -l <"$tmp/full.wall") == $(wc -l <"$tmp/full.kernel") ]] || { echo "a full replace printed no kernel time" >&2; exit 1; }
  fk=$(paste -d' ' "$tmp/full.wall" "$tmp/full.kernel" | awk '$2 > 0 {print $1 / $2}' | median)
  ik=$(median <"$tmp/inplace.kernel")
  echo "$(($(median <"$tmp/nft.wall") - enter)) $(median <"$tmp/full.wall") $(median <"$tmp/full.kernel") $(median <"$tmp/read.wall") $(median <"$tmp/inplace.wall") ${ik:-0} ${fk:-0}"
}
ms() { awk -v u="$1" 'BEGIN{printf "%8.1f", u/1000}'; }

echo "medians of $runs runs, ms, whole process; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %8s %8s %8s %6s %8s %8s %8s %7s  %s\n' shape "nft -f" full kernel full/k read "in place" kernel "ratio" "path taken in place"
row() {
  local name=$1 r
  [[ $name == *"$only"* ]] || return 0
  read -r -a r <<<"$(measure "$2" "$3")"
  printf '%-34s %s %s %s %6.3f %s %s %s %6.0fx  %s\n' "$name" "$(ms "${r[0]}")" "$(ms "${r[1]}")" "$(ms "${r[2]}")" \
    "${r[6]:-0}" "$(ms "${r[3]}")" "$(ms "${r[4]}")" "$(ms "${r[5]:-0}")" "$(awk -v a="${r[0]}" -v b="${r[4]}" 'BEGIN{print (b > 0 ? a / b : 0)}')" "$(cat "$tmp/path")"
}
row "100k prefixes, 0 changed" "$tmp/p0.policy" "$tmp/p0.policy"
row "100k prefixes, 1 changed" "$tmp/p0.policy" "$tmp/p1.policy"
row "100k prefixes, last one changed" "$tmp/p0.policy" "$tmp/plast.policy"
row "100k prefixes, 1,000 changed" "$tmp/p0.policy" "$tmp/p1000.policy"
row "100k prefixes, 10,000 changed" "$tmp/p0.policy" "$tmp/p10000.policy"
row "100k prefixes, 1,000 spread changed" "$tmp/p0.policy" "$tmp/pspread.policy"
row "kvm-host, one service added" "$tmp/kvm0.policy" "$tmp/kvm1.policy"
row "10,000 rules, one inserted mid-way" "$tmp/r0.policy" "$tmp/r1.policy"
echo "ratio: nft -f over in place. 'kernel': the one batch's time inside sendmsg (0: nothing sent)."
echo "full/k: the full replace's wall time over its own batch's kernel time, the median of the runs' ratios."
echo "read: in place with no table record to plan from (the ruleset and our table read first)."

# Right after another: an apply started as the one before it ends, while that one's
# socket closer still runs (nft/sock/closer.rs), one pair at a time, 0.3 s between pairs;
# the second apply's wall and kernel time (its commit waits if the closer's release holds
# the namespace's commit lock through a grace period).
after() {
  local a=$1 b=$2 t0 t1
  : >"$tmp/after.wall"; : >"$tmp/after.kernel"
  apply --replace "$b" >/dev/null
  for _ in $(seq "$runs"); do
    sleep 0.3
    apply "$a" >/dev/null
    t0=$EPOCHREALTIME; apply "$b" >"$tmp/out"; t1=$EPOCHREALTIME
    usec "$t0" "$t1" >>"$tmp/after.wall"
    kernel_us <"$tmp/out" >>"$tmp/after.kernel" || true
  done
  echo "$(median <"$tmp/after.wall") $(median <"$tmp/after.kernel")"
}
if [[ "right after another" == *"$only"* ]]; then
  printf '\n%-34s %8s %8s\n' "right after another apply" "in place" kernel
  for shape in "kvm-host, one service added:kvm0:kvm1" "100k prefixes, last one changed:p0:plast"; do
    IFS=: read -r name a b <<<"$shape"
    read -r -a r <<<"$(after "$tmp/$a.policy" "$tmp/$b.policy")"
    printf '%-34s %s %s\n' "$name" "$(ms "${r[0]}")" "$(ms "${r[1]:-0}")"
  done
  echo "the second of two applies, each pair 0.3 s after the last (medians)."
fi

# A busy KVM host: libvirt's tables beside ours (the warnings after an apply judge them
# against our table), and another table committing between applies (a guest started:
# the generation moved, so no table record can stand and our table is read once).
[[ "beside libvirt" == *"$only"* ]] || exit 0
ip netns exec "$ns" nft -f - <<'NFT'
table ip libvirt_network {
  chain guest_output { type filter hook forward priority 0; policy accept; oifname "virbr0" ip daddr 192.168.122.0/24 ct state established,related accept; oifname "virbr0" reject; }
  chain guest_input { type filter hook input priority 0; policy accept; iifname "virbr0" udp dport { 53, 67 } accept; }
}
NFT
# shape A B -> "beside moved moved-kernel" (medians, us)
beside() {
  local a=$1 b=$2 mode out t0 t1 from to
  for mode in beside moved; do
    : >"$tmp/$mode.wall"; : >"$tmp/$mode.kernel"
    apply --replace "$a" >/dev/null
    settle
    from=$a; to=$b
    for i in $(seq "$runs"); do
      [[ $mode == moved ]] && ip netns exec "$ns" nft add chain ip libvirt_network "guest$i"
      t0=$EPOCHREALTIME; apply "$to" >"$tmp/out"; t1=$EPOCHREALTIME
      out=$(<"$tmp/out")
      usec "$t0" "$t1" >>"$tmp/$mode.wall"
      kernel_us <<<"$out" >>"$tmp/$mode.kernel" || true
      grep -o "incremental: [^$]*\|full replace: .*\|unchanged (generation [0-9]*)\|planned from [a-z ]*" <<<"$out" | paste -sd ';' >"$tmp/$mode.path"
      local x=$from; from=$to; to=$x
    done
  done
  echo "$(median <"$tmp/beside.wall") $(median <"$tmp/moved.wall") $(median <"$tmp/moved.kernel" 2>/dev/null || echo 0)"
}
printf '\n%-34s %8s %8s %8s  %s\n' "beside libvirt's tables" "in place" moved kernel "path taken when moved"
for shape in "0 changed:p0" "1 changed:p1" "1,000 changed:p1000"; do
  read -r -a r <<<"$(beside "$tmp/p0.policy" "$tmp/${shape#*:}.policy")"
  printf '%-34s %s %s %s  %s\n' "100k prefixes, ${shape%%:*}" "$(ms "${r[0]}")" "$(ms "${r[1]}")" "$(ms "${r[2]:-0}")" "$(cat "$tmp/moved.path")"
done
echo "in place: planned from the table record, with a libvirt-like table beside ours; moved: another"
echo "table committed before each apply (no record can stand: our table is read once, by the"
echo "unchanged check, and the apply plans from that read)."

