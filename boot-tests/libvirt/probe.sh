#!/bin/sh
# Runs inside a booted root with libvirtd (see boot-tests/libvirt.rs): applies
# /hostwall-test/policy (with /hostwall-test/site.toml when present), then
# measures what a libvirt NAT guest and the world see, with real programs, in
# three phases: after boot, after `virsh net-destroy/net-start default`, after
# `systemctl restart libvirtd`. Prints one line per check:
#   RESULT <phase> <check> <outcome> <detail>
# The guest is a network namespace on a veth enslaved to virbr0 (a second one,
# guest6, is on virbr1: an isolated IPv6 network with a DHCPv6 range); the world is
# a namespace behind the host (10.0.0.2 in the management network, 198.51.100.2
# outside it). Listeners on the host: tcp 22 (ssh) and tcp 3306 (a database).
set -u
T=/hostwall-test
HW=$T/hostwall
STATE=/run/hostwall-test

say() { echo "RESULT $phase $1 $2 ${3:-}"; }
log() { echo "# $*"; }

wait_for() { # tries (tenths of a second), command...
    n=$1; shift
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1)); [ "$n" -le 0 ] && return 1
        sleep 0.1
    done
}

network_up() { ip link show virbr0 && pgrep -f 'dnsmasq.*/default.conf'; }

# connect NETNS ADDR PORT [SOURCE]: connected, refused or timeout
connect() {
    out=$(ip netns exec "$1" socat -T2 /dev/null "TCP:$2:$3,connect-timeout=2${4:+,bind=$4}" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then echo connected
    elif echo "$out" | grep -qi refused; then echo refused
    elif echo "$out" | grep -qi 'timed out'; then echo timeout
    else echo "error:$(echo "$out" | tail -1 | tr ' ' _)"
    fi
}

setup_world() {
    ip netns add world
    ip link add wan0 type veth peer name eth0 netns world
    ip addr add 10.0.0.1/24 dev wan0
    ip addr add 198.51.100.1/24 dev wan0
    ip link set wan0 up
    ip -n world addr add 10.0.0.2/24 dev eth0
    ip -n world addr add 198.51.100.2/24 dev eth0
    ip -n world link set eth0 up
    ip -n world link set lo up
    # what NAT out reaches: replies with the address the connection came from
    # shellcheck disable=SC2016 # socat's shell expands the peer address
    ip netns exec world socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
    socat TCP-LISTEN:22,fork,reuseaddr SYSTEM:'echo ssh' &
    socat TCP-LISTEN:3306,fork,reuseaddr SYSTEM:'echo db' &
}

setup_guest() {
    ip netns add guest
    mkdir -p /etc/netns/guest
    : >/etc/netns/guest/resolv.conf
    ip link add vnet-g type veth peer name eth0 netns guest
    ip -n guest link set lo up
    ip -n guest link set eth0 up
    attach_guest
}

attach_guest() {
    ip link set vnet-g master virbr0
    ip link set vnet-g up
    # STP: the port passes frames only once forwarding (else DHCP races it)
    wait_for 150 port_forwarding || log "vnet-g: $(bridge link show dev vnet-g)"
}

port_forwarding() { bridge link show dev vnet-g | grep -q 'state forwarding'; }

setup_v6() {
    virsh -q net-create $T/v6net.xml || return 1
    ip netns add guest6
    ip link add vnet-g6 type veth peer name eth0 netns guest6
    ip -n guest6 link set lo up
    ip -n guest6 link set eth0 up
    ip link set vnet-g6 master virbr1
    ip link set vnet-g6 up
}

v6_ready() { # the guest's link-local address is past duplicate address detection
    ip -n guest6 -6 addr show dev eth0 scope link | grep inet6 | grep -qv tentative &&
        bridge link show dev vnet-g6 | grep -q 'state forwarding'
}

dhcp6() {
    wait_for 100 v6_ready || log "guest6: $(ip -n guest6 -6 addr show dev eth0)"
    ip netns exec guest6 dhclient -6 -r -pf /run/dhclient6.pid -lf /run/dhclient6.leases eth0 2>/dev/null
    if ip netns exec guest6 timeout 15 dhclient -6 -1 -cf $T/dhclient.conf -pf /run/dhclient6.pid \
        -lf /run/dhclient6.leases eth0 >/run/dhclient6.out 2>&1; then
        addr=$(ip -n guest6 -6 -o addr show dev eth0 scope global | awk '{print $4}' | head -1)
        case $addr in
        fd00:122::*) say dhcp6 ok "$addr" ;;
        *) say dhcp6 fail "exit-0-but-address:$addr" ;;
        esac
    else
        say dhcp6 fail "no-lease:$(tail -1 /run/dhclient6.out | tr ' ' _)"
    fi
}

