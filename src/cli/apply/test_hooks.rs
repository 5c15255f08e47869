//! Debug builds only: `HOSTWALL_TEST_BREAK_RULE=COMMENT` makes the first rule with that
//! comment (a service name) one the kernel refuses (a log prefix over its 127-byte
//! limit) while keeping the rule's policy line, so the end-to-end tests can prove
//! through the binary that a refused batch changes nothing and is reported at
//! `file:line:col`. The checker rejects every such policy, so no honest policy text
//! reaches the kernel and fails there.
//!
//! `HOSTWALL_TEST_APPEND_AFTER_CHECK=TEXT` appends TEXT to the policy file once it is
//! checked and compiled: an edit made while the apply runs, so what is read back of a
//! shed text (a refusal's excerpt, the last known good) is not the text checked.
//!
//! `HOSTWALL_TEST_LOSE_WAY_HOME=1`: see [`lose_way_home`].

use hostwall::ir::{Ruleset, Stmt};

pub fn break_rule(mut rs: Ruleset) -> Ruleset {
    let Ok(comment) = std::env::var("HOSTWALL_TEST_BREAK_RULE") else {
        return rs;
    };
    let rule = rs
        .table
        .chains
        .iter_mut()
        .flat_map(|c| c.rules.iter_mut())
        .find(|r| r.comment.as_deref() == Some(comment.as_str()));
    if let Some(rule) = rule {
        rule.stmts.push(Stmt::Log {
            prefix: Some("x".repeat(200)),
            group: None,
            level: hostwall::ir::LogLevel::Warn,
        });
    }
    rs
}

pub fn append_after_check(policy: &str) {
    let Ok(text) = std::env::var("HOSTWALL_TEST_APPEND_AFTER_CHECK") else {
        return;
    };
    use std::io::Write;
    // A failure leaves the file as it was: the test that set this then fails on what
    // it expects to see.
    let _ = (std::fs::OpenOptions::new().append(true).open(policy))
        .and_then(|mut f| f.write_all(text.as_bytes()));
}

/// `HOSTWALL_TEST_LOSE_WAY_HOME=1` (with `--netns`): the first step in the namespace drops
/// CAP_SYS_ADMIN from its thread's effective set, so the thread cannot move back to its
/// own namespace afterwards. The netns module must then abort the process rather than
/// let later steps run in the namespace the thread is left in.
pub fn lose_way_home(netns: Option<&str>) {
    if std::env::var_os("HOSTWALL_TEST_LOSE_WAY_HOME").is_none() || netns.is_none() {
        return;
    }
    let dropped = hostwall::netns::run_named(netns, drop_sys_admin);
    eprintln!(
        "hostwall: test hook: came back from the namespace without CAP_SYS_ADMIN: {dropped:?}"
    );
}

/// Clears CAP_SYS_ADMIN in the calling thread's effective set; whether that worked.
fn drop_sys_admin() -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_SYS_ADMIN: u32 = 21;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget and capset read the header and two data structs of the layout the
    // kernel defines for version 3, owned here; pid 0 is the calling thread, and the
    // change is to that thread's own capabilities.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return false;
        }
        data[0].effective &= !(1 << CAP_SYS_ADMIN);
        libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) == 0
    }
}
