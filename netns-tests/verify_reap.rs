//! Namespaces of a verify run killed with SIGKILL (which no handler sees)
//! stay behind until the next verify reaps them; a live run's are never
//! touched.
//!
//! The runs are real `hostwall verify --against` processes, paused inside
//! their namespaces by a stand-in `nft` (first on their PATH) that reports
//! its pid and sleeps.

use crate::common::*;
use hostwall::compile::compile;
use hostwall::netns::{Netns, Owner, list};
use hostwall::verify::{VerifyOptions, verify};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `hostwall verify` paused while loading, and the namespaces it made.
struct Paused {
    child: Child,
    /// The stand-in nft (a `sleep`), which outlives a killed verify.
    sleeper: i32,
    names: Vec<String>,
}

impl Paused {
    fn start(dir: &Path, tag: &str) -> Paused {
        let bin = dir.join(format!("bin-{tag}"));
        std::fs::create_dir_all(&bin).expect("bin dir");
        let mark = dir.join(format!("{tag}.pid"));
        let nft = bin.join("nft");
        let script = format!(
            "#!/bin/sh\necho $$ > {m}.tmp && mv {m}.tmp {m}\nexec sleep 60\n",
            m = mark.display()
        );
        std::fs::write(&nft, script).expect("write nft");
        std::fs::set_permissions(&nft, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/kvm-host.policy");
        let child = Command::new(env!("CARGO_BIN_EXE_hostwall"))
            .arg("verify")
            .arg(policy)
            .arg("--against")
            .arg(&nft)
            .env("PATH", path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn hostwall verify");
        let deadline = Instant::now() + Duration::from_secs(20);
        let sleeper = loop {
            if let Ok(pid) = std::fs::read_to_string(&mark) {
                break pid.trim().parse().expect("pid");
            }
            assert!(Instant::now() < deadline, "{tag}: verify never reached nft");
            std::thread::sleep(Duration::from_millis(20));
        };
        let names = namespaces_of(child.id());
        // `--against` loads the file first, into what becomes the host namespace.
        assert_eq!(names.len(), 1, "{tag}: the host namespace: {names:?}");
        Paused {
            child,
            sleeper,
            names,
        }
    }

    fn signal(&mut self, sig: libc::c_int) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        self.child.wait().expect("wait");
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: the sleeper is the stand-in nft this test started, by its pid.
        unsafe { libc::kill(self.sleeper, libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever a failed assertion left: the owner is gone now.
        let _ = hostwall::netns::reap_orphans("hw-v");
    }
}

fn namespaces_of(pid: u32) -> Vec<String> {
    let prefix = format!("hw-v-{pid}-");
    list()
        .expect("list")
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

fn present(names: &[String]) -> Vec<String> {
    let all = list().expect("list");
    names.iter().filter(|n| all.contains(n)).cloned().collect()
}

#[test]
#[ignore = "needs root"]
fn sigkilled_verify_namespaces_are_reaped_by_the_next_run_not_a_live_ones() {
    crate::support::root::require();
    let _guard = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    // The live run starts first: a verify starting later would reap the orphans itself.
    let mut live = Paused::start(dir.path(), "live");
    let mut killed = Paused::start(dir.path(), "killed");
    killed.signal(libc::SIGKILL);
    assert_eq!(present(&killed.names), killed.names, "SIGKILL leaves them");
    // This process's pid with another start time: a pid since reused.
    let me = Owner::current();
    let start = me.start.expect("own start time");
    let reused = format!("hw-v-{}-{}-abc123", me.pid, start + 1);
    let _reused_guard = Netns::create(&reused).expect("create");
    // Another owner's namespace in the older name form, owner alive (pid 1).
    let old_form = format!("hw-v-1-{:06x}", std::process::id() & 0xff_ffff);
    let old_guard = Netns::create(&old_form).expect("create");

    let report = verify(&compile(&kvm_host()), &VerifyOptions::default()).expect("verify");
    assert!(report.all_passed());
    assert_eq!(
        present(&killed.names),
        Vec::<String>::new(),
        "orphans reaped"
    );
    assert_eq!(
        present(std::slice::from_ref(&reused)),
        Vec::<String>::new(),
        "reused pid"
    );
    assert_eq!(present(&live.names), live.names, "a live run's are kept");
    assert!(list().expect("list").contains(&old_form), "live old form");
    let note = report
        .notes
        .iter()
        .find(|n| n.starts_with("removed "))
        .expect("a note names what was reaped");
    for name in killed.names.iter().chain([&reused]) {
        assert!(note.contains(name.as_str()), "{note}");
    }
    assert!(!note.contains(&old_form), "{note}");
    assert_eq!(our_namespaces(), Vec::<String>::new());

    // The live run still cleans up after itself on SIGTERM.
    live.signal(libc::SIGTERM);
    assert_eq!(present(&live.names), Vec::<String>::new());
    let path = Path::new(hostwall::netns::NETNS_DIR).join(&old_form);
    hostwall::netns::run_in(&path, || ()).expect("the old-form namespace is intact");
    old_guard.remove().expect("remove the old-form namespace");
}
