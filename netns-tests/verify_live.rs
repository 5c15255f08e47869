//! `verify --with-live-tables`: another namespace's tables (hand-written here, libvirt's
//! from `tests/data/host/`) copied into verify's lab next to the policy's table, through
//! the real CLI; and the copy itself, checked against `nft list ruleset` (the oracle).

use crate::support::cli::{hostwall, text};
use crate::support::nft::{At, nft};
use hostwall::netns::Netns;
use std::path::Path;

/// A namespace holding `script`, the "host" whose tables verify copies.
fn source(script: &str) -> Netns {
    let ns = Netns::create_unique("hw-lt").expect("namespace");
    if let Err(e) = nft(At::Netns(ns.name()), &["-f", "-"], script) {
        panic!("loading the other tables: {e}");
    }
    ns
}

/// `hostwall verify POLICY --with-live-tables --netns NS EXTRA...`: (exit, stdout, stderr).
fn verify_live(policy: &str, ns: &Netns, extra: &[&str]) -> (i32, String, String) {
    let _serial = crate::common::serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("live.policy");
    std::fs::write(&file, policy).expect("write policy");
    let file = file.to_str().expect("utf8");
    let mut args = vec!["verify", file, "--with-live-tables", "--netns", ns.name()];
    args.extend(extra);
    let out = hostwall(&args);
    assert_eq!(crate::common::our_namespaces(), Vec::<String>::new());
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    (out.status.code().unwrap_or(-1), o, e)
}

/// The FAIL rows of a verify table.
fn failed(table: &str) -> Vec<&str> {
    table.lines().filter(|l| l.contains(" FAIL ")).collect()
}

const POLICY: &str = "policy live {\n    default reject\n    allow ssh tcp 22\n    allow tcp 2222\n    allow tcp 8080\n}\n";

#[test]
#[ignore = "needs root"]
fn a_port_another_table_drops_fails_naming_both_rules_issue10() {
    crate::support::root::require();
    let ns = source(concat!(
        "table ip6 guard {\n chain in {\n  type filter hook input priority -5; policy accept;\n",
        "  tcp dport 2222 counter drop\n }\n}\n",
        "table ip filter {\n chain INPUT {\n  type filter hook input priority 0; policy accept;\n",
        "  tcp dport 22 accept\n  tcp dport 8080 reject\n }\n}\n",
    ));
    let (code, out, err) = verify_live(POLICY, &ns, &[]);
    assert_eq!(code, 1, "{out}{err}");
    let rows = failed(&out);
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r.split("  ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        ["tcp 8080 from 198.18.0.2", "tcp 2222 from fd00:6877::2"],
        "{out}"
    );
    let (v4, v6) = (rows[0], rows[1]);
    assert!(v4.contains("open        refused"), "{v4}");
    assert!(v6.contains("open        timeout"), "{v6}");
    for (row, theirs) in [
        (
            v4,
            "table ip filter chain INPUT rule 2 (meta l4proto tcp tcp dport 8080 reject)",
        ),
        (
            v6,
            "table ip6 guard chain in rule 1 (meta l4proto tcp tcp dport 2222 drop)",
        ),
    ] {
        assert!(
            row.contains("/live.policy:3,4,5 accept"),
            "ours with its line: {row}"
        );
        assert!(
            row.contains(&format!("defeated: the policy allows it but {theirs}")),
            "{row}"
        );
    }
    assert!(
        out.contains("2 other table(s) copied next to the policy's (ip6 guard, ip filter)"),
        "{out}"
    );
    ns.remove().expect("remove");
}

