//! Which network namespace's pending change a command means: `--netns NAME`, or the
//! namespace hostwall runs in. One pending change per namespace, found by identity.

use super::StateArgs;
use hostwall::nsid::{self, NetnsId, NsIdError};
use hostwall::safe::Slot;

/// Arguments of `confirm`, `status` and `revert`.
#[derive(clap::Args, Debug)]
pub struct PendingArgs {
    /// The change pending in /run/netns/NAME (default: in the namespace this runs in).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
    /// Output: lines for people, or one JSON document on stdout (docs/json.md).
    #[arg(long, value_enum, default_value_t = crate::cli::args::DiffFormat::Text)]
    pub format: crate::cli::args::DiffFormat,
}

/// The slot of `netns` (or of this process's namespace): its identity's key. On a
/// kernel without namespace cookies the nsfs inode routes the slot; such a kernel
/// refuses `--confirm` outside PID 1's namespace, so nothing of another namespace
/// that got the same inode can wait there.
pub fn resolve(netns: Option<&str>) -> Result<Slot, String> {
    let key = match NetnsId::of(netns) {
        Ok(id) => id.key(),
        Err(NsIdError::NoCookie) => inode_key(netns).map_err(|e| e.to_string())?,
        Err(e) => return Err(e.to_string()),
    };
    Slot::new(&key, netns).map_err(|e| e.to_string())
}

fn inode_key(netns: Option<&str>) -> std::io::Result<String> {
    let path = match netns.and_then(hostwall::netns::path) {
        Some(p) => p,
        None => "/proc/thread-self/ns/net".into(),
    };
    Ok(format!("i{}", nsid::inode_of(&path)?.replace(':', "-")))
}

/// One line per change pending in another namespace than `slot`'s, for `status`.
pub fn elsewhere(dir: &std::path::Path, slot: &Slot) -> String {
    let others = match hostwall::safe::slot::all(dir) {
        Ok(all) => all,
        Err(e) => return format!("(cannot list other namespaces' changes: {e})\n"),
    };
    let mut text = String::new();
    for other in others.iter().filter(|o| o.key() != slot.key()) {
        match hostwall::safe::pending::read(dir, other) {
            Ok(Some(r)) => text.push_str(&format!(
                "also pending in {}: change {} (policy {}, {}s left){}\n",
                r.netns
                    .as_deref()
                    .map(|n| format!("network namespace {n}"))
                    .unwrap_or_else(|| "another network namespace".into()),
                r.id,
                r.policy,
                r.remaining(),
                r.netns
                    .as_deref()
                    .map(|n| format!("; see `hostwall status --netns {n}`"))
                    .unwrap_or_else(|| "; run `hostwall status` inside it".into()),
            )),
            Ok(None) => {}
            Err(e) => text.push_str(&format!("(another pending change is unreadable: {e})\n")),
        }
    }
    text
}
