#!/bin/sh
# Regenerates the man pages (packaging/man/) and shell completions
# (packaging/completions/) from the clap definitions; commit the result. The
# `package` test fails while the checked-in copies differ from what this writes.
set -eu
cd "$(dirname "$0")/.."
cargo run --quiet --bin hostwall -- gen-assets packaging
