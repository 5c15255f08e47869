//! The one runner of the `nft` oracle: `nft ARGS` with a script on stdin, in the calling
//! thread's namespace, in a named namespace (`ip netns exec`), or in a private throwaway
//! user and network namespace (`unshare -rn`, no root needed). Failures carry where it
//! ran, the arguments, the exit status and nft's stderr.

use std::io::Write;
use std::process::{Command, Stdio};

/// Where `nft` runs.
#[derive(Clone, Copy, Debug)]
pub enum At<'a> {
    /// The calling thread's network namespace.
    Here,
    /// A named namespace under /run/netns.
    Netns(&'a str),
    /// A new, empty user and network namespace that ends with the command.
    Private,
}

impl At<'_> {
    fn command(self, program: &str) -> Command {
        match self {
            At::Here => Command::new(program),
            At::Netns(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            At::Private => {
                let mut c = Command::new("unshare");
                c.args(["-rn", program]);
                c
            }
        }
    }
}

/// Runs `program ARGS` at `at` with `stdin`; `Ok(stdout)` when it exits 0, else `Err`
/// naming the command with its status and stderr. Panics when the program cannot be
/// started at all: a missing oracle fails the test, it never reads as a refusal.
fn run(at: At, program: &str, args: &[&str], stdin: &str) -> Result<String, String> {
    let what = format!("{program} {} ({at:?})", args.join(" "));
    let mut child = at
        .command(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {what} (install nftables, iproute2, util-linux): {e}")
        });
    if let Some(mut i) = child.stdin.take() {
        // nft may exit before reading all of a refused script: a broken pipe is its answer.
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `nft ARGS` at `at` with `stdin`; `Ok(stdout)` or the failure with nft's stderr.
pub fn nft(at: At, args: &[&str], stdin: &str) -> Result<String, String> {
    run(at, "nft", args, stdin)
}

/// `nft ARGS` at `at`; panics with nft's stderr when it fails.
pub fn nft_ok(at: At, args: &[&str], stdin: &str) -> String {
    nft(at, args, stdin).unwrap_or_else(|e| panic!("{e}"))
}

/// `nft -f -` of `script` at `at`; panics with nft's stderr and the script's start.
pub fn load(at: At, script: &str) {
    if let Err(e) = nft(at, &["-f", "-"], script) {
        panic!(
            "{e}\n--- script (first 2000 bytes) ---\n{}",
            cut(script, 2000)
        );
    }
}

/// Whether nft accepts `script` as a check (`nft -c -f -`) in a private namespace.
pub fn accepts(script: &str) -> Result<(), String> {
    nft(At::Private, &["-c", "-f", "-"], script).map(drop)
}

/// Loads `script` (JSON when `json`) into a fresh private namespace and returns
/// `nft list ruleset` from that same namespace.
pub fn load_and_list(script: &str, json: bool) -> Result<String, String> {
    let load = if json { "nft -j -f -" } else { "nft -f -" };
    run(
        At::Private,
        "sh",
        &["-c", &format!("{load} && nft list ruleset")],
        script,
    )
}

/// `s` cut to at most `n` bytes, at a char boundary (for long scripts in messages).
pub fn cut(s: &str, n: usize) -> &str {
    let end = (0..=n.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}

/// `nft ARGS` with `stdin` in the calling thread's namespace; panics with nft's stderr.
pub fn here_ok(args: &[&str], stdin: &str) -> String {
    nft_ok(At::Here, args, stdin)
}

/// An `nft -i` process at `At` holding `table inet hostwall { flags owner; }` while it
/// runs; killed (by its own pid) on drop, which makes the kernel drop the table.
pub struct OwnedTable(std::process::Child);

impl OwnedTable {
    /// Starts `nft -i` at `at` and waits (up to 2 s) until the owned table is listed.
    pub fn hold(at: At) -> OwnedTable {
        let mut child = at
            .command("nft")
            .arg("-i")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("nft -i ({at:?}): {e}"));
        if let Some(i) = child.stdin.as_mut() {
            i.write_all(b"add table inet hostwall { flags owner; }\n")
                .unwrap_or_else(|e| panic!("nft -i: {e}"));
        }
        let owner = OwnedTable(child);
        let held = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            nft(at, &["-s", "list", "ruleset"], "").is_ok_and(|l| l.contains("flags owner"))
        });
        assert!(held, "nft -i never created the owned table");
        owner
    }
}

impl Drop for OwnedTable {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `iptables-nft-restore` (or `ip6tables-nft-restore` with `v6`) of `rules` at `at`: how
/// tests load a ruleset iptables-nft wrote, `xt` matches and targets included (which
/// `nft -f` cannot read back).
pub fn iptables_restore(at: At, v6: bool, rules: &str) -> Result<String, String> {
    let program = if v6 {
        "ip6tables-nft-restore"
    } else {
        "iptables-nft-restore"
    };
    run(at, program, &[], rules)
}
