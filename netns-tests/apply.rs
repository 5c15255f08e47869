//! `hostwall apply` through the real binary: the applied table equals what
//! `nft -f` makes of `hostwall compile` for every shipped policy and compile golden,
//! re-apply is idempotent, other tables and other namespaces are untouched, a refused
//! batch or a failed sysctl step changes nothing, errors exit 2, a dry run changes
//! nothing, 100,000 elements apply. Every test owns its namespaces and state dir.

use crate::support::sysctl::SysctlTree;
use hostwall::netns::Netns;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

/// A namespace and a private state dir (with room for policy files) for one test.
pub struct Env {
    pub ns: Netns,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new(prefix: &str) -> Env {
        let ns = Netns::create_unique(prefix).unwrap_or_else(|e| panic!("create netns: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        Env { ns, dir }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes a policy (or site) file with safe permissions; returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("chmod {name}: {e}"));
        p
    }

    /// `--journal-socket`/`--syslog-socket` inside this test's directory, so a test
    /// never writes to the host's own log (bind `journal.sock` to read the entries).
    pub fn log_args(&self) -> Vec<String> {
        let at = |f: &str| self.dir.path().join(f).to_string_lossy().into_owned();
        vec![
            "--journal-socket".into(),
            at("journal.sock"),
            "--syslog-socket".into(),
            at("syslog.sock"),
        ]
    }

    /// `hostwall apply --netns NS --state-dir STATE ARGS...`
    pub fn apply(&self, args: &[&str]) -> Output {
        self.apply_env(args, &[])
    }

    /// [`Env::apply`] with these environment variables set.
    pub fn apply_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut full = vec!["apply", "--netns", self.ns.name()];
        let state = self.state();
        let state = state.to_string_lossy();
        full.extend(["--state-dir", &state]);
        let log = self.log_args();
        full.extend(log.iter().map(String::as_str));
        full.extend_from_slice(args);
        hostwall(&full, env)
    }

    /// `hostwall CMD --netns NS --state-dir STATE` (confirm, status, revert).
    pub fn state_cmd(&self, cmd: &str) -> Output {
        let state = self.state().to_string_lossy().into_owned();
        let log = self.log_args();
        let mut full = vec![cmd, "--netns", self.ns.name(), "--state-dir", &state];
        full.extend(log.iter().map(String::as_str));
        hostwall(&full, &[])
    }

    /// `nft ARGS` inside the namespace; panics on failure.
    pub fn nft(&self, args: &[&str], stdin: &str) -> String {
        nft_in(self.ns.name(), args, stdin).unwrap_or_else(|e| panic!("nft {args:?}: {e}"))
    }

    pub fn ruleset(&self) -> String {
        self.nft(&["-s", "list", "ruleset"], "")
    }
}

pub use crate::support::cli::hostwall_env as hostwall;

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts an exit code, showing stderr when it differs.
pub fn exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "stderr:\n{}", stderr(o));
}

/// `ip netns exec NS nft ARGS` with `stdin` (the shared nft runner).
pub fn nft_in(ns: &str, args: &[&str], stdin: &str) -> Result<String, String> {
    crate::support::nft::nft(crate::support::nft::At::Netns(ns), args, stdin)
}

const OTHER_TABLE: &str = "table ip other {\n chain c {\n  type filter hook input priority 10; policy accept;\n  tcp dport 99 accept\n }\n}\n";

/// The table name a compiled ruleset declares (`table inet NAME {`).
fn table_name(nft_text: &str) -> String {
    nft_text
        .lines()
        .find_map(|l| l.strip_prefix("table inet ")?.strip_suffix(" {"))
        .unwrap_or_else(|| panic!("no table in:\n{nft_text}"))
        .to_string()
}

fn with_site<'a>(args: &mut Vec<&'a str>, policy: &'a str, site: &'a Option<String>) {
    args.push(policy);
    if let Some(s) = site {
        args.extend(["--site", s.as_str()]);
    }
}

