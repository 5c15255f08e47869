//! Diagnostics: what the checker (and later apply) reports against policy text, and how it renders.

mod excerpt;

use crate::source::{FileId, SourceMap, Span};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{self, Files};
use codespan_reporting::term;
use excerpt::Excerpt;
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

/// Diagnostics of each severity printed by default; the rest are counted, not rendered.
pub const DEFAULT_SHOWN: usize = 100;

/// Rendered diagnostics and how many of each severity were left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub hidden_errors: usize,
    pub hidden_warnings: usize,
}

/// Renders diagnostics as `error[CODE]: message`, `--> file:line:col`, the line and a caret.
/// Sorted by file and position so output is stable; the caller prints the result.
pub fn render(map: &SourceMap, diags: &[Diagnostic], color: Color) -> String {
    render_capped(map, diags, color, None).text
}

/// [`render`] of at most `max` errors and `max` warnings (`None`: all), the first of each
/// in file order; what was left out is counted in the result. Each diagnostic costs a
/// binary search per label, so rendering grows with what is shown, not with the file.
pub fn render_capped(
    map: &SourceMap,
    diags: &[Diagnostic],
    color: Color,
    max: Option<usize>,
) -> Rendered {
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by_key(|d| (d.span.file, d.span.start, d.severity, d.code));
    let max = max.unwrap_or(usize::MAX);
    let (mut errors, mut warnings) = (0usize, 0usize);
    sorted.retain(|d| {
        let seen = if d.is_error() {
            &mut errors
        } else {
            &mut warnings
        };
        *seen += 1;
        *seen <= max
    });
    let mut config = term::Config {
        chars: term::Chars::ascii(),
        ..term::Config::default()
    };
    config.start_context_lines = 1;
    config.end_context_lines = 1;
    let mut out = Vec::new();
    for d in sorted {
        let labels: Vec<(FileId, Range<usize>)> = std::iter::once(&d.span)
            .chain(d.secondary.iter().map(|l| &l.span))
            .filter(|s| (s.file.0 as usize) < map.files().count())
            .map(|s| (s.file, s.range()))
            .collect();
        let view = Excerpt::new(map, &labels);
        let cd = to_codespan(d, &view);
        let res = match color {
            Color::Never => term::emit_to_io_write(&mut out, &config, &view, &cd),
            Color::Always => {
                let styles = term::Styles::default();
                let mut buf = term::termcolor::Ansi::new(&mut out);
                let mut w = term::StylesWriter::new(&mut buf, &styles);
                term::emit_to_write_style(&mut w, &config, &view, &cd)
            }
        };
        if res.is_err() {
            // A span outside its file is a bug in the checker; still say what we know.
            out.extend_from_slice(format!("{}: {}\n", d.code, d.message).as_bytes());
        }
    }
    Rendered {
        text: String::from_utf8_lossy(&out).into_owned(),
        hidden_errors: errors.saturating_sub(max),
        hidden_warnings: warnings.saturating_sub(max),
    }
}

/// The codespan diagnostic, its label ranges moved into the excerpt `view`.
fn to_codespan(d: &Diagnostic, view: &Excerpt) -> cs::Diagnostic<FileId> {
    let sev = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let at = |s: &Span| view.map(s.file, &s.range());
    let primary = cs::Label::primary(d.span.file, at(&d.span)).with_message(clip(&d.label));
    let mut labels = vec![primary];
    for l in &d.secondary {
        labels.push(cs::Label::secondary(l.span.file, at(&l.span)).with_message(clip(&l.message)));
    }
    let mut cd = cs::Diagnostic::new(sev)
        .with_code(d.code)
        .with_message(clip(&d.message))
        .with_labels(labels);
    if let Some(h) = &d.help {
        cd = cd.with_notes(vec![format!("help: {}", clip(h))]);
    }
    cd
}

/// Longest message, label or help printed whole; longer ones (quoting a huge name) keep
/// their first and last part around ` ... `.
pub const MAX_MESSAGE: usize = 400;

