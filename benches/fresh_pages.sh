#!/usr/bin/env bash
# What fresh memory costs on this machine (a benchmark, not a test): a fresh process maps
# KIB KiB, populates it by one `madvise(MADV_POPULATE_WRITE)` and writes a byte a page,
# timed from the map to the last write; "small" in 4 KiB pages, "huge" in a 2 MiB-aligned
# range under `MADV_HUGEPAGE` (transparent huge pages, when the kernel allows them on
# request). The two take turns, PAUSE seconds apart, RUNS processes each; prints the
# median, the 90th percentile and the worst of each. docs/apply.md ("Speed of an apply")
# cites it: a re-apply's fresh pages are a large part of its time, and huge pages stay
# unused for their tail.
# Usage: benches/fresh_pages.sh [KIB] [RUNS] [PAUSE]   (defaults 1700 60 1: the 1.6 MB
# policy text of benches/reapply.sh's list, a minute per mode; needs a C compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
kib=${1:-1700}
runs=${2:-60}
pause=${3:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cat >"$tmp/probe.c" <<'C'
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  int huge = strcmp(argv[1], "huge") == 0;
  size_t n = (size_t)atol(argv[2]) << 10, h = 2 << 20;
  double t0 = now_ms();
  size_t len = huge ? (n + h - 1) / h * h : n;
  char *q = mmap(NULL, len + (huge ? h : 0), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (q == MAP_FAILED) return 1;
  char *p = huge ? (char *)(((uintptr_t)q + h - 1) & ~(uintptr_t)(h - 1)) : q;
  if (huge) madvise(p, len, MADV_HUGEPAGE);
  madvise(p, len, MADV_POPULATE_WRITE);
  for (size_t i = 0; i < n; i += 4096) p[i] = 1;
  printf("%.3f\n", now_ms() - t0);
  return 0;
}
C
cc -O2 -o "$tmp/probe" "$tmp/probe.c"
for _ in $(seq "$runs"); do
  for mode in small huge; do
    sleep "$pause"
    "$tmp/probe" "$mode" "$kib" >>"$tmp/$mode"
  done
done
echo "$kib KiB of fresh memory, $runs fresh processes a mode, $pause s apart (ms):"
for mode in small huge; do
  sort -n "$tmp/$mode" | awk -v m="$mode" '{a[NR] = $1}
    END {printf "%-6s median %7.3f   90th %7.3f   worst %7.3f\n", m, a[int((NR + 1) / 2)], a[int(NR * 0.9)], a[NR]}'
done
grep -h . /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag 2>/dev/null |
  sed 's/^/transparent huge pages: /' || true
