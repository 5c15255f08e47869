//! Reading netlink datagrams in safe Rust: splitting one into its messages, walking
//! their attributes and finding one by type. Shared by the batch reply loop, the change
//! monitor, the table readers and the set element reader (`elems.rs`).

/// Splits a datagram into its netlink messages (each with its 16-byte header). A
/// truncated or malformed length ends the iteration instead of reading past it.
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if buf.len() < 16 {
            return None;
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < 16 || len > buf.len() {
            return None;
        }
        let (m, rest) = buf.split_at(len);
        buf = &rest[(((len + 3) & !3) - len).min(rest.len())..];
        Some(m)
    })
}

/// The message type of a message from [`messages`].
pub fn msg_type(m: &[u8]) -> u16 {
    u16::from_ne_bytes([m[4], m[5]])
}

/// The payload of the first attribute of type `ty` in `buf` (the nest flag and the
/// byte-order flag are ignored when comparing types).
pub fn attr(buf: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(buf)
        .map_while(|(t, a)| Some((t?, a)))
        .find_map(|(t, a)| (t == ty).then_some(a))
}

/// The attributes of `buf` as (type, payload), the nest and byte-order flags cleared; a
/// malformed one (a length past the end, or bytes too few for a header) comes as a
/// `None` type and ends the walk.
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (Option<u16>, &[u8])> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        let len = match buf.get(..4) {
            Some(h) => u16::from_ne_bytes([h[0], h[1]]) as usize,
            None => 0,
        };
        if len < 4 || len > buf.len() {
            buf = &[];
            return Some((None, &[][..]));
        }
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        let payload = &buf[4..len];
        buf = &buf[((len + 3) & !3).min(buf.len())..];
        Some((Some(ty), payload))
    })
}

/// A big-endian u32 attribute of an nf_tables message (after the nfgenmsg header).
pub fn be32_attr(m: &[u8], ty: u16) -> Option<u32> {
    let a = attr(m.get(20..)?, ty)?;
    Some(u32::from_be_bytes(a.get(..4)?.try_into().ok()?))
}

/// A string attribute of an nf_tables message, without its NUL terminator.
pub fn str_attr(m: &[u8], ty: u16) -> Option<&str> {
    let a = attr(m.get(20..)?, ty)?;
    let a = a.split(|&b| b == 0).next()?;
    std::str::from_utf8(a).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = vec![0u8; 20];
        for (t, data) in attrs {
            let len = 4 + data.len();
            m.extend_from_slice(&(len as u16).to_ne_bytes());
            m.extend_from_slice(&t.to_ne_bytes());
            m.extend_from_slice(data);
            m.resize((m.len() + 3) & !3, 0);
        }
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&ty.to_ne_bytes());
        m
    }

    #[test]
    fn splits_messages_and_reads_attributes() {
        let mut dgram = msg(0x0a0f, &[(1, &7u32.to_be_bytes())]);
        dgram.extend(msg(0x0a06, &[(1, b"hostwall\0"), (2, b"input\0")]));
        let all: Vec<&[u8]> = messages(&dgram).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(msg_type(all[0]), 0x0a0f);
        assert_eq!(be32_attr(all[0], 1), Some(7));
        assert_eq!(str_attr(all[1], 1), Some("hostwall"));
        assert_eq!(str_attr(all[1], 2), Some("input"));
        assert_eq!(str_attr(all[1], 3), None);
    }

    #[test]
    fn malformed_lengths_end_the_walk() {
        let mut dgram = msg(0x0a0f, &[(1, &7u32.to_be_bytes())]);
        dgram[0] = 200; // longer than the datagram
        assert_eq!(messages(&dgram).count(), 0);
        let bad_attr = [0xffu8, 0, 1, 0, 0, 0];
        assert_eq!(attr(&bad_attr, 1), None);
    }
}
