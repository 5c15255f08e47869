#!/bin/sh
# Builds the .deb from Cargo.toml's [package.metadata.deb] with cargo-deb (installed
# with `cargo install --locked cargo-deb` when missing) into target/debian/, and prints
# its path. The release profile strips the binary; Depends comes from dpkg-shlibdeps.
# Concurrent runs (tests, a shell) wait for each other on target/package.lock.
set -eu
cd "$(dirname "$0")/.."
mkdir -p target
exec 9>target/package.lock
flock 9

if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-deb.sh: installing cargo-deb" >&2
    cargo install --locked cargo-deb >&2
fi
command -v dpkg-shlibdeps >/dev/null || {
    echo "build-deb.sh: dpkg-shlibdeps is missing (apt-get install dpkg-dev)" >&2
    exit 2
}

cargo deb --locked --quiet --output target/debian/ >target/debian.path
deb=$(tail -n 1 target/debian.path)
rm -f target/debian.path
echo "$deb"
