//! Hand-made netlink expressions for the live readers' unit tests: each builder sets the
//! attributes the kernel would dump for that expression, loading or reading register 1.

use crate::nft::expr_attr;
use crate::nft::read::RawExpr;

/// An expression named `name` with these attributes; `text` is what its debug form shows.
pub fn ex(name: &str, attrs: &[(u32, &[u8])], text: &str) -> RawExpr {
    RawExpr {
        name: name.into(),
        attrs: attrs.iter().map(|(k, v)| (*k as u16, v.to_vec())).collect(),
        text: format!("[ {text} ]"),
        nested: Vec::new(),
    }
}

/// A 32-bit attribute value in host byte order, as netlink carries it.
pub fn u32b(v: u32) -> [u8; 4] {
    v.to_ne_bytes()
}

/// `meta load <key> => reg 1`.
pub fn meta(key: u32) -> RawExpr {
    ex(
        "meta",
        &[
            (expr_attr::META_KEY, &u32b(key)),
            (expr_attr::META_DREG, &u32b(1)),
        ],
        "meta load",
    )
}

/// `cmp <op> reg 1 <data>`.
pub fn cmp(op: u32, data: &[u8]) -> RawExpr {
    ex(
        "cmp",
        &[
            (expr_attr::CMP_SREG, &u32b(1)),
            (expr_attr::CMP_OP, &u32b(op)),
            (expr_attr::CMP_DATA, data),
        ],
        "cmp",
    )
}

/// `payload load <len>b @ <base> + <off> => reg 1`.
pub fn payload(base: u32, off: u32, len: u32) -> RawExpr {
    ex(
        "payload",
        &[
            (expr_attr::PAYLOAD_DREG, &u32b(1)),
            (expr_attr::PAYLOAD_BASE, &u32b(base)),
            (expr_attr::PAYLOAD_OFFSET, &u32b(off)),
            (expr_attr::PAYLOAD_LEN, &u32b(len)),
        ],
        "payload load",
    )
}

/// `immediate reg 0 <verdict> [<chain>]`: 1 is accept, -3 jump, -4 goto, -5 return.
pub fn verdict(v: i32, chain: Option<&str>) -> RawExpr {
    let c = chain.map(|c| format!("{c}\0"));
    let mut a: Vec<(u32, &[u8])> = Vec::new();
    let dreg = u32b(0);
    let code = v.to_ne_bytes();
    a.push((expr_attr::IMM_DREG, &dreg));
    a.push((expr_attr::IMM_VERDICT, &code));
    if let Some(c) = &c {
        a.push((expr_attr::IMM_CHAIN, c.as_bytes()));
    }
    ex("immediate", &a, "immediate")
}
