//! Every command's `--format json` output validated against its schema in docs/schema/
//! (docs/json.md): one table of cases, several per schema, errors included. A schema
//! file without a case here fails, so a command that gains a schema gains cases.

use crate::support::cli::{hostwall, text};
use crate::support::schema;
use serde_json::Value;
use std::path::PathBuf;

/// The files and namespaces a case can name.
struct Fx {
    dir: PathBuf,
    /// With root: a namespace with nothing loaded, and one the good policy was applied to.
    empty_ns: Option<hostwall::netns::Netns>,
    applied_ns: Option<hostwall::netns::Netns>,
}

impl Fx {
    fn p(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn ns(ns: &Option<hostwall::netns::Netns>) -> String {
        ns.as_ref()
            .map(|n| n.name().to_string())
            .unwrap_or_default()
    }

    fn empty(&self) -> String {
        Fx::ns(&self.empty_ns)
    }

    fn applied(&self) -> String {
        Fx::ns(&self.applied_ns)
    }

    /// `args` with `--config-dir` in the scratch dir (no /etc/hostwall site file).
    fn cmd(&self, args: &[&str]) -> Vec<String> {
        let mut a = v(args);
        a.extend(["--config-dir".to_string(), self.p("etc")]);
        a
    }

    /// `args` with `--config-dir` and `--state-dir` in the scratch dir.
    fn state(&self, args: &[&str]) -> Vec<String> {
        let mut a = v(args);
        a.extend(self.scratch());
        a
    }

    /// `--config-dir` and `--state-dir` in the scratch dir, never /etc or /run.
    fn scratch(&self) -> Vec<String> {
        vec![
            "--config-dir".into(),
            self.p("etc"),
            "--state-dir".into(),
            self.p("state"),
        ]
    }
}

/// One run of the binary whose standard output must be one document of `schema`.
struct Case {
    schema: &'static str,
    what: &'static str,
    /// Needs root (namespaces, the kernel's ruleset): run by the ignored test.
    root: bool,
    code: i32,
    args: fn(&Fx) -> Vec<String>,
}

fn v(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The cases, every schema's. Add a command's here (docs/json.md, "Adding JSON").
#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { schema: "check", what: "clean", root: false, code: 0,
        args: |f| f.cmd(&["check", "--format", "json", &f.p("good.policy")]) },
    Case { schema: "check", what: "warnings", root: false, code: 0,
        args: |f| f.cmd(&["check", "--format", "json", &f.p("warn.policy")]) },
    Case { schema: "check", what: "errors with labels and help", root: false, code: 1,
        args: |f| f.cmd(&["check", "--format", "json", &f.p("bad.policy")]) },
    Case { schema: "check", what: "built-in policy with a site file", root: false, code: 0,
        args: |f| f.cmd(&["check", "--format", "json", "--site", &f.p("site.toml")]) },
    Case { schema: "check", what: "missing file", root: false, code: 2,
        args: |f| f.cmd(&["check", "--format", "json", &f.p("nope.policy")]) },
    Case { schema: "check", what: "--live in a namespace", root: true, code: 0,
        args: |f| f.cmd(&["check", "--format", "json", "--live", "--netns", &f.applied(), &f.p("good.policy")]) },
    Case { schema: "services", what: "the catalog", root: false, code: 0,
        args: |f| f.cmd(&["services", "--format", "json"]) },
    Case { schema: "services", what: "one entry by its alias", root: false, code: 0,
        args: |f| f.cmd(&["services", "libvirt-tcp", "--format", "json"]) },
    Case { schema: "services", what: "an unknown name", root: false, code: 1,
        args: |f| f.cmd(&["services", "libvirtd", "--format", "json"]) },
    Case { schema: "fmt", what: "formatted", root: false, code: 0,
        args: |f| f.cmd(&["fmt", "--check", "--format", "json", &f.p("good.policy")]) },
    Case { schema: "fmt", what: "would change", root: false, code: 1,
        args: |f| f.cmd(&["fmt", "--check", "--format", "json", &f.p("ugly.policy")]) },
    Case { schema: "fmt", what: "does not parse", root: false, code: 1,
        args: |f| f.cmd(&["fmt", "--check", "--format", "json", &f.p("unparsable.policy")]) },
    Case { schema: "fmt", what: "missing file", root: false, code: 2,
        args: |f| f.cmd(&["fmt", "--check", "--format", "json", &f.p("nope.policy")]) },
    Case { schema: "compile", what: "built-in", root: false, code: 0,
        args: |f| f.cmd(&["compile", "--format", "json"]) },
    Case { schema: "compile", what: "a policy", root: false, code: 0,
        args: |f| f.cmd(&["compile", "--format", "json", &f.p("good.policy")]) },
    Case { schema: "explain", what: "accepted", root: false, code: 0,
        args: |f| f.cmd(&["explain", "tcp 10.1.2.3 -> 192.0.2.1:22 on eth0 new", "--format", "json", &f.p("good.policy")]) },
    Case { schema: "explain", what: "rejected", root: false, code: 0,
        args: |f| f.cmd(&["explain", "udp [2001:db8::1]:5 -> [2001:db8::2]:99 on eth0", "--format", "json", &f.p("good.policy")]) },
    Case { schema: "explain", what: "a packet that does not parse", root: false, code: 1,
        args: |f| f.cmd(&["explain", "tcp 10.0.0.1 => 10.0.0.2:80", "--format", "json", &f.p("good.policy")]) },
    Case { schema: "explain", what: "policy errors", root: false, code: 1,
        args: |f| f.cmd(&["explain", "tcp 10.0.0.1 -> 10.0.0.2:80 on eth0", "--format", "json", &f.p("bad.policy")]) },
    Case { schema: "explain", what: "--netns without --live", root: false, code: 2,
        args: |f| f.cmd(&["explain", "tcp 10.0.0.1 -> 10.0.0.2:80 on eth0", "--netns", "x", "--format", "json", &f.p("good.policy")]) },
    Case { schema: "explain", what: "--live in a namespace", root: true, code: 0,
        args: |f| f.cmd(&["explain", "tcp 10.1.2.3 -> 192.0.2.1:22 on eth0 new", "--live", "--netns", &f.applied(), "--format", "json", &f.p("good.policy")]) },
    Case { schema: "diff", what: "policy errors", root: false, code: 2,
        args: |f| f.state(&["diff", "--format", "json", &f.p("bad.policy")]) },
    Case { schema: "diff", what: "no policy at all", root: false, code: 2,
        args: |f| f.state(&["diff", "--format", "json"]) },
    Case { schema: "diff", what: "a namespace that does not exist", root: false, code: 2,
        args: |f| f.state(&["diff", "--format", "json", "--netns", "hw-json-no-such-ns", &f.p("good.policy")]) },
    Case { schema: "diff", what: "drift: table missing", root: true, code: 1,
        args: |f| f.state(&["diff", "--format", "json", "--netns", &f.empty(), &f.p("good.policy")]) },
    Case { schema: "diff", what: "in sync, in full", root: true, code: 0,
        args: |f| f.state(&["diff", "--format", "json", "--full", "--netns", &f.applied(), &f.p("good.policy")]) },
    Case { schema: "diff", what: "in sync, fast path", root: true, code: 0,
        args: |f| f.state(&["diff", "--format", "json", "--netns", &f.applied(), &f.p("good.policy")]) },
    Case { schema: "verify", what: "policy errors", root: false, code: 1,
        args: |f| f.cmd(&["verify", "--format", "json", &f.p("bad.policy")]) },
    Case { schema: "verify", what: "missing file", root: false, code: 2,
        args: |f| f.cmd(&["verify", "--format", "json", &f.p("nope.policy")]) },
    Case { schema: "verify", what: "every probe passes", root: true, code: 0,
        args: |f| f.cmd(&["verify", "--format", "json", &f.p("good.policy")]) },
    Case { schema: "verify", what: "--against a dropping ruleset, failures only", root: true, code: 1,
        args: |f| f.cmd(&["verify", "--format", "json", "--failures-only", "--against", &f.p("legacy.nft"), &f.p("good.policy")]) },
    Case { schema: "verify", what: "an output block", root: true, code: 0,
        args: |f| f.cmd(&["verify", "--format", "json", &f.p("output.policy")]) },
    Case { schema: "verify", what: "an output block --against a ruleset without one", root: true, code: 1,
        args: |f| f.cmd(&["verify", "--format", "json", "--failures-only", "--against", &f.p("legacy.nft"), &f.p("output.policy")]) },
    Case { schema: "apply", what: "policy errors", root: false, code: 1,
        args: |f| f.state(&["apply", "--dry-run", "--format", "json", "--netns", "hw-json-no-such-ns", &f.p("bad.policy")]) },
    Case { schema: "apply", what: "missing file", root: false, code: 2,
        args: |f| f.state(&["apply", "--format", "json", &f.p("nope.policy")]) },
    Case { schema: "apply", what: "no policy at all", root: false, code: 2,
        args: |f| f.state(&["apply", "--format", "json"]) },
    Case { schema: "apply", what: "dry run, in sync", root: true, code: 0,
        args: |f| f.state(&["apply", "--dry-run", "--format", "json", "--netns", &f.applied(), &f.p("good.policy")]) },
    Case { schema: "apply", what: "unchanged", root: true, code: 0,
        args: |f| f.state(&["apply", "--insecure-perms", "--format", "json", "--netns", &f.applied(), &f.p("good.policy")]) },
    Case { schema: "apply", what: "dry run of warnings, drift", root: true, code: 0,
        args: |f| f.state(&["apply", "--dry-run", "--format", "json", "--netns", &f.applied(), &f.p("warn.policy")]) },
    Case { schema: "status", what: "a namespace that does not exist", root: false, code: 2,
        args: |f| f.state(&["status", "--format", "json", "--netns", "hw-json-no-such-ns"]) },
    Case { schema: "confirm", what: "a namespace that does not exist", root: false, code: 2,
        args: |f| f.state(&["confirm", "--format", "json", "--netns", "hw-json-no-such-ns"]) },
    Case { schema: "revert", what: "a namespace that does not exist", root: false, code: 2,
        args: |f| f.state(&["revert", "--format", "json", "--netns", "hw-json-no-such-ns"]) },
    Case { schema: "status", what: "nothing pending", root: true, code: 0,
        args: |f| f.state(&["status", "--format", "json", "--netns", &f.empty()]) },
    Case { schema: "apply", what: "changed, pending under --confirm", root: true, code: 0,
        args: |f| f.state(&["apply", "--insecure-perms", "--confirm", "120", "--format", "json", "--netns", &f.empty(), &f.p("good.policy")]) },
    Case { schema: "status", what: "a change pending", root: true, code: 0,
        args: |f| f.state(&["status", "--format", "json", "--netns", &f.empty()]) },
    Case { schema: "confirm", what: "kept", root: true, code: 0,
        args: |f| f.state(&["confirm", "--format", "json", "--netns", &f.empty()]) },
    Case { schema: "confirm", what: "nothing pending", root: true, code: 0,
        args: |f| f.state(&["confirm", "--format", "json", "--netns", &f.empty()]) },
    Case { schema: "revert", what: "nothing pending", root: true, code: 1,
        args: |f| f.state(&["revert", "--format", "json", "--netns", &f.empty()]) },
    Case { schema: "apply", what: "another change pending", root: true, code: 0,
        args: |f| f.state(&["apply", "--insecure-perms", "--confirm", "120", "--format", "json", "--netns", &f.empty(), &f.p("warn.policy")]) },
    Case { schema: "revert", what: "reverted", root: true, code: 0,
        args: |f| f.state(&["revert", "--format", "json", "--netns", &f.empty()]) },
    Case { schema: "confirm", what: "after a revert", root: true, code: 1,
        args: |f| f.state(&["confirm", "--format", "json", "--netns", &f.empty()]) },
];

