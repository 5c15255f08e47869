//! Issue #12 item 1 without root: `apply --format json` of a policy with errors, of a
//! file that cannot be read, and `status --format json` with nothing pending each print
//! one document valid for its schema (docs/schema/), with every error placed.

use crate::support::cli::hostwall;
use crate::support::schema::document;

fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// `hostwall apply --format json` with a private state dir and system root; nothing in
/// these cases reaches the kernel.
fn apply(dir: &std::path::Path, policy: &str) -> std::process::Output {
    let state = dir.join("state").to_string_lossy().into_owned();
    let root = dir.join("root").to_string_lossy().into_owned();
    hostwall(&[
        "apply",
        "--format",
        "json",
        "--state-dir",
        &state,
        "--system-root",
        &root,
        policy,
    ])
}

#[test]
fn apply_json_places_every_policy_error_issue12() {
    let dir = private_dir();
    for (text, places) in [
        (
            "policy p {\n  allow sshh\n  allow tcp 70000\n}\n",
            vec![(2, 9, "E0101"), (3, 13, "E0201")],
        ),
        ("policy p {\n  default maybe\n}\n", vec![(2, 11, "E0001")]),
    ] {
        let p = dir.path().join("bad.policy");
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        let out = apply(dir.path(), &p.to_string_lossy());
        assert_eq!(out.status.code(), Some(1));
        let doc = document("apply", &out);
        let found: Vec<(u64, u64, &str)> = doc["diagnostics"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["line"].as_u64().unwrap_or(0),
                            e["column"].as_u64().unwrap_or(0),
                            e["code"].as_str().unwrap_or(""),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(found, places, "{doc:#}");
        let first = &doc["diagnostics"][0];
        assert_eq!(first["file"], p.display().to_string(), "{doc:#}");
        assert!(first["end_column"].as_u64() > first["column"].as_u64());
        assert_eq!(doc["error"]["kind"], "policy", "{doc:#}");
        assert_eq!(doc["policy"], p.display().to_string(), "{doc:#}");
        assert_eq!(doc["changed"], false);
        assert!(doc.get("generation").is_none(), "{doc:#}");
    }
}

#[test]
fn apply_json_says_why_a_policy_cannot_be_read_issue12() {
    let dir = private_dir();
    let missing = dir.path().join("missing.policy");
    let out = apply(dir.path(), &missing.to_string_lossy());
    assert_eq!(out.status.code(), Some(2));
    let doc = document("apply", &out);
    let msg = doc["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(&*missing.to_string_lossy()), "{doc:#}");
    assert_eq!(doc["error"]["kind"], "input", "{doc:#}");
    // A directory is refused the same way.
    let out = apply(dir.path(), &dir.path().to_string_lossy());
    assert_eq!(out.status.code(), Some(2));
    let doc = document("apply", &out);
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{doc:#}"
    );
}

#[test]
fn status_json_with_nothing_pending_issue12() {
    let dir = private_dir();
    let state = dir.path().join("state").to_string_lossy().into_owned();
    let log = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    let out = hostwall(&[
        "status",
        "--format",
        "json",
        "--state-dir",
        &state,
        "--journal-socket",
        &log("j.sock"),
        "--syslog-socket",
        &log("s.sock"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = document("status", &out);
    assert_eq!(doc["pending"], false);
    assert_eq!(doc["result"], "nothing-pending");
    // Fields that do not apply are left out, never null (docs/json.md).
    let keys: Vec<&str> = doc
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for absent in ["change", "last", "netns", "error"] {
        assert!(!keys.contains(&absent), "{absent}: {doc:#}");
    }
    assert_eq!(doc["command"], "status");
    assert_eq!(doc["schema"], 1);
    assert!(doc["host"].is_string(), "{doc:#}");
}
