//! Where output goes: stdout for results, stderr for diagnostics; colour decided once.

use super::args::ColorChoice;
use crate::diag::Color;
use std::io::{IsTerminal, Write};

pub struct Out {
    color: Color,
}

impl Out {
    pub fn new(choice: ColorChoice) -> Out {
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
        Out { color }
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

    /// One-line error message, `hostwall: error: ...`.
    pub fn error(&self, msg: &str) {
        let head = match self.color {
            Color::Always => "\x1b[1;31merror\x1b[0m",
            Color::Never => "error",
        };
        self.stderr(&format!("hostwall: {head}: {msg}\n"));
    }
}
