#!/bin/sh
# PID 1 of a boot's new namespaces until it execs systemd: usage init.sh LOWER WORKDIR
# (see boot.sh). Everything mounted here lives in the boot's own mount namespace.
# /proc/sys is read-only except /proc/sys/net (per network namespace), so
# nothing in the boot can change a kernel-wide sysctl of the host; sysfs is a
# fresh mount showing the boot's own network devices; /dev/console is a log file.
set -eu
lower=$1
w=$2
m=$w/merged
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$w/upper,workdir=$w/ovl" "$m"
mount -t proc proc "$m/proc"
mount --bind "$m/proc/sys" "$m/proc/sys"
mount -o remount,bind,ro "$m/proc/sys"
mount --bind "$m/proc/sys/net" "$m/proc/sys/net"
mount -o remount,bind,rw "$m/proc/sys/net"
if [ -e "$m/proc/sysrq-trigger" ]; then
    mount --bind "$m/proc/sysrq-trigger" "$m/proc/sysrq-trigger"
    mount -o remount,bind,ro "$m/proc/sysrq-trigger"
fi
mount -t sysfs sysfs "$m/sys"
mount --rbind /sys/fs/cgroup "$m/sys/fs/cgroup"
mount --rbind /dev "$m/dev"
: >"$w/share/out/console.log"
mount --bind "$w/share/out/console.log" "$m/dev/console"
mount -t tmpfs -o mode=0755 tmpfs "$m/run"
mount -t tmpfs -o mode=1777 tmpfs "$m/tmp"
mkdir -p "$m/hostwall-test"
mount --bind "$w/share" "$m/hostwall-test"
exec chroot "$m" /usr/bin/env -i container=hostwall-boot TERM=dumb /lib/systemd/systemd
