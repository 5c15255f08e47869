#!/usr/bin/env bash
# How the compiler's largest set (MAX_SET_ELEMENTS) trades dump time against packet path:
# for each MAX, load the table hostwall compiles for an N-network `define`, then time
# (a) hostwall's live read of it and (b) the cost per packet of walking every chunk rule
# (a probe chain on the output hook matches the packet's destination against each chunk
# set), against a probe chain with no rules: "probe", lookups alone (`ip daddr @set`, as
# the compiler wrote them before each got its range), 127.0.0.1, in no set; "guarded",
# each lookup behind its set's range as compiled (`ip daddr LO-HI ip daddr @set`),
# 127.0.0.1, in no range; "inside", guarded, 10.0.0.5, inside the first set's range but
# in none of its networks (one lookup).
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
to = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
r.bind(("0.0.0.0", 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst, msg = (to, r.getsockname()[1]), b"x" * 16
t0 = time.perf_counter()
for _ in range(n):
    s.sendto(msg, dst)
print(round((time.perf_counter() - t0) / n * 1e9))
PY

printf '%-8s %5s %12s %14s %14s %14s %14s\n' MAX sets read_ms ns/pkt_probe ns/pkt_guarded ns/pkt_inside ns/pkt_empty
for max in "${maxes[@]}"; do
  "$bin" gen "$n" "$max" >"$tmp/t.nft"
  in_ns nft flush ruleset
  in_ns nft -f "$tmp/t.nft"
  mapfile -t sets < <(grep -oE '^\s*set src_big_v4[_0-9a-f]*' "$tmp/t.nft" | awk '{print $2}')
  # Each set's range as the compiled rules state it (a single set has none: 0.0.0.0-255.255.255.255).
  mapfile -t ranges < <(for s in "${sets[@]}"; do
    r=$(grep -oE "ip saddr [0-9.]+-[0-9.]+ ip saddr @$s " "$tmp/t.nft" | head -1 | awk '{print $3}')
    echo "${r:-0.0.0.0-255.255.255.255}"
  done)
  in_ns ip addr add 10.0.0.5/32 dev lo
  in_ns nft add chain inet hostwall probe '{ type filter hook output priority 0; policy accept; }'
  in_ns nft add chain inet hostwall empty
  : >"$tmp/r"; : >"$tmp/p"; : >"$tmp/g"; : >"$tmp/i"; : >"$tmp/e"
  for _ in $(seq "$runs"); do
    ms in_ns "$bin" read hostwall >>"$tmp/r"
    in_ns nft flush chain inet hostwall probe
    for s in "${sets[@]}"; do in_ns nft add rule inet hostwall probe ip daddr @"$s" drop; done
    in_ns python3 "$tmp/send.py" 200000 >>"$tmp/p"
    in_ns nft flush chain inet hostwall probe
    for i in "${!sets[@]}"; do
      echo "add rule inet hostwall probe ip daddr ${ranges[$i]} ip daddr @${sets[$i]} drop"
    done >"$tmp/guarded.nft"
    in_ns nft -f "$tmp/guarded.nft"
    in_ns python3 "$tmp/send.py" 200000 >>"$tmp/g"
    in_ns python3 "$tmp/send.py" 200000 10.0.0.5 >>"$tmp/i"
    in_ns nft flush chain inet hostwall probe
    in_ns python3 "$tmp/send.py" 200000 >>"$tmp/e"
  done
  printf '%-8s %5s %12s %14s %14s %14s %14s\n' "$max" "${#sets[@]}" "$(median <"$tmp/r")" \
    "$(median <"$tmp/p")" "$(median <"$tmp/g")" "$(median <"$tmp/i")" "$(median <"$tmp/e")"
  in_ns ip addr del 10.0.0.5/32 dev lo
done
echo "read_ms: wall time of live_bench read (hostwall live read+decode, process start included);"
echo "ns/pkt: per UDP packet sent on lo, through the probe chain with one rule per chunk, or empty."
echo "probe: lookups alone; guarded: each behind its range, a packet in none; inside: guarded, a"
echo "packet inside the first set's range and in none of its networks."
