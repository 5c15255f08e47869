//! A rule's `limit`: the lockout guard never vouches for an SSH session that only a rate
//! limit admits (anyone's flood can use a global limit up), and does when an unlimited
//! rule admits it first (issue #13 item 2).

use hostwall::check::{NoIncludes, check};
use hostwall::ir::{CtState, L4Proto, Ruleset};
use hostwall::safe::lockout::{Judgement, Probe, judge_with_eval};
use hostwall::source::SourceMap;

fn compile(text: &str) -> Ruleset {
    let mut map = SourceMap::new();
    let file = map.add("p", text.to_string());
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    hostwall::compile::compile(&policy.unwrap_or_else(|| panic!("{diags:?}")))
}

fn ssh_from(src: &str) -> Probe {
    Probe {
        src: src.parse().unwrap_or_else(|e| panic!("{e}")),
        src_port: 50000,
        dst: "198.18.0.1".parse().unwrap_or_else(|e| panic!("{e}")),
        dst_port: 22,
        proto: L4Proto::Tcp,
        ct_state: CtState(CtState::NEW),
        iif: Some("eth0".into()),
    }
}

#[test]
fn the_lockout_guard_refuses_a_session_only_a_rate_limit_admits() {
    let limited = compile("policy p {\n    allow ssh limit 10/minute\n}\n");
    match judge_with_eval(&limited, None, &ssh_from("203.0.113.5")) {
        Judgement::Refused { by, .. } => assert!(by.contains("rate limit"), "{by}"),
        other => panic!("a limited ssh rule was vouched for: {other:?}"),
    }
    let mgmt_first = compile(
        "policy p {\n    allow ssh from 203.0.113.0/24\n    allow ssh limit 10/minute\n}\n",
    );
    assert!(matches!(
        judge_with_eval(&mgmt_first, None, &ssh_from("203.0.113.5")),
        Judgement::Accepted
    ));
    assert!(matches!(
        judge_with_eval(&mgmt_first, None, &ssh_from("198.51.100.5")),
        Judgement::Refused { .. }
    ));
}

/// `explain` does not read a limited rule as a sure accept: the packet "may be accepted
/// or refused", and the limit is named as what it depends on.
#[test]
fn explain_says_a_limited_accept_is_unknown() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = dir.path().join("l.policy");
    std::fs::write(
        &p,
        "policy p {\n    allow ssh limit 3/minute\n    allow tcp 80\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let explain = |packet: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hostwall"))
            .args(["explain", packet])
            .arg(&p)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ssh = explain("tcp 203.0.113.7 -> 192.0.2.1:22 on eth0 new");
    assert!(ssh.contains("verdict: unknown"), "{ssh}");
    assert!(ssh.contains("limit rate 3/minute"), "{ssh}");
    let web = explain("tcp 203.0.113.7 -> 192.0.2.1:80 on eth0 new");
    assert!(web.contains("verdict: accepted"), "{web}");
}
