//! Live read-back: load a table with the real `nft -f` inside a throwaway
//! network namespace, read it back with `hostwall::live::read`, and compare with the IR
//! it was written from. Every test makes its own `hw-live-<pid>-<n>` namespace, removed
//! on every path (the guard's Drop also runs when an assertion panics).

use crate::support::build::ir::{base, every_form, rule, ruleset, set};
use crate::support::nft;
use hostwall::diff::{self, CanDrop, Kind};
use hostwall::ir::{
    AddrMatch, ChainPolicy, Hook, Interval, Match, Rule, Ruleset, SetKey, Stmt, Table, Verdict,
};
use hostwall::live;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A network namespace that exists for the guard's lifetime.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = format!(
            "hw-live-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(st.success(), "ip netns add {name} failed");
        Netns { name }
    }

    /// Runs `nft -f -` in the namespace with `script` on stdin; panics with nft's stderr.
    pub fn nft(&self, script: &str) {
        nft::load(nft::At::Netns(&self.name), script);
    }

    pub fn read(&self, table: &str) -> live::RulesetRead {
        live::read(table, Some(&self.name)).expect("live read")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The IR with spans cleared: decoded rules and sets carry none.
pub fn without_origins(mut t: Table) -> Table {
    for s in &mut t.sets {
        s.origin.clear();
    }
    for c in &mut t.chains {
        for r in &mut c.rules {
            r.origin.clear();
        }
    }
    t
}

/// Loads `rs` with `nft -f` of the text emitter's output, reads it back and asserts the
/// decoded table equals the IR and the diff is empty.
pub fn assert_round_trip(ns: &Netns, rs: &Ruleset) {
    ns.nft(&hostwall::emit::text::render(rs, "test"));
    let snap = ns.read(&rs.table.name);
    assert!(snap.unmodelled.is_empty(), "{:?}", snap.unmodelled);
    let got = snap.table.clone().expect("table present");
    let want = without_origins(rs.table.clone());
    for (w, g) in want.chains.iter().zip(&got.chains) {
        for (i, (wr, gr)) in w.rules.iter().zip(&g.rules).enumerate() {
            assert_eq!(wr, gr, "chain {} rule {}", w.name, i + 1);
        }
    }
    assert_eq!(got, want);
    let changes = diff::diff(rs, &snap.into_live(Vec::new()));
    assert!(changes.is_empty(), "{changes:#?}");
}

#[test]
#[ignore = "needs root"]
fn round_trip_every_form() {
    crate::support::root::require();
    let ns = Netns::new();
    assert_round_trip(&ns, &every_form());
}

#[test]
#[ignore = "needs root"]
fn absent_table_and_missing_namespace() {
    crate::support::root::require();
    let ns = Netns::new();
    let snap = ns.read("hostwall");
    assert_eq!(snap.table, None);
    assert!(snap.foreign.is_empty());
    let err = live::read("hostwall", Some("hw-live-no-such-ns")).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
#[ignore = "needs root"]
fn foreign_rule_is_kept_as_foreign_text() {
    crate::support::root::require();
    let ns = Netns::new();
    let rs = every_form();
    ns.nft(&hostwall::emit::text::render(&rs, "test"));
    ns.nft(
        "add rule inet hostwall input meta mark 0x1 accept\n\
         insert rule inet hostwall input tcp dport { 1, 2 } accept\n\
         add rule inet hostwall input tcp dport != 22 counter drop\n",
    );
    let snap = ns.read("hostwall");
    let input = &snap.table.as_ref().expect("table").chains[0];
    let foreign: Vec<&Rule> = input
        .rules
        .iter()
        .filter(|r| matches!(r.stmts.as_slice(), [Stmt::Foreign(_)]))
        .collect();
    assert_eq!(foreign.len(), 3, "{:#?}", input.rules);
    let text = |r: &Rule| match &r.stmts[0] {
        Stmt::Foreign(t) => t.clone(),
        _ => unreachable!(),
    };
    assert!(
        text(&input.rules[0]).contains("lookup reg 1 set __set"),
        "{}",
        text(&input.rules[0])
    );
    let last = input.rules.len();
    assert!(text(&input.rules[last - 2]).contains("meta load mark"));
    assert!(text(&input.rules[last - 1]).contains("cmp neq"));
    assert!(text(&input.rules[last - 1]).contains("[ counter ]"));
    let changes = diff::diff(&rs, &snap.into_live(Vec::new()));
    let added: Vec<_> = changes
        .iter()
        .filter(|c| c.kind == Kind::RuleAdded)
        .collect();
    assert_eq!(added.len(), 3, "{changes:#?}");
    assert_eq!(
        added.iter().map(|c| c.position).collect::<Vec<_>>(),
        vec![Some(1), Some(last - 1), Some(last)]
    );
}

#[test]
#[ignore = "needs root"]
fn foreign_tables_base_chains() {
    crate::support::root::require();
    let ns = Netns::new();
    ns.nft(
        "table ip fw {
  chain in {
    type filter hook input priority 0; policy drop;
  }
}
table inet docker {
  chain dkfw {
    type filter hook forward priority 5; policy accept;
    jump sub
  }
  chain sub {
    ip saddr 1.2.3.4 reject
  }
}
table ip6 quiet {
  chain out {
    type filter hook output priority -10; policy accept;
    counter
  }
}
table netdev nd {
}
",
    );
    let snap = ns.read("hostwall");
    assert_eq!(snap.table, None);
    let mut got: Vec<_> = snap
        .foreign
        .iter()
        .map(|f| {
            (
                f.family.as_str(),
                f.table.as_str(),
                f.chain.as_str(),
                f.head.hook.as_str(),
                f.head.priority,
                f.head.policy.as_str(),
                f.judgement.can_drop,
            )
        })
        .collect();
    got.sort_by_key(|g| g.1);
    assert_eq!(
        got,
        vec![
            (
                "inet",
                "docker",
                "dkfw",
                "forward",
                5,
                "accept",
                CanDrop::Yes
            ),
            ("ip", "fw", "in", "input", 0, "drop", CanDrop::Yes),
            ("ip6", "quiet", "out", "output", -10, "accept", CanDrop::No),
        ]
    );
    let docker = snap.foreign.iter().find(|f| f.table == "docker");
    assert_eq!(
        docker.map(|f| f.judgement.why.as_str()),
        Some("rule 1 of chain sub: reject"),
        "the reject is found through the jump"
    );
}

#[test]
#[ignore = "needs root"]
fn genid_changes_after_an_nft_change() {
    crate::support::root::require();
    let ns = Netns::new();
    let g1 = live::genid(Some(&ns.name)).expect("genid");
    assert_eq!(live::genid(Some(&ns.name)).expect("genid"), g1);
    ns.nft("table inet hostwall { }\n");
    let g2 = live::genid(Some(&ns.name)).expect("genid");
    assert_ne!(g1, g2);
    assert_eq!(ns.read("hostwall").genid, g2);
}

/// A table whose one ipv4 set holds `n` separate single addresses (10.0.0.0, 10.0.0.4, ...).
pub fn big_set(n: u128) -> Ruleset {
    let start = 0x0a00_0000u128;
    let elements = (0..n).map(|i| Interval::single(start + 4 * i)).collect();
    let rules = vec![rule(
        vec![Match::Saddr(AddrMatch::Set4("big_v4".into()))],
        vec![],
        Some(Verdict::Accept),
    )];
    ruleset(
        vec![set("big_v4", SetKey::Ipv4Addr, elements)],
        vec![base("input", Hook::Input, ChainPolicy::Drop, rules)],
    )
}

#[test]
#[ignore = "needs root"]
fn hundred_thousand_elements_and_one_changed() {
    crate::support::root::require();
    let ns = Netns::new();
    let rs = big_set(100_000);
    assert_round_trip(&ns, &rs);
    // Replace 10.0.1.0 (element 64) by 10.0.1.2, which touches no other element.
    ns.nft(
        "delete element inet hostwall big_v4 { 10.0.1.0 }\n\
         add element inet hostwall big_v4 { 10.0.1.2 }\n",
    );
    let snap = ns.read("hostwall");
    assert_eq!(
        snap.table.as_ref().expect("table").sets[0].elements.len(),
        100_000
    );
    let changes = diff::diff(&rs, &snap.into_live(Vec::new()));
    let got: Vec<_> = changes
        .iter()
        .map(|c| (c.kind, c.expected.as_deref(), c.actual.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Kind::ElementMissing, Some("10.0.1.0"), None),
            (Kind::ElementExtra, None, Some("10.0.1.2")),
        ]
    );
}
