//! The parts every `--format json` document shares (docs/json.md): the envelope, the
//! error object, and diagnostics as JSON. Commands bring their own body types.

use crate::diag::{Diagnostic, Severity};
use crate::source::{SourceMap, Span};
use serde::Serialize;

/// The version of hostwall that writes the documents.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The four fields every document opens with, then `ok`, then the command's own fields.
#[derive(Serialize)]
pub struct Envelope<'a, T: Serialize> {
    pub command: &'a str,
    pub schema: u32,
    pub hostwall: &'a str,
    pub host: &'a str,
    /// True exactly when the command exits 0.
    pub ok: bool,
    #[serde(flatten)]
    pub body: T,
}

/// Why a command could not produce its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The policy has errors (they are in `diagnostics`).
    Policy,
    /// A file or argument the command reads could not be used.
    Input,
    /// The kernel, a namespace, a socket, the state directory.
    System,
}

/// The `error` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

/// The fields of every document about a policy (docs/json.md): which one, its
/// diagnostics, and the error that stopped the command, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PolicyPart {
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub diagnostics: Vec<DiagnosticOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}

impl PolicyPart {
    pub fn with_error(mut self, kind: ErrorKind, message: impl Into<String>) -> PolicyPart {
        self.error = Some(Error {
            kind,
            message: message.into(),
        });
        self
    }
}

/// The whole document: the envelope around `body`, pretty-printed, with a final newline.
pub fn document<T: Serialize>(command: &str, schema: u32, host: &str, ok: bool, body: T) -> String {
    let env = Envelope {
        command,
        schema,
        hostwall: VERSION,
        host,
        ok,
        body,
    };
    // Maps with string keys, strings, numbers and booleans: serialising cannot fail; a
    // body type that could (a map with non-string keys) is a bug the schema test finds.
    let mut s = serde_json::to_string_pretty(&env).unwrap_or_default();
    s.push('\n');
    s
}

/// A place in the policy's files: 1-based line and column (characters) of the start, and
/// of the position just after the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Place {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Place {
    pub fn of(map: &SourceMap, span: Span) -> Place {
        let (line, column) = map.line_col(span);
        let end = Span {
            start: span.end,
            ..span
        };
        let (end_line, end_column) = map.line_col(end);
        Place {
            file: map.file(span.file).name.clone(),
            line,
            column,
            end_line,
            end_column,
        }
    }
}

/// A secondary place a diagnostic marks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabelOut {
    pub message: String,
    #[serde(flatten)]
    pub place: Place,
}

/// One diagnostic, every field the text output shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiagnosticOut {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    #[serde(flatten)]
    pub place: Place,
    pub label: String,
    pub labels: Vec<LabelOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// Every diagnostic, in the text output's order (file, position, severity, code); none
/// is left out. Each costs a binary search per place, like the text rendering.
pub fn diagnostics(map: &SourceMap, diags: &[Diagnostic]) -> Vec<DiagnosticOut> {
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by_key(|d| (d.span.file, d.span.start, d.severity, d.code));
    sorted.into_iter().map(|d| diagnostic(map, d)).collect()
}

fn diagnostic(map: &SourceMap, d: &Diagnostic) -> DiagnosticOut {
    DiagnosticOut {
        code: d.code,
        severity: match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        },
        message: d.message.clone(),
        place: Place::of(map, d.span),
        label: d.label.clone(),
        labels: d
            .secondary
            .iter()
            .map(|l| LabelOut {
                message: l.message.clone(),
                place: Place::of(map, l.span),
            })
            .collect(),
        help: d.help.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_opens_every_document_and_body_follows() {
        #[derive(Serialize)]
        struct Body {
            answer: u8,
        }
        let s = document("check", 3, "kvm07", true, Body { answer: 42 });
        let want = format!(
            "{{\n  \"command\": \"check\",\n  \"schema\": 3,\n  \"hostwall\": \"{VERSION}\",\n  \
             \"host\": \"kvm07\",\n  \"ok\": true,\n  \"answer\": 42\n}}\n"
        );
        assert_eq!(s, want);
    }

    #[test]
    fn a_diagnostic_carries_its_span_labels_and_help() {
        let mut map = SourceMap::new();
        let f = map.add("p.policy", "allow tcp 22\nallow ssh frm é any\n");
        let d = Diagnostic::error("E0001", Span::new(f, 23..29), "unexpected `frm é`")
            .with_label("here")
            .with_secondary(Span::new(f, 0..5), "rule starts")
            .with_help("write `from`");
        let w = Diagnostic::warning("W0002", Span::new(f, 0..12), "shadowed");
        let out = diagnostics(&map, &[d, w]);
        assert_eq!(out[0].code, "W0002", "file order first");
        let e = &out[1];
        assert_eq!((e.severity, e.place.line, e.place.column), ("error", 2, 11));
        // `é` is two bytes, one character: the end column counts characters.
        assert_eq!((e.place.end_line, e.place.end_column), (2, 16));
        assert_eq!(e.labels[0].place.column, 1);
        assert_eq!(e.labels[0].message, "rule starts");
        let v = serde_json::to_value(e).expect("json");
        assert_eq!(v["help"], "write `from`");
        assert_eq!(v["file"], "p.policy");
        assert!(
            serde_json::to_value(&out[0])
                .expect("json")
                .get("help")
                .is_none()
        );
    }
}
