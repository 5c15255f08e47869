//! Helpers of the kernel tests: namespace bookkeeping and private state directories. The
//! model builders are the shared ones (`support::build::model`).

pub use crate::support::build::model::*;

/// Serialises tests that count this process's namespaces (`hw-v-<pid>-*`),
/// so one test's live namespaces are not mistaken for another's leftovers.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Namespaces this process's verify runs created and did not remove.
pub fn our_namespaces() -> Vec<String> {
    let prefix = format!("hw-v-{}-", std::process::id());
    hostwall::netns::list()
        .expect("list /run/netns")
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Removes `ns` and creates a namespace of the same name again, trying for a few
/// seconds to get the nsfs inode number the old one had (the kernel hands a freed
/// namespace's number to the next new one once its cleanup ran). Returns the new
/// namespace and whether the number repeated; tests assert on behaviour either way.
pub fn recreate_same_name(ns: hostwall::netns::Netns) -> (hostwall::netns::Netns, bool) {
    let name = ns.name().to_string();
    let old = hostwall::nsid::inode_of(ns.path()).expect("nsfs inode");
    ns.remove().expect("remove namespace");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(8);
    loop {
        let fresh = hostwall::netns::Netns::create(&name).expect("same name again");
        let inode = hostwall::nsid::inode_of(fresh.path()).expect("nsfs inode");
        if inode == old || std::time::Instant::now() > end {
            eprintln!("{name}: recreated, nsfs inode repeated: {}", inode == old);
            return (fresh, inode == old);
        }
        fresh.remove().expect("remove namespace");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A private state directory for one test: owner-only, as the state directory's trust
/// rule requires (see `safe::trust`).
pub fn state_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod state dir");
    dir
}

/// Runs verify on `rs` (serialised with the other verify tests), asserts it left no
/// namespace, and returns the report, its table and how long it took.
pub fn verify_run(
    rs: &hostwall::ir::Ruleset,
    opts: &hostwall::verify::VerifyOptions,
) -> (hostwall::verify::VerifyReport, String, std::time::Duration) {
    let _guard = serial();
    let t = std::time::Instant::now();
    let report = hostwall::verify::verify(rs, opts).expect("verify sets up");
    let took = t.elapsed();
    eprintln!("verify took {took:?}, {} probes", report.probes.len());
    let table = hostwall::verify::render_table(&report);
    assert_eq!(our_namespaces(), Vec::<String>::new(), "namespaces left");
    (report, table, took)
}

/// [`verify_run`] that must also end within a minute: a probe left waiting, or a lab
/// that never comes down, fails here rather than hanging the run. (How fast verify is
/// is the benchmarks' to show: one of these took 1.3 s on an idle machine and 3.0 s on a
/// busy one.)
pub fn verify_quick(
    rs: &hostwall::ir::Ruleset,
    opts: &hostwall::verify::VerifyOptions,
) -> (hostwall::verify::VerifyReport, String) {
    let (report, table, took) = verify_run(rs, opts);
    assert!(
        took < std::time::Duration::from_secs(60),
        "verify took {took:?}"
    );
    (report, table)
}

/// [`verify_quick`] with the default options; fails, showing the table, unless every
/// probe passed.
pub fn verify_passes(rs: &hostwall::ir::Ruleset) -> (hostwall::verify::VerifyReport, String) {
    let (report, table) = verify_quick(rs, &hostwall::verify::VerifyOptions::default());
    assert!(report.all_passed(), "{table}");
    (report, table)
}

/// The names of the probes in `report` that failed, in report order.
pub fn failed_probes(report: &hostwall::verify::VerifyReport) -> Vec<&str> {
    report
        .probes
        .iter()
        .filter(|p| !p.pass)
        .map(|p| p.name.as_str())
        .collect()
}

/// The probe named `name` in `report`; panics when there is none.
pub fn probe<'a>(
    report: &'a hostwall::verify::VerifyReport,
    name: &str,
) -> &'a hostwall::verify::ProbeResult {
    report
        .probes
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no probe {name:?}"))
}

/// `text` written as an `--against` file (kept while the directory lives), and the
/// options that verify against it.
pub fn against_file(text: &str) -> (tempfile::TempDir, hostwall::verify::VerifyOptions) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("against.nft");
    std::fs::write(&file, text).expect("write");
    let opts = hostwall::verify::VerifyOptions {
        against: Some(file),
        ..hostwall::verify::VerifyOptions::default()
    };
    (dir, opts)
}

/// The compiled text of `policy` (table `table`) with `from` replaced by `to`, written
/// as an `--against` file: a ruleset with one planted defect.
pub fn mutant_against(
    policy: &str,
    table: &str,
    from: &str,
    to: &str,
) -> (tempfile::TempDir, hostwall::verify::VerifyOptions) {
    let text = hostwall::emit::text::render(&crate::support::corpus::compile_text(policy), table);
    assert!(text.contains(from), "{from}\n{text}");
    against_file(&text.replace(from, to))
}
