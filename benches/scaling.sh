#!/usr/bin/env bash
# Linear-cost check (a benchmark, not a test): every input shape doubled from ~15k to 1M,
# run through the release binary; per size the median wall time, the median CPU time (user +
# sys, steadier than wall time on a shared machine), the peak RSS, and the ratio of each time
# to the previous size's. Linear costs give ratios near 2 (target <= 2.3).
#
# Shapes (src/bench_support.rs, `scaling`):
#   rules        hostwall compile: N rules, each from its own address (N groups)
#   services     hostwall compile: N services and N rules naming them
#   diagnostics  hostwall check:   N error lines, the first 100 printed
#   all-diags    hostwall check --max-diagnostics 0: the same N errors, every one printed
#   warnings     hostwall check:   a valid policy with N - 1000 shadowed-rule warnings
#   suggestions  hostwall check:   N/2 services and N/2 misspelt uses ("did you mean")
#   long-name    hostwall check:   one unknown service name of 10*N bytes
#
# Usage: benches/scaling.sh [MAX] [RUNS] [SHAPE...]   (default MAX 1000000, RUNS 3, all shapes)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
max=${1:-1000000}
runs=${2:-3}
shift $(($# < 2 ? $# : 2))
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(rules services diagnostics all-diags warnings suggestions long-name)

bench_hostwall gen_scaling
gen=$PWD/target/release/examples/gen_scaling
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sizes=()
n=$max
while [ "$n" -ge 10000 ]; do
  sizes=("$n" "${sizes[@]}")
  n=$((n / 2))
done

# One run: "wall_ms cpu_ms rss_kb".
run_once() {
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -o "$tmp/time" -f "%U %S %M" "$@" >/dev/null 2>"$tmp/err" || true
  t1=$(date +%s%N)
  # time(1) puts "Command exited with non-zero status" first when the check fails.
  tail -1 "$tmp/time" | awk -v w=$(((t1 - t0) / 1000000)) '{printf "%d %d %d\n", w, ($1 + $2) * 1000, $3}'
}

printf '%-12s %9s %9s %9s %9s %9s %8s %8s\n' shape n bytes wall_ms cpu_ms rss_MB wall_x cpu_x
for shape in "${shapes[@]}"; do
  prev_wall="" prev_cpu=""
  for n in "${sizes[@]}"; do
    args=(check)
    gshape=$shape
    case $shape in
      rules | services) args=(compile) ;;
      all-diags) args=(check --max-diagnostics 0) gshape=diagnostics ;;
    esac
    "$gen" "$gshape" "$n" >"$tmp/p.policy"
    : >"$tmp/runs"
    for _ in $(seq "$runs"); do
      run_once "$bin" --color never "${args[@]}" "$tmp/p.policy" >>"$tmp/runs"
    done
    wall=$(cut -d' ' -f1 "$tmp/runs" | median)
    cpu=$(cut -d' ' -f2 "$tmp/runs" | median)
    rss=$(cut -d' ' -f3 "$tmp/runs" | sort -n | tail -1)
    ratio() { [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}' || echo -; }
    printf '%-12s %9d %9d %9d %9d %9.1f %8s %8s\n' "$shape" "$n" "$(wc -c <"$tmp/p.policy")" \
      "$wall" "$cpu" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" \
      "$(ratio "$wall" "$prev_wall")" "$(ratio "$cpu" "$prev_cpu")"
    prev_wall=$wall prev_cpu=$cpu
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
