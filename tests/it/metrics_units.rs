//! packaging/hostwall-metrics.service and .timer: `systemd-analyze verify` accepts the
//! pair, and the service writes the textfile where Debian's node_exporter reads it.

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
