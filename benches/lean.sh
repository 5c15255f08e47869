#!/usr/bin/env bash
# Lean large lists (#14 item 3): peak RSS and wall-time medians of `hostwall check`,
# `compile` and `apply` of an N-address policy (default 1,000,000 IPv4 /30s, in includes
# of 250,000), against `nft -f` of the compiled text, in one run. Apply and nft -f run
# in a throwaway network namespace (never the host's ruleset), interleaved.
#
#   benches/lean.sh [RUNS] [N]      (default 3 and 1000000; needs root)
set -euo pipefail
RUNS=${1:-3}
N=${2:-1000000}
cd "$(dirname "$0")/.."

. benches/lib.sh
bench_hostwall gen_lean
bench_netns lean
state="$tmp/state"; mkdir -m 700 "$state"
mkdir "$tmp/p"; target/release/examples/gen_lean "$N" "$tmp/p"
policy="$tmp/p/host.policy"
"$bin" compile "$policy" > "$tmp/rs.nft"

# run NAME CMD...: appends "wall-s peak-kib sys-s user-s" of one run of CMD to $tmp/NAME.
# The wall time is taken around /usr/bin/time to the microsecond (its own %e has 10 ms
# steps, 1% of a 1 s apply), so it includes starting /usr/bin/time, about 1 ms.
run() {
    local name=$1; shift
    local t0=$EPOCHREALTIME
    /usr/bin/time -o "$tmp/t" -f "%M %S %U" "$@" > /dev/null 2> "$tmp/err" \
        || { cat "$tmp/err" "$tmp/t" >&2; exit 1; }
    local t1=$EPOCHREALTIME
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}') $(tail -1 "$tmp/t")" >> "$tmp/$name"
    grep -o '[0-9.]* ms in the kernel' "$tmp/err" | cut -d' ' -f1 >> "$tmp/kernel" || true
}
for ((i = 0; i < RUNS; i++)); do
    run check "$bin" check "$policy"
    run compile "$bin" compile "$policy"
    ip netns exec "$ns" nft flush ruleset
    run apply "$bin" apply "$policy" --netns "$ns" --state-dir "$state" --insecure-perms --force
    ip netns exec "$ns" nft flush ruleset
    run nft ip netns exec "$ns" nft -f "$tmp/rs.nft"
done
printf '%-10s %10s %10s %10s\n' step wall-s peak-MB sys-s
for s in check compile apply nft; do
    w=$(cut -d' ' -f1 < "$tmp/$s" | median); m=$(cut -d' ' -f2 < "$tmp/$s" | median)
    y=$(cut -d' ' -f3 < "$tmp/$s" | median)
    printf '%-10s %10.3f %10.1f %10.2f\n' "$s" "$w" "$(awk -v k="$m" 'BEGIN {print k / 1024}')" "$y"
done
k=$(median < "$tmp/kernel")
a=$(cut -d' ' -f1 < "$tmp/apply" | median)
awk -v k="$k" -v a="$a" 'BEGIN {printf "kernel batch %.3f s; apply / kernel = %.3fx\n", k / 1000, a / (k / 1000)}'
# Run by run: the apply's time above its own batch's kernel time, and their ratio (each
# apply prints its kernel time once, so the lines pair up).
[[ $(wc -l < "$tmp/apply") == $(wc -l < "$tmp/kernel") ]] || { echo "an apply printed no kernel time" >&2; exit 1; }
paste -d' ' <(cut -d' ' -f1 < "$tmp/apply") "$tmp/kernel" > "$tmp/pairs"
o=$(awk '{print ($1 - $2 / 1000) * 1000}' < "$tmp/pairs" | median)
r=$(awk '{print $1 / ($2 / 1000)}' < "$tmp/pairs" | median)
echo "per run: apply above the kernel ${o} ms (median), apply / kernel ${r}x (median)"
# The kernel does a batch's work in the sending process: its system time is the kernel's
# share for both (wall time minus user time overstates it on a loaded machine).
nu=$(awk '{print $1 - $4}' < "$tmp/nft" | median)
ay=$(cut -d' ' -f3 < "$tmp/apply" | median); ny=$(cut -d' ' -f3 < "$tmp/nft" | median)
awk -v a="$ay" -v n="$ny" -v w="$nu" 'BEGIN {printf "kernel (system time): hostwall %.2f s, nft %.2f s (nft wall - user %.2f s); hostwall / nft = %.2fx\n", a, n, w, a / n}'
echo "N=$N addresses, medians of $RUNS interleaved runs; nft = nft -f of the compiled text."
echo "$(uptime | sed 's/.*load average/load average/')"
