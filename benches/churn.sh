#!/usr/bin/env bash
# Busy-host benchmark: hostwall apply and diff --full while another program commits to
# its own table (`table ip other`: add a rule, flush the chain, in a shell loop, the way
# libvirt/docker/fail2ban update theirs), as fast as `nft` runs and at about 10/s, next
# to a quiet baseline. Prints per phase: commits/s by the churn, failures, the median
# whole-process time, the median and maximum resends (refusals caused only by other
# tables), and the added latency against the quiet phase.
#
#   benches/churn.sh [KVM_RUNS] [BIG_RUNS] [DIFF_RUNS]   (default 100 20 20; as root;
#                                                         a throwaway namespace only)
# BIN=path/to/hostwall measures another build (e.g. an older one) the same way.
# STREAM=1 adds a phase with one `nft -i` fed by a pipe: thousands of commits/s.
set -euo pipefail
cd "$(dirname "$0")/.."
kvm_runs=${1:-100}
big_runs=${2:-20}
diff_runs=${3:-20}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bin hostwall --example gen_policy
    BIN=$PWD/target/release/hostwall
fi
ns="hw-bench-churn-$$"
tmp=$(mktemp -d)
churn_pid=
cleanup() {
    [ -n "$churn_pid" ] && kill "$churn_pid" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
chmod 755 "$tmp"
install -m 644 policies/kvm-host.policy "$tmp/kvm.policy"
target/release/examples/gen_policy 100000 10 >"$tmp/big.policy"
chmod 644 "$tmp/big.policy"

hw() { "$BIN" "$1" --netns "$ns" --state-dir "$tmp/state" "${@:2}"; }
genid() { hw apply --dry-run "$tmp/kvm.policy" 2>&1 | sed -nE 's/.* at generation ([0-9]+).*/\1/p' | tail -1; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; else print "-"}'; }
max() { sort -g | tail -1; }

churn_start() { # $1: pause between changes ("" = none, "stream" = one nft -i fed by a pipe)
    if [ "$1" = stream ]; then
        ip netns exec "$ns" sh -c "nft add table ip other; nft add chain ip other c; \
            while :; do echo 'add rule ip other c counter'; echo 'flush chain ip other c'; done \
            | nft -i >/dev/null 2>&1" &
    else
        local pause=${1:+sleep $1;}
        ip netns exec "$ns" sh -c "nft add table ip other; nft add chain ip other c; \
            while :; do nft add rule ip other c counter; nft flush chain ip other c; $pause done" &
    fi
    churn_pid=$!
    sleep 0.5
}
churn_stop() {
    [ -n "$churn_pid" ] || return 0
    pkill -P "$churn_pid" 2>/dev/null || true
    kill "$churn_pid" 2>/dev/null || true
    wait "$churn_pid" 2>/dev/null || true
    churn_pid=
    ip netns pids "$ns" | xargs -r kill 2>/dev/null || true
}

# run LABEL RUNS CMD... : whole-process ms per run, failures, resends per run.
run() {
    local label=$1 runs=$2; shift 2
    : >"$tmp/t"; : >"$tmp/r"; local fail=0 wrong=0
    for ((i = 0; i < runs; i++)); do
        local t0 t1 rc=0
        t0=$(date +%s%N)
        "$@" >"$tmp/out" 2>&1 || rc=$?
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000)) >>"$tmp/t"
        case "$label" in
        diff*) [ $rc -eq 0 ] || { [ $rc -eq 1 ] && wrong=$((wrong + 1)) || fail=$((fail + 1)); } ;;
        *) [ $rc -eq 0 ] || fail=$((fail + 1)) ;;
        esac
        [ $rc -eq 0 ] || [ $rc -eq 1 ] || sed 's/^/    /' "$tmp/out" | head -3 >&2
        sed -nE 's/.*resent ([0-9]+) time.*/\1/p' "$tmp/out" | head -1 | { read -r n || n=0; echo "${n:-0}"; } >>"$tmp/r"
    done
    local med; med=$(median <"$tmp/t")
    printf '  %-22s %4d runs  %3d failed  %3d wrong  median %8.1f ms  resends median %s max %s\n' \
        "$label" "$runs" "$fail" "$wrong" "$(awk -v m="$med" 'BEGIN {print m / 1000}')" \
        "$(median <"$tmp/r")" "$(max <"$tmp/r")"
    echo "$label $med" >>"$tmp/medians"
}

phase() { # $1: name, $2: churn pause or "quiet"
    echo "$1:"
    [ "$2" = quiet ] || churn_start "$2"
    local g0 t0 g1 t1
    g0=$(genid); t0=$(date +%s%N)
    run "apply kvm-host" "$kvm_runs" hw apply "$tmp/kvm.policy"
    run "apply 100k prefixes" "$big_runs" hw apply "$tmp/big.policy"
    run "diff --full 100k" "$diff_runs" hw diff --full "$tmp/big.policy"
    g1=$(genid); t1=$(date +%s%N)
    churn_stop
    awk -v g="$((g1 - g0 - kvm_runs - big_runs))" -v t="$(((t1 - t0) / 1000000))" \
        'BEGIN {printf "  churn: %d foreign commits in %.1f s = %.0f/s\n", g, t / 1000, g * 1000 / t}'
}

: >"$tmp/medians"
phase "quiet" quiet
cp "$tmp/medians" "$tmp/quiet"; : >"$tmp/medians"
phase "churn as fast as nft runs" ""
cp "$tmp/medians" "$tmp/fast"; : >"$tmp/medians"
phase "churn ~10 changes/s" 0.2
cp "$tmp/medians" "$tmp/slow"; : >"$tmp/medians"
if [ -n "${STREAM:-}" ]; then
    phase "churn from one nft -i (thousands/s)" stream
    cp "$tmp/medians" "$tmp/stream"
else
    cp "$tmp/quiet" "$tmp/stream"
fi
echo "added latency (median under churn / quiet median):"
paste -d' ' "$tmp/quiet" "$tmp/fast" "$tmp/slow" "$tmp/stream" | awk -v stream="${STREAM:-}" '{
    n = NF / 4; label = ""; for (i = 1; i < n; i++) label = label $i " ";
    printf "  %-22s fast %.2fx  ~10/s %.2fx", label, $(2*n) / $n, $(3*n) / $n;
    if (stream != "") printf "  stream %.2fx", $(4*n) / $n;
    printf "\n" }'
