#!/bin/sh
# Runs inside the boot of boot-tests/import.rs: firewalld.service, enabled in the
# machine's layer, started at boot with the first configuration of /hostwall-test/order
# as /etc/firewalld. For each configuration: wait for `firewall-cmd --state` = running,
# then write `nft list ruleset` (text and -j) to out/NAME/; between configurations the
# unit is stopped, /etc/firewalld replaced from /hostwall-test/configs/NAME and the unit
# started again. Last, the runtime path: configs/runtime-dbus (firewalld.conf only), then
# /hostwall-test/runtime.sh (`firewall-cmd --permanent ...` over D-Bus), `firewall-cmd
# --reload`, the capture, and the /etc/firewalld the daemon wrote copied to out/.
set -u
out=/hostwall-test/out

journal() {
    journalctl -u firewalld.service --no-pager | tail -30
}

wait_running() { # tenths of a second
    n=$1
    until [ "$(firewall-cmd --state 2>/dev/null)" = running ]; do
        n=$((n - 1))
        [ "$n" -le 0 ] && return 1
        sleep 0.1
    done
}

capture() { # NAME
    d=$out/$1
    mkdir -p "$d"
    wait_running 900 || { echo "FAIL $1: firewalld is not running"; journal; return 1; }
    nft list ruleset >"$d/ruleset.nft" || return 1
    nft -j list ruleset >"$d/ruleset.json" || return 1
    echo "CAPTURED $1 unit=$(systemctl is-active firewalld.service)" \
        "pid=$(systemctl show -p MainPID --value firewalld.service)" \
        "default=$(firewall-cmd --get-default-zone)" \
        "zones=$(firewall-cmd --get-active-zones | grep -v '^ ' | tr '\n' ',')"
}

switch() { # NAME
    systemctl stop firewalld.service || return 1
    nft flush ruleset
    rm -rf /etc/firewalld
    cp -a "/hostwall-test/configs/$1" /etc/firewalld || return 1
    # systemd refuses a unit's sixth start within 10 s (StartLimitBurst); on an idle
    # machine the configurations switch faster than that: flush the unit's counter.
    systemctl reset-failed firewalld.service
    systemctl start firewalld.service || { echo "FAIL $1: start"; journal; return 1; }
}

systemctl is-system-running --wait >/dev/null
echo "BOOTED firewalld enabled=$(systemctl is-enabled firewalld.service)" \
    "active=$(systemctl is-active firewalld.service)" \
    "libvirtd=$(systemctl is-active libvirtd.service)"
first=yes
while read -r name; do
    if [ "$first" = yes ]; then
        first=no
    else
        switch "$name" || exit 1
    fi
    capture "$name" || exit 1
done </hostwall-test/order

switch runtime-dbus || exit 1
wait_running 900 || { echo "FAIL runtime-dbus: firewalld is not running"; journal; exit 1; }
sh -x /hostwall-test/runtime.sh || { journal; exit 1; }
firewall-cmd --reload || { journal; exit 1; }
capture runtime-dbus || exit 1
cp -a /etc/firewalld "$out/runtime-dbus/etc" || exit 1
echo "VERSION firewalld $(firewall-cmd --version)"
exit 0