#[test]
#[ignore = "needs root"]
fn apply_equals_nft_f_of_compile_for_every_policy_and_golden_issue3() {
    crate::support::root::require();
    let ours = Env::new("hw-ap");
    let theirs = Env::new("hw-ap-nft");
    for case in crate::support::corpus::clean() {
        let name = &case.name;
        let policy = case.policy.to_string_lossy().into_owned();
        let site = case.site.map(|s| s.to_string_lossy().into_owned());
        let mut compile = vec!["compile"];
        with_site(&mut compile, &policy, &site);
        let text = stdout(&hostwall(&compile, &[]));
        let table = table_name(&text);
        for env in [&ours, &theirs] {
            env.nft(&["flush", "ruleset"], "");
            env.nft(&["-f", "-"], OTHER_TABLE);
        }
        theirs.nft(&["-f", "-"], &text);
        let mut apply = vec!["--insecure-perms"];
        with_site(&mut apply, &policy, &site);
        exit(&ours.apply(&apply), 0);
        let list = |e: &Env| e.nft(&["list", "table", "inet", &table], "");
        let expected = list(&theirs);
        assert_eq!(list(&ours), expected, "{name}: apply differs from nft -f");
        let whole = ours.ruleset();
        exit(&ours.apply(&apply), 0);
        assert_eq!(ours.ruleset(), whole, "{name}: re-apply is not idempotent");
        let other = ours.nft(&["list", "table", "ip", "other"], "");
        assert!(other.contains("tcp dport 99 accept"), "{name}: {other}");
    }
}

const KVM: &str = include_str!("../policies/kvm-host.policy");
const MINIMAL: &str = include_str!("../policies/minimal-host.policy");

#[test]
#[ignore = "needs root"]
fn refused_batch_changes_nothing_and_names_the_policy_line_issue3() {
    crate::support::root::require();
    let env = Env::new("hw-ap");
    env.nft(&["-f", "-"], OTHER_TABLE);
    let kvm = env.file("kvm.policy", KVM);
    exit(&env.apply(&[&kvm.to_string_lossy()]), 0);
    let before = env.ruleset();
    let minimal = env.file("minimal.policy", MINIMAL);
    let out = {
        let state = env.state();
        let args = [
            "apply",
            "--netns",
            env.ns.name(),
            "--state-dir",
            &state.to_string_lossy(),
            &minimal.to_string_lossy(),
        ];
        hostwall(&args, &[("HOSTWALL_TEST_BREAK_RULE", "ssh")])
    };
    exit(&out, 2);
    assert_eq!(env.ruleset(), before, "a refused batch must change nothing");
    let err = stderr(&out);
    assert!(
        err.contains("error: the kernel refused rule ") && err.contains(" of chain input: "),
        "{err}"
    );
    let at = format!("--> {}:16:5", minimal.display());
    assert!(err.contains(&at), "no {at} in:\n{err}");
    assert!(err.contains("allow ssh tcp 22 from mgmt"), "{err}");
    assert!(err.contains("^^^^"), "{err}");
}

/// A policy large enough that apply lets go of its text after the check (4 MiB and
/// more): the kernel's refusal still shows its line, read back from the file.
#[test]
#[ignore = "needs root"]
fn a_refusal_in_a_shed_policy_shows_its_line_read_back_issue14() {
    crate::support::root::require();
    let env = Env::new("hw-shed");
    let policy = env.file("big.policy", &shed_policy());
    let out = shed_apply(&env, &policy, &[], &[("HOSTWALL_TEST_BREAK_RULE", "ssh")]);
    exit(&out, 2);
    let err = stderr(&out);
    let at = format!("--> {}:3:5", policy.display());
    assert!(err.contains(&at), "no {at} in:\n{err}");
    assert!(err.contains("allow ssh tcp 22 from big"), "{err}");
    assert!(err.contains("^^^^"), "{err}");
    assert!(!err.contains("no excerpt"), "{err}");
}

