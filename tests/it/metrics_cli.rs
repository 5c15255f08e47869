//! `hostwall metrics` and `diff --check` without a kernel: no policy is UNKNOWN (exit 3)
//! for the check and a textfile saying `hostwall_up 0` for metrics; the packaged
//! hostwall-metrics.service and .timer pass `systemd-analyze verify`, and the service
//! writes the textfile where Debian's node_exporter reads it.

use crate::support::cli::{hostwall, text};

use std::process::Command;

fn packaged(name: &str) -> String {
    let path = format!("{}/packaging/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn has(unit: &str, key: &str, value: &str) -> bool {
    unit.lines()
        .filter_map(|l| l.split_once('='))
        .any(|(k, v)| k == key && v.split_whitespace().any(|w| w == value))
}

#[test]
fn metrics_service_and_timer_verify_and_write_the_textfile_dir() {
    let service = packaged("hostwall-metrics.service");
    let timer = packaged("hostwall-metrics.timer");
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(words[..2], ["/usr/sbin/hostwall", "metrics"], "{exec}");
    let out = words.iter().position(|w| *w == "-o").map(|i| words[i + 1]);
    assert_eq!(out, Some("/var/lib/prometheus/node-exporter/hostwall.prom"));
    assert!(has(&service, "Type", "oneshot"));
    assert!(has(
        &service,
        "ReadWritePaths",
        "-/var/lib/prometheus/node-exporter"
    ));
    assert!(has(&timer, "WantedBy", "timers.target"));
    assert!(has(&timer, "OnUnitActiveSec", "1min"));
    // verify needs the ExecStart binary to exist: point it at a copy of `true`.
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("hostwall");
    std::fs::copy("/bin/true", &bin).expect("copy /bin/true");
    let unit = dir.path().join("hostwall-metrics.service");
    let fake = service.replace("/usr/sbin/hostwall", &bin.display().to_string());
    std::fs::write(&unit, fake).expect("write unit");
    let tpath = dir.path().join("hostwall-metrics.timer");
    std::fs::write(&tpath, &timer).expect("write timer");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .arg(&tpath)
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze not runnable ({e}): install `systemd`"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    assert!(!stderr.contains("hostwall-metrics"), "warnings:\n{stderr}");
}

#[test]
fn without_a_policy_the_check_is_unknown_and_metrics_say_up_0() {
    let empty = tempfile::tempdir().expect("tempdir");
    let dir = empty.path().to_string_lossy().into_owned();
    let out = hostwall(&["--config-dir", &dir, "diff", "--check"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "HOSTWALL UNKNOWN - no policy to compare with\n"
    );
    let state = empty.path().join("state").to_string_lossy().into_owned();
    let args = [
        "--config-dir",
        &dir,
        "metrics",
        "--netns",
        "hw-none-metrics-it",
    ];
    let out = hostwall(&[&args[..], &["--state-dir", &state]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let prom = text(&out.stdout);
    for line in [
        "hostwall_up 0",
        "hostwall_scrape_error{part=\"policy\"} 1",
        "hostwall_scrape_error{part=\"record\"} 0",
    ] {
        assert!(prom.lines().any(|l| l == line), "no {line:?} in:\n{prom}");
    }
    assert!(
        prom.starts_with("# hostwall: cannot read the policy: "),
        "{prom}"
    );
    assert!(text(&out.stderr).contains("cannot read the policy"));
    let out = hostwall(&["diff", "--check", "--format", "json", "x.policy"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--check and --format exclude each other"
    );
}
