//! `verify` end to end: real probes against applied and hand-loaded rulesets.

use crate::common::*;
use hostwall::compile::compile;
use hostwall::verify::{VerifyOptions, render_table, verify};

#[test]
fn kvm_host_passes() {
    if !root("kvm_host_passes") {
        return;
    }
    let rs = compile(&kvm_host());
    let t = std::time::Instant::now();
    let report = verify(&rs, &VerifyOptions::default()).expect("verify runs");
    let table = render_table(&report);
    eprintln!("{table}took {:?}", t.elapsed());
    assert!(report.all_passed(), "{table}");
}
