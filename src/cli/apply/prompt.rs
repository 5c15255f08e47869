//! The terminal prompt of `apply --confirm`. Only an explicit "y" or "n" is an answer:
//! end of input, a hung-up terminal (EOF, EIO, POLLHUP) and a termination signal
//! (SIGHUP, SIGINT, SIGTERM, SIGQUIT) end the prompt without one, leaving the change
//! pending for `hostwall confirm` or its watcher. The caller holds a
//! [`hostwall::safe::signals::Deferred`] so those signals arrive here as events.

use super::Out;
use hostwall::safe::signals::SignalFd;
use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Longest answer line kept; anything longer is not an answer.
const LINE_MAX: usize = 64;

pub enum Answer {
    Yes,
    No,
    /// The deadline came first.
    Deadline,
    /// The input ended or the terminal hung up (the text says which).
    Lost(String),
    /// A termination signal arrived.
    Signal(libc::c_int),
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on stderr and waits for an answer on stdin for `within` (the change's time
/// left, counted from now on the monotonic clock).
pub fn ask(out: &Out, within: Duration) -> Answer {
    let deadline = Instant::now() + within;
    let left = || deadline.saturating_duration_since(Instant::now());
    let signals = SignalFd::new().ok();
    out.stderr(&format!(
        "Keep this ruleset? [y/n] (reverting in {}s) ",
        within.as_secs()
    ));
    let mut line = Line::default();
    loop {
        let wait = left();
        if wait.is_zero() {
            out.stderr("\n");
            return Answer::Deadline;
        }
        let mut fds = [
            pollfd(libc::STDIN_FILENO),
            pollfd(signals.as_ref().map_or(-1, |s| s.as_raw_fd())),
        ];
        let ms = i32::try_from(wait.as_millis().saturating_add(1)).unwrap_or(i32::MAX);
        // SAFETY: two valid pollfds on the stack (a negative fd is ignored by poll).
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Answer::Lost(format!("cannot wait for the terminal: {e}"));
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Some(sig) = signals.as_ref().and_then(SignalFd::take) {
                return Answer::Signal(sig);
            }
        }
        let got = fds[0].revents;
        if got & libc::POLLIN != 0 {
            if let Some(answer) = line.read(out) {
                return answer;
            }
        } else if got & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Answer::Lost("the terminal hung up".into());
        }
    }
}

fn pollfd(fd: libc::c_int) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// The answer being typed, bounded to [`LINE_MAX`] bytes.
#[derive(Default)]
struct Line {
    text: Vec<u8>,
    too_long: bool,
}

impl Line {
    /// Reads what stdin has; returns an answer once a whole line (or the end) arrives.
    fn read(&mut self, out: &Out) -> Option<Answer> {
        let mut buf = [0u8; 256];
        // SAFETY: reads at most buf.len() bytes into a local buffer.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            return Some(Answer::Lost("end of input".into()));
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock => None,
                _ if e.raw_os_error() == Some(libc::EIO) => {
                    Some(Answer::Lost("the terminal hung up (EIO)".into()))
                }
                _ => Some(Answer::Lost(format!("cannot read the terminal: {e}"))),
            };
        }
        for &b in &buf[..n as usize] {
            if b != b'\n' {
                self.push(b);
                continue;
            }
            match self.take() {
                Some(answer) => return Some(answer),
                None => out.stderr("Please answer y (keep) or n (revert now): "),
            }
        }
        None
    }

    fn push(&mut self, b: u8) {
        if self.text.len() < LINE_MAX {
            self.text.push(b);
        } else {
            self.too_long = true;
        }
    }

    fn take(&mut self) -> Option<Answer> {
        let text = std::mem::take(&mut self.text);
        let too_long = std::mem::replace(&mut self.too_long, false);
        if too_long {
            return None;
        }
        match String::from_utf8_lossy(&text)
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "y" | "yes" => Some(Answer::Yes),
            "n" | "no" => Some(Answer::No),
            _ => None,
        }
    }
}
