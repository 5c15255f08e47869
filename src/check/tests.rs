//! One-line checker tests through a small `check(input, expect)` helper.

use super::*;
use crate::diag::{Color, render};

/// Checks `policy t { BODY }` and returns the rendered diagnostics and the policy.
fn run(body: &str) -> (Option<Policy>, String) {
    let mut map = SourceMap::new();
    let f = map.add("policy", format!("policy t {{\n{body}\n}}\n"));
    let (p, d) = check(&mut map, f, None, &NoIncludes);
    (p, render(&map, &d, Color::Never))
}

/// Asserts the rendered diagnostics contain `expect` (or are empty when `expect` is "").
fn check_body(body: &str, expect: &str) {
    let (_, out) = run(body);
    if expect.is_empty() {
        assert!(
            out.is_empty(),
            "expected no diagnostics for {body:?}, got:\n{out}"
        );
    } else {
        assert!(
            out.contains(expect),
            "expected {expect:?} for {body:?}, got:\n{out}"
        );
    }
}

#[test]
fn default_policy_checks_clean() {
    let mut map = SourceMap::new();
    let text = include_str!("../../policies/kvm-host.policy");
    let f = map.add("kvm-host.policy", text);
    let (p, d) = check(&mut map, f, None, &NoIncludes);
    assert!(d.is_empty(), "{}", render(&map, &d, Color::Never));
    let p = p.expect("policy");
    assert_eq!(p.name, "kvm-host");
    assert_eq!(
        p.input.len(),
        9,
        "icmp v4 + v6, four services, dns, dhcp and tcp 67 on virbr*"
    );
    assert_eq!(p.forwarding.ipv4.map(|f| f.0), Some(true));
    assert_eq!(p.forwarding.ipv6, None);
    assert!(p.forward.is_none());
}

#[test]
fn one_line_cases() {
    check_body("allow ssh", "");
    check_body("allow sshh", "did you mean `ssh`?");
    check_body("allow tcp 0", "port 0 is out of range");
    check_body("allow tcp 70000", "port 70000 is out of range");
    check_body("allow tcp 6166-5634", "port range 6166-5634 is reversed");
    check_body(
        "allow ssh from 10.0.0.1/8",
        "help: the network is `10.0.0.0/8`",
    );
    check_body("allow icmpv6 from 10.0.0.0/8", "E0405");
    check_body("allow", "E0401");
    check_body("default drop\ndefault reject", "`default` is given twice");
    check_body("allow ssh tcp 2222", "catalog: ssh is tcp 22");
    check_body("allow tcp 22\nallow ssh", "W0002");
    check_body("allow tcp 1-100\ndrop tcp 50-200", "W0003");
    check_body("allow ssh established", "E0402");
    check_body("allow ssh on \"abcdefghijklmnopq\"", "E0205");
    check_body("allow ssh on \"vir*br\"", "`*` may only come last");
    check_body("log rejected limit 0/second", "E0206");
    check_body("log rejected group 70000", "E0207");
    check_body("service ssh tcp 2222", "E0304");
    check_body(
        "allow tcp 22 from mgnt\ndefine mgmt = 10.0.0.0/8",
        "did you mean `mgmt`?",
    );
    check_body("allow icmp echo-requets", "did you mean `echo-request`?");
    check_body("allow ssh on \"*\"", "matches every interface");
    check_body("allow ssh on \"a\\b\"", "contains `\\`");
    check_body("log rejected prefix \"$x\"", "contains `$`");
    check_body("log rejected group 1 group 2", "`group` given twice");
    check_body(
        "allow icmp 99999999999999999999999",
        "ICMP type (too many digits) is out of range",
    );
    check_body(
        "log rejected limit 4294967296/second",
        "a rate of 4294967296 is too large",
    );
    check_body(
        "log rejected limit 5/second burst 0",
        "a burst must be at least 1",
    );
    check_body(&format!("define {} = 10.0.0.0/8", "n".repeat(65)), "E0210");
    check_body(&format!("define {} = 10.0.0.0/8", "n".repeat(64)), "");
    check_body("drop icmpv6 nd-router-advert", "W0004");
    check_body("allow icmpv6 nd-router-advert", "");
    check_body(
        "forward {\n allow in \"virbr*\" from 10.0.0.0/8 to fd00::/64\n}",
        "E0405",
    );
}

