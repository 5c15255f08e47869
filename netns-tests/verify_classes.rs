//! `verify --against` on a legacy ruleset that drops where the policy rejects: the few
//! security failures (open where the policy says closed, closed where it says open) are
//! told apart from the many rows refused differently, listed on their own, and decide
//! the exit code; `--strict`, `--failures-only`, `--format json` and `--format junit`.

use crate::common::{our_namespaces, serial};
use crate::support::cli::{hostwall, text};
use serde_json::Value;

const POLICY: &str = "policy host {\n    allow ssh\n    allow tcp 5900-5910\n    allow tcp 8443\n    allow udp 53\n}\n";
/// The legacy host: no 5900-5910 (closed where the policy opens), 3306 open (open where
/// the policy closes), the rest the same.
const LEGACY: &str =
    "policy legacy {\n    allow ssh\n    allow tcp 8443\n    allow udp 53\n    allow tcp 3306\n}\n";
/// Only the refusals differ.
const SAME_BUT_DROPS: &str = "policy legacy {\n    allow ssh\n    allow tcp 5900-5910\n    allow tcp 8443\n    allow udp 53\n}\n";

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("host.policy"), POLICY).expect("write");
        let lab = Lab { dir };
        lab.legacy("legacy", LEGACY);
        lab.legacy("drops", SAME_BUT_DROPS);
        lab
    }

    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `source` compiled, then every reject turned into a drop: a hand-written ruleset
    /// of the kind the issue describes.
    fn legacy(&self, name: &str, source: &str) {
        let src = self.p(&format!("{name}.policy"));
        std::fs::write(&src, source).expect("write");
        let o = hostwall(&["compile", "--config-dir", &self.p("etc"), &src]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let nft: String = text(&o.stdout)
            .lines()
            .map(|l| match l.find("reject") {
                Some(i) => format!("{}drop", &l[..i]),
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!nft.contains("reject"));
        std::fs::write(self.p(&format!("{name}.nft")), nft + "\n").expect("write");
    }

    /// `hostwall verify --against NAME.nft host.policy ARGS`: exit code and stdout.
    fn verify(&self, against: &str, args: &[&str]) -> (Option<i32>, String) {
        let _guard = serial();
        let nft = self.p(&format!("{against}.nft"));
        let policy = self.p("host.policy");
        let etc = self.p("etc");
        let mut a = vec!["verify", "--config-dir", &etc, "--against", &nft, &policy];
        a.extend(args);
        let o = hostwall(&a);
        assert_eq!(our_namespaces(), Vec::<String>::new(), "namespaces left");
        (o.status.code(), text(&o.stdout))
    }
}

/// Whether a row is one of the security failures the legacy ruleset has: the VNC range
/// 5900-5910 closed, 3306 open.
fn is_expected_security(name: &str) -> bool {
    let port = name
        .strip_prefix("tcp ")
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok());
    matches!(port, Some(5900..=5910 | 3306))
}

#[test]
#[ignore = "needs root"]
fn security_failures_are_listed_apart_from_rows_refused_differently() {
    crate::support::root::require();
    let lab = Lab::new();
    let (code, table) = lab.verify("legacy", &[]);
    assert_eq!(code, Some(1), "security failures fail the run\n{table}");
    let (head, block) = table
        .split_once("security failures (open where the policy says closed, or closed where it says open):\n")
        .unwrap_or_else(|| panic!("no security block\n{table}"));
    let listed: Vec<&str> = block
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert!(listed.len() >= 4, "{table}");
    for l in &listed {
        assert!(
            is_expected_security(l),
            "not a security failure: {l}\n{table}"
        );
    }
    for port in [
        "tcp 5900 from 198.18.0.2",
        "tcp 5910 from fd00:6877::2",
        "tcp 3306 from 198.18.0.2",
    ] {
        assert!(
            listed.iter().any(|l| l.starts_with(port)),
            "{port} not listed\n{table}"
        );
    }
    let differently = head.matches("FAIL (refused differently)").count();
    let security = head.matches("FAIL (security)").count();
    assert_eq!(security, listed.len(), "{table}");
    assert!(
        differently > 2 * security,
        "the legacy ruleset buries them: {differently} vs {security}\n{table}"
    );
    assert!(
        table.contains(&format!(
            "failed: {security} security, {differently} refused differently, 0 errors\n"
        )),
        "{table}"
    );

    let (code, only) = lab.verify("legacy", &["--failures-only"]);
    assert_eq!(code, Some(1));
    assert!(!only.contains("PASS"), "{only}");
    assert_eq!(
        only.matches("FAIL (").count(),
        security + differently,
        "{only}"
    );

    let (_, json) = lab.verify("legacy", &["--format", "json"]);
    let doc: Value = serde_json::from_str(&json).expect("json");
    crate::support::schema::validate("verify", &doc).expect("verify schema");
    assert_eq!(doc["summary"]["security"], security);
    assert_eq!(doc["summary"]["refused_differently"], differently);
    let probes = doc["probes"].as_array().expect("probes");
    let sec: Vec<&Value> = probes
        .iter()
        .filter(|p| p["failure"] == "security")
        .collect();
    assert_eq!(sec.len(), security);
    assert!(
        sec.iter()
            .all(|p| p["protocol"] == "tcp" && p["port"].is_u64() && p["source"].is_string())
    );
    assert!(
        sec.iter()
            .any(|p| p["family"] == "ipv6" && p["port"] == 5910 && p["observed"] == "timeout")
    );

    let (_, xml) = lab.verify("legacy", &["--format", "junit"]);
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), security + differently);
    let typed = |t: &str| {
        failures
            .iter()
            .filter(|f| f.attribute("type") == Some(t))
            .count()
    };
    assert_eq!(
        (typed("security"), typed("refused differently")),
        (security, differently)
    );
    assert_eq!(
        root.attribute("failures"),
        Some((security + differently).to_string().as_str())
    );
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let cases: usize = suites
        .iter()
        .map(|s| {
            s.attribute("tests")
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(0)
        })
        .sum();
    let testcases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, testcases, "each suite counts its testcases");
    assert!(
        suites
            .iter()
            .any(|s| s.attribute("name") == Some("input ipv6"))
    );
}

#[test]
#[ignore = "needs root"]
fn refused_differently_alone_passes_unless_strict() {
    crate::support::root::require();
    let lab = Lab::new();
    let (code, table) = lab.verify("drops", &[]);
    assert_eq!(code, Some(0), "only refusals differ\n{table}");
    assert!(table.contains("FAIL (refused differently)"), "{table}");
    assert!(!table.contains("FAIL (security)"), "{table}");
    assert!(!table.contains("security failures ("), "{table}");
    let (code, _) = lab.verify("drops", &["--strict"]);
    assert_eq!(code, Some(1), "--strict makes them fatal");
}
