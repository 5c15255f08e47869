//! Packaging tests: the checked-in man pages and completions are what the clap
//! definitions generate, and the .deb and .rpm hold the same files at each
//! distribution's paths, with computed dependencies and a stripped binary.
//! Each package test builds its package first (packaging/build-*.sh; the first
//! run is a release build); a missing tool fails the test, it never skips.

mod assets;
mod build;
mod deb;
mod layout;
mod rpm;
mod tools;
