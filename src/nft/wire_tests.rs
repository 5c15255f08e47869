//! Tests of the netlink writer: attribute layout, element encoding, message splits.

use super::*;

#[test]
fn attributes_are_padded_and_nests_sized() {
    let mut w = Writer::default();
    let m = w.begin_msg(MsgType::NewTable.raw(), NLM_F_CREATE, 7, NFPROTO_INET, 0);
    w.put_str(1, "hostwall");
    w.end_msg(m);
    // 20 header + 4 attr header + 9 bytes "hostwall\0" padded to 12.
    assert_eq!(w.buf.len(), 36);
    assert_eq!(&w.buf[0..4], &36u32.to_ne_bytes());
    assert_eq!(&w.buf[20..22], &13u16.to_ne_bytes());
    assert_eq!(&w.buf[24..33], b"hostwall\0");
}

#[test]
fn batch_genid_is_rewritten_in_place() {
    let mut w = Writer::default();
    w.batch_begin(1, Some(41));
    w.batch_end(2);
    let mut guarded = w.buf.clone();
    assert!(set_batch_genid(&mut guarded, 42));
    let mut expect = Writer::default();
    expect.batch_begin(1, Some(42));
    expect.batch_end(2);
    assert_eq!(guarded, expect.buf);
    let mut open = Writer::default();
    open.batch_begin(1, None);
    assert!(!set_batch_genid(&mut open.buf, 42), "no guard to move");
}

#[test]
fn set_userdata_matches_nft() {
    // From `nft --debug=mnl`: set with `comment "ports"`.
    assert_eq!(
        set_userdata(Some("ports")),
        [0, 4, 2, 0, 0, 0, 7, 6, b'p', b'o', b'r', b't', b's', 0]
    );
}

/// The stack-built element equals nesting it attribute by attribute.
#[test]
fn element_layout_equals_generic_attributes() {
    let cases = [
        (7u128, 2),
        (0x0a000008, 4),
        (0xff, 1),
        (0x0a0b0c, 3),
        (0x0200_5e00_0001, 6),
    ];
    let cases = cases
        .into_iter()
        .chain([(0x0102_0304_0506_0708, 8), (u128::MAX - 1, 16)]);
    for ((v, len), end) in cases.flat_map(|c| [(c, false), (c, true)]) {
        let e = Elem::new(v, len, end);
        let want = v.to_be_bytes();
        assert_eq!(e.key(), &want[16 - len..], "{v:#x}/{len}");
        // Appended after other bytes, as in a message.
        let mut fast = Writer::default();
        fast.buf.extend_from_slice(&[1, 2, 3]);
        fast.elem(&e);
        let mut slow = Writer::default();
        slow.buf.extend_from_slice(&[1, 2, 3]);
        let el = slow.nest_start(NFTA_LIST_ELEM);
        if end {
            slow.put_be32(NFTA_SET_ELEM_FLAGS, SET_ELEM_INTERVAL_END);
        }
        let key = slow.nest_start(NFTA_SET_ELEM_KEY);
        slow.put(NFTA_DATA_VALUE, e.key());
        assert!(slow.nest_end(key).is_ok() && slow.nest_end(el).is_ok());
        assert_eq!(fast.buf, slow.buf, "{v:#x}/{len}/{end}");
    }
}

/// A 4-byte key's element, laid out by size known when compiled, equals the general one.
#[test]
fn an_ipv4_element_equals_the_general_layout() {
    for key in [0u32, 1, 0x0a00_0008, u32::MAX] {
        for end in [false, true] {
            let mut fast = Writer::default();
            fast.buf.extend_from_slice(&[9, 9]);
            fast.elem4(key, end);
            let mut general = Writer::default();
            general.buf.extend_from_slice(&[9, 9]);
            general.elem(&Elem::new(key.into(), 4, end));
            assert_eq!(fast.buf, general.buf, "{key:#x}/{end}");
        }
    }
}

#[test]
fn elements_split_below_64k() {
    let mut w = Writer::default();
    let spec = SetSpec {
        name: "s",
        id: 1,
        interval: true,
        timeout_ms: None,
        key_type: DataType::Ipv4Addr,
        key_len: 4,
        comment: None,
    };
    let elems: Vec<Elem> = (0..20_000u128)
        .map(|v| Elem::new(v, 4, v % 2 == 1))
        .collect();
    let mut seq = 0;
    let n = w
        .set_elems("t", &spec, elems.iter().copied(), || {
            seq += 1;
            seq
        })
        .unwrap_or(0);
    assert!(n > 1, "20k elements need several messages, got {n}");
    assert_eq!(seq as usize, n);
    let mut off = 0;
    while off < w.buf.len() {
        let len = u32::from_ne_bytes([w.buf[off], w.buf[off + 1], w.buf[off + 2], w.buf[off + 3]]);
        assert!(len as usize <= 65_535 + 100);
        off += len as usize;
    }
    assert_eq!(off, w.buf.len());
}
