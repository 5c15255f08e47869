//! Putting the ruleset under test into the host namespace: the policy's own
//! ruleset, or (`--against`) a hand-written nft file.
//!
//! `--against` is the one place hostwall runs `nft -f`: the file is nft
//! syntax by definition, and it is loaded only inside the throwaway namespace.

use super::{VerifyError, VerifyOptions};
use crate::ir::Ruleset;
use crate::netns::Netns;

/// Applies the policy's ruleset in the host namespace; an `--against` file
/// is already there (`decode` loaded it).
pub(super) fn load(rs: &Ruleset, opts: &VerifyOptions, host: &Netns) -> Result<(), VerifyError> {
    match &opts.against {
        Some(_) => Ok(()),
        None => apply(rs, host),
    }
}

/// Applies the policy's ruleset and sysctls in the host namespace exactly as
/// `hostwall apply --netns` would: over netlink, one batch, then the sysctl step.
fn apply(rs: &Ruleset, host: &Netns) -> Result<(), VerifyError> {
    let opts = crate::apply::ApplyOptions {
        netns: Some(host.name().to_string()),
        ..Default::default()
    };
    crate::apply::apply(rs, &opts)
        .map(|_| ())
        .map_err(|e| VerifyError::Load(e.to_string()))
}

/// A fresh namespace holding the `--against` file, for a second lab (the
/// rate-limit probes need buckets no other probe has touched).
pub(super) fn fresh(path: &std::path::Path) -> Result<Netns, VerifyError> {
    let ns = Netns::create_unique(super::lab::PREFIX)?;
    nft_in(&ns, &["-f", &path.to_string_lossy()], None)?;
    Ok(ns)
}

/// What `decode` gives: the `--against` ruleset as read back (when it has
/// the policy's table), a note when not, and the host namespace holding it.
pub(super) type Decoded = (Option<Ruleset>, Option<String>, Netns);

/// Loads the `--against` file into a fresh namespace, which becomes the
/// test's host, and reads our table back as the live reader decodes it, for
/// the boundaries it draws. A file without the policy's table gives `None`
/// and a note: the probes then come from the policy's boundaries alone.
pub(super) fn decode(rs: &Ruleset, path: &std::path::Path) -> Result<Decoded, VerifyError> {
    let ns = Netns::create_unique(super::lab::PREFIX)?;
    let path_text = path.to_string_lossy().into_owned();
    nft_in(&ns, &["-f", &path_text], None)?;
    let snap = crate::live::read(&rs.table.name, Some(ns.name()))
        .map_err(|e| VerifyError::Load(format!("reading back {path_text}: {e}")))?;
    let (table, note) = match snap.table {
        Some(table) => (
            Some(Ruleset {
                table,
                sysctls: rs.sysctls.clone(),
            }),
            None,
        ),
        None => (
            None,
            Some(format!(
                "{path_text} has no table inet {}: probes come from the policy's boundaries alone",
                rs.table.name
            )),
        ),
    };
    Ok((table, note, ns))
}

/// Runs `nft ARGS` inside `ns` (via `ip netns exec`, which enters only the namespace).
fn nft_in(ns: &Netns, args: &[&str], stdin: Option<&[u8]>) -> Result<(), VerifyError> {
    let mut all = vec!["netns", "exec", ns.name(), "nft"];
    all.extend_from_slice(args);
    crate::netns::run_ip(&all, stdin)
        .map_err(|e| VerifyError::Load(format!("nft {}: {e}", args.join(" "))))
}
