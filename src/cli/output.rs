//! Where output goes: stdout for results, stderr for diagnostics; colour decided once.

use super::args::ColorChoice;
use hostwall::diag::{Color, Diagnostic};
use hostwall::source::SourceMap;
use std::io::{IsTerminal, Write};

pub struct Out {
    color: Color,
    /// The last one-line error printed, for a JSON document about a command that
    /// stopped before it ran (`defaults::fill`'s refusals).
    last_error: std::sync::Mutex<Option<String>>,
    /// Diagnostics of each severity printed; `None` prints all.
    max_diagnostics: Option<usize>,
}

impl Out {
    /// `max_diagnostics` 0 prints every diagnostic.
    pub fn new(choice: ColorChoice, max_diagnostics: usize) -> Out {
        let color = match choice {
            ColorChoice::Always => Color::Always,
            ColorChoice::Never => Color::Never,
            ColorChoice::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                if !no_color && std::io::stderr().is_terminal() {
                    Color::Always
                } else {
                    Color::Never
                }
            }
        };
        Out {
            color,
            last_error: std::sync::Mutex::new(None),
            max_diagnostics: (max_diagnostics > 0).then_some(max_diagnostics),
        }
    }

    /// The last message [`Out::error`] printed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().map(|e| e.clone()).unwrap_or(None)
    }

    pub fn color(&self) -> Color {
        self.color
    }

    /// Writes a result; a closed pipe (`hostwall compile | head`) is not an error.
    pub fn stdout(&self, text: &str) -> u8 {
        let mut o = std::io::stdout().lock();
        match o.write_all(text.as_bytes()).and_then(|_| o.flush()) {
            Ok(()) => 0,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            Err(e) => {
                self.error(&format!("cannot write output: {e}"));
                2
            }
        }
    }

    pub fn stderr(&self, text: &str) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// Prints diagnostics, at most the configured number of each severity, then one line
    /// counting those left out.
    pub fn diagnostics(&self, map: &SourceMap, diags: &[Diagnostic]) {
        if diags.is_empty() {
            return;
        }
        let r = hostwall::diag::render_capped(map, diags, self.color, self.max_diagnostics);
        self.stderr(&r.text);
        let hidden = [(r.hidden_errors, "error"), (r.hidden_warnings, "warning")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} more {what}{}", if *n == 1 { "" } else { "s" }))
            .collect::<Vec<_>>();
        if !hidden.is_empty() {
            self.stderr(&format!(
                "... and {} not shown (--max-diagnostics 0 prints all)\n",
                hidden.join(" and ")
            ));
        }
    }

    /// One-line error message, `hostwall: error: ...`.
    pub fn error(&self, msg: &str) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(msg.to_string());
        }
        let head = match self.color {
            Color::Always => "\x1b[1;31merror\x1b[0m",
            Color::Never => "error",
        };
        self.stderr(&format!("hostwall: {head}: {msg}\n"));
    }
}

/// An error and its causes on one line, joined by `: `, each said once: a cause whose
/// text its wrapper's message already is, or ends with after a `: ` (a
/// `#[error("...: {0}")]` or `#[error("{0}")]` over a `#[from]`), is not said again.
pub fn chain_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut wrapper = String::new();
    for cause in e.chain() {
        let said = cause.to_string();
        let repeats = wrapper == said || wrapper.ends_with(&format!(": {said}"));
        if text.is_empty() {
            text.clone_from(&said);
        } else if !repeats {
            text.push_str(": ");
            text.push_str(&said);
        }
        wrapper = said;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::chain_text;
    use anyhow::Context;

    #[derive(Debug, thiserror::Error)]
    enum Wrapped {
        #[error("{0}")]
        Bare(#[from] std::io::Error),
    }

    fn missing() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::ENOENT)
    }

    #[test]
    fn each_cause_is_said_once() {
        let e = Err::<(), _>(Wrapped::from(missing()))
            .context("cannot read policy a.policy")
            .unwrap_err();
        assert_eq!(
            chain_text(&e),
            "cannot read policy a.policy: No such file or directory (os error 2)"
        );
        // A cause not in its wrapper's message is still said.
        let e = Err::<(), _>(missing())
            .context("cannot read x")
            .unwrap_err();
        let e = e.context("loading");
        assert_eq!(
            chain_text(&e),
            "loading: cannot read x: No such file or directory (os error 2)"
        );
        // A cause that only happens to end its wrapper's words is said.
        let e = Err::<(), _>(anyhow::anyhow!("file"))
            .context("no such file")
            .unwrap_err();
        assert_eq!(chain_text(&e), "no such file: file");
    }
}
