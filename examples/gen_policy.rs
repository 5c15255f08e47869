//! Writes a generated policy to stdout for benchmarks:
//! `cargo run --release --example gen_policy -- CIDRS SERVICES`.

fn main() {
    let mut args = std::env::args().skip(1);
    let cidrs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let services: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    print!("{}", hostwall::bench_support::policy(cidrs, services));
}
