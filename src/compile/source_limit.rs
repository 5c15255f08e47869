//! `limit ... per source`: the dynamic sets keyed by source address and the statement that
//! keeps one token bucket per address in them.

use super::Lowering;
use super::parts::limit_stmt;
use crate::check::validate::source_timeout_ms;
use crate::ir::{Match, NfProto, SetKey, Stmt};
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
            Vec::new(),
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
