//! Putting the ruleset under test into the host namespace: the policy's own
//! ruleset, or (`--against`) a hand-written nft file.
//!
//! `--against` is the one place hostwall runs `nft -f`: the file is nft
//! syntax by definition, and it is loaded only inside the throwaway namespace.

use super::{VerifyError, VerifyOptions};
use crate::ir::Ruleset;
use crate::netns::Netns;
use std::io::Write;
use std::process::{Command, Stdio};

pub(super) fn load(rs: &Ruleset, opts: &VerifyOptions, host: &Netns) -> Result<(), VerifyError> {
    match &opts.against {
        Some(path) => {
            let path = path.to_string_lossy().into_owned();
            nft_in(host, &["-f", &path], None)
        }
        None => apply(rs, host),
    }
}

/// Interim until `apply` (netlink) is merged: loads the emitted nft text and
/// writes the policy's sysctls inside the namespace, which is what apply does.
fn apply(rs: &Ruleset, host: &Netns) -> Result<(), VerifyError> {
    let text = crate::emit::text::render(rs, "verify");
    nft_in(host, &["-f", "-"], Some(text.as_bytes()))?;
    for s in &rs.sysctls {
        host.write_sysctl(s.key.name(), if s.value { "1" } else { "0" })?;
    }
    Ok(())
}

/// Runs `nft ARGS` inside `ns` (via `ip netns exec`, which enters only the namespace).
fn nft_in(ns: &Netns, args: &[&str], stdin: Option<&[u8]>) -> Result<(), VerifyError> {
    let fail = |msg: String| VerifyError::Load(format!("nft {}: {msg}", args.join(" ")));
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), "nft"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}