dhcp() {
    ip netns exec guest dhclient -r -pf /run/dhclient.pid -lf /run/dhclient.leases eth0 2>/dev/null
    ip -n guest addr flush dev eth0
    ip -n guest route flush table main 2>/dev/null
    if ip netns exec guest timeout 15 dhclient -1 -cf $T/dhclient.conf -pf /run/dhclient.pid \
        -lf /run/dhclient.leases eth0 >/run/dhclient.out 2>&1; then
        addr=$(ip -n guest -4 -o addr show dev eth0 | awk '{print $4}')
        case $addr in
        192.168.122.*) say dhcp ok "$addr" ;;
        *) say dhcp fail "exit-0-but-address:$addr" ;;
        esac
    else
        say dhcp fail "no-lease:$(tail -1 /run/dhclient.out | tr ' ' _)"
        # the other checks need an address: configure the one a lease would give
        ip -n guest addr add 192.168.122.250/24 dev eth0
        ip -n guest route add default via 192.168.122.1
    fi
}

dns() { # udp or tcp
    flag=; [ "$1" = tcp ] && flag=+tcp
    ans=$(ip netns exec guest dig $flag +time=2 +tries=1 +short @192.168.122.1 hostwall-gw.test A 2>&1)
    if [ "$ans" = 192.168.122.1 ]; then say "dns-$1" ok "$ans"
    else say "dns-$1" fail "$(echo "$ans" | tail -1 | tr ' ' _)"
    fi
}

nat() {
    seen=$(ip netns exec guest socat -T3 - TCP:10.0.0.2:8080,connect-timeout=3 </dev/null 2>&1)
    if [ "$seen" = 10.0.0.1 ]; then say nat ok "world-sees:$seen"
    else say nat fail "$(echo "$seen" | tail -1 | tr ' ' _)"
    fi
}

# With $T/live-checks: what the whole host does to the policy's forward rules, measured
# and as hostwall reports it. World -> guest:8000 with a listener in the guest (real
# packets), `explain --live` of that packet, and `verify --with-live-tables`:
#   defeated-8000-only  it fails, and only on tcp 8000 probes refused by LIBVIRT_FWI
#   pass                every probe passed
live_checks() {
    guest=$(ip -n guest -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -1)
    say port8000 "$(connect world "$guest" 8000 10.0.0.2)" "guest=$guest"
    pkt="tcp 10.0.0.2 -> $guest:8000 in wan0 out virbr0 new"
    $HW explain "$pkt" $T/policy --live >/run/explain.out 2>&1
    verdict=$(grep '^verdict:' /run/explain.out | head -1)
    case $verdict in
    *rejected*"chain FORWARD refuses it"*)
        if grep -q LIBVIRT_FWI /run/explain.out; then
            say explain rejected-LIBVIRT_FWI "$(echo "$verdict" | tr ' ' _)"
        else
            say explain no-rule "$(echo "$verdict" | tr ' ' _)"
        fi ;;
    *) say explain "$(echo "$verdict" | cut -d: -f2 | tr -d ' ')" "$(tail -1 /run/explain.out | tr ' ' _)" ;;
    esac
    started=$(date +%s%N)
    $HW verify $T/policy --with-live-tables >/run/verify.out 2>&1
    rc=$?
    ms=$((($(date +%s%N) - started) / 1000000))
    fails=$(grep -c ' FAIL ' /run/verify.out)
    fwi=$(grep ' FAIL ' /run/verify.out | grep '^forward tcp 8000 ' | grep -c 'LIBVIRT_FWI')
    summary="$(tail -1 /run/verify.out | tr ' ' _)_in_${ms}ms"
    if [ $rc -eq 0 ]; then say verify-live pass "$summary"
    elif [ $rc -eq 1 ] && [ "$fails" -gt 0 ] && [ "$fails" -eq "$fwi" ]; then
        say verify-live defeated-8000-only "$summary"
    else
        say verify-live "exit-$rc-fail-$fails-fwi-$fwi" "$summary"
        grep -E ' FAIL |error' /run/verify.out | head -5
    fi
}

