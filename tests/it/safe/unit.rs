//! packaging/hostwall.service and hostwall-nftables.service pass `systemd-analyze verify`.

use super::*;

#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/hostwall.service"
    ))
    .expect("packaging/hostwall.service");
    assert!(
        unit.contains("ExecStart=/usr/sbin/hostwall boot ")
            && unit.contains("ExecReload=/usr/sbin/hostwall apply "),
        "{unit}"
    );
    for (key, value) in [
        ("Type", "oneshot"),
        ("RemainAfterExit", "yes"),
        ("Before", "network-pre.target"),
        ("Wants", "network-pre.target"),
        ("After", "nftables.service"),
        ("StateDirectory", "hostwall"),
        ("Also", "hostwall-nftables.service"),
    ] {
        let found = unit
            .lines()
            .filter_map(|l| l.split_once('='))
            .any(|(k, v)| k == key && v.split_whitespace().any(|w| w == value));
        assert!(found, "unit lacks {key}={value}");
    }
    // verify needs the ExecStart binary to exist: point it at a copy of `true`.
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("hostwall");
    std::fs::copy("/bin/true", &bin).expect("copy /bin/true");
    let path = dir.path().join("hostwall.service");
    std::fs::write(
        &path,
        unit.replace("/usr/sbin/hostwall", &bin.display().to_string()),
    )
    .expect("write unit");
    let helper = dir.path().join("hostwall-nftables.service");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/packaging/hostwall-nftables.service"
        ),
        &helper,
    )
    .expect("packaging/hostwall-nftables.service");
    let out = match Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .arg(&helper)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!(
            "systemd-analyze not runnable ({e}): install the `systemd` package (CI: .ci/run)"
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    assert!(
        !stderr.contains("hostwall.service"),
        "warnings about the unit:\n{stderr}"
    );
}
