//! One pass over the common list item, a canonical IPv4 address or prefix
//! (`10.0.0.8/30`), for the parser: the same answer as `nets::packed_v4`, which is
//! asked only for what this pass does not take (ranges, and anything else).

use crate::nets::V4Form;

/// `a.b.c.d` or `a.b.c.d/N` (decimal octets of at most 255 without leading zeros, no
/// host bits) as (first, last, form); `None` for anything else, including every range.
pub(crate) fn packed(b: &[u8]) -> Option<(u32, u32, V4Form)> {
    leading(b, 0).and_then(|(lo, hi, form, end)| (end == b.len()).then_some((lo, hi, form)))
}

/// A list entry's value when it is IPv4 that [`crate::nets::packed_v4`] reads (a range
/// too): this pass first, `packed_v4` for what it does not take. `None`: the entry stays
/// text for the checker.
pub(crate) fn entry(text: &str) -> Option<(u32, u32, V4Form)> {
    packed(text.as_bytes()).or_else(|| crate::nets::packed_v4(text))
}

/// The canonical address or prefix that starts at `at` and ends at the first byte that
/// cannot continue it (`None` when what is there is no such address, say `1.2.3.04` or
/// `10.0.0.9/30`), with where it ends. What follows may still continue the token (`.`,
/// `-`, a letter): the caller decides whether the token ends there.
pub(crate) fn leading(b: &[u8], at: usize) -> Option<(u32, u32, V4Form, usize)> {
    let (mut v, mut i) = octet(b, at)?;
    for _ in 0..3 {
        if b.get(i) != Some(&b'.') {
            return None;
        }
        let (o, next) = octet(b, i + 1)?;
        v = (v << 8) | o;
        i = next;
    }
    if b.get(i) != Some(&b'/') {
        return Some((v, v, V4Form::Addr, i));
    }
    let (p, end) = decimal(b, i + 1, 2)?;
    if p > 32 {
        return None;
    }
    let host = u32::MAX.checked_shr(p).unwrap_or(0);
    (v & host == 0).then_some((v, v | host, V4Form::Prefix, end))
}

fn octet(b: &[u8], at: usize) -> Option<(u32, usize)> {
    decimal(b, at, 3).filter(|(v, _)| *v <= 255)
}

/// 1..=`max` decimal digits at `at`, no leading zero unless the number is `0`.
fn decimal(b: &[u8], at: usize, max: usize) -> Option<(u32, usize)> {
    let mut v = 0u32;
    let mut i = at;
    while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if i - at == max || (i > at && b[at] == b'0') {
            return None;
        }
        v = v * 10 + u32::from(d - b'0');
        i += 1;
    }
    (i > at).then_some((v, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::packed_v4;

    #[test]
    fn takes_addresses_and_prefixes_only() {
        for t in [
            "10.0.0.8/30",
            "0.0.0.0/0",
            "255.255.255.255",
            "1.2.3.4/32",
            "8.0.0.0/5",
        ] {
            assert_eq!(packed(t.as_bytes()), packed_v4(t), "{t}");
            assert!(packed(t.as_bytes()).is_some(), "{t}");
        }
        for t in [
            "10.0.0.9/30",
            "1.2.3.4/33",
            "01.2.3.4",
            "1.2.3.256",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.4/",
            "1.2.3.4/08",
            "1.2.3.4/001",
            "1.2.3.4-1.2.3.5",
            "1.2.3.4 ",
            "",
            "1.2.3.1000",
            "1..3.4",
            "fd00::/8",
            "1.2.3.4/3a",
        ] {
            assert_eq!(packed(t.as_bytes()), None, "{t}");
        }
    }

    proptest::proptest! {
        /// Whatever it takes, it reads exactly as `packed_v4` does.
        #[test]
        fn agrees_with_packed_v4(t in "[0-9./-]{0,22}") {
            if let Some(x) = packed(t.as_bytes()) {
                proptest::prop_assert_eq!(Some(x), packed_v4(&t));
            }
        }

        /// Taken from the middle of a text, it reads the address `packed` reads when
        /// the text ends where it stops.
        #[test]
        fn leading_is_packed_up_to_its_end(pre in "[0-9a./ ]{0,4}", t in "[0-9./-]{0,22}") {
            let text = format!("{pre}{t}");
            if let Some((lo, hi, form, end)) = leading(text.as_bytes(), pre.len()) {
                proptest::prop_assert_eq!(packed(&text.as_bytes()[pre.len()..end]), Some((lo, hi, form)));
            }
            if let Some(x) = packed(t.as_bytes()) {
                let at_end = leading(text.as_bytes(), pre.len());
                proptest::prop_assert_eq!(at_end, Some((x.0, x.1, x.2, text.len())));
            }
        }

        #[test]
        fn agrees_on_prefix_shaped_text(
            o in proptest::collection::vec(0u32..300, 4),
            p in 0u32..40,
            zero in proptest::bool::ANY,
        ) {
            let z = if zero { "0" } else { "" };
            let t = format!("{}.{}.{z}{}.{}/{p}", o[0], o[1], o[2], o[3]);
            let want = packed_v4(&t);
            let got = packed(t.as_bytes());
            proptest::prop_assert!(got.is_none() || got == want, "{t}");
            // Every canonical prefix is taken (ranges are the other function's).
            proptest::prop_assert_eq!(got.is_some(), want.is_some(), "{}", t);
        }
    }
}
