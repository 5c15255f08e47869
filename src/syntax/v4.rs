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
#[inline(always)]
pub(crate) fn leading(b: &[u8], at: usize) -> Option<(u32, u32, V4Form, usize)> {
    match b.get(at..).and_then(|r| r.first_chunk::<WINDOW>()) {
        Some(w) => in_window(w).map(|(lo, hi, form, end)| (lo, hi, form, at + end)),
        None => anywhere(b, at),
    }
}

/// Bytes [`in_window`] may look at: `255.255.255.255/32` and the byte after it.
const WINDOW: usize = 19;

/// [`leading`] at the start of a window that holds any address it can read, and the
/// byte after it: fixed-size reads, each digit looked at once. Most of a long list's
/// entries are read here (the last few bytes of a text go to [`anywhere`]).
#[inline(always)]
fn in_window(w: &[u8; WINDOW]) -> Option<(u32, u32, V4Form, usize)> {
    let (a, i) = octet_at(w, 0)?;
    let (b, i) = dot_octet(w, i)?;
    let (c, i) = dot_octet(w, i)?;
    let (d, i) = dot_octet(w, i)?;
    let v = (a << 24) | (b << 16) | (c << 8) | d;
    if w[i] != b'/' {
        return Some((v, v, V4Form::Addr, i));
    }
    let p0 = digit(w[i + 1])?;
    let (p, end) = match digit(w[i + 2]) {
        None => (p0, i + 2),
        Some(_) if p0 == 0 || digit(w[i + 3]).is_some() => return None,
        Some(p1) => (p0 * 10 + p1, i + 3),
    };
    if p > 32 {
        return None;
    }
    let host = u32::MAX.checked_shr(p).unwrap_or(0);
    (v & host == 0).then_some((v, v | host, V4Form::Prefix, end))
}

/// `.` and an octet at `i` (at most 11: three octets and their dots before it).
#[inline(always)]
fn dot_octet(w: &[u8; WINDOW], i: usize) -> Option<(u32, usize)> {
    if w[i] != b'.' {
        return None;
    }
    octet_at(w, i + 1)
}

/// An octet at `i` (at most 12), as [`octet`] reads it.
#[inline(always)]
fn octet_at(w: &[u8; WINDOW], i: usize) -> Option<(u32, usize)> {
    let d0 = digit(w[i])?;
    let Some(d1) = digit(w[i + 1]) else {
        return Some((d0, i + 1));
    };
    if d0 == 0 {
        return None;
    }
    let Some(d2) = digit(w[i + 2]) else {
        return Some((d0 * 10 + d1, i + 2));
    };
    if digit(w[i + 3]).is_some() {
        return None;
    }
    let v = d0 * 100 + d1 * 10 + d2;
    (v <= 255).then_some((v, i + 3))
}

#[inline(always)]
fn digit(c: u8) -> Option<u32> {
    let d = c.wrapping_sub(b'0');
    (d < 10).then_some(u32::from(d))
}

/// [`leading`] wherever the text may end within the address.
fn anywhere(b: &[u8], at: usize) -> Option<(u32, u32, V4Form, usize)> {
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

    /// The fixed-window read of `text`'s start is the read anywhere (`text` holds a
    /// window at least).
    fn window_reads_as_anywhere(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let b = text.as_bytes();
        let w = b.first_chunk::<WINDOW>().expect("long enough");
        proptest::prop_assert_eq!(in_window(w), anywhere(b, 0), "{}", text);
        Ok(())
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

        /// The fixed-window read and the read anywhere agree, whatever follows.
        #[test]
        fn the_window_reads_as_anywhere(t in "[0-9./-]{0,22}", tail in "[0-9a./ ,-]{19}") {
            window_reads_as_anywhere(&format!("{t}{tail}"))?;
        }

        /// The same on address-shaped text (which the one above seldom makes).
        #[test]
        fn the_window_reads_addresses_as_anywhere(
            o in proptest::collection::vec(0u32..1100, 4),
            p in proptest::option::of(0u32..120),
            zero in 0usize..5,
            tail in "[0-9a./ ,-]{19}",
        ) {
            let mut t: Vec<String> = o.iter().map(u32::to_string).collect();
            if let Some(octet) = t.get_mut(zero) {
                octet.insert(0, '0');
            }
            let mut text = t.join(".");
            if let Some(p) = p {
                text.push_str(&format!("/{p}"));
            }
            text.push_str(&tail);
            window_reads_as_anywhere(&text)?;
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
