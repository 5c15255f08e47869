//! hostwall.service at real boots: the last known good and
//! the built-in policy as fallbacks, with the unit failed and the journal naming
//! `file:line:col`; `systemctl reload hostwall`; nftables.service's stock
//! `flush ruleset`; and `apply --confirm` whose revert watcher outlives the
//! session that started it. State is read with `nft` and `journalctl -o json`
//! inside the booted root.

use crate::harness::{BootOutput, BootSpec, Machine};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const UNIT: &str = include_str!("../packaging/hostwall.service");
const HELPER: &str = include_str!("../packaging/hostwall-nftables.service");

/// The last known good in these tests: port 2222 marks it.
const GOOD: &str =
    "policy lkg {\n    default reject\n    allow ssh tcp 22\n    allow tcp 2222\n}\n";
/// A policy the checker refuses: the port at 4:15 is out of range.
const BROKEN: &str =
    "policy broken {\n    default reject\n    allow ssh tcp 22\n    allow tcp 99999\n}\n";
const BROKEN_AT: &str = "/etc/hostwall/host.policy:4:15";
/// A valid policy (port 3333) whose `http` rule the debug test hook can make the
/// kernel refuse; the rule is at 4:5.
const OTHER: &str = "policy other {\n    default reject\n    allow ssh tcp 22\n    allow http tcp 3333 from 10.0.0.0/8\n}\n";

/// Installs the binary and both units, the policy given as `policy`, enables the unit.
const INSTALL: &str = r#"
set -eu
install -m 0755 /hostwall-test/hostwall /usr/sbin/hostwall
install -m 0644 /hostwall-test/hostwall.service /hostwall-test/hostwall-nftables.service /etc/systemd/system/
install -d -m 0755 /etc/hostwall
install -m 0644 /hostwall-test/policy /etc/hostwall/host.policy
systemctl daemon-reload
systemctl enable hostwall.service 2>&1
set +e
"#;

/// What every check probe prints: the unit's state, marks in our table, the journal.
const STATE: &str = r#"
state() {
    # hostwall.service is ordered before network-pre.target only, so the probe (after
    # multi-user.target) can start while it still runs: wait for the boot's jobs.
    systemctl is-system-running --wait >/dev/null
    echo "active=$(systemctl is-active hostwall.service)"
    stat -c "policy_mode=%a %U" /etc/hostwall/host.policy 2>&1 | head -1
    if nft list table inet hostwall >/tmp/t 2>/dev/null; then echo table=yes; else echo table=no; fi
    grep -qw 2222 /tmp/t && echo mark=lkg
    grep -qw 3333 /tmp/t && echo mark=other
    grep -q '5634-6166' /tmp/t && echo mark=builtin
    grep -qw 4444 /tmp/t && echo mark=new
    true
}
journal() {
    journalctl --sync 2>/dev/null
    journalctl -o json --no-pager SYSLOG_IDENTIFIER=hostwall | grep HOSTWALL_EVENT | sed 's/^/json: /'
}
"#;

fn spec(name: &str, probe: &str) -> BootSpec {
    BootSpec::new(name, &format!("{STATE}\n{probe}"))
        .file("hostwall.service", UNIT)
        .file("hostwall-nftables.service", HELPER)
}

fn boot(m: &mut Machine, spec: &BootSpec) -> BootOutput {
    let out = m.boot(spec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.probe_rc, Some(0), "{}", out.explain());
    out
}

/// The hostwall entries the probe printed (`json: ` lines of `journalctl -o json`).
fn entries(out: &BootOutput) -> Vec<Value> {
    out.probe_log
        .lines()
        .filter_map(|l| l.strip_prefix("json: "))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The one entry with `HOSTWALL_EVENT=event` (and the other fields given).
fn entry<'a>(out: &'a [Value], event: &str, with: &[(&str, &str)], why: &str) -> &'a Value {
    let found: Vec<&Value> = out
        .iter()
        .filter(|e| field(e, "HOSTWALL_EVENT") == event)
        .filter(|e| with.iter().all(|(k, v)| field(e, k) == *v))
        .collect();
    assert_eq!(found.len(), 1, "one {event} entry with {with:?}:\n{why}");
    found[0]
}