const GOOD: &str =
    "policy json {\n    allow ssh\n    allow https from 10.0.0.0/8\n    reject tcp 25\n}\n";
const WARN: &str = "policy json {\n    allow tcp 1-1024\n    allow ssh\n}\n";
/// Three errors: a duplicate (a secondary label), an unknown service (help), a bad address.
const BAD: &str = "policy json {\n    service web tcp 80\n    service web tcp 81\n    allow htps\n    allow web from 300.0.0.1\n}\n";
/// Drops everything but ssh and https from 10/8: where the policy rejects, this drops.
const LEGACY: &str = "table inet legacy {\n  chain input {\n    type filter hook input priority 0; policy drop;\n    ct state established,related accept\n    iif lo accept\n    tcp dport 22 accept\n    ip saddr 10.0.0.0/8 tcp dport 443 accept\n    ip6 saddr ::/0 tcp dport 443 accept\n  }\n}\n";

/// The good policy's rules with an output block that rejects what it does not allow.
const OUTPUT: &str = "policy json {\n    allow ssh\n    output {\n        default reject\n        allow tcp 443 to 192.0.2.0/24\n        drop udp 53\n    }\n}\n";

fn fixture(root: bool) -> (tempfile::TempDir, Fx) {
    let t = tempfile::tempdir().expect("tempdir");
    let d = t.path();
    std::fs::create_dir(d.join("etc")).expect("mkdir");
    for (name, body) in [
        ("good.policy", GOOD),
        ("warn.policy", WARN),
        ("bad.policy", BAD),
        ("ugly.policy", "policy json {\nallow ssh\n}\n"),
        (
            "unparsable.policy",
            "policy json {\n    allow ssh frm any\n",
        ),
        ("site.toml", "table = \"jsontest\"\n"),
        ("legacy.nft", LEGACY),
        ("output.policy", OUTPUT),
    ] {
        std::fs::write(d.join(name), body).expect("write");
    }
    let mut fx = Fx {
        dir: d.to_path_buf(),
        empty_ns: None,
        applied_ns: None,
    };
    if root {
        fx.empty_ns = Some(hostwall::netns::Netns::create_unique("hw-json").expect("netns"));
        fx.applied_ns = Some(hostwall::netns::Netns::create_unique("hw-json").expect("netns"));
        let mut args = v(&[
            "apply",
            "--insecure-perms",
            "--netns",
            &Fx::ns(&fx.applied_ns),
        ]);
        args.extend(fx.scratch());
        args.push(fx.p("good.policy"));
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "apply: {}", text(&o.stderr));
    }
    (t, fx)
}