checks() {
    dhcp
    dhcp6
    dns udp
    dns tcp
    nat
    say ssh-mgmt "$(connect world 10.0.0.1 22 10.0.0.2)"
    say ssh-other "$(connect world 198.51.100.1 22 198.51.100.2)"
    say db-world "$(connect world 10.0.0.1 3306 10.0.0.2)"
    # shellcheck disable=SC2086 # POLICY_ARGS is two words when there is a site file
    $HW diff --state-dir $STATE $POLICY_ARGS >/run/diff.out 2>&1
    rc=$?
    # Our table in sync while another table refuses what the policy allows: exit 1.
    if [ $rc -eq 1 ] && grep -q '^defeated: ' /run/diff.out &&
        grep -q 'another table refuses what the policy allows' /run/diff.out; then
        say diff defeated "$(grep -A2 'refuses what the policy allows' /run/diff.out | tail -1 | tr ' ' _)"
    elif [ $rc -eq 0 ]; then say diff in-sync; else say diff "exit-$rc" "$(head -1 /run/diff.out | tr ' ' _)"; fi
    say forward "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
    if [ -f $T/live-checks ]; then live_checks; fi
}

phase=boot
systemctl is-system-running --wait >/dev/null
virsh -q net-list --all >/dev/null 2>&1 # socket-activates libvirtd, which autostarts default
if ! wait_for 300 network_up; then
    say network fail "virbr0-or-dnsmasq-missing"
    systemctl status libvirtd --no-pager
    exit 1
fi
virsh -q net-update default add dns-host \
    "<host ip='192.168.122.1'><hostname>hostwall-gw.test</hostname></host>" --live --config
setup_world
setup_guest
if [ -f $T/live-checks ]; then
    ip -n world route add 192.168.122.0/24 via 10.0.0.1
    ip netns exec guest socat TCP-LISTEN:8000,fork,reuseaddr SYSTEM:'echo guest' &
fi
setup_v6 || say network fail "v6-network-did-not-start"

if [ -f $T/live-checks ]; then # libvirt's own rules, for tests/fixtures/libvirt/
    for w in "iptables-save.txt:iptables-save" "ip6tables-save.txt:ip6tables-save" \
        "ruleset.nft:nft list ruleset"; do
        echo "BEGIN libvirt/${w%%:*}"; ${w#*:}; echo "END libvirt/${w%%:*}"
    done
    dpkg-query -W -f='${Package} ${Version}\n' libvirt-daemon-system iptables nftables |
        sed 's/^/VERSION /'
fi

POLICY_ARGS=$T/policy
[ -f $T/site.toml ] && POLICY_ARGS="$POLICY_ARGS --site $T/site.toml"
# shellcheck disable=SC2086 # POLICY_ARGS is two words when there is a site file
if ! $HW apply --state-dir $STATE $POLICY_ARGS; then
    say apply fail
    exit 1
fi
say apply ok
checks

phase=net-restart
virsh -q net-destroy default
virsh -q net-start default
wait_for 300 network_up || say network fail "default-did-not-start"
attach_guest # libvirt leaves a destroyed network's ports detached, as a VM's tap
checks

phase=libvirtd-restart
systemctl restart libvirtd
virsh -q net-list >/dev/null
wait_for 300 network_up || say network fail "default-gone-after-restart"
checks
