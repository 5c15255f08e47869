#!/bin/sh
# Builds the .deb with dpkg's own tools into target/debian/NAME_VERSION-RELEASE_ARCH.deb
# and prints its path: stages the release binary (stripped by the profile), units, man
# pages, completions, docs and policies (packaging/stage.sh), writes a copyright file
# and DEBIAN/control from Cargo.toml and packaging/package.conf with Depends computed
# by dpkg-shlibdeps, adds the maintainer scripts of packaging/debian/ with the
# systemd snippets debhelper writes for units installed disabled, and packs the tree
# with `dpkg-deb --root-owner-group --build`.
set -eu
cd "$(dirname "$0")/.."
script=build-deb.sh
tools="dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev md5sum:coreutils"
# shellcheck source=packaging/stage.sh
. packaging/stage.sh

work=target/debian-build
root=$work/root
stage "$root" /usr/share/zsh/vendor-completions /lib/systemd/system
doc=$root/usr/share/doc/$name

cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $name

Files: *
Copyright: $copyright
License: $license
COPYRIGHT
chmod 644 "$doc/copyright"

# shlib_depends BINARY: dpkg-shlibdeps' Depends for BINARY; it needs a debian/control
# naming the package, so it runs in a directory of its own.
shlib_depends() {
    mkdir -p "$work/shlibs/debian"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$name" "$name" \
        >"$work/shlibs/debian/control"
    bin=$(realpath "$1")
    (cd "$work/shlibs" && dpkg-shlibdeps -O -e"$bin") | sed -n 's/^shlibs:Depends=//p'
}
depends=$(shlib_depends "$root/usr/sbin/$name")
[ -n "$depends" ] || fail "dpkg-shlibdeps computed no Depends for $name"

# The systemd snippets of dh_installsystemd (--no-enable --no-start) for the units.
units=$(units | tr '\n' ' ' | sed 's/ $//')
snippets() {
    case $1 in
    postinst)
        for unit in $units; do
            sed -e 1d -e "s/#UNITFILE#/'$unit'/g" packaging/debian/systemd/postinst-dont-enable
        done ;;
    postrm)
        quoted=$(for unit in $units; do printf "'%s' " "$unit"; done | sed 's/ $//')
        sed -e 1d -e "s/#UNITFILES#/$quoted/g" packaging/debian/systemd/postrm ;;
    esac
}
mkdir -p "$root/DEBIAN"
for hook in postinst postrm; do
    [ -f "packaging/debian/$hook" ] || continue
    snippets "$hook" >"$work/$hook.snippet"
    sed -e "/^#DEBHELPER#\$/{r $work/$hook.snippet" -e 'd}' "packaging/debian/$hook" \
        >"$root/DEBIAN/$hook"
    chmod 755 "$root/DEBIAN/$hook"
done

(cd "$root" && find usr -type f | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/md5sums"
arch=$(dpkg --print-architecture)
size=$(du -k -s --exclude=DEBIAN "$root" | cut -f 1)
{
    echo "Package: $name"
    echo "Version: $version-$release"
    echo "Architecture: $arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $size"
    echo "Depends: $depends"
    echo "Section: $section"
    echo "Priority: $priority"
    echo "Description: $summary"
    printf '%s\n' "$extended_description" | fold -s -w 78 | sed 's/ *$//; s/^/ /'
} >"$root/DEBIAN/control"
chmod 644 "$root/DEBIAN/control"

mkdir -p target/debian
deb=target/debian/${name}_$version-${release}_$arch.deb
rm -f "$deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >&2
rm -rf "$work"
echo "$deb"
