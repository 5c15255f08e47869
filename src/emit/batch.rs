//! A complete nf_tables batch: its bytes, in one buffer or two (a large table's sets
//! written on two threads, `emit::parallel`), and each message's sequence number, place
//! and the policy lines behind it. Sent whole in one `sendmsg`.

use super::netlink::{BatchPart, Message};
use crate::nft::wire::NLM_F_ECHO;

/// A complete batch, sent in a single `sendmsg`. Its bytes are `bytes` then `tail`
/// (empty unless the batch was written in two parts); a message's offset counts from
/// the start of `bytes` through both.
#[derive(Debug)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub tail: Vec<u8>,
    /// In buffer order; sequence numbers ascend by one.
    pub messages: Vec<Message>,
}

impl Batch {
    /// How many bytes the batch has.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `len` bytes at `offset`, when they lie within one of the two buffers (a
    /// message always does).
    pub fn at(&self, offset: usize, len: usize) -> Option<&[u8]> {
        match offset.checked_sub(self.bytes.len()) {
            None => self.bytes.get(offset..offset.checked_add(len)?),
            Some(t) => self.tail.get(t..t.checked_add(len)?),
        }
    }

    fn at_mut(&mut self, offset: usize, len: usize) -> Option<&mut [u8]> {
        match offset.checked_sub(self.bytes.len()) {
            None => self.bytes.get_mut(offset..offset.checked_add(len)?),
            Some(t) => self.tail.get_mut(t..t.checked_add(len)?),
        }
    }

    /// The batch's bytes in one buffer (a copy when it has two).
    pub fn to_vec(&self) -> Vec<u8> {
        [self.bytes.as_slice(), self.tail.as_slice()].concat()
    }

    /// Asks the kernel to echo each rule message (`NLM_F_ECHO`), so that its replies
    /// give the handle each rule got, when there are at most `max` of them (an echo
    /// costs the kernel's commit about what a dump of the rule costs after it). Whether
    /// every rule message asks (nothing changes otherwise).
    pub fn echo_rules(&mut self, max: usize) -> bool {
        let at: Vec<usize> = (self.messages.iter())
            .filter(|m| matches!(m.what, BatchPart::Rule { .. }))
            .map(|m| m.offset)
            .collect();
        if at.len() > max {
            return false;
        }
        for offset in at {
            if let Some(flags) = self.at_mut(offset + 6, 2) {
                let f = u16::from_ne_bytes([flags[0], flags[1]]) | NLM_F_ECHO;
                flags.copy_from_slice(&f.to_ne_bytes());
            }
        }
        true
    }

    /// The message a kernel reply with sequence number `seq` refers to.
    pub fn message(&self, seq: u32) -> Option<&Message> {
        let first = self.messages.first()?.seq;
        self.messages.get(seq.checked_sub(first)? as usize)
    }

    pub fn bytes_of(&self, m: &Message) -> &[u8] {
        self.at(m.offset, m.len).unwrap_or(&[])
    }

    /// Moves the batch to another expected generation (a resend after a change in
    /// some other table). Returns false when the batch was built without a guard.
    pub fn set_genid(&mut self, genid: u32) -> bool {
        crate::nft::wire::set_batch_genid(&mut self.bytes, genid)
    }
}
