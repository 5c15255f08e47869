#!/bin/sh
# Runs inside the capture root (see boot-tests/capture/main.rs): starts dockerd, then
# firewalld, each alone on an empty ruleset, and prints what each wrote between
# `BEGIN NAME` and `END NAME` lines (NAME is the fixture's path under tests/fixtures/).
#   docker:    dockerd's start (docker0, its DOCKER* chains) plus a user network
#              `hwnet` (172.30.0.0/24): no image is needed for either.
#   firewalld: the default zone `public` on interface fw0 with the http service and a
#              rich rule rejecting tcp 8080 from 203.0.113.0/24.
set -u
emit() { echo "BEGIN $1"; cat; echo "END $1"; }
wait_for() { # tenths of a second, command...
    n=$1; shift
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1)); [ "$n" -le 0 ] && return 1
        sleep 0.1
    done
}
dump() { # NAME
    nft list ruleset | emit "$1/ruleset.nft"
    nft -j list ruleset | emit "$1/ruleset.json"
    iptables-save 2>&1 | emit "$1/iptables-save.txt"
}

systemctl stop docker.socket docker.service containerd.service firewalld.service 2>/dev/null
nft flush ruleset

echo "# docker"
systemctl start docker.service || { journalctl -u docker --no-pager | tail -30; exit 1; }
wait_for 600 docker network ls || { echo "dockerd did not answer"; exit 1; }
docker network create --subnet 172.30.0.0/24 hwnet || exit 1
dump docker
systemctl stop docker.socket docker.service containerd.service
nft flush ruleset

echo "# firewalld"
ip link add fw0 type veth peer name fw1
systemctl start firewalld.service || { journalctl -u firewalld --no-pager | tail -30; exit 1; }
wait_for 600 firewall-cmd --state || { echo "firewalld did not answer"; exit 1; }
firewall-cmd --zone=public --change-interface=fw0 || exit 1
firewall-cmd --zone=public --add-service=http || exit 1
firewall-cmd --zone=public --add-rich-rule='rule family="ipv4" source address="203.0.113.0/24" port port="8080" protocol="tcp" reject' || exit 1
dump firewalld

{
    echo "captured $(date -u +%Y-%m-%dT%H:%MZ) in a booted Debian $(cat /etc/debian_version) root, kernel $(uname -r)"
    dpkg-query -W -f='${Package} ${Version}\n' docker.io containerd runc firewalld \
        iptables nftables libnftables1 python3-nftables 2>/dev/null
    echo "iptables backend: $(iptables -V)"
    firewall-cmd --version | sed 's/^/firewalld /'
    grep -E '^(FirewallBackend|DefaultZone)=' /etc/firewalld/firewalld.conf
} | emit versions.txt
exit 0
