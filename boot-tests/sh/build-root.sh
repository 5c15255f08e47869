#!/bin/sh
# Builds a bootable Debian 12 (bookworm) minbase root in DEST with the packages
# given, configured to boot with systemd as PID 1 inside private namespaces
# (see boot.sh). Called by the harness (boot-tests/harness/root.rs), which takes
# the lock, passes a temporary DEST and renames it into the cache when this
# succeeds. The mirror is debootstrap's default unless HOSTWALL_BOOT_MIRROR is set.
set -eu
dest=$1
shift
pkgs=$(echo "$@" | tr ' ' ',')

# shellcheck disable=SC2086 # the mirror argument is optional
debootstrap --variant=minbase --include="$pkgs" bookworm "$dest" ${HOSTWALL_BOOT_MIRROR:-}

# debootstrap can leave a package unconfigured (a virtual dependency it does not
# resolve) and still succeed: every package asked for must be installed.
for p in "$@"; do
    # shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not the shell's
    status=$(chroot "$dest" dpkg-query -W -f='${Status}' "$p" 2>&1 || true)
    if [ "$status" != "install ok installed" ]; then
        echo "build-root.sh: package $p is not installed in the root: $status" >&2
        exit 1
    fi
done

echo hostwall-boot >"$dest/etc/hostname"
mkdir -p "$dest/var/log/journal"
: >"$dest/etc/machine-id"

# Units that would reach outside the namespaces (host devices, kernel-wide
# sysctls, kernel modules) or wait for a terminal: masked.
for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-udev-trigger.service systemd-udev-settle.service systemd-sysctl.service \
    systemd-modules-load.service kmod-static-nodes.service systemd-binfmt.service \
    proc-sys-fs-binfmt_misc.automount sys-kernel-debug.mount sys-kernel-tracing.mount \
    sys-kernel-config.mount sys-fs-fuse-connections.mount systemd-remount-fs.service \
    getty@.service serial-getty@.service console-getty.service getty.target \
    systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$dest/etc/systemd/system/$unit"
done
ln -sf /lib/systemd/system/multi-user.target "$dest/etc/systemd/system/default.target"

# libvirt's default NAT network starts with libvirtd, as on a freshly installed host.
if [ -f "$dest/etc/libvirt/qemu/networks/default.xml" ]; then
    mkdir -p "$dest/etc/libvirt/qemu/networks/autostart"
    ln -sf /etc/libvirt/qemu/networks/default.xml \
        "$dest/etc/libvirt/qemu/networks/autostart/default.xml"
fi

# firewalld is installed for the import's proof (boot-tests/import.rs) but disabled, as
# is its D-Bus name: the other tests boot without it; that test enables it in its own layer.
if [ -f "$dest/lib/systemd/system/firewalld.service" ]; then
    systemctl --root="$dest" disable firewalld.service
fi

apt-get -o Dir="$dest" clean 2>/dev/null || rm -rf "$dest/var/cache/apt/archives/"*.deb
