//! `limit ... per source`: the dynamic sets keyed by source address and the statement that
//! keeps one token bucket per address in them.

use super::Lowering;
use super::parts::limit_stmt;
use crate::check::validate::source_timeout_ms;
use crate::ir::{Match, NfProto, Packed, SetKey, Stmt};
use crate::model::{IpFamily, Rate};
use crate::source::Span;

/// One way to emit a group's rules for one address family: its family (`None`: both), the
/// statements before the verdict, and a family match the rules need first.
pub(super) type Variant = (Option<IpFamily>, Vec<Stmt>, Option<Match>);

impl Lowering {
    /// The variants of a group: as is without a per-source limit; with one, one per family
    /// (the family `fam` that addresses fix, else both), each updating its own set.
    pub(super) fn source_limit_variants(
        &mut self,
        stem: &str,
        limit: Option<Rate>,
        stmts: &[Stmt],
        fam: Option<IpFamily>,
        sets: &mut [Option<String>; 2],
        origin: &[Span],
    ) -> Vec<Variant> {
        let Some(rate) = limit else {
            return vec![(fam, stmts.to_vec(), None)];
        };
        let fams = fam.map_or(vec![IpFamily::V4, IpFamily::V6], |f| vec![f]);
        fams.into_iter()
            .map(|f| {
                let slot = &mut sets[usize::from(f == IpFamily::V6)];
                let set = match slot {
                    Some(name) => name.clone(),
                    None => {
                        let name = self.source_set(stem, f, rate, origin);
                        *slot = Some(name.clone());
                        name
                    }
                };
                let mut all = vec![source_limit_stmt(set, f, rate)];
                all.extend(stmts.iter().cloned());
                let proto = fam.is_none().then_some(Match::NfProto(nfproto(f)));
                (Some(f), all, proto)
            })
            .collect()
    }

    /// A new dynamic set for the sources of one family, expiring entries once their bucket
    /// has refilled.
    fn source_set(&mut self, stem: &str, f: IpFamily, rate: Rate, origin: &[Span]) -> String {
        let (suffix, key) = match f {
            IpFamily::V4 => ("limit4", SetKey::Ipv4Addr),
            IpFamily::V6 => ("limit6", SetKey::Ipv6Addr),
        };
        let name = self.set(
            &format!("{stem}_{suffix}"),
            key,
            false,
            Packed::default(),
            origin.to_vec(),
        );
        let timeout = source_timeout_ms(rate.count, rate.unit.seconds(), rate.burst);
        if let Some(set) = self.sets.last_mut() {
            set.timeout_ms = Some(timeout);
        }
        name
    }
}

fn nfproto(f: IpFamily) -> NfProto {
    match f {
        IpFamily::V4 => NfProto::Ipv4,
        IpFamily::V6 => NfProto::Ipv6,
    }
}

/// `update @set { ip saddr limit rate N/unit burst B packets }`.
fn source_limit_stmt(set: String, f: IpFamily, rate: Rate) -> Stmt {
    match limit_stmt(rate) {
        Stmt::Limit { rate, unit, burst } => Stmt::SourceLimit {
            set,
            family: nfproto(f),
            rate,
            unit,
            burst,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use crate::check::{NoIncludes, check};
    use crate::source::SourceMap;

    /// The rule lines of `text`'s compiled input chain that carry a limit.
    fn limited_lines(text: &str) -> Vec<String> {
        let mut map = SourceMap::new();
        let file = map.add("t.policy", text.to_string());
        let (policy, diags) = check(&mut map, file, None, &NoIncludes);
        let policy = policy.unwrap_or_else(|| panic!("policy must check: {diags:?}"));
        let out = crate::emit::text::render(&crate::compile::compile(&policy), "t.policy");
        let lines = out.lines().filter(|l| l.contains(" limit rate "));
        lines.map(|l| l.trim().to_string()).collect()
    }

    /// The distinct sets the lines' `update @SET` statements name.
    fn source_sets(lines: &[String]) -> std::collections::BTreeSet<&str> {
        let sets = lines.iter().filter_map(|l| l.split("update @").nth(1));
        sets.filter_map(|rest| rest.split(' ').next()).collect()
    }

    /// Two limited rules that only their ports tell apart each keep their own buckets:
    /// never one rule with both ports, never one source set for both (issue #13: a
    /// source that used up port 22 was refused on port 2222 too).
    #[test]
    fn limited_rules_never_share_a_bucket_issue13() {
        let lines = limited_lines(
            "policy p {
    allow tcp 22 limit 3/minute per source
    allow tcp 2222 limit 3/minute per source
    allow udp 53 from 10.0.0.0/8 limit 1/second per source burst 2
    allow udp 54 from 10.0.0.0/8 limit 1/second per source burst 2
    allow tcp 8000 limit 3/minute
    allow tcp 8001 limit 3/minute
}
",
        );
        let expect = [
            "ipv4 tcp dport 22 update @",
            "ipv6 tcp dport 22 update @",
            "ipv4 tcp dport 2222 update @",
            "ipv6 tcp dport 2222 update @",
            "udp dport 53 update @",
            "udp dport 54 update @",
            "tcp dport 8000 limit rate",
            "tcp dport 8001 limit rate",
        ];
        assert_eq!(lines.len(), expect.len(), "{lines:#?}");
        for (line, want) in lines.iter().zip(expect) {
            assert!(line.contains(want), "{want:?} in {line:?}\nall: {lines:#?}");
        }
        assert_eq!(
            source_sets(&lines).len(),
            6,
            "a set per rule and family: {lines:#?}"
        );
    }

    /// One rule keeps one source set for everything it matches: both protocols and both
    /// interfaces of `allow tcp 25, udp 25 on ...` update the same set.
    #[test]
    fn one_rule_keeps_one_source_set_per_family() {
        let lines = limited_lines(
            "policy p {
    allow dns on \"eth0\", \"eth1\" from 10.0.0.0/8 limit 3/minute per source
}
",
        );
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert_eq!(source_sets(&lines).len(), 1, "{lines:#?}");
    }
}
