//! Where an apply's plan takes our table from, best first: the table record (nothing
//! read), the unchanged check's read at the same generation ([`super::seen`]), the
//! capture's copy, else dumps of its own; and what it used.

use super::{ApplyError, PlanBasis, delta, delta_read, inverse, table_copy::TableCopy, trusted};
use crate::nft::client::Client;
use std::sync::Arc;

/// Where `choose` may take the live table from, best first, and what it used.
pub(super) struct Basis {
    /// Our table exactly at the guard's base, as the unchanged check read it
    /// ([`super::seen`]).
    pub(super) seen: Option<Option<delta::LiveTable>>,
    /// Our table exactly at the guard's base (the capture's copy).
    pub(super) kept: Option<Arc<TableCopy>>,
    /// Our table from the table record, or why it cannot stand for the kernel's.
    pub(super) record: Option<Result<(delta::LiveTable, trusted::Origin), String>>,
    pub(super) dumps: u32,
    pub(super) used: PlanBasis,
    /// An in-place change planned from the record: its file then, and the sets' changes.
    pub(super) patch: Option<(trusted::Origin, Vec<trusted::SetPatch>)>,
    /// Whether the sysctl step needs a rollback that `choose` may give as the inverse
    /// of the in-place change it plans from the record (`inverse`).
    pub(super) want_inverse: bool,
    pub(super) inverse: Option<inverse::Inverse>,
    /// An in-place change's rules as the kernel will hold them, for the table record.
    pub(super) slots: Option<super::handles::Slots>,
}

impl Basis {
    /// Our table at the guard's base: from the record, the unchanged check's read, the
    /// copy, or dumps of its own.
    pub(super) fn live(
        &mut self,
        nl: &mut Client,
        name: &str,
    ) -> Result<Option<delta::LiveTable>, ApplyError> {
        let why = match self.record.take() {
            Some(Ok((live, origin))) => {
                self.used = PlanBasis::Record;
                self.patch = Some((origin, Vec::new()));
                return Ok(Some(live));
            }
            Some(Err(why)) => why,
            None => "no table record is kept".to_string(),
        };
        if let Some(live) = self.seen.take() {
            // Read once in this process, at this generation.
            self.used = PlanBasis::Read { why };
            return Ok(live);
        }
        if let Some(c) = &self.kept {
            self.used = PlanBasis::Copy;
            return delta_read::from_copy(c, name);
        }
        self.used = PlanBasis::Read { why };
        self.dumps += 1;
        delta_read::read(nl, name)
    }
}
