# shellcheck shell=bash disable=SC2034 # sets $bin, $ns and $tmp for the sourcing script
# Set-up shared by the bench scripts (sourced from the repository root, not run): a
# throwaway network namespace and temp dir that go on exit, and the median of numbers.

# Builds the release hostwall and the example $1 (an input generator); $bin is hostwall,
# run as read from disk ([bench_from_disk]).
bench_hostwall() {
  cargo build --release --quiet --bin hostwall --example "$1"
  bin=$PWD/target/release/hostwall
  bench_from_disk "$bin"
}

# Drops the file $1 from the page cache (written to disk first), so that it runs as an
# installed binary does after a boot, read back from disk. How an executable's pages came
# into the page cache changes how fast it starts, on the development machine: the
# linker's fresh output ran slowest (`benches/reapply.sh 9 prefix` alternating with a copy
# just written by `install`: nothing changed 2.9-3.1 ms against 2.0-2.1, one prefix moved
# 8.7-9.3 against 8.2-8.5; `hostwall --version` from bash 2.04 ms, 1.58-1.79 once dropped
# and read back), a fresh copy fastest, and the file read back from disk between them (a
# no-op apply of 100,000 prefixes, 25 interleaved runs: 2.09-2.12 ms read back, 1.88 as a
# fresh copy).
bench_from_disk() {
  sync "$1"
  dd if="$1" iflag=nocache count=0 status=none
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