/// The policy file edited while the apply runs (after its text was checked and shed): a
/// refusal shows its location alone and says why there is no excerpt; a successful
/// apply does not keep the edited text as the last known good, and says so.
#[test]
#[ignore = "needs root"]
fn a_shed_policy_edited_during_the_apply_is_never_shown_or_kept_as_checked_issue14() {
    crate::support::root::require();
    let env = Env::new("hw-shed");
    let policy = env.file("big.policy", &shed_policy());
    let edit = ("HOSTWALL_TEST_APPEND_AFTER_CHECK", "# edited\n");
    let out = shed_apply(
        &env,
        &policy,
        &[],
        &[("HOSTWALL_TEST_BREAK_RULE", "ssh"), edit],
    );
    exit(&out, 2);
    let err = stderr(&out);
    let at = format!("{}:3:5", policy.display());
    assert!(err.contains(&at) && err.contains("(no excerpt: "), "{err}");
    assert!(err.contains("changed since it was checked"), "{err}");
    assert!(!err.contains("allow ssh tcp 22 from big"), "{err}");
    // The same edit during an apply that succeeds.
    let policy = env.file("big.policy", &shed_policy());
    let lkg = env.dir.path().join("lkg");
    let lkg_arg = lkg.to_string_lossy().to_string();
    let out = shed_apply(&env, &policy, &["--lkg-dir", &lkg_arg], &[edit]);
    exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("not kept as the last known good"), "{err}");
    assert!(!lkg.join("last-good").exists(), "the edited text was kept");
    // Unedited, the same apply keeps it (sent again: the table already is the policy).
    let policy = env.file("big.policy", &shed_policy());
    let out = shed_apply(&env, &policy, &["--lkg-dir", &lkg_arg, "--replace"], &[]);
    exit(&out, 0);
    assert!(lkg.join("last-good").exists(), "{}", stderr(&out));
}

/// 300,000 /30s on one line (about 5 MiB: its text is shed), then the policy, whose
/// `allow ssh` is line 3, column 5.
fn shed_policy() -> String {
    let list: Vec<String> = (0..300_000u32)
        .map(|i| {
            let v = i * 8;
            format!("10.{}.{}.{}/30", v >> 16 & 255, v >> 8 & 255, v & 255)
        })
        .collect();
    format!(
        "define big = {}\npolicy shed {{\n    allow ssh tcp 22 from big\n}}\n",
        list.join(", ")
    )
}

/// `hostwall apply` of `policy` into the test's namespace, with `extra` arguments and
/// `vars` in its environment.
fn shed_apply(
    env: &Env,
    policy: &std::path::Path,
    extra: &[&str],
    vars: &[(&str, &str)],
) -> Output {
    let state = env.state().to_string_lossy().into_owned();
    let policy = policy.to_string_lossy().into_owned();
    let mut args = vec!["apply", "--netns", env.ns.name(), "--state-dir", &state];
    args.extend_from_slice(extra);
    args.push(&policy);
    hostwall(&args, vars)
}

#[test]
#[ignore = "needs root"]
fn failed_sysctl_step_rolls_back_the_ruleset_issue3() {
    crate::support::root::require();
    let env = Env::new("hw-ap");
    let tree = SysctlTree::new();
    let kvm = env.file("kvm.policy", KVM);
    exit(&env.apply(&[&kvm.to_string_lossy()]), 0);
    let before = env.ruleset();
    let both = env.file(
        "both.policy",
        "policy both {\n    forwarding ipv4 on\n    forwarding ipv6 on\n    allow ssh\n}\n",
    );
    let root_dir = tree.path().to_string_lossy().into_owned();
    let out = env.apply(&["--sysctl-root", &root_dir, &both.to_string_lossy()]);
    exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("cannot write net.ipv6.conf.all.forwarding"),
        "{err}"
    );
    assert!(err.contains("rolled back to its previous state"), "{err}");
    assert_eq!(env.ruleset(), before, "the ruleset must be rolled back");
    let v4 = std::fs::read_to_string(tree.path().join("net/ipv4/ip_forward"));
    assert_eq!(v4.ok().as_deref(), Some("0\n"), "ip_forward restored");
}

