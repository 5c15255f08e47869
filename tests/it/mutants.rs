//! Mutation score of `verify --against`, on the IR: for every
//! policy of `policies/` and every compile golden, mutants of the compiled
//! input chain (rules swapped or moved to the top or bottom, removed, a
//! verdict flipped, a prefix or port range one wider or narrower, a set
//! element dropped, widened or narrowed). The exact oracle (`mutate::differs`,
//! one packet per cell of both rulesets' partition) says which really differ
//! on a packet verify can send; each of those must fail some probe — the
//! probe set planned from the policy with the mutant as the `--against`
//! ruleset, expectations from eval of the policy, observations from eval of
//! the mutant. The forward chain's mutants likewise, on the forward hook.
//! Prints the figures (`cargo test --test it mutation -- --nocapture`).

use crate::mutate::{Differs, corpus, differs, mutants};
use hostwall::ir::{Hook, Ruleset};
use hostwall::verify::{ProbePlan, VerifyOptions, plan};
use std::time::{Duration, Instant};

#[derive(Default, Debug)]
struct Score {
    mutants: usize,
    equivalent: usize,
    unsendable: usize,
    differ: usize,
    killed: usize,
    /// Killed by the policy's probes alone (no `--against` boundaries).
    killed_policy_only: usize,
    plans: usize,
    time: Duration,
    survivors: Vec<String>,
}

/// The first probe whose outcome under `other` differs from the policy's.
fn failing(p: &ProbePlan, other: &Ruleset) -> Option<String> {
    let seen = p.outcomes_under(other).expect("eval");
    let names = p.names();
    p.expected()
        .into_iter()
        .zip(seen)
        .position(|(e, s)| *e != s)
        .map(|i| names[i].to_string())
}

fn score(chain: &str, hook: Hook) -> Score {
    let mut s = Score::default();
    let opts = VerifyOptions::default();
    for (name, rs) in corpus() {
        let alone = plan(&rs, None, &opts).expect("plan");
        for m in mutants(&rs, chain) {
            s.mutants += 1;
            let pkt = match differs(&rs, &m.rs, hook) {
                Differs::No => {
                    s.equivalent += 1;
                    continue;
                }
                Differs::Unsendable => {
                    s.unsendable += 1;
                    continue;
                }
                Differs::Sendable(pkt) => pkt,
            };
            s.differ += 1;
            let started = Instant::now();
            let p = plan(&rs, Some(&m.rs), &opts).expect("plan");
            let killed_by = failing(&p, &m.rs);
            s.time += started.elapsed();
            s.plans += 1;
            s.killed_policy_only += usize::from(failing(&alone, &m.rs).is_some());
            match killed_by {
                Some(_) => s.killed += 1,
                None => s
                    .survivors
                    .push(format!("{name}: {}: differs on {pkt:?}", m.what)),
            }
        }
    }
    s
}

fn report(chain: &str, s: &Score) {
    eprintln!(
        "mutation score ({chain}): {} mutants, {} differ on packets verify sends, {} killed \
         ({:.1}%), {} by the policy's probes alone; {} differ only on packets verify cannot \
         send, {} equivalent; {:.1} ms per plan+eval (debug build)",
        s.mutants,
        s.differ,
        s.killed,
        100.0 * s.killed as f64 / s.differ.max(1) as f64,
        s.killed_policy_only,
        s.unsendable,
        s.equivalent,
        s.time.as_secs_f64() * 1000.0 / s.plans.max(1) as f64
    );
    for sv in &s.survivors {
        eprintln!("survivor: {sv}");
    }
}

#[test]
fn mutation_score_of_verify_against_on_the_input_chain_is_total() {
    let s = score("input", Hook::Input);
    report("input", &s);
    assert!(s.differ > 200, "too few mutants really differ: {s:?}");
    assert!(
        s.survivors.is_empty(),
        "{} of {} survive",
        s.survivors.len(),
        s.differ
    );
}

#[test]
fn mutation_score_of_verify_against_on_the_forward_chain_is_total() {
    let s = score("forward", Hook::Forward);
    report("forward", &s);
    assert!(
        s.differ > 40,
        "too few forward mutants really differ: {s:?}"
    );
    assert!(
        s.survivors.is_empty(),
        "{} of {} survive",
        s.survivors.len(),
        s.differ
    );
}
