//! Issue #11 item 2 in a real network namespace: `hostwall init` run inside it finds
//! the namespace's own `virbr0` bridge (and none in a namespace without one), the policy
//! it writes checks clean, applies, and answers a guest's DHCP and DNS on virbr0.

use crate::apply::{Env, exit, hostwall, stderr};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// `ip netns exec NS hostwall init` with a fake root whose /proc/net is the calling
/// process's (so the links are the namespace's) and an sshd stub on the PATH.
fn init_in(env: &Env) -> (std::process::Output, std::path::PathBuf) {
    let d = env.dir.path();
    let root = d.join("root");
    std::fs::create_dir_all(root.join("proc")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("/proc/self/net", root.join("proc/net"))
        .unwrap_or_else(|e| panic!("{e}"));
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bin.join("sshd"), "#!/bin/sh\necho 'port 22'\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(bin.join("sshd"), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    let config = d.join("etc");
    // PATH is the stub's alone, so `ip` is named by its full path.
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("ip");
    let out = Command::new(ip)
        .args([
            "netns",
            "exec",
            env.ns.name(),
            env!("CARGO_BIN_EXE_hostwall"),
            "init",
        ])
        .arg("--config-dir")
        .arg(&config)
        .arg("--system-root")
        .arg(&root)
        .env("PATH", &bin)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (out, config)
}

#[test]
#[ignore = "needs root"]
fn init_in_a_namespace_with_virbr0_fits_it_and_the_policy_serves_its_guests_issue11() {
    crate::support::root::require();
    let bare = Env::new("hw-init");
    let (out, _) = init_in(&bare);
    exit(&out, 0);
    assert!(
        stderr(&out).contains("libvirt: no network with a bridge found"),
        "{}",
        stderr(&out)
    );

    let env = Env::new("hw-init");
    let ip = |args: &[&str]| {
        let ok = Command::new("ip")
            .args(["netns", "exec", env.ns.name(), "ip"])
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?}");
    };
    ip(&["link", "add", "virbr0", "type", "bridge"]);
    ip(&["link", "set", "virbr0", "up"]);
    let (out, config) = init_in(&env);
    exit(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("  bridge virbr0 (no libvirt XML names it): DNS and DHCP from the host, forwarding needed\n"),
        "{err}"
    );
    assert!(err.contains("  sshd: tcp 22 (`sshd -T`)\n"), "{err}");
    let policy = config.join("host.policy");
    let p = policy.to_string_lossy();
    exit(&env.apply(&[&p]), 0);
    for pkt in [
        "udp 0.0.0.0:68 -> 255.255.255.255:67 on virbr0 new",
        "udp 192.168.122.50:5353 -> 192.168.122.1:53 on virbr0 new",
    ] {
        let o = hostwall(
            &["explain", pkt, "--live", "--netns", env.ns.name(), &p],
            &[],
        );
        exit(&o, 0);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(text.contains("verdict: accept"), "{pkt}: {text}");
    }
}
