//! The dumps of a read, typed: each method writes one request (`Writer::dump_request`),
//! has the one netlink client ([`Client`]) run it, and hands every answer message to
//! `nft::read`'s parser. No socket code here.

use super::LiveError;
use crate::nft::client::{Client, NlError};
use crate::nft::read::{
    self as ffi, RawChain, RawElem, RawFlowtable, RawObj, RawRule, RawSet, RawTable,
};
use crate::nft::wire::{MsgType, Writer};

pub use crate::nft::wire::{NFPROTO_INET, NFPROTO_UNSPEC};

/// The client a read runs on, with typed dumps.
pub struct Conn<'c> {
    pub client: &'c mut Client,
}

impl Conn<'_> {
    pub fn tables(&mut self) -> Result<Vec<RawTable>, LiveError> {
        self.dump(
            "table",
            MsgType::GetTable,
            NFPROTO_UNSPEC,
            None,
            None,
            ffi::parse_table,
        )
    }

    /// Every chain of every table and family (the kernel cannot filter a chain dump
    /// by table: a dump of several messages during which any commit happened may
    /// have skipped or repeated chains, and is flagged `NLM_F_DUMP_INTR`, which the
    /// client records).
    pub fn chains(&mut self) -> Result<Vec<RawChain>, LiveError> {
        self.dump(
            "chain",
            MsgType::GetChain,
            NFPROTO_UNSPEC,
            None,
            None,
            ffi::parse_chain,
        )
    }

    /// The rules of one table, in chain order. The kernel filters a rule dump by
    /// table before it counts where the next message resumes, so commits to other
    /// tables between the messages of this dump cannot make it skip or repeat rules.
    pub fn rules(&mut self, family: u8, table: &str) -> Result<Vec<RawRule>, LiveError> {
        self.dump(
            "rule",
            MsgType::GetRule,
            family,
            Some(table),
            None,
            ffi::parse_rule,
        )
    }

    /// The sets of one table.
    pub fn sets(&mut self, family: u8, table: &str) -> Result<Vec<RawSet>, LiveError> {
        self.dump(
            "set",
            MsgType::GetSet,
            family,
            Some(table),
            None,
            ffi::parse_set,
        )
    }

    /// The named stateful objects of one table, of every type.
    pub fn objects(&mut self, family: u8, table: &str) -> Result<Vec<RawObj>, LiveError> {
        self.dump(
            "object",
            MsgType::GetObj,
            family,
            Some(table),
            None,
            ffi::parse_obj,
        )
    }

    /// The flowtables of one table.
    pub fn flowtables(&mut self, family: u8, table: &str) -> Result<Vec<RawFlowtable>, LiveError> {
        let ty = MsgType::GetFlowtable;
        self.dump(
            "flowtable",
            ty,
            family,
            Some(table),
            None,
            ffi::parse_flowtable,
        )
    }

    /// The elements of one set, in the kernel's order.
    pub fn elements(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
    ) -> Result<Vec<RawElem>, LiveError> {
        let mut out = Vec::new();
        let req = request(
            self.client,
            MsgType::GetSetElem,
            family,
            Some(table),
            Some(set),
        );
        self.client
            .talk("set element", &req, |m| ffi::parse_elems(m, &mut out))??;
        Ok(out)
    }

    /// One dump, each answer message parsed by `parse`.
    fn dump<T>(
        &mut self,
        what: &'static str,
        ty: MsgType,
        family: u8,
        table: Option<&str>,
        set: Option<&str>,
        parse: fn(&[u8]) -> Result<T, ffi::ParseError>,
    ) -> Result<Vec<T>, LiveError> {
        let mut out = Vec::new();
        let req = request(self.client, ty, family, table, set);
        self.client.talk(what, &req, |m| {
            out.push(parse(m)?);
            Ok::<(), ffi::ParseError>(())
        })??;
        Ok(out)
    }
}

fn request(
    c: &mut Client,
    ty: MsgType,
    family: u8,
    table: Option<&str>,
    set: Option<&str>,
) -> Vec<u8> {
    let mut w = Writer::default();
    w.dump_request(ty, family, c.next_seq(), table, set);
    w.buf
}

impl From<NlError> for LiveError {
    fn from(e: NlError) -> LiveError {
        use crate::nft::client::Step;
        let NlError { what, step, source } = e;
        match step {
            Step::Open | Step::SizeBuffers => LiveError::Socket(source),
            Step::Send => LiveError::Send { what, source },
            Step::Recv => LiveError::Recv { what, source },
            Step::Reply => LiveError::kernel(what, source),
            Step::Answer => LiveError::Missing(what),
        }
    }
}