#[test]
#[ignore = "needs root"]
fn what_another_table_accepts_stays_refused_and_earlier_drops_set_the_expectation_issue10() {
    crate::support::root::require();
    // Accepts 9090 (ours rejects it) and drops 23 (ours resets it) before ours runs.
    let ns = source(concat!(
        "table inet early {\n chain in {\n  type filter hook input priority -10; policy accept;\n",
        "  tcp dport 9090 accept\n  tcp dport 23 drop\n }\n}\n",
    ));
    let policy = "policy live {\n    default reject\n    allow tcp 9000-9089\n}\n";
    let (code, out, err) = verify_live(policy, &ns, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let row = |name: &str| {
        (out.lines())
            .find(|l| l.starts_with(&format!("{name}  ")))
            .unwrap_or_else(|| panic!("no {name}: {out}"))
    };
    for name in ["tcp 9090 from 198.18.0.2", "tcp 9090 from fd00:6877::2"] {
        let r = row(name);
        assert!(r.contains("refused     refused     PASS"), "{r}");
        assert!(!r.contains("defeated") && !r.contains("refused by"), "{r}");
    }
    let r = row("tcp 23 from 198.18.0.2");
    assert!(r.contains("timeout     timeout     PASS"), "{r}");
    assert!(
        r.contains("refused by table inet early chain in rule 2"),
        "{r}"
    );
    ns.remove().expect("remove");
}

/// libvirt-nat with `allow tcp 8000 out "virbr*" to guests`: its file and the line.
fn libvirt_nat_8000() -> (String, usize) {
    let base = std::fs::read_to_string(manifest().join("policies/libvirt-nat.policy"))
        .expect("libvirt-nat");
    let text = base.replace(
        "allow out \"virbr*\" to guests established  # and only replies back in",
        "allow out \"virbr*\" to guests established  # and only replies back in\n        allow tcp 8000 out \"virbr*\" to guests",
    );
    assert_ne!(text, base, "the forward rule was added");
    let line = (text.lines().position(|l| l.contains("allow tcp 8000"))).expect("line") + 1;
    (text, line)
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[ignore = "needs root"]
fn libvirts_fwi_defeats_port_8000_and_nothing_else_fails_issue10() {
    crate::support::root::require();
    let libvirt = std::fs::read_to_string(manifest().join("tests/data/host/libvirt.nft"))
        .expect("libvirt fixture");
    let ns = source(&libvirt);
    let (policy, line) = libvirt_nat_8000();
    let (code, out, err) = verify_live(&policy, &ns, &[]);
    assert_eq!(code, 1, "{out}{err}");
    let rows = failed(&out);
    assert!(!rows.is_empty(), "{out}");
    for r in &rows {
        assert!(
            r.starts_with("forward tcp 8000 198.19.0.2 -> 192.168.122."),
            "{r}"
        );
        assert!(
            r.contains(" out virbr0 ") && r.contains("open        refused"),
            "{r}"
        );
        assert!(r.contains(&format!("/live.policy:{line} (oifname")), "{r}");
        assert!(r.contains("defeated: /"), "{r}");
        assert!(
            r.contains("table ip filter chain LIBVIRT_FWI rule 2 (oifname \"virbr0\" reject)"),
            "{r}"
        );
    }
    // Without the line the same lab passes: libvirt's tables are reproduced, not guessed.
    let plain = std::fs::read_to_string(manifest().join("policies/libvirt-nat.policy"))
        .expect("libvirt-nat");
    let (code, out, err) = verify_live(&plain, &ns, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(ip filter, ip nat, ip mangle)"), "{out}");
    ns.remove().expect("remove");
}

#[test]
#[ignore = "needs root"]
fn chains_on_devices_the_lab_lacks_are_refused_unless_allow_partial_issue10() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-lt").expect("namespace");
    for dev in ["dev7", "hwv0"] {
        let peer = format!("{dev}p");
        ns.ip(&["link", "add", dev, "type", "veth", "peer", "name", &peer])
            .expect("veth");
    }
    let script = concat!(
        "table netdev ing {\n",
        " chain far { type filter hook ingress device \"dev7\" priority 0; policy drop; }\n",
        " chain lab {\n  type filter hook ingress device \"hwv0\" priority 0; policy accept;\n",
        "  tcp dport 4444 drop\n }\n}\n",
    );
    nft(At::Netns(ns.name()), &["-f", "-"], script).expect("load");
    let policy = "policy live {\n    default reject\n    allow tcp 4444\n}\n";
    let (code, out, err) = verify_live(policy, &ns, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(
            "table netdev ing chain far: bound to device(s) dev7, which the test namespace lacks"
        ),
        "{err}"
    );
    assert!(err.contains("--allow-partial"), "{err}");
    // Left out and named; the chain on the lab's own link is copied and defeats 4444.
    let (code, out, err) = verify_live(policy, &ns, &["--allow-partial"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("note: left out (--allow-partial): table netdev ing chain far"),
        "{out}"
    );
    let rows = failed(&out);
    assert_eq!(rows.len(), 2, "{out}");
    for r in rows {
        assert!(r.starts_with("tcp 4444 from "), "{r}");
        assert!(r.contains("table netdev ing chain lab rule 1"), "{r}");
    }
    ns.remove().expect("remove");
}

#[test]
#[ignore = "needs root"]
fn what_hostwall_cannot_evaluate_is_not_probed_and_named_issue10() {
    crate::support::root::require();
    let ns = source(concat!(
        "table inet odd {\n chain c {\n  type filter hook input priority -5; policy accept;\n",
        "  tcp dport 2222 numgen random mod 2 0 drop\n }\n}\n",
    ));
    let (code, out, err) = verify_live(POLICY, &ns, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("not probed: with the live tables"))
        .collect();
    assert_eq!(rows.len(), 2, "v4 and v6: {out}");
    for r in rows {
        assert!(r.starts_with("tcp 2222 from "), "{r}");
        assert!(
            r.contains("table inet odd chain c rule 1") && r.contains("numgen"),
            "{r}"
        );
    }
    assert!(out.contains(" 2 not probed"), "{out}");
    ns.remove().expect("remove");
}

#[test]
#[ignore = "needs root"]
fn flags_that_conflict_are_refused_before_anything_runs() {
    crate::support::root::require();
    let out = hostwall(&["verify", "--allow-partial"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--with-live-tables"),
        "{}",
        text(&out.stderr)
    );
    let out = hostwall(&["verify", "--with-live-tables", "--against", "x.nft"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
}

/// Every shape the fixtures use, plus named objects, an anonymous set, a verdict map,
/// intervals, a dormant table and a comment.
const SHAPES: &str = concat!(
    "table inet shapes {\n comment \"kept\"\n counter hits { }\n",
    " set nets { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.0.2.0/24 } }\n",
    " map zones { type ifname : verdict; elements = { \"eth0\" : jump pub, \"virbr0\" : goto lab } }\n",
    " chain pub { tcp dport { 22, 80, 443 } counter name \"hits\" accept\n  return\n }\n",
    " chain lab { ip saddr @nets accept\n  drop\n }\n",
    " chain in {\n  type filter hook input priority 5; policy accept;\n",
    "  iifname vmap @zones\n  ct state invalid drop\n }\n}\n",
    "table ip sleepy {\n flags dormant\n chain c { type filter hook input priority 0; policy drop; }\n}\n",
);

#[test]
#[ignore = "needs root"]
fn a_copy_of_every_table_lists_like_the_original_issue10() {
    crate::support::root::require();
    let fixtures = ["libvirt", "docker", "firewalld"].map(|n| {
        let p = manifest().join(format!("tests/data/host/{n}.nft"));
        std::fs::read_to_string(p).expect("fixture")
    });
    for script in fixtures.iter().map(String::as_str).chain([SHAPES]) {
        let from = source(script);
        // Our own table is never copied.
        nft(
            At::Netns(from.name()),
            &["-f", "-"],
            "table inet hostwall { }\n",
        )
        .expect("ours");
        let copies = hostwall::live::copy::capture("hostwall", Some(from.name())).expect("capture");
        assert!(copies.iter().all(|t| t.name != "hostwall" || t.family != 1));
        let to = Netns::create_unique("hw-lt").expect("namespace");
        hostwall::live::copy::load(&copies, to.name()).expect("load");
        let list = |ns: &Netns| nft(At::Netns(ns.name()), &["list", "ruleset"], "").expect("list");
        let want = list(&from).replace("table inet hostwall {\n}\n", "");
        assert_eq!(list(&to), want);
        to.remove().expect("remove");
        from.remove().expect("remove");
    }
}
