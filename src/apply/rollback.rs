//! What undoes an apply's table change when the sysctl step after it fails: a copy of
//! our table as it was, put back whole, or the in-place change's inverse (O(change), no
//! read of our table before the change).

use super::table_copy::TableCopy;
use super::{ApplyError, Guard, inverse, inverse_io};
use crate::nft::client::Client;
use crate::nsid::NetnsId;
use std::sync::Arc;

/// What undoes the table's change when the sysctl step fails after it.
pub(super) enum Rollback {
    /// Our table as it was, put back whole.
    Copy(Arc<TableCopy>),
    /// The in-place change's inverse.
    Inverse(inverse::Inverse),
}

impl Rollback {
    /// A copy of our table now (nothing committed yet), counted in `dumps`.
    pub(super) fn copy(
        nl: &mut Client,
        table: &str,
        guard: &Guard,
        dumps: &mut u32,
    ) -> Result<Rollback, ApplyError> {
        *dumps += 1;
        let copy = TableCopy::capture(nl, table, guard)?;
        Ok(Rollback::Copy(Arc::new(copy)))
    }

    pub(super) fn undo(
        &self,
        nl: &mut Client,
        table: &str,
        here: Option<&NetnsId>,
    ) -> Result<(), ApplyError> {
        match self {
            Rollback::Copy(c) => c.restore(nl, table),
            Rollback::Inverse(inv) => {
                inverse_io::restore(nl, table, inv, here).map_err(|e| match e {
                    inverse_io::InverseError::Apply(e) => e,
                    inverse_io::InverseError::Changed(why) => ApplyError::Replay(why),
                })
            }
        }
    }
}
