# shellcheck shell=bash
# Set-up shared by the bench scripts (sourced from the repository root, not run): a
# throwaway network namespace and temp dir that go on exit, and the median of numbers.

# Creates the namespace "hw-bench-$1-<pid>" as $ns and a temp dir as $tmp, and removes
# both on exit or interrupt.
bench_netns() {
  ns="hw-bench-$1-$$"
  tmp=$(mktemp -d)
  trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
  ip netns add "$ns"
}

# The median of the numbers on stdin, one a line (the upper middle one of an even count).
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
