//! The `hostwall` binary (wired to cli once the checker lands).
fn main() {}
