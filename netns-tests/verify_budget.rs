//! The probe budget with real packets: a policy whose plan is far larger
//! than `--probes` sends exactly the budget, says it cut, and passes on its
//! own ruleset — answers that arrive while later probes are still being
//! started (1,500 probes take longer to start than the 500 ms timeout) count.

use crate::common::{our_namespaces, serial};
use hostwall::verify::{VerifyOptions, render_table, verify};
use std::time::Instant;

fn compile(text: &str) -> hostwall::ir::Ruleset {
    let mut map = hostwall::source::SourceMap::new();
    let file = map.add("many.policy", text);
    let (p, diags) = hostwall::check::check(&mut map, file, None, &hostwall::check::NoIncludes);
    hostwall::compile::compile(&p.unwrap_or_else(|| panic!("{diags:?}")))
}

#[test]
#[ignore = "needs root"]
fn a_budget_of_1500_probes_is_sent_in_full_and_passes() {
    crate::support::root::require();
    let _guard = serial();
    let mut text = String::from("policy many {\n    default reject\n    drop from 10.0.0.0/8\n");
    for i in 0..60 {
        text.push_str(&format!(
            "    allow tcp {} from 10.{i}.0.0/16, 172.16.{i}.0/24\n",
            1000 + i * 3
        ));
    }
    text.push_str("}\n");
    let rs = compile(&text);
    let opts = VerifyOptions {
        probes: Some(1500),
        ..VerifyOptions::default()
    };
    let started = Instant::now();
    let report = verify(&rs, &opts).expect("verify sets up");
    let took = started.elapsed();
    let table = render_table(&report);
    eprintln!("1500 probes took {took:?}");
    assert_eq!(report.probes.len(), 1500, "{table}");
    let (sent, planned) = report.coverage.cut.expect("the budget cut the plan");
    assert_eq!(sent, 1500);
    assert!(planned > 3000, "{planned} planned");
    assert!(report.all_passed(), "{table}");
    assert!(table.contains("budget: 1500 of "), "{table}");
    // Crossings come first: the block list is crossed with the allows it shadows.
    assert!(
        report
            .probes
            .iter()
            .any(|p| p.name.starts_with("tcp 1003 from 10.1.") && p.name.contains("blocked")),
        "{table}"
    );
    assert_eq!(our_namespaces(), Vec::<String>::new());
}
