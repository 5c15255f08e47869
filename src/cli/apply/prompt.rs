//! The terminal prompt of `apply --confirm`.

use super::Out;
use std::io::{BufRead, IsTerminal};

pub enum Answer {
    Yes,
    No,
    Timeout,
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on stderr, waits for a line on stdin for at most `secs` seconds.
pub fn ask(out: &Out, secs: u64) -> Answer {
    out.stderr(&format!("Keep this ruleset? [y/N] (reverting in {secs}s) "));
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(secs.saturating_mul(1000)).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd on the stack, count 1.
    let ready = unsafe { libc::poll(&mut fd, 1, ms) };
    if ready <= 0 {
        out.stderr("\n");
        return Answer::Timeout;
    }
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(_) if matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes") => Answer::Yes,
        _ => Answer::No,
    }
}
