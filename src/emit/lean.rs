//! The full batch built while the ruleset's set elements are consumed: each set's
//! intervals (32 bytes each in the IR) are written into the batch and then kept packed
//! (8 bytes an interval for keys of at most 4 bytes: IPv4 addresses, ports, ICMP types),
//! so a million addresses never sit in the IR and the batch at once. The table record
//! takes them packed after the commit; the ruleset gets them back unpacked.

use super::netlink::{self, Batch, BatchOptions, EmitError};
use crate::ir::packed::Packed;
use crate::ir::{Interval, Ruleset};

/// Each set's elements, moved out of the ruleset and packed (`None`: a set left as it
/// was).
pub type Taken = Vec<Option<Packed>>;

/// Builds the same batch as [`netlink::build`] from `rs`, moving the elements of every
/// set with `flags interval` out of it (a dynamic set's are left): each set's are
/// written, then packed. Returns the batch and what was taken, for [`restore`]. On an
/// error everything taken so far is put back first.
pub fn build(rs: &mut Ruleset, opts: &BatchOptions) -> Result<(Batch, Taken), EmitError> {
    let capacity = netlink::estimate_size(rs);
    let mut wide: Vec<Option<Vec<Interval>>> = (rs.table.sets.iter_mut())
        .map(|s| (s.interval && s.timeout_ms.is_none()).then(|| std::mem::take(&mut s.elements)))
        .collect();
    let mut taken: Taken = Vec::with_capacity(wide.len());
    let built = netlink::build_with(rs, opts, capacity, &mut |b, t, set, id| {
        let i = taken.len();
        let Some(elements) = wide.get_mut(i).and_then(Option::take) else {
            taken.push(None);
            return b.set(t, set, id);
        };
        let written = b.set_from(t, set, &elements, id);
        taken.push(Some(Packed::of(set.key, elements)));
        written
    });
    match built {
        Ok(batch) => Ok((batch, taken)),
        Err(e) => {
            // Sets not reached yet still hold their wide elements in `wide`.
            let rest = wide
                .into_iter()
                .skip(taken.len())
                .map(|w| w.map(Packed::Wide));
            taken.extend(rest);
            restore(rs, taken);
            Err(e)
        }
    }
}

/// Puts elements [`build`] took back into `rs`'s sets.
pub fn restore(rs: &mut Ruleset, taken: Taken) {
    for (set, kept) in rs.table.sets.iter_mut().zip(taken) {
        if let Some(k) = kept {
            set.elements = k.unpack();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Family, Set, SetKey, Table};

    fn set(name: &str, key: SetKey, elements: Vec<Interval>) -> Set {
        Set {
            name: name.into(),
            key,
            interval: true,
            elements,
            comment: None,
            timeout_ms: None,
            origin: Vec::new(),
        }
    }

    fn iv(lo: u128, hi: u128) -> Interval {
        Interval { lo, hi }
    }

    fn ruleset() -> Ruleset {
        Ruleset {
            table: Table {
                family: Family::Inet,
                name: "hostwall".into(),
                sets: vec![
                    set("a4", SetKey::Ipv4Addr, vec![iv(0, 3), iv(8, 0xffff_ffff)]),
                    set("p", SetKey::InetService, vec![iv(22, 22), iv(8000, 8100)]),
                    set("a6", SetKey::Ipv6Addr, vec![iv(1 << 100, (1 << 100) + 7)]),
                ],
                chains: Vec::new(),
            },
            sysctls: Vec::new(),
        }
    }

    #[test]
    fn the_lean_batch_is_byte_for_byte_the_plain_one_and_the_sets_come_back() {
        let mut rs = ruleset();
        let opts = BatchOptions {
            first_seq: 9,
            genid: Some(4),
        };
        let plain = netlink::build(&rs, &opts).expect("plain batch");
        let (lean, taken) = build(&mut rs, &opts).expect("lean batch");
        assert_eq!(lean.bytes, plain.bytes);
        assert_eq!(lean.messages, plain.messages);
        assert!(rs.table.sets.iter().all(|s| s.elements.is_empty()));
        assert!(matches!(taken[0], Some(Packed::Narrow(ref p)) if p.len() == 2));
        assert!(matches!(taken[2], Some(Packed::Wide(_))));
        restore(&mut rs, taken);
        assert_eq!(rs, ruleset());
    }

    #[test]
    fn a_refused_set_leaves_every_set_as_it_was() {
        let mut rs = ruleset();
        // The port set's second element does not fit its 2-byte key.
        rs.table.sets[1].elements.push(iv(70_000, 70_001));
        let before = rs.clone();
        let e = build(&mut rs, &BatchOptions::default()).expect_err("a bad element");
        assert!(e.to_string().contains("does not fit"), "{e}");
        assert_eq!(rs, before);
    }
}
