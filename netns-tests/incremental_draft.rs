//! The table record a full replace drafts while its batch is in the kernel
//! (`apply/trusted/write.rs`), when the apply fails after the send: the sysctl step
//! fails once the batch is committed, the table is rolled back, and the draft goes with
//! the failed apply. The old record is left as it was, no temp file is left beside it,
//! and the next apply does not trust the old record (the rollback moved the generation):
//! it reads our table and leaves exactly the policy.

use crate::incremental::{blocklist, drift, listing, opts};
use crate::support::sysctl::{SysctlTree, forwarding};
use hostwall::apply::{ApplyError, ApplyOptions, PlanBasis, apply, trusted};
use hostwall::netns::Netns;
use std::path::Path;

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = (std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{e}")))
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    n.sort();
    n
}

#[test]
#[ignore = "needs root"]
fn a_draft_of_an_apply_that_fails_after_its_send_leaves_the_old_record_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-draft").unwrap_or_else(|e| panic!("netns: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let record = trusted::path(&dir.path().join("state"), Some("lab"));
    // 40,000 addresses, none adjacent: over the size drafted.
    let policy = |k: u32| {
        let addrs: Vec<String> = (k..k + 40_000)
            .map(|i| std::net::Ipv4Addr::from(0x0a06_0000 + 2 * i).to_string())
            .collect();
        blocklist(&addrs, None)
    };
    assert!(trusted::elements_len(&policy(0)) >= trusted::DRAFT_FROM);
    let with_record = |full: bool| ApplyOptions {
        table_record: Some(record.clone()),
        ..opts(&ns, full)
    };
    let first = apply(&policy(0), &with_record(true)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((first.record_error, first.record_drafted), (None, true));
    let kept = std::fs::read(&record).unwrap_or_else(|e| panic!("{e}"));
    let table = listing(&ns, "hostwall");

    let sysctls = SysctlTree::new();
    let failing = ApplyOptions {
        sysctl_root: Some(sysctls.path().to_path_buf()),
        ..with_record(true)
    };
    let err = apply(&forwarding(policy(1)), &failing).err();
    let msg = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        matches!(err, Some(ApplyError::Sysctl { rollback: None, .. })),
        "{msg}"
    );
    assert_eq!(listing(&ns, "hostwall"), table, "the table is rolled back");
    let state = record.parent().unwrap_or_else(|| panic!("no directory"));
    assert!(
        std::fs::read(&record).unwrap_or_default() == kept,
        "the old record is left"
    );
    assert_eq!(names(state), vec!["applied-lab.table".to_string()]);

    let r = apply(&policy(2), &with_record(false)).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        r.basis,
        PlanBasis::Record,
        "the rollback moved the generation"
    );
    assert_eq!(r.record_error, None);
    assert_eq!(drift(&policy(2), &ns), vec![]);
}
