//! Large inputs through the binary: printed diagnostics are capped with a count of the rest
//! while the summary and exit code count them all; huge names and many names stay cheap.

use crate::support::cli::{hostwall, text};

fn policy(dir: &tempfile::TempDir, body: &str) -> String {
    let p = dir.path().join("big.policy");
    std::fs::write(&p, format!("policy p {{\n{body}}}\n")).expect("write");
    p.to_str().expect("utf8").to_string()
}

/// Issue #8 item 9: 250 errors of three kinds print the first 100 and count the rest.
#[test]
fn printed_errors_are_capped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body: String = (0..250)
        .map(|i| match i % 3 {
            0 => format!("    allow tcp {}\n", 70_000 + i),
            1 => format!("    allow unknown-{i}\n"),
            _ => format!("    allow tcp 22 from 10.0.0.{}/8\n", i),
        })
        .collect();
    let p = policy(&dir, &body);
    let o = hostwall(&["check", &p]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.matches("error[E").count(), 100, "{err}");
    assert!(
        err.contains("big.policy:101:"),
        "the first 100 in file order: {err}"
    );
    assert!(!err.contains("big.policy:102:"), "{err}");
    assert!(
        err.contains("... and 150 more errors not shown (--max-diagnostics 0 prints all)"),
        "{err}"
    );
    assert!(err.contains("has 250 errors; nothing compiled"), "{err}");

    let all = hostwall(&["--max-diagnostics", "0", "check", &p]);
    assert_eq!(all.status.code(), Some(1));
    let err = text(&all.stderr);
    assert_eq!(err.matches("error[E").count(), 250);
    assert!(!err.contains("not shown"), "{err}");

    let few = hostwall(&["compile", "--max-diagnostics", "7", &p]);
    assert_eq!(few.status.code(), Some(1));
    assert!(few.stdout.is_empty());
    let err = text(&few.stderr);
    assert_eq!(err.matches("error[E").count(), 7);
    assert!(err.contains("... and 243 more errors not shown"), "{err}");
}

/// Warnings are capped on their own: an error after hundreds of warnings is still shown,
/// and a valid policy with many warnings compiles and counts them all.
#[test]
fn warnings_are_capped_apart_from_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shadowed: String = (0..300)
        .map(|i| format!("    allow tcp {}\n", 1 + i % 20))
        .collect();
    let p = policy(&dir, &format!("{shadowed}    allow tcp 99999\n"));
    let o = hostwall(&["check", &p]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.matches("error[E0201]").count(), 1, "{err}");
    assert_eq!(err.matches("warning[W0002]").count(), 100);
    assert!(err.contains("... and 180 more warnings not shown"), "{err}");

    let p = policy(&dir, &shadowed);
    let o = hostwall(&["check", &p]);
    assert_eq!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    assert!(err.contains("big.policy: ok (280 warnings)"), "{err}");
    assert_eq!(err.matches("warning[W0002]").count(), 100);
    let c = hostwall(&["compile", &p]);
    assert_eq!(c.status.code(), Some(0));
    assert!(
        text(&c.stdout).contains("tcp dport 1-20 accept"),
        "{}",
        text(&c.stdout)
    );
}

/// A 7 MiB unknown name (just under the 8 MiB policy file limit) gets no suggestion
/// search (and a 1,000 x 1,000 name search is bounded): both answer, with the error, in
/// one run.
#[test]
fn huge_and_many_unknown_names_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = "q".repeat(7 << 20);
    let mut body = format!("    allow {long}\n");
    for i in 0..1000 {
        body.push_str(&format!("    service name{i:04}x tcp {}\n", 1000 + i));
    }
    for i in 0..1000 {
        body.push_str(&format!("    allow name{i:04}\n"));
    }
    let p = policy(&dir, &body);
    let o = hostwall(&["--max-diagnostics", "0", "check", &p]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("has 1001 errors"),
        "{}",
        &err[err.len().saturating_sub(300)..]
    );
    assert_eq!(err.matches("did you mean `name").count(), 1000);
    assert!(err.contains("did you mean `name0999x`?"));
    // The 10 MB line is shown as windows around the name's ends, not whole.
    assert!(err.len() < 400_000, "{} bytes of diagnostics", err.len());
    assert!(err.contains("unknown service `qqqq"), "{}", &err[..300]);
}