#[test]
fn allow_icmp_is_both_families_unless_addresses_say_otherwise() {
    let (p, out) = run("allow icmp from 10.0.0.0/8");
    assert!(out.is_empty(), "{out}");
    assert_eq!(p.map(|p| p.input.len()), Some(1));
}

#[test]
fn shipped_policies_check_clean() {
    let site = "[networks]\nmgmt = [\"10.0.0.0/24\", \"fd00:10::/64\"]\nmigration = [\"192.168.50.0/24\"]\n\
                [interfaces]\nmigration = \"br-mig\"\n";
    let policies = [
        include_str!("../../policies/kvm-host.policy"),
        include_str!("../../policies/migration-net.policy"),
        include_str!("../../policies/libvirt-nat.policy"),
        include_str!("../../policies/minimal-host.policy"),
    ];
    for text in policies {
        let mut map = SourceMap::new();
        let f = map.add("policy", text);
        // Only migration-net names site networks; the others define their own.
        let s = text
            .contains("policy migration-net")
            .then(|| map.add("site.toml", site));
        let (p, d) = check(&mut map, f, s, &NoIncludes);
        assert!(d.is_empty(), "{}", render(&map, &d, Color::Never));
        assert!(p.is_some());
    }
}

#[test]
fn forward_block_builds_forward_rules() {
    let (p, out) = run(
        "forward {\n default drop\n allow in \"virbr*\" from 192.168.122.0/24\n allow out \"virbr*\" established\n}",
    );
    assert!(out.is_empty(), "{out}");
    let p = p.expect("policy");
    let fwd = p.forward.expect("forward chain");
    assert_eq!(fwd.len(), 2);
    assert!(fwd[0].iif[0].wildcard && fwd[0].iif[0].name == "virbr");
    assert!(fwd[1].established_only && fwd[1].oif.len() == 1);
    assert_eq!(p.forward_default, crate::model::DefaultAction::Drop);
}

#[test]
fn site_log_prefix_is_the_fallback() {
    let mut map = SourceMap::new();
    let f = map.add("policy", "policy p {\n log rejected limit 3/hour\n}\n");
    let s = map.add("site.toml", "log_prefix = \"fw: \"\n");
    let (p, d) = check(&mut map, f, Some(s), &NoIncludes);
    assert!(d.is_empty());
    let log = p.and_then(|p| p.log_rejected).expect("log");
    assert_eq!(log.prefix, "fw: ");
    assert_eq!(log.limit.map(|l| (l.count, l.burst)), Some((3, 0)));
}

#[test]
fn include_names_are_normalised_lexically() {
    assert_eq!(normalise("sub/../a.policy"), "a.policy");
    assert_eq!(normalise("d/../d/x.policy"), "d/x.policy");
    assert_eq!(normalise("./a/./b"), "a/b");
    assert_eq!(normalise("../x"), "../x");
    assert_eq!(normalise("a/../../x"), "../x");
    assert_eq!(normalise("/etc/../x"), "/x");
    assert_eq!(normalise("/../x"), "/x");
    assert_eq!(normalise("a/.."), ".");
}

