//! What a rule's matches say: [`Rule::conditions`] leaves out the range a compiled rule
//! tests only to spare a set lookup.

use super::{AddrMatch, Match, Rule};

impl Rule {
    /// The rule's matches without the range that only spares a lookup: an address
    /// range right before a set lookup of the same address. The compiler puts one before
    /// each piece of a list cut into sets, holding every element of its set, so the set
    /// alone decides the match (what verify samples; evaluation reads every match).
    pub fn conditions(&self) -> impl Iterator<Item = &Match> {
        let m = &self.matches;
        (m.iter().enumerate())
            .filter(move |(i, this)| !m.get(i + 1).is_some_and(|next| guards(this, next)))
            .map(|(_, this)| this)
    }
}

/// Whether `range` is the range a compiled rule tests before the lookup `set`.
fn guards(range: &Match, set: &Match) -> bool {
    use AddrMatch::{Range4, Range6, Set4, Set6};
    let same = |a: &AddrMatch, b: &AddrMatch| {
        matches!((a, b), (Range4(..), Set4(_)) | (Range6(..), Set6(_)))
    };
    match (range, set) {
        (Match::Saddr(a), Match::Saddr(b)) | (Match::Daddr(a), Match::Daddr(b)) => same(a, b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The range right before a lookup of the same address is left out; a range alone,
    /// or before another address's lookup, is a condition of its own.
    #[test]
    fn conditions_leave_out_the_range_before_a_lookup() {
        let range = AddrMatch::Range4("10.0.0.0".parse().unwrap(), "10.0.0.9".parse().unwrap());
        let set = AddrMatch::Set4("s".into());
        let rule = |matches: Vec<Match>| Rule {
            matches,
            stmts: vec![],
            verdict: None,
            comment: None,
            origin: vec![],
        };
        let guarded = rule(vec![Match::Saddr(range.clone()), Match::Saddr(set.clone())]);
        let kept: Vec<&Match> = guarded.conditions().collect();
        assert_eq!(kept, [&Match::Saddr(set.clone())]);
        let crossed = rule(vec![Match::Saddr(range.clone()), Match::Daddr(set)]);
        assert_eq!(crossed.conditions().count(), 2);
        let alone = rule(vec![Match::Daddr(range)]);
        assert_eq!(alone.conditions().count(), 1);
    }
}