#[test]
#[ignore = "needs root"]
fn netns_targets_only_that_namespace_and_missing_one_exits_2_issue3() {
    crate::support::root::require();
    let target = Env::new("hw-ap");
    let bystander = Env::new("hw-ap-by");
    bystander.nft(&["-f", "-"], OTHER_TABLE);
    let minimal = bystander.file("minimal.policy", MINIMAL);
    exit(&bystander.apply(&[&minimal.to_string_lossy()]), 0);
    let untouched = bystander.ruleset();
    let kvm = target.file("kvm.policy", KVM);
    exit(&target.apply(&[&kvm.to_string_lossy()]), 0);
    assert!(target.ruleset().contains("spice"), "kvm-host not applied");
    assert_eq!(
        bystander.ruleset(),
        untouched,
        "the other namespace changed"
    );
    let fwd = target
        .ns
        .read_sysctl("net.ipv4.ip_forward")
        .unwrap_or_default();
    assert_eq!(fwd, "1", "kvm-host turns forwarding on in its namespace");

    let state = target.state();
    let missing = hostwall(
        &[
            "apply",
            "--netns",
            "hw-ap-does-not-exist",
            "--state-dir",
            &state.to_string_lossy(),
            &kvm.to_string_lossy(),
        ],
        &[],
    );
    exit(&missing, 2);
    let err = stderr(&missing);
    assert!(
        err.contains("network namespace \"hw-ap-does-not-exist\" not found"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear message: {err}");
    // Names that would resolve to /run/netns itself or its parent.
    for bad in ["", ".."] {
        let o = hostwall(
            &[
                "apply",
                "--netns",
                bad,
                "--state-dir",
                &state.to_string_lossy(),
                &kvm.to_string_lossy(),
            ],
            &[],
        );
        exit(&o, 2);
        let err = stderr(&o);
        let want = format!("network namespace {bad:?} not found");
        assert!(err.contains(&want), "{err}");
        assert_eq!(err.lines().count(), 1, "one clear message: {err}");
    }
}

#[test]
#[ignore = "needs root"]
fn dry_run_prints_the_plan_and_changes_nothing_issue3() {
    crate::support::root::require();
    let env = Env::new("hw-ap");
    let minimal = env.file("minimal.policy", MINIMAL);
    exit(&env.apply(&[&minimal.to_string_lossy()]), 0);
    let before = env.ruleset();
    let kvm = env.file("kvm.policy", KVM);
    let out = env.apply(&["--dry-run", "-v", &kvm.to_string_lossy()]);
    exit(&out, 0);
    assert_eq!(env.ruleset(), before, "a dry run changed the ruleset");
    let fwd = env
        .ns
        .read_sysctl("net.ipv4.ip_forward")
        .unwrap_or_default();
    assert_eq!(fwd, "0", "a dry run changed ip_forward");
    let plan = stdout(&out);
    // A new set ahead of one that stays: only a full replace, and why.
    assert!(
        plan.contains("full replace: new set allow_tcp comes before set"),
        "{plan}"
    );
    // The change in the policy's terms: kvm-host's port set replaces minimal-host's rules.
    assert!(
        plan.contains("changes (\"live has\" becomes \"policy says\")"),
        "{plan}"
    );
    assert!(plan.contains("set missing: set allow_tcp"), "{plan}");
    assert!(plan.contains("table inet hostwall"), "{plan}");
    assert!(plan.contains("rule 1 of chain input"), "{plan}");
    assert!(
        plan.contains("sysctl net.ipv4.ip_forward = 1 (was 0)"),
        "{plan}"
    );
    assert!(stderr(&out).contains("nothing changed"), "{}", stderr(&out));
}

#[test]
#[ignore = "needs root"]
fn a_100k_element_policy_applies_issue3() {
    crate::support::root::require();
    let env = Env::new("hw-ap");
    let big = env.file("big.policy", &hostwall::bench_support::policy(100_000, 10));
    let out = env.apply(&[&big.to_string_lossy()]);
    exit(&out, 0);
    assert!(
        stderr(&out).contains("applied table inet"),
        "{}",
        stderr(&out)
    );
    let listing = env.nft(&["list", "ruleset"], "");
    // Elements are listed comma separated, several per line: count the commas.
    let elements = listing.matches(',').count();
    assert!(elements >= 99_000, "only {elements} elements listed");
}

#[test]
#[ignore = "needs root"]
fn a_table_owned_by_another_process_is_named_not_permission_issue3() {
    crate::support::root::require();
    let env = Env::new("hw-ap-own");
    let owner =
        crate::support::nft::OwnedTable::hold(crate::support::nft::At::Netns(env.ns.name()));
    let before = env.ruleset();
    let kvm = env.file("kvm.policy", KVM);
    let o = env.apply(&[&kvm.to_string_lossy()]);
    let err = stderr(&o);
    assert!(
        err.contains("table inet hostwall is owned by another process (flags owner)"),
        "{err}"
    );
    assert!(!err.contains("CAP_NET_ADMIN"), "{err}");
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert_eq!(env.ruleset(), before, "nothing changed");
    drop(owner);
}