/// Files by name; names come back as the CLI loader makes them (includer's dir + path).
struct MapIncludes(&'static [(&'static str, &'static str)]);

impl Includes for MapIncludes {
    fn load(&self, from: &str, path: &str) -> Result<(String, Vec<u8>), String> {
        let dir = from.rsplit_once('/').map_or("", |(d, _)| d);
        let name = if dir.is_empty() {
            path.to_string()
        } else {
            format!("{dir}/{path}")
        };
        let key = normalise(&name);
        let text = self.0.iter().find(|(n, _)| *n == key).ok_or(key)?.1;
        Ok((name, text.as_bytes().to_vec()))
    }
}

#[test]
fn diamond_is_read_once_and_relative_self_include_is_one_cycle() {
    let files = &[
        ("a.policy", "define lab = 192.0.2.0/24\n"),
        ("sub/c.policy", "include \"../a.policy\"\n"),
        ("d/x.policy", "include \"../d/x.policy\"\n"),
    ];
    let mut map = SourceMap::new();
    let text =
        "include \"a.policy\"\ninclude \"sub/c.policy\"\npolicy p {\n allow ssh from lab\n}\n";
    let f = map.add("p.policy", text);
    let (p, d) = check(&mut map, f, None, &MapIncludes(files));
    assert!(d.is_empty(), "{}", render(&map, &d, Color::Never));
    assert!(p.is_some());

    let mut map = SourceMap::new();
    let f = map.add(
        "p.policy",
        "include \"d/x.policy\"\npolicy p {\n allow ssh\n}\n",
    );
    let (_, d) = check(&mut map, f, None, &MapIncludes(files));
    assert_eq!(d.len(), 1, "{}", render(&map, &d, Color::Never));
    assert_eq!(d[0].code, codes::INCLUDE_CYCLE);
}

#[test]
fn broken_site_entries_are_known_but_never_compiled() {
    let mut map = SourceMap::new();
    let f = map.add(
        "policy",
        "policy p {\n allow ssh from mgmt on up\n allow dns on lan\n}\n",
    );
    let s = map.add(
        "site.toml",
        "[extra]\n[networks]\nmgmt = [\"10.0.0.1/8\"]\n[interfaces]\nup = \"x\\\\y\"\nlan = \"eno1\"\n",
    );
    let (p, d) = check(&mut map, f, Some(s), &NoIncludes);
    let out = render(&map, &d, Color::Never);
    assert!(p.is_none());
    let codes: Vec<&str> = d.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0502", "E0204", "E0205"], "{out}");
}

/// Includes from owned texts (as `MapIncludes`).
struct OwnedIncludes(Vec<(String, String)>);

impl Includes for OwnedIncludes {
    fn load(&self, _from: &str, path: &str) -> Result<(String, Vec<u8>), String> {
        let text = self.0.iter().find(|(n, _)| n == path).ok_or(path)?;
        Ok((path.to_string(), text.1.as_bytes().to_vec()))
    }
}

/// The files loaded in map order and the diagnostics (code, file) in order, of a policy
/// whose includes mix files that include none with one that does, a missing one, one
/// included twice, one with a syntax error: each of them `pad` bytes of comment longer.
fn walk(pad: usize) -> (Vec<String>, Vec<(&'static str, String)>) {
    let pad = format!("# {}\n", "x".repeat(pad));
    let files = [
        ("a.policy", "define lab = 192.0.2.0/24\n"),
        ("b.policy", "include \"c.policy\"\n"),
        ("c.policy", "define far = 198.51.100.0/24\n"),
        ("bad.policy", "define = oops\n"),
        ("d.policy", "define near = 203.0.113.0/24\n"),
    ];
    let includes = OwnedIncludes(
        (files.iter())
            .map(|(n, t)| (n.to_string(), format!("{pad}{t}")))
            .collect(),
    );
    let mut map = SourceMap::new();
    let text = ["a", "missing", "b", "a", "bad", "d"]
        .map(|n| format!("include \"{n}.policy\"\n"))
        .concat()
        + "policy p {\n allow ssh from lab\n}\n";
    let f = map.add("p.policy", text);
    let (_, d) = check(&mut map, f, None, &includes);
    let names = map.files().map(|(_, f)| f.name.clone()).collect();
    let diags = (d.iter())
        .map(|d| (d.code, map.file(d.span.file).name.clone()))
        .collect();
    (names, diags)
}

/// Includes load depth first, and report in that order, whether the files that include
/// none are parsed one by one or, when large, several at once.
#[test]
fn includes_load_depth_first_whether_parsed_one_by_one_or_at_once() {
    let (names, diags) = walk(0);
    let files = ["p", "a", "b", "c", "bad", "d"].map(|n| format!("{n}.policy"));
    assert_eq!(names, files);
    let codes: Vec<&str> = diags.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes[0], codes::INCLUDE_FAILED, "{diags:?}");
    assert_eq!(diags[0].1, "p.policy");
    assert!(
        diags[1..].iter().all(|(_, f)| f == "bad.policy"),
        "{diags:?}"
    );
    // Past the size from which a run of files is parsed on several threads.
    assert_eq!(walk(PARALLEL_MIN_BYTES / 2), (names, diags));
}
