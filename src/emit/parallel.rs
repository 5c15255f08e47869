//! A large table's sets written on two threads: the sets past this thread's share of the
//! elements go to a builder of their own on another thread, which is then spliced in
//! after this thread's (renumbered, `Builder::splice`), so the batch holds the same
//! messages in the same order as one thread writes them. A million addresses make a
//! 38 MB batch, whose writing was the largest step before the send.

use super::netlink::{Builder, EmitError, estimate_sets};
use crate::ir::Set;

/// The least number of set elements (intervals) written on two threads: at 100,000
/// the second thread saved nothing measurable (1.6 ms either way).
const PARALLEL_FROM: usize = 1 << 18;

/// Where `sets` are cut for two threads: the first set past this thread's share of
/// their elements, when they hold [`PARALLEL_FROM`] elements or more, both parts have
/// some, and there is a second CPU. The share is half, or 70% when pages given up
/// before (`pages::retire`: a large input's texts) will back this thread's buffer and a
/// quarter of the estimate or more: the other thread faults all of its pages in afresh.
/// Measured at 1,000,000 addresses (38 MB, 17 MB of text): plan and encode 9.4 ms at
/// half, 8.2 at 62%, 7.2-7.5 at 70%, 8.5 at 78%.
pub(super) fn cut(sets: &[Set]) -> Option<usize> {
    let total: usize = sets.iter().map(|s| s.elements.len()).sum();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if total < PARALLEL_FROM || cpus < 2 {
        return None;
    }
    let share = match crate::pages::retired_len() >= estimate_sets(sets) / 4 {
        true => 70,
        false => 50,
    };
    share_at(sets, total, share)
}

/// The first of `sets` past `share` percent of their `total` elements, unless it is the
/// first.
fn share_at(sets: &[Set], total: usize, share: usize) -> Option<usize> {
    let mut sum = 0;
    for (i, s) in sets.iter().enumerate() {
        if sum >= total / 100 * share {
            return (i > 0).then_some(i);
        }
        sum += s.elements.len();
    }
    None
}

/// Writes each of `sets` (their ids count from 1) into `b`: those from `cut` on, on
/// another thread into a builder with room for `after` bytes (theirs and what follows
/// them), spliced in after the others. A thread that cannot start leaves them to this
/// one.
pub(super) fn write_sets(
    b: &mut Builder,
    table: &str,
    sets: &[Set],
    cut: Option<usize>,
    after: usize,
) -> Result<(), EmitError> {
    let k = cut.unwrap_or(sets.len());
    let (first, rest) = sets.split_at(k);
    let apart = (!rest.is_empty()).then_some(move || write_apart(table, rest, k + 1, after));
    let (here, mut apart) = crate::threads::beside("sets", apart, || {
        for (i, set) in first.iter().enumerate() {
            b.set(table, set, i as u32 + 1)?;
        }
        Ok::<(), EmitError>(())
    });
    here?;
    match apart.pop() {
        Some(Ok(part)) => b.splice(part?),
        // Not started, or stopped: the rest written here.
        _ => {
            for (j, set) in rest.iter().enumerate() {
                b.set(table, set, (k + j) as u32 + 1)?;
            }
        }
    }
    Ok(())
}

/// `sets` (ids from `first_id`) in a builder of their own, numbered from 0, with room
/// for `room` bytes.
fn write_apart(
    table: &str,
    sets: &[Set],
    first_id: usize,
    room: usize,
) -> Result<Builder, EmitError> {
    let mut b = Builder::new(0, room.max(estimate_sets(sets)));
    for (j, set) in sets.iter().enumerate() {
        b.set(table, set, (first_id + j) as u32)?;
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{NoIncludes, check};
    use crate::emit::netlink::{BatchOptions, build_cut};
    use crate::source::SourceMap;

    /// `n` IPv4 /30s from `base`, apart, as a policy list.
    fn list(base: u32, n: u32) -> String {
        let one = |a: u32| {
            format!(
                "{}.{}.{}.{}/30",
                a >> 24,
                (a >> 16) & 255,
                (a >> 8) & 255,
                a & 255
            )
        };
        (0..n)
            .map(|i| one(base + i * 8))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The batch written on two threads is the batch written on one: the same bytes,
    /// the same messages at the same places, rules (in the second buffer) echoed alike.
    #[test]
    fn sets_written_on_two_threads_make_the_same_batch() {
        let text = format!(
            "policy p {{\n    define a = {}\n    define b = {}\n    allow ssh tcp 22 from a\n    allow https tcp 443 from b\n}}\n",
            list(10 << 24, 150_000),
            list(20 << 24, 140_000),
        );
        let mut map = SourceMap::new();
        let file = map.add("t.policy", text);
        let (policy, diags) = check(&mut map, file, None, &NoIncludes);
        let policy = policy.unwrap_or_else(|| panic!("policy must check: {diags:?}"));
        let rs = crate::compile::compile(&policy);
        let sets = &rs.table.sets;
        let total: usize = sets.iter().map(|s| s.elements.len()).sum();
        assert!(total >= PARALLEL_FROM, "{total}");
        let k = share_at(sets, total, 50).unwrap_or_else(|| panic!("sets cut: {}", sets.len()));
        let opts = BatchOptions {
            first_seq: 100,
            genid: Some(7),
        };
        let build = |cut| build_cut(&rs, &opts, cut).unwrap_or_else(|e| panic!("{e}"));
        let (mut one, mut two) = (build(None), build(Some(k)));
        assert!(one.tail.is_empty() && !two.tail.is_empty() && !two.bytes.is_empty());
        assert_eq!(one.len(), two.len());
        assert!(one.to_vec() == two.to_vec(), "the same bytes");
        assert_eq!(one.messages, two.messages);
        for m in &two.messages {
            assert_eq!(one.bytes_of(m), two.bytes_of(m));
            assert_eq!(two.bytes_of(m).len(), m.len);
        }
        assert!(one.echo_rules(1_000) && two.echo_rules(1_000));
        assert!(one.to_vec() == two.to_vec(), "the same rules echoed");
        assert!(one.set_genid(9) && two.set_genid(9));
        assert!(one.to_vec() == two.to_vec(), "the same generation");
    }
}
