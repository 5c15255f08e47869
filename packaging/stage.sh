# shellcheck shell=sh disable=SC2034,SC2154  # $script/$tools come from the caller, which uses the metadata
# Shared by packaging/build-deb.sh and packaging/build-rpm.sh (sourced, POSIX sh):
# takes the lock, checks the distribution's tools, reads the package metadata, builds
# the release binary and stages the package tree. The caller sets `$script` (its name,
# for messages) and `$tools` (PROGRAM:APT-PACKAGE pairs it runs) before sourcing; a
# missing tool fails before anything is built.

# Concurrent runs (tests, a shell) wait for each other on target/package.lock.
mkdir -p target
exec 9>target/package.lock
flock 9

fail() {
    echo "$script: $*" >&2
    exit 2
}

# need PROGRAM APT-PACKAGE: fails naming the package to install when PROGRAM is missing.
need() {
    command -v "$1" >/dev/null 2>&1 || fail "$1 is missing (apt-get install $2)"
}

# cargo_field KEY: the first "KEY":"value" of `cargo metadata --no-deps` (the package's
# own name, version, description and license come before its dependencies' fields).
cargo_field() {
    printf '%s\n' "$metadata" | grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | sed 's/^"[^"]*":"//; s/"$//'
}

read_metadata() {
    metadata=$(cargo metadata --no-deps --format-version 1 --locked) || fail "cargo metadata failed"
    name=$(cargo_field name)
    version=$(cargo_field version)
    summary=$(cargo_field description)
    license=$(cargo_field license)
    for field in name version summary license; do
        eval "[ -n \"\$$field\" ]" || fail "Cargo.toml's [package] lacks the $field"
    done
    . packaging/package.conf
}

# The unit files shipped: packaging/NAME.TYPE and packaging/NAME-*.TYPE for the unit
# types below (hostwall.service and hostwall-nftables.service, its Also=).
units() {
    for unit in packaging/"$name".* packaging/"$name"-*.*; do
        case ${unit##*.} in
        service | socket | timer | path | target | mount) [ -f "$unit" ] && basename "$unit" ;;
        esac
    done
    return 0
}

# stage ROOT ZSH_DIR UNIT_DIR: the package's files under ROOT, with their modes; ZSH_DIR is
# the distribution's zsh completion directory, UNIT_DIR its systemd unit directory
# (Debian 12: /lib/systemd/system; Red Hat: /usr/lib/systemd/system). Man pages are
# gzipped (gzip -9n: no name or time stamp, so the same page gives the same bytes).
stage() {
    root=$1
    rm -rf "$root"
    umask 022
    install -D -m 755 "target/release/$name" "$root/usr/sbin/$name"
    for unit in $(units); do
        install -D -m 644 "packaging/$unit" "$root$3/$unit"
    done
    mkdir -p "$root/usr/share/man/man8"
    for page in packaging/man/*.8; do
        gzip -9 -n -c "$page" >"$root/usr/share/man/man8/$(basename "$page").gz"
    done
    chmod 644 "$root"/usr/share/man/man8/*.gz
    install -D -m 644 "packaging/completions/bash/$name" \
        "$root/usr/share/bash-completion/completions/$name"
    install -D -m 644 "packaging/completions/zsh/_$name" "$root$2/_$name"
    install -D -m 644 "packaging/completions/fish/$name.fish" \
        "$root/usr/share/fish/vendor_completions.d/$name.fish"
    install -D -m 644 README.md docs/*.md -t "$root/usr/share/doc/$name/"
    for policy in policies/*; do
        [ -f "$policy" ] && install -D -m 644 "$policy" -t "$root/usr/share/$name/"
    done
    find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

need cargo "cargo: https://rustup.rs"
for tool in gzip:gzip $tools; do
    need "${tool%%:*}" "${tool#*:}"
done
cargo build --locked --quiet --release --bin hostwall || fail "the release build failed"
read_metadata

# Every staged file's time stamp: SOURCE_DATE_EPOCH, else the last commit's, else now, so two
# builds of one commit pack the same trees (set after the build: cargo would rebuild
# crates that read it).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
