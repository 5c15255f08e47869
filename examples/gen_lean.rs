//! Writes a generated N-address policy into a directory for `benches/lean.sh`:
//! `cargo run --release --example gen_lean -- N DIR` (DIR/host.policy and its includes).

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    for (name, text) in hostwall::bench_support::lean_files(n) {
        if let Err(e) = std::fs::write(dir.join(&name), text) {
            eprintln!("gen_lean: {}: {e}", dir.join(&name).display());
            std::process::exit(1);
        }
    }
}
