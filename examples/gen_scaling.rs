//! Writes one generated policy shape to stdout for `benches/scaling.sh`:
//! `cargo run --release --example gen_scaling -- SHAPE N` (shapes: `hostwall::bench_support::SHAPES`).

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    match hostwall::bench_support::scaling(&shape, n) {
        Some(text) => print!("{text}"),
        None => {
            eprintln!(
                "usage: gen_scaling SHAPE N, SHAPE one of {}",
                hostwall::bench_support::SHAPES.join(", ")
            );
            std::process::exit(2);
        }
    }
}
