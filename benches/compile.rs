//! Check + compile + nft text of a generated policy: 100,000 CIDRs and 1,000 services.
//! Target: under 150 ms on the 2-core CI machine. Peak memory: benches/compile.sh.

use criterion::{Criterion, criterion_group, criterion_main};
use hostwall::check::{NoIncludes, check};
use hostwall::source::SourceMap;

fn run(text: &str) -> usize {
    let mut map = SourceMap::new();
    let file = map.add("bench.policy", text.to_string());
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    let policy = policy.unwrap_or_else(|| panic!("bench policy must check: {diags:?}"));
    let rs = hostwall::compile::compile(&policy);
    hostwall::emit::text::render(&rs, "bench.policy").len()
}

fn bench(c: &mut Criterion) {
    let text = hostwall::bench_support::policy(100_000, 1_000);
    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    g.bench_function("100k_cidrs_1k_services", |b| b.iter(|| run(&text)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