fn write(m: &Machine, rel: &str, text: &str, mode: u32) {
    let p = m.upper().join(rel);
    std::fs::create_dir_all(p.parent().unwrap_or(Path::new("/"))).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn has(out: &BootOutput, line: &str) -> bool {
    out.probe_log.lines().any(|l| l == line)
}

/// Boots after a change that makes the policy unusable: the last known good is
/// applied, the unit failed, and the fallback entry says why and where.
fn fallback_boot(m: &mut Machine, name: &str, reason: &str) -> (BootOutput, Vec<Value>) {
    let out = boot(m, &spec(name, "state\njournal\n"));
    let why = out.explain();
    assert!(has(&out, "active=failed"), "{why}");
    let all = entries(&out);
    let e = entry(&all, "boot-fallback", &[("HOSTWALL_REASON", reason)], &why);
    assert_eq!(
        field(e, "HOSTWALL_POLICY"),
        "/etc/hostwall/host.policy",
        "{why}"
    );
    assert_eq!(field(e, "HOSTWALL_NETNS"), "host", "{why}");
    assert!(!field(e, "HOSTWALL_GENERATION").is_empty(), "{why}");
    (out, all)
}

#[test]
#[ignore = "needs root"]
fn a_policy_that_cannot_be_used_at_boot_gives_the_last_known_good_and_a_failed_unit() {
    crate::support::root::require();
    let root = crate::root();
    let mut m = Machine::new(&root, "lkg").unwrap_or_else(|e| panic!("{e}"));
    let first = boot(
        &mut m,
        &spec(
            "lkg",
            &format!("{INSTALL}\nsystemctl start hostwall.service\nstate\nstat -c 'lkg=%a %U' /var/lib/hostwall /var/lib/hostwall/last-good\n"),
        )
        .file("policy", GOOD),
    );
    let why = first.explain();
    assert!(
        has(&first, "active=active") && has(&first, "mark=lkg"),
        "{why}"
    );
    assert!(
        has(&first, "lkg=700 root") && has(&first, "lkg=600 root"),
        "{why}"
    );

    // A typo: the checker's error, with its place, in the journal.
    write(&m, "etc/hostwall/host.policy", BROKEN, 0o644);
    let (out, all) = fallback_boot(&mut m, "lkg", "invalid");
    let why = out.explain();
    assert!(has(&out, "mark=lkg") && !has(&out, "mark=builtin"), "{why}");
    let e = entry(&all, "boot-fallback", &[], &why);
    assert_eq!(field(e, "HOSTWALL_LOCATION"), BROKEN_AT, "{why}");
    assert_eq!(field(e, "HOSTWALL_APPLIED"), "last-known-good", "{why}");
    let msg = field(e, "MESSAGE");
    assert!(
        msg.contains(&format!("{BROKEN_AT}: port 99999 is out of range")),
        "{msg}"
    );
    assert!(msg.contains("applied the last known good"), "{msg}");
    assert!(out.journal.contains("hostwall.service: Failed"), "{why}");

    // Unsafe permissions: refused even though the text is fine.
    write(&m, "etc/hostwall/host.policy", OTHER, 0o666);
    let (out, all) = fallback_boot(&mut m, "lkg", "unreadable");
    let why = out.explain();
    assert!(has(&out, "mark=lkg") && !has(&out, "mark=other"), "{why}");
    let e = entry(&all, "boot-fallback", &[], &why);
    assert!(
        field(e, "HOSTWALL_ERROR").contains("writable by group and others"),
        "{why}"
    );

    // Missing, then not a regular file.
    std::fs::remove_file(m.upper().join("etc/hostwall/host.policy"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (out, all) = fallback_boot(&mut m, "lkg", "unreadable");
    let e = entry(&all, "boot-fallback", &[], &out.explain());
    assert!(
        field(e, "HOSTWALL_ERROR").contains("No such file"),
        "{}",
        out.explain()
    );
    assert!(has(&out, "mark=lkg"), "{}", out.explain());
    std::fs::create_dir(m.upper().join("etc/hostwall/host.policy"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (out, all) = fallback_boot(&mut m, "lkg", "unreadable");
    let e = entry(&all, "boot-fallback", &[], &out.explain());
    assert!(
        field(e, "HOSTWALL_ERROR").contains("not a regular file"),
        "{}",
        out.explain()
    );
    std::fs::remove_dir(m.upper().join("etc/hostwall/host.policy"))
        .unwrap_or_else(|e| panic!("{e}"));

    // The kernel refuses the policy's ruleset (debug builds' test hook): the policy
    // line that produced the refused message is named.
    write(&m, "etc/hostwall/host.policy", OTHER, 0o644);
    write(
        &m,
        "etc/systemd/system/hostwall.service.d/break.conf",
        "[Service]\nEnvironment=HOSTWALL_TEST_BREAK_RULE=http\n",
        0o644,
    );
    let (out, all) = fallback_boot(&mut m, "lkg", "kernel-refused");
    let why = out.explain();
    assert!(has(&out, "mark=lkg") && !has(&out, "mark=other"), "{why}");
    let e = entry(&all, "boot-fallback", &[], &why);
    assert_eq!(
        field(e, "HOSTWALL_LOCATION"),
        "/etc/hostwall/host.policy:4:5",
        "{why}"
    );
    std::fs::remove_file(
        m.upper()
            .join("etc/systemd/system/hostwall.service.d/break.conf"),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    // A bad option in /etc/default/hostwall ends `hostwall boot` before it reads
    // anything: the unit's second try without the extra arguments applies the policy.
    write(
        &m,
        "etc/default/hostwall",
        "HOSTWALL_ARGS=\"--no-such-option\"\n",
        0o644,
    );
    let out = boot(&mut m, &spec("lkg", "state\njournal\n"));
    let why = out.explain();
    assert!(
        has(&out, "active=failed") && has(&out, "mark=other"),
        "{why}"
    );
    let all = entries(&out);
    let e = entry(&all, "boot", &[], &why);
    assert_eq!(field(e, "HOSTWALL_APPLIED"), "policy", "{why}");
    assert!(out.journal.contains("--no-such-option"), "{why}");
    std::fs::remove_file(m.upper().join("etc/default/hostwall")).unwrap_or_else(|e| panic!("{e}"));

    // A damaged store is refused with its reason; the built-in policy is applied.
    let store = m.upper().join("var/lib/hostwall/last-good");
    let mut bytes = std::fs::read(&store).unwrap_or_else(|e| panic!("{e}"));
    let n = bytes.len();
    bytes[n - 5] ^= 0x01;
    std::fs::write(&store, bytes).unwrap_or_else(|e| panic!("{e}"));
    write(&m, "etc/hostwall/host.policy", BROKEN, 0o644);
    let (out, all) = fallback_boot(&mut m, "lkg", "invalid");
    let why = out.explain();
    assert!(has(&out, "mark=builtin") && !has(&out, "mark=lkg"), "{why}");
    let refused = entry(
        &all,
        "boot-attempt-failed",
        &[("HOSTWALL_SOURCE", "last-known-good")],
        &why,
    );
    assert_eq!(field(refused, "HOSTWALL_REASON"), "corrupt", "{why}");
    assert!(
        field(refused, "MESSAGE").contains("is corrupt: its content does not match its digest"),
        "{why}"
    );
    let e = entry(&all, "boot-fallback", &[], &why);
    assert_eq!(field(e, "HOSTWALL_APPLIED"), "built-in", "{why}");
}

#[test]
#[ignore = "needs root"]
fn a_broken_policy_at_boot_with_no_last_known_good_gives_the_built_in() {
    crate::support::root::require();
    let root = crate::root();
    let mut m = Machine::new(&root, "nolkg").unwrap_or_else(|e| panic!("{e}"));
    let first = boot(&mut m, &spec("nolkg", INSTALL).file("policy", BROKEN));
    assert!(
        !m.upper().join("var/lib/hostwall/last-good").exists(),
        "{}",
        first.explain()
    );
    let (out, all) = fallback_boot(&mut m, "nolkg", "invalid");
    let why = out.explain();
    assert!(has(&out, "table=yes") && has(&out, "mark=builtin"), "{why}");
    let e = entry(&all, "boot-fallback", &[], &why);
    assert_eq!(field(e, "HOSTWALL_APPLIED"), "built-in", "{why}");
    assert_eq!(field(e, "HOSTWALL_LOCATION"), BROKEN_AT, "{why}");
    let absent = entry(
        &all,
        "boot-attempt-failed",
        &[("HOSTWALL_REASON", "absent")],
        &why,
    );
    assert_eq!(field(absent, "HOSTWALL_SOURCE"), "last-known-good", "{why}");
    // A fallback is never kept as the last known good.
    assert!(
        !m.upper().join("var/lib/hostwall/last-good").exists(),
        "{why}"
    );
}

const RELOAD: &str = r#"
systemctl start hostwall.service
install -m 0644 /hostwall-test/other /etc/hostwall/host.policy
systemctl reload hostwall.service; echo "reload=$?"
state
# The policy's own line: the entry's header holds a SHA-256, which may hold any digits.
grep -c 'allow http tcp 3333' /var/lib/hostwall/last-good | sed 's/^/lkg_other=/'
install -m 0644 /hostwall-test/broken /etc/hostwall/host.policy
systemctl reload hostwall.service; echo "broken_reload=$?"
state
grep -c 'allow http tcp 3333' /var/lib/hostwall/last-good | sed 's/^/lkg_still=/'
journal
"#;

#[test]
#[ignore = "needs root"]
fn systemctl_reload_applies_the_policy_and_a_broken_one_changes_nothing() {
    crate::support::root::require();
    let root = crate::root();
    let mut m = Machine::new(&root, "reload").unwrap_or_else(|e| panic!("{e}"));
    let out = boot(
        &mut m,
        &spec("reload", &format!("{INSTALL}\n{RELOAD}"))
            .file("policy", GOOD)
            .file("other", OTHER)
            .file("broken", BROKEN),
    );
    let why = out.explain();
    let log = &out.probe_log;
    let (reloaded, broken) = log
        .split_once("broken_reload=")
        .unwrap_or_else(|| panic!("{why}"));
    assert!(
        reloaded.contains("reload=0\n") && reloaded.contains("mark=other"),
        "{why}"
    );
    assert!(!reloaded.contains("mark=lkg"), "{why}");
    // `apply` (the reload) keeps what it applied as the last known good; a refused
    // policy leaves it alone.
    assert!(reloaded.contains("lkg_other=1"), "{why}");
    assert!(broken.contains("lkg_still=1"), "{why}");
    assert!(
        !broken.starts_with('0'),
        "a broken reload succeeded:\n{why}"
    );
    // The running ruleset stays, and the unit stays active.
    assert!(
        broken.contains("mark=other") && broken.contains("active=active"),
        "{why}"
    );
    let all = entries(&out);
    let applied: Vec<_> = all
        .iter()
        .filter(|e| field(e, "HOSTWALL_EVENT") == "applied")
        .collect();
    assert_eq!(applied.len(), 1, "{why}");
    assert_eq!(
        field(applied[0], "HOSTWALL_POLICY"),
        "/etc/hostwall/host.policy"
    );
}

const NFTABLES: &str = r#"
# systemctl returns when nftables' jobs are done; our re-apply is queued after.
wait_table() {
    i=0
    while [ $i -lt 50 ]; do
        nft list table inet hostwall >/dev/null 2>&1 && systemctl is-active -q hostwall.service && break
        sleep 0.2; i=$((i + 1))
    done
    state
    nft list table inet filter >/dev/null 2>&1 && echo filter=yes
}
echo "== boot"; wait_table
systemctl restart nftables.service; echo "== restart"; wait_table
systemctl reload nftables.service; echo "== reload"; wait_table
systemctl stop nftables.service; systemctl start nftables.service; echo "== stop-start"; wait_table
"#;

#[test]
#[ignore = "needs root"]
fn nftables_with_the_stock_flush_ruleset_never_leaves_the_host_without_our_table() {
    crate::support::root::require();
    let root = crate::root();
    let mut m = Machine::new(&root, "nft").unwrap_or_else(|e| panic!("{e}"));
    boot(
        &mut m,
        &spec(
            "nft",
            &format!("{INSTALL}\nsystemctl enable nftables.service 2>&1\n"),
        )
        .file("policy", GOOD),
    );
    let out = boot(&mut m, &spec("nft", NFTABLES));
    let why = out.explain();
    let log = &out.probe_log;
    for step in ["== boot", "== restart", "== reload", "== stop-start"] {
        let part = log
            .split(step)
            .nth(1)
            .and_then(|rest| rest.split("==").next())
            .unwrap_or_else(|| panic!("no {step}:\n{why}"));
        assert!(
            part.contains("table=yes\n") && part.contains("mark=lkg"),
            "{step}: our table is gone\n{why}"
        );
        assert!(
            part.contains("filter=yes"),
            "{step}: nftables.conf not loaded\n{why}"
        );
    }
}

const CONFIRM: &str = r#"
systemctl start hostwall.service
cp /hostwall-test/new /etc/hostwall/new.policy
# The admin's session: a scope with the apply and a shell that lives on.
systemd-run --scope --unit=admin-session.scope sh -c '/usr/sbin/hostwall apply --confirm 4 /etc/hostwall/new.policy; echo "apply_rc=$?"; exec sleep 1000' >/tmp/session.log 2>&1 &
i=0; while [ $i -lt 50 ] && ! grep -q apply_rc /tmp/session.log; do sleep 0.2; i=$((i + 1)); done
cat /tmp/session.log
echo "== applied"; state
systemctl list-units --no-legend --plain 'hostwall-revert-*' | sed 's/^/watcher: /'
systemctl kill --signal=SIGKILL admin-session.scope
sleep 0.5
echo "session=$(systemctl is-active admin-session.scope)"
i=0; while [ $i -lt 60 ] && nft list table inet hostwall | grep -qw 4444; do sleep 0.2; i=$((i + 1)); done
sleep 0.5
echo "== deadline"; state
# The policy's own line: the entry's header holds a SHA-256, which may hold any digits.
grep -c 'allow tcp 4444' /var/lib/hostwall/last-good | sed 's/^/lkg_new=/'
/usr/sbin/hostwall apply --confirm 30 /etc/hostwall/new.policy >/dev/null 2>&1
/usr/sbin/hostwall confirm; echo "confirm=$?"
grep -c 'allow tcp 4444' /var/lib/hostwall/last-good | sed 's/^/lkg_confirmed=/'
journal
"#;

#[test]
#[ignore = "needs root"]
fn apply_confirm_under_systemd_is_reverted_after_the_session_is_killed_and_logged() {
    crate::support::root::require();
    let root = crate::root();
    let mut m = Machine::new(&root, "confirm").unwrap_or_else(|e| panic!("{e}"));
    let new = GOOD.replace("tcp 2222", "tcp 4444");
    let out = boot(
        &mut m,
        &spec("confirm", &format!("{INSTALL}\n{CONFIRM}"))
            .file("policy", GOOD)
            .file("new", new),
    );
    let why = out.explain();
    let log = &out.probe_log;
    let (applied, after) = log
        .split_once("== deadline")
        .unwrap_or_else(|| panic!("{why}"));
    assert!(
        applied.contains("apply_rc=0") && applied.contains("mark=new"),
        "{why}"
    );
    assert!(
        applied.contains("watcher: hostwall-revert-"),
        "no transient watcher:\n{why}"
    );
    assert!(
        applied.contains("session=inactive") || applied.contains("session=failed"),
        "{why}"
    );
    // Reverted at the deadline by the watcher, which outlived the session.
    assert!(
        after.contains("mark=lkg") && !after.contains("mark=new"),
        "{why}"
    );
    // A reverted change never becomes the last known good; a confirmed one does.
    assert!(after.contains("lkg_new=0"), "{why}");
    assert!(
        after.contains("confirm=0") && after.contains("lkg_confirmed=1"),
        "{why}"
    );
    let all = entries(&out);
    let reverted = entry(&all, "reverted", &[], &why);
    assert_eq!(
        field(reverted, "HOSTWALL_REASON"),
        "deadline-passed",
        "{why}"
    );
    assert_eq!(
        field(reverted, "HOSTWALL_POLICY"),
        "/etc/hostwall/new.policy",
        "{why}"
    );
    let id = field(reverted, "HOSTWALL_ID");
    assert!(!id.is_empty(), "{why}");
    let applied = entry(&all, "applied", &[("HOSTWALL_ID", id)], &why);
    assert!(!field(applied, "HOSTWALL_GENERATION").is_empty(), "{why}");
    // Logged by the transient unit. journald adds `_SYSTEMD_UNIT` from the sender's
    // cgroup only when it reads it before the sender exits, so systemd's own line about
    // the unit is what proves it ran there.
    let unit = field(reverted, "_SYSTEMD_UNIT");
    assert!(
        unit.is_empty() || unit == format!("hostwall-revert-{id}.service"),
        "logged by {unit}:\n{why}"
    );
    assert!(
        out.journal.contains(&format!(
            "hostwall-revert-{id}.service: Deactivated successfully"
        )),
        "{why}"
    );
    entry(&all, "confirmed", &[], &why);
}
