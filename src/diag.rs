//! Diagnostics: what the checker (and later apply) reports against policy text, and how it renders.

use crate::source::{FileId, SourceMap, Span};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{self, Files};
use codespan_reporting::term;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// A secondary place a diagnostic points at ("first defined here").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One finding about the policy, pointing at the text that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code, e.g. `E0003`; documented in docs/policy-language.md.
    pub code: &'static str,
    pub message: String,
    pub span: Span,
    /// Text under the caret.
    pub label: String,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: String::new(),
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Whether rendered output carries ANSI colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Never,
    Always,
}

/// Renders diagnostics as `error[CODE]: message`, `--> file:line:col`, the line and a caret.
/// Sorted by file and position so output is stable; the caller prints the result.
pub fn render(map: &SourceMap, diags: &[Diagnostic], color: Color) -> String {
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by_key(|d| (d.span.file, d.span.start, d.severity, d.code));
    let mut config = term::Config {
        chars: term::Chars::ascii(),
        ..term::Config::default()
    };
    config.start_context_lines = 1;
    config.end_context_lines = 1;
    let mut out = Vec::new();
    for d in sorted {
        let cd = to_codespan(d);
        let res = match color {
            Color::Never => term::emit_to_io_write(&mut out, &config, map, &cd),
            Color::Always => {
                let styles = term::Styles::default();
                let mut buf = term::termcolor::Ansi::new(&mut out);
                let mut w = term::StylesWriter::new(&mut buf, &styles);
                term::emit_to_write_style(&mut w, &config, map, &cd)
            }
        };
        if res.is_err() {
            // A span outside its file is a bug in the checker; still say what we know.
            out.extend_from_slice(format!("{}: {}\n", d.code, d.message).as_bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn to_codespan(d: &Diagnostic) -> cs::Diagnostic<FileId> {
    let sev = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let mut labels = vec![cs::Label::primary(d.span.file, d.span.range()).with_message(&d.label)];
    for l in &d.secondary {
        labels.push(cs::Label::secondary(l.span.file, l.span.range()).with_message(&l.message));
    }
    let mut cd = cs::Diagnostic::new(sev)
        .with_code(d.code)
        .with_message(&d.message)
        .with_labels(labels);
    if let Some(h) = &d.help {
        cd = cd.with_notes(vec![format!("help: {h}")]);
    }
    cd
}

impl<'a> Files<'a> for SourceMap {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        Ok(&self.file(id).name)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        Ok(&self.file(id).text)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, files::Error> {
        let text = &self.file(id).text;
        let pos = byte_index.min(text.len());
        Ok(text[..pos].matches('\n').count())
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, files::Error> {
        let text = &self.file(id).text;
        let mut start = 0;
        for _ in 0..line_index {
            match text[start..].find('\n') {
                Some(i) => start += i + 1,
                None => {
                    return Err(files::Error::LineTooLarge {
                        given: line_index,
                        max: line_index,
                    });
                }
            }
        }
        let end = text[start..]
            .find('\n')
            .map(|i| start + i + 1)
            .unwrap_or(text.len());
        Ok(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let mut m = SourceMap::new();
        let f = m.add("site.policy", "policy p {\n    allow sshh\n}\n");
        let d = Diagnostic::error("E0101", Span::new(f, 21..25), "unknown service `sshh`")
            .with_label("not in the catalog")
            .with_help("did you mean `ssh`?");
        let out = render(&m, &[d], Color::Never);
        assert!(
            out.contains("error[E0101]: unknown service `sshh`"),
            "{out}"
        );
        assert!(out.contains("site.policy:2:11"), "{out}");
        assert!(out.contains("^^^^ not in the catalog"), "{out}");
        assert!(out.contains("help: did you mean `ssh`?"), "{out}");
    }
}
