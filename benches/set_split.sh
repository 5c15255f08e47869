#!/usr/bin/env bash
# How the compiler's largest set (MAX_SET_ELEMENTS) trades dump time against packet path:
# for each MAX, load the table hostwall compiles for an N-network `define`, then time
# (a) hostwall's live read of it and (b) the cost per packet of walking every chunk rule
# (a probe chain on the output hook matches 127.0.0.1, which is in no chunk, against each
# chunk set: the worst case, a packet that matches none), against a probe chain with no rules.
# Usage: benches/set_split.sh [N] [RUNS] [MAX...]   (root; one throwaway namespace)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
n=${1:-100000}
runs=${2:-5}
shift 2 || true
maxes=("${@:-0 16384 8192 4096 2048 1024}")
read -r -a maxes <<<"${maxes[*]}"

bench_example live_bench
bench_netns split
ip netns exec "$ns" ip link set lo up
in_ns() { ip netns exec "$ns" "$@"; }
ms() { local t0; t0=$(date +%s%N); "$@" >/dev/null; echo $((($(date +%s%N) - t0) / 1000000)); }
cat >"$tmp/send.py" <<'PY'
import socket, sys, time
n = int(sys.argv[1])
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
r.bind(("127.0.0.1", 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst, msg = r.getsockname(), b"x" * 16
t0 = time.perf_counter()
for _ in range(n):
    s.sendto(msg, dst)
print(round((time.perf_counter() - t0) / n * 1e9))
PY

printf '%-8s %5s %12s %14s %14s\n' MAX sets read_ms ns/pkt_probe ns/pkt_empty
for max in "${maxes[@]}"; do
  "$bin" gen "$n" "$max" >"$tmp/t.nft"
  in_ns nft flush ruleset
  in_ns nft -f "$tmp/t.nft"
  mapfile -t sets < <(grep -oE '^\s*set src_big_v4[_0-9a-f]*' "$tmp/t.nft" | awk '{print $2}')
  in_ns nft add chain inet hostwall probe '{ type filter hook output priority 0; policy accept; }'
  in_ns nft add chain inet hostwall empty
  : >"$tmp/r"; : >"$tmp/p"; : >"$tmp/e"
  for _ in $(seq "$runs"); do
    ms in_ns "$bin" read hostwall >>"$tmp/r"
    in_ns nft flush chain inet hostwall probe
    for s in "${sets[@]}"; do in_ns nft add rule inet hostwall probe ip daddr @"$s" drop; done
    in_ns python3 "$tmp/send.py" 200000 >>"$tmp/p"
    in_ns nft flush chain inet hostwall probe
    in_ns python3 "$tmp/send.py" 200000 >>"$tmp/e"
  done
  printf '%-8s %5s %12s %14s %14s\n' "$max" "${#sets[@]}" "$(median <"$tmp/r")" \
    "$(median <"$tmp/p")" "$(median <"$tmp/e")"
done
echo "read_ms: wall time of live_bench read (hostwall live read+decode, process start included);"
echo "ns/pkt: per UDP packet sent on lo, through the probe chain with one rule per chunk, or empty."
