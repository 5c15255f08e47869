//! The safe-Rust set element reader against libnftnl: the same elements from every
//! message it takes, and what it declines left to libnftnl.

use super::*;
use crate::nft::read::parse_elems_nftnl;

/// An attribute: type, then either bytes or nested attributes.
enum A {
    Bytes(u16, Vec<u8>),
    Nest(u16, Vec<A>),
}

fn put(out: &mut Vec<u8>, a: &A) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let ty = match a {
        A::Bytes(t, b) => {
            out.extend_from_slice(b);
            *t
        }
        A::Nest(t, inner) => {
            inner.iter().for_each(|i| put(out, i));
            *t | 0x8000
        }
    };
    let len = (out.len() - start) as u16;
    out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    out[start + 2..start + 4].copy_from_slice(&ty.to_ne_bytes());
    out.resize((out.len() + 3) & !3, 0);
}

/// A NEWSETELEM message of `attrs`, 4-byte aligned (libnftnl asks for it).
fn msg(attrs: &[A]) -> Vec<u32> {
    let mut m = vec![0u8; 16];
    m[4..6].copy_from_slice(&((10u16 << 8) | 12).to_ne_bytes());
    m.extend_from_slice(&[1, 0, 0, 0]);
    attrs.iter().for_each(|a| put(&mut m, a));
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    m.chunks(4)
        .map(|c| u32::from_ne_bytes(c.try_into().unwrap_or([0; 4])))
        .collect()
}

fn bytes(m: &[u32]) -> &[u8] {
    // SAFETY: a u32 slice viewed as its bytes, same lifetime.
    unsafe { std::slice::from_raw_parts(m.as_ptr().cast::<u8>(), m.len() * 4) }
}

fn value(t: u16, v: &[u8]) -> A {
    A::Nest(t, vec![A::Bytes(1, v.to_vec())])
}

fn list(elems: Vec<Vec<A>>) -> Vec<A> {
    vec![
        A::Bytes(1, b"hostwall\0".to_vec()),
        A::Bytes(2, b"s\0".to_vec()),
        A::Nest(3, elems.into_iter().map(|e| A::Nest(1, e)).collect()),
    ]
}

/// Both readers give the same elements, or this one declines and libnftnl decides
/// (not asked here: on some malformed input, a key too long, it ends the process).
fn same(m: &[u32]) -> bool {
    let (mut ours, mut theirs) = (vec![RawElem::default_for_test()], Vec::new());
    if parse(bytes(m), &mut ours).is_none() {
        assert_eq!(ours.len(), 1, "a declined message added elements");
        return false;
    }
    let nftnl = parse_elems_nftnl(bytes(m), &mut theirs);
    assert!(nftnl.is_ok(), "libnftnl refused what this reader took");
    assert_eq!(ours[1..], theirs[..]);
    true
}

impl RawElem {
    fn default_for_test() -> RawElem {
        RawElem {
            key: vec![9].into(),
            key_end: None,
            flags: 0,
            extra: false,
            verdict: None,
        }
    }
}

#[test]
fn reads_every_element_form_as_libnftnl_does() {
    let verdict = |code: i32, chain: Option<&[u8]>| {
        let mut v = vec![A::Bytes(1, code.to_be_bytes().to_vec())];
        v.extend(chain.map(|c| A::Bytes(2, c.to_vec())));
        A::Nest(2, vec![A::Nest(2, v)])
    };
    let taken = [
        list(vec![]),
        list(vec![vec![value(1, &[10, 0, 0, 0])]]),
        list(vec![
            vec![value(1, &[10, 0, 0, 0])],
            vec![
                value(1, &[10, 0, 0, 4]),
                A::Bytes(3, 1u32.to_be_bytes().to_vec()),
            ],
            vec![value(1, &[0; 16]), value(10, &[0xff; 16])],
        ]),
        list(vec![vec![value(1, &[6]), verdict(-3, Some(b"chain_a\0"))]]),
        list(vec![vec![value(1, &[6]), verdict(1, None)]]),
        list(vec![vec![value(1, &[6]), value(2, &[1, 2, 3, 4])]]),
        list(vec![vec![
            value(1, &[1, 2, 3, 4]),
            A::Bytes(4, 5000u64.to_be_bytes().to_vec()),
            A::Bytes(5, 4000u64.to_be_bytes().to_vec()),
        ]]),
        list(vec![vec![
            value(1, &[1, 2, 3, 4]),
            A::Bytes(6, b"comment".to_vec()),
        ]]),
    ];
    for attrs in &taken {
        assert!(same(&msg(attrs)), "declined a well-formed message");
    }
    // Declined, for libnftnl to judge: expressions, a bad flags length, another
    // attribute than an element in the list, a key longer than any.
    let declined = [
        list(vec![vec![
            value(1, &[1]),
            A::Nest(7, vec![A::Bytes(1, b"counter\0".to_vec())]),
        ]]),
        list(vec![vec![value(1, &[1]), A::Bytes(3, vec![0, 1])]]),
        vec![A::Nest(3, vec![A::Bytes(2, vec![0; 4])])],
        list(vec![vec![value(1, &[7; 65])]]),
        vec![A::Bytes(1, vec![])],
    ];
    for attrs in &declined {
        assert!(!same(&msg(attrs)), "took a message libnftnl must judge");
    }
}

proptest::proptest! {
    /// Whatever bytes follow the header, this reader takes only what libnftnl reads the
    /// same, and never reads past the message.
    #[test]
    fn never_differs_from_libnftnl(body in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
        let mut m = vec![0u8; 20];
        m.extend_from_slice(&body);
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m.resize((m.len() + 3) & !3, 0);
        let words: Vec<u32> = m.chunks(4).map(|c| u32::from_ne_bytes(c.try_into().unwrap_or([0; 4]))).collect();
        same(&words);
    }

    /// Random element lists of keys, ranges, flags and verdicts are all taken, as
    /// libnftnl reads them.
    #[test]
    fn takes_every_well_formed_list(elems in proptest::collection::vec(
        (proptest::collection::vec(proptest::num::u8::ANY, 1..17), proptest::option::of(proptest::num::u32::ANY), proptest::bool::ANY),
        0..40,
    )) {
        let elems = elems.into_iter().map(|(k, flags, end)| {
            let mut e = vec![value(1, &k)];
            if end { e.push(value(10, &k)); }
            e.extend(flags.map(|f| A::Bytes(3, f.to_be_bytes().to_vec())));
            e
        }).collect();
        proptest::prop_assert!(same(&msg(&list(elems))));
    }
}

#[test]
fn a_key_is_its_bytes_however_held() {
    for n in [0, 1, 4, 16, 17, 64] {
        let bytes: Vec<u8> = (0..n as u8).collect();
        let k = ElemKey::from(bytes.as_slice());
        assert_eq!(&k[..], &bytes[..]);
        assert_eq!(k, ElemKey::from(bytes.clone()));
        assert_eq!(format!("{k:?}"), format!("{bytes:?}"));
    }
    assert_ne!(ElemKey::from(&[1, 2][..]), ElemKey::from(&[1, 2, 0][..]));
}
