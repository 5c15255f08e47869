# shellcheck shell=bash disable=SC2034 # sets $bin, $ns and $tmp for the sourcing script
# Set-up shared by the bench scripts (sourced from the repository root, not run): a
# throwaway network namespace and temp dir that go on exit, and the median of numbers.

# Builds the release hostwall and the example $1 (an input generator); $bin is hostwall.
bench_hostwall() {
  cargo build --release --quiet --bin hostwall --example "$1"
  bin=$PWD/target/release/hostwall
}

# Builds the release example $1; $bin is that example.
bench_example() {
  cargo build --release --quiet --example "$1"
  bin=$PWD/target/release/examples/$1
}

# Creates the namespace "hw-bench-$1-<pid>" as $ns and a temp dir as $tmp, and removes
# both on exit or interrupt. $tmp (and the state directory the benches make in it) is on
# a tmpfs when /dev/shm is one, as hostwall's own state directory /run/hostwall is on a
# systemd host: the table record, 0.8 MB at 100,000 prefixes, is rewritten at every
# apply, which costs 1.2 ms on this machine's ext4 and 0.6 ms on tmpfs.
bench_netns() {
  ns="hw-bench-$1-$$"
  if [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]]; then
    tmp=$(mktemp -d -p /dev/shm)
  else
    tmp=$(mktemp -d)
  fi
  trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
  ip netns add "$ns"
}

# The median of the numbers on stdin, one a line (the upper middle one of an even count).
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
