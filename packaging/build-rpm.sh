#!/bin/sh
# Builds the .rpm with rpmbuild into target/rpm/NAME-VERSION-RELEASE.ARCH.rpm and
# prints its path: stages the same files as the .deb at Red Hat's paths
# (packaging/stage.sh), writes a spec from Cargo.toml and packaging/package.conf whose
# %install copies the staged tree (the binary is prebuilt and stripped by the release
# profile: no %build, no debuginfo package, no build-id links, no brp scripts), and
# runs `rpmbuild -bb` with its _topdir in target/. Requires come from rpmbuild's ELF
# dependency generator (every NEEDED library, e.g. libnftnl.so.11()(64bit)).
set -eu
cd "$(dirname "$0")/.."
script=build-rpm.sh
tools="rpmbuild:rpm"
# shellcheck source=packaging/stage.sh
. packaging/stage.sh

top=$(pwd)/target/rpm-build
stage "$top/root" /usr/share/zsh/site-functions /usr/lib/systemd/system
mkdir -p "$top/SPECS"
spec=$top/SPECS/$name.spec

# files_section: %files with each file's mode; docs and man pages marked %doc.
files_section() {
    (cd "$top/root" && find . -type f | LC_ALL=C sort | sed 's|^\.||') |
        while read -r path; do
            case $path in
            /usr/sbin/*) echo "%attr(0755,root,root) $path" ;;
            /usr/share/doc/* | /usr/share/man/*) echo "%doc %attr(0644,root,root) $path" ;;
            *) echo "%attr(0644,root,root) $path" ;;
            esac
        done
}

{
    echo "Name: $name"
    echo "Version: $version"
    echo "Release: $release"
    echo "Summary: $summary"
    echo "License: $license"
    echo "Packager: $maintainer"
    echo "%global debug_package %{nil}"
    echo "%global _build_id_links none"
    echo "%global __os_install_post %{nil}"
    echo "%description"
    printf '%s\n' "$extended_description"
    echo "%install"
    echo "cp -a '$top/root/.' %{buildroot}/"
    echo "%files"
    files_section
} >"$spec"

rm -rf "$top/RPMS" target/rpm
# Build time and host from SOURCE_DATE_EPOCH and a fixed name: one commit, one .rpm.
rpmbuild -bb --quiet --define "_topdir $top" \
    --define "use_source_date_epoch_as_buildtime 1" --define "_buildhost localhost" \
    "$spec" >&2 ||
    fail "rpmbuild failed (the spec is $spec)"
mkdir -p target/rpm
mv "$top"/RPMS/*/"$name-$version-$release".*.rpm target/rpm/
rm -rf "$top"
ls target/rpm/"$name-$version-$release".*.rpm
