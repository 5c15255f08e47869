#!/bin/sh
# Boots a cached root: usage boot.sh LOWER WORKDIR CGROUP.
# WORKDIR holds upper/ and ovl/ (the overlay's writable layer), merged/ (its
# mount point) and share/ (mounted at /hostwall-test inside). This shell moves
# itself into a fresh cgroup named CGROUP (systemd builds its tree below it,
# never at the host's cgroup root), then enters new pid, mount, net, uts and
# ipc namespaces where init.sh mounts the root and execs systemd as PID 1.
# Killing this process kills that PID 1 (--kill-child), which ends every
# process of the boot; its mounts vanish with its mount namespace.
set -eu
here=$(dirname "$0")
cg=$3
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    hierarchies=/sys/fs/cgroup
else
    hierarchies="/sys/fs/cgroup/systemd /sys/fs/cgroup/unified"
fi
for h in $hierarchies; do
    if [ -d "$h" ]; then
        mkdir -p "$h/$cg"
        echo $$ >"$h/$cg/cgroup.procs"
    fi
done
exec unshare --fork --pid --mount --net --uts --ipc --propagation private --kill-child \
    -- /bin/sh "$here/init.sh" "$1" "$2"
