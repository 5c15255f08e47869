//! An in-place apply from a process that may not size its receive queue past
//! `net.core.rmem_max`: root of a user namespace that owns its network namespace (a
//! rootless container), where `SO_RCVBUFFORCE` is refused. Its queue cannot hold the
//! kernel's echo of every rule the change puts, so the client sends the batch without
//! asking for them (`nft::client::send_batch`), and the table record is written from a
//! dump of our table's rules instead (`apply/handles.rs`). The next in-place change, by
//! the handles of that record, must leave exactly the table a full apply leaves.

use std::path::Path;
use std::process::Command;

/// `unshare -Urn sh -c SCRIPT` in `dir`: exit code and standard output and error.
fn in_user_namespace(dir: &Path, script: &str) -> (i32, String) {
    let out = Command::new("unshare")
        .args(["-Urn", "sh", "-c", script])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("unshare: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// What follows `marker` in `out`, up to the next marker line.
fn section<'a>(out: &'a str, marker: &str) -> &'a str {
    let from = out
        .find(marker)
        .map(|i| i + marker.len())
        .unwrap_or_else(|| panic!("no {marker} in:\n{out}"));
    let rest = &out[from..];
    &rest[..rest.find("\n==").unwrap_or(rest.len())]
}

#[test]
#[ignore = "needs root"]
fn an_in_place_apply_whose_queue_cannot_hold_the_echoes_is_recorded_from_a_dump_issue14() {
    crate::support::root::require();
    let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("net.core.rmem_max unreadable"));
    // Rules enough that their echoes (at least 8 KiB of queue each, nft/client.rs) need
    // more than the largest queue SO_RCVBUF grants (twice rmem_max), and no more than
    // the 4,096 an in-place change asks echoes for (apply/handles.rs): so the client
    // must take the request back.
    let put = 2 * rmem_max / 8192 + 100;
    assert!(
        put <= 4_000,
        "rmem_max {rmem_max}: an in-place change of at most 4,096 rules cannot outgrow it"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let rules = |n| hostwall::bench_support::scaling("rules", n).unwrap_or_default();
    let (small, big) = (rules(10), rules(10 + put));
    // One rule inserted mid-way: placed by the handles the record holds.
    let mut lines: Vec<&str> = big.lines().collect();
    lines.insert(lines.len() / 2, "    allow tcp 7 from 192.0.2.1");
    let mid = lines.join("\n") + "\n";
    for (name, text) in [("small", &small), ("big", &big), ("mid", &mid)] {
        std::fs::write(dir.path().join(format!("{name}.policy")), text)
            .unwrap_or_else(|e| panic!("write: {e}"));
    }
    let bin = env!("CARGO_BIN_EXE_hostwall");
    let d = dir.path().display();
    let common = format!(
        "exec 2>&1; mkdir -p -m 700 st lkg; H={bin}; C='--state-dir {d}/st --lkg-dir {d}/lkg \
         --journal-socket {d}/j.sock --syslog-socket {d}/s.sock'"
    );
    let (code, out) = in_user_namespace(
        dir.path(),
        &format!(
            "set -e; {common}; $H apply $C small.policy; echo ==BIG; $H apply $C big.policy; \
             echo ==MID; $H apply $C mid.policy; echo ==DIFF; $H diff --full --state-dir {d}/st \
             mid.policy; echo ==LIST; nft list table inet hostwall"
        ),
    );
    assert_eq!(code, 0, "{out}");
    // The fallback was taken: the handles came from a dump, not from echoes; the one
    // rule put next is echoed.
    let dumped = "handles read back by a dump of our rules";
    let (big, mid) = (section(&out, "==BIG"), section(&out, "==MID"));
    let want = format!("incremental: {} rules added", put);
    assert!(big.contains(&want) && big.contains(dumped), "{out}");
    assert!(mid.contains("incremental: 1 rules added"), "{out}");
    assert!(!mid.contains(dumped), "{out}");
    assert!(section(&out, "==DIFF").contains("in sync"), "{out}");
    // The same policy applied whole in a namespace of its own.
    let (code, whole) = in_user_namespace(
        dir.path(),
        &format!(
            "set -e; rm -rf st lkg; {common}; $H apply $C mid.policy; echo ==LIST; \
             nft list table inet hostwall"
        ),
    );
    assert_eq!(code, 0, "{whole}");
    let listed = section(&out, "==LIST");
    assert!(listed.contains("192.0.2.1"), "{listed}");
    assert_eq!(listed, section(&whole, "==LIST"));
}