fn run(args: &[String]) -> std::process::Output {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    hostwall(&a)
}

/// Runs each case that `root` selects and validates its output; every failure at once.
fn run_cases(root: bool) {
    let (_t, fx) = fixture(root);
    let mut problems = Vec::new();
    for c in CASES.iter().filter(|c| c.root == root) {
        let args = (c.args)(&fx);
        let o = run(&args);
        let out = text(&o.stdout);
        let tag = format!("{} ({})", c.schema, c.what);
        if o.status.code() != Some(c.code) {
            problems.push(format!(
                "{tag}: exit {:?}, want {}\n{}",
                o.status.code(),
                c.code,
                text(&o.stderr)
            ));
        }
        let doc: Value = match serde_json::from_str(&out) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!(
                    "{tag}: stdout is not one JSON document: {e}\n{out}"
                ));
                continue;
            }
        };
        if c.schema != "compile" {
            let ok = doc["ok"].as_bool();
            if ok != Some(c.code == 0) || doc["command"] != c.schema {
                problems.push(format!("{tag}: command/ok do not match exit {}", c.code));
            }
        }
        if let Err(e) = schema::validate(c.schema, &doc) {
            problems.push(format!("{tag}: does not validate:\n{e}\n{out}"));
        }
        // libnftables JSON (compile) writes `null` verdict bodies; hostwall's never do.
        if let Some(at) = null_at(&doc, "").filter(|_| c.schema != "compile") {
            problems.push(format!("{tag}: null at {at} (docs/json.md: never)\n{out}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The path of the first `null` in `v`, if any.
fn null_at(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Null => Some(if path.is_empty() {
            "/".into()
        } else {
            path.into()
        }),
        Value::Array(a) => {
            (a.iter().enumerate()).find_map(|(i, x)| null_at(x, &format!("{path}/{i}")))
        }
        Value::Object(m) => m
            .iter()
            .find_map(|(k, x)| null_at(x, &format!("{path}/{k}"))),
        _ => None,
    }
}

#[test]
fn every_schema_has_a_case_and_every_case_a_schema() {
    let names: Vec<String> = schema::all().into_iter().map(|(n, _)| n).collect();
    for n in names.iter().filter(|n| *n != "common") {
        let cases = CASES.iter().filter(|c| c.schema == n).count();
        assert!(
            cases >= 2,
            "docs/schema/{n}.schema.json has {cases} case(s) in CASES; give it several"
        );
        assert!(
            CASES.iter().any(|c| c.schema == n && c.code != 0) || n == "compile",
            "{n}: no case of an error or a \"no\" answer"
        );
    }
    for c in CASES {
        assert!(
            names.iter().any(|n| n == c.schema),
            "case {} names no schema",
            c.what
        );
    }
}

#[test]
fn every_schema_is_draft_2020_12_with_its_own_id() {
    for (name, s) in schema::all() {
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(s["$id"], schema::id(&name), "{name}");
    }
}

#[test]
fn unprivileged_outputs_validate_against_their_schemas() {
    run_cases(false);
}

#[test]
#[ignore = "needs root"]
fn kernel_outputs_validate_against_their_schemas() {
    crate::support::root::require();
    run_cases(true);
}

#[test]
fn the_schemas_refuse_what_the_conventions_forbid() {
    let (_t, fx) = fixture(false);
    let o = run(&(CASES[2].args)(&fx));
    let good: Value = serde_json::from_str(&text(&o.stdout)).expect("json");
    schema::validate("check", &good).expect("the real document validates");
    let diags = good["diagnostics"].as_array().expect("diagnostics");
    assert!(diags.len() >= 3, "all errors at once: {good}");
    assert!(diags.iter().any(|d| d["labels"][0]["line"] == 2), "{good}");
    assert!(diags.iter().any(|d| d["help"].is_string()), "{good}");
    type Break = (&'static str, fn(&mut Value));
    let broken: [Break; 6] = [
        ("no host", |d| {
            drop(d.as_object_mut().map(|m| m.remove("host")))
        }),
        ("a null field", |d| {
            d["diagnostics"][0]["help"] = Value::Null
        }),
        ("a label without a line", |d| {
            drop(
                d["diagnostics"][0]["labels"][0]
                    .as_object_mut()
                    .map(|m| m.remove("line")),
            )
        }),
        ("line 0", |d| d["diagnostics"][0]["line"] = 0.into()),
        ("ok with an error", |d| d["ok"] = true.into()),
        ("another severity", |d| {
            d["diagnostics"][0]["severity"] = "fatal".into()
        }),
    ];
    for (what, breaks) in broken {
        let mut d = good.clone();
        breaks(&mut d);
        assert!(schema::validate("check", &d).is_err(), "{what} validated");
    }
}

/// The documents' envelope is the same across commands: the fields, in order.
#[test]
fn every_document_opens_with_the_envelope_in_order() {
    let (_t, fx) = fixture(false);
    for c in CASES.iter().filter(|c| !c.root && c.schema != "compile") {
        let o = run(&(c.args)(&fx));
        let out = text(&o.stdout);
        let keys: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
            .map(|l| l.trim_start().split('"').nth(1).unwrap_or(""))
            .take(5)
            .collect();
        assert_eq!(
            keys,
            ["command", "schema", "hostwall", "host", "ok"],
            "{}",
            c.what
        );
    }
}