fn clip(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    let mut head = MAX_MESSAGE * 2 / 3;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - MAX_MESSAGE / 3;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{} ... {}", &text[..head], &text[tail..])
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
        Ok(SourceMap::line_index(self, id, byte_index))
    }

    fn column_number(
        &'a self,
        id: FileId,
        line_index: usize,
        byte_index: usize,
    ) -> Result<usize, files::Error> {
        Ok(self.column_index(id, line_index, byte_index) + 1)
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, files::Error> {
        SourceMap::line_range(self, id, line_index).ok_or(files::Error::LineTooLarge {
            given: line_index,
            max: self.line_count(id).saturating_sub(1),
        })
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

    fn errors_on_every_line(n: usize) -> (SourceMap, Vec<Diagnostic>) {
        let mut m = SourceMap::new();
        let text: String = (0..n)
            .map(|i| format!("    allow tcp {}\n", 70_000 + i))
            .collect();
        let f = m.add("big.policy", text);
        let diags = (0..n)
            .map(|i| {
                let at = i * 20 + 14;
                Diagnostic::error("E0201", Span::new(f, at..at + 5), "port out of range")
                    .with_label("above 65535")
            })
            .collect();
        (m, diags)
    }

    /// Rendering every diagnostic of a file costs a line lookup each, not
    /// a scan from the start of the file (counted, not timed; issue #8 item 9).
    #[test]
    fn rendering_work_grows_linearly_with_diagnostics() {
        let work = |n: usize| {
            let (m, d) = errors_on_every_line(n);
            crate::work::take();
            let out = render(&m, &d, Color::Never);
            assert_eq!(out.matches("error[E0201]").count(), n);
            assert!(
                out.contains(&format!("big.policy:{n}:15")),
                "last line located"
            );
            crate::work::take()
        };
        let (small, large) = (work(4_000), work(8_000));
        assert!(small > 0);
        assert!(
            large * 10 <= small * 23,
            "work {small} -> {large} for twice the lines"
        );
    }

    #[test]
    fn capped_rendering_shows_the_first_of_each_severity_and_counts_the_rest() {
        let (m, mut d) = errors_on_every_line(30);
        let f = d[0].span.file;
        d.push(Diagnostic::warning(
            "W0002",
            Span::new(f, 580..585),
            "shadowed",
        ));
        d.push(Diagnostic::warning(
            "W0002",
            Span::new(f, 560..565),
            "shadowed",
        ));
        let r = render_capped(&m, &d, Color::Never, Some(10));
        assert_eq!(r.text.matches("error[E0201]").count(), 10);
        assert_eq!(
            r.text.matches("warning[W0002]").count(),
            2,
            "late warnings still shown"
        );
        assert!(r.text.contains("big.policy:1:15") && !r.text.contains("big.policy:11:15"));
        assert_eq!((r.hidden_errors, r.hidden_warnings), (20, 0));
        let all = render_capped(&m, &d, Color::Never, None);
        assert_eq!(all.text.matches("error[E0201]").count(), 30);
        assert_eq!((all.hidden_errors, all.hidden_warnings), (0, 0));
    }

    /// Line and column lookups agree with counting from the start, on every byte.
    #[test]
    fn line_lookups_agree_with_a_scan() {
        let mut m = SourceMap::new();
        let text = "ab\n\ncdé f\nlast";
        let f = m.add("t", text);
        for pos in 0..=text.len() {
            let line = text.as_bytes()[..pos]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            assert_eq!(Files::line_index(&m, f, pos).ok(), Some(line), "{pos}");
        }
        assert_eq!(Files::line_range(&m, f, 2).ok(), Some(4..11));
        assert_eq!(Files::line_range(&m, f, 3).ok(), Some(11..15));
        assert!(Files::line_range(&m, f, 4).is_err());
        assert_eq!(Files::column_number(&m, f, 2, 9).ok(), Some(5), "after é");
    }

    /// Many diagnostics on one 1 MB line: each shows windows around its own label, so the
    /// output grows with the diagnostics, not with the line times the diagnostics.
    #[test]
    fn long_lines_are_shown_in_windows_around_the_label() {
        let items: Vec<String> = (0..50_000)
            .map(|i| format!("10.{}.{}.1/8", i / 250, i % 250))
            .collect();
        let text = format!("policy p {{\n    define big = {}\n}}\n", items.join(", "));
        let mut m = SourceMap::new();
        let f = m.add("long.policy", text.clone());
        let mut diags = Vec::new();
        let mut at = text.find("10.").unwrap_or_default();
        for (i, item) in items.iter().enumerate() {
            if i % 25 == 0 {
                let d = Diagnostic::error("E0204", Span::new(f, at..at + item.len()), "host bits")
                    .with_label("host bits set");
                diags.push(d);
            }
            at += item.len() + 2;
        }
        let out = render(&m, &diags, Color::Never);
        assert_eq!(out.matches("error[E0204]").count(), 2000);
        assert!(out.len() < 2000 * 600, "{} bytes", out.len());
        let last = &items[49_975];
        let tail = &out[out.len().saturating_sub(700)..];
        assert!(out.contains(&format!(" {last}, ")), "window: {tail}");
        let col = text.rfind(last.as_str()).unwrap_or_default()
            - text.find("    define").unwrap_or_default()
            + 1;
        assert!(out.contains(&format!("long.policy:2:{col}")), "real column");
        assert!(out.contains("^^^^^^^^^^^ host bits set"));
    }
}
