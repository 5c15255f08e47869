//! `output { }` through check, compile and eval: what the host sends is judged by the
//! output chain (loopback, neighbour discovery and established/related always accepted,
//! then the rules, then the block's default: accept unless written), and the lockout
//! guard still sees the operator's SSH session through a closed output chain (its
//! answers are established) (issue #13 item 2).

use hostwall::check::{NoIncludes, check};
use hostwall::eval::{L4, Packet, evaluate};
use hostwall::ir::{CtState, Hook, L4Proto, RejectWith, Ruleset, Verdict};
use hostwall::safe::lockout::{Judgement, Probe, judge_with_eval};
use hostwall::source::SourceMap;

fn compile(text: &str) -> Ruleset {
    let mut map = SourceMap::new();
    let file = map.add("p", text.to_string());
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    let policy = policy.unwrap_or_else(|| panic!("{diags:?}"));
    hostwall::compile::compile(&policy)
}

/// A packet the host sends to `dst` out of `oif`.
fn out(dst: &str, oif: &str, l4: L4, ct: u32) -> Packet {
    let src = if dst.contains(':') {
        "2001:db8:ffff::1"
    } else {
        "198.18.0.1"
    };
    Packet {
        src: src.parse().unwrap_or_else(|e| panic!("{e}")),
        dst: dst.parse().unwrap_or_else(|e| panic!("{dst}: {e}")),
        iif: None,
        oif: Some(oif.into()),
        l4,
        ct,
    }
}

fn verdict(rs: &Ruleset, pkt: &Packet) -> Verdict {
    evaluate(rs, Hook::Output, pkt)
        .unwrap_or_else(|e| panic!("{e}"))
        .verdict
}

const CLOSED: &str = "policy p {
    allow ssh
    output {
        default drop
        allow tcp 443 to 192.0.2.0/24, 2001:db8::/32
        allow udp 53 out \"eth0\"
        reject tcp 25
    }
}
";

#[test]
fn output_rules_decide_what_the_host_sends() {
    let rs = compile(CLOSED);
    let new = CtState::NEW;
    let tcp = |dport| L4::Tcp { dport };
    let cases = [
        (out("192.0.2.9", "eth0", tcp(443), new), Verdict::Accept),
        (out("2001:db8::9", "eth1", tcp(443), new), Verdict::Accept),
        (out("198.51.100.1", "eth0", tcp(443), new), Verdict::Drop),
        (out("192.0.2.9", "eth0", tcp(444), new), Verdict::Drop),
        (
            out("8.8.8.8", "eth0", L4::Udp { dport: 53 }, new),
            Verdict::Accept,
        ),
        (
            out("8.8.8.8", "eth1", L4::Udp { dport: 53 }, new),
            Verdict::Drop,
        ),
        (
            out("8.8.8.8", "eth1", tcp(25), new),
            Verdict::Reject(RejectWith::TcpReset),
        ),
        // Always accepted: loopback, replies of connections, neighbour discovery.
        (out("127.0.0.1", "lo", tcp(9), new), Verdict::Accept),
        (
            out("198.51.100.1", "eth0", tcp(50000), CtState::ESTABLISHED),
            Verdict::Accept,
        ),
        (
            out(
                "2001:db8:1::1",
                "eth0",
                L4::Icmpv6 { kind: 135 },
                CtState::INVALID,
            ),
            Verdict::Accept,
        ),
    ];
    for (pkt, want) in cases {
        assert_eq!(verdict(&rs, &pkt), want, "{pkt:?}");
    }
    // The input chain is unchanged by the output block.
    let ssh_in = Packet::new_inbound(
        "203.0.113.5".parse().unwrap_or_else(|e| panic!("{e}")),
        "198.18.0.1".parse().unwrap_or_else(|e| panic!("{e}")),
        "eth0",
        tcp(22),
    );
    let d = evaluate(&rs, Hook::Input, &ssh_in).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.verdict, Verdict::Accept);
}

#[test]
fn without_a_default_the_output_chain_accepts_and_without_a_block_there_is_none() {
    let open = compile("policy p {\n    allow ssh\n    output {\n        drop tcp 25\n    }\n}\n");
    let smtp = out("192.0.2.1", "eth0", L4::Tcp { dport: 25 }, CtState::NEW);
    let web = out("192.0.2.1", "eth0", L4::Tcp { dport: 80 }, CtState::NEW);
    assert_eq!(verdict(&open, &smtp), Verdict::Drop);
    assert_eq!(verdict(&open, &web), Verdict::Accept, "default accept");
    let chain = open.table.chains.iter().find(|c| c.name == "output");
    let base = chain
        .and_then(|c| c.base)
        .unwrap_or_else(|| panic!("no output chain"));
    assert_eq!(base.policy, hostwall::ir::ChainPolicy::Accept);
    let none = compile("policy p {\n    allow ssh\n}\n");
    assert!(none.table.chains.iter().all(|c| c.name != "output"));
    assert_eq!(
        verdict(&none, &smtp),
        Verdict::Accept,
        "no chain on the hook"
    );
}

#[test]
fn the_lockout_guard_sees_ssh_through_a_closed_output_chain() {
    let rs = compile(CLOSED);
    let probe = Probe {
        src: "203.0.113.5".parse().unwrap_or_else(|e| panic!("{e}")),
        src_port: 51234,
        dst: "198.18.0.1".parse().unwrap_or_else(|e| panic!("{e}")),
        dst_port: 22,
        proto: L4Proto::Tcp,
        ct_state: CtState(CtState::ESTABLISHED),
        iif: Some("eth0".into()),
    };
    assert!(matches!(
        judge_with_eval(&rs, None, &probe),
        Judgement::Accepted
    ));
    // Without ssh in the input chain the guard refuses: the test above is not vacuous.
    let no_ssh =
        compile("policy p {\n    allow tcp 80\n    output {\n        default drop\n    }\n}\n");
    let fresh = Probe {
        ct_state: CtState(CtState::NEW),
        ..probe
    };
    assert!(matches!(
        judge_with_eval(&no_ssh, None, &fresh),
        Judgement::Refused { .. }
    ));
}
