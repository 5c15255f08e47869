#!/bin/sh
# Builds the .rpm from Cargo.toml's [package.metadata.generate-rpm] with
# cargo-generate-rpm (installed with `cargo install --locked cargo-generate-rpm` when
# missing) into target/generate-rpm/, and prints its path. The binary is the stripped
# release build; man pages are gzipped into target/rpm-assets/ first (rpmbuild's
# brp-compress would do that; cargo-generate-rpm does not). Requires are computed from
# the binary's ELF dependencies. Concurrent runs wait for each other on
# target/package.lock.
set -eu
cd "$(dirname "$0")/.."
mkdir -p target
exec 9>target/package.lock
flock 9

if ! cargo generate-rpm --version >/dev/null 2>&1; then
    echo "build-rpm.sh: installing cargo-generate-rpm" >&2
    cargo install --locked cargo-generate-rpm >&2
fi

cargo build --locked --quiet --release --bin hostwall
rm -rf target/rpm-assets
mkdir -p target/rpm-assets/man
for page in packaging/man/*.8; do
    gzip -9 -n -c "$page" >"target/rpm-assets/man/$(basename "$page").gz"
done
rm -f target/generate-rpm/hostwall-*.rpm
cargo generate-rpm --auto-req builtin >&2
ls target/generate-rpm/hostwall-*.rpm
