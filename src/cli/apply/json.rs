//! The JSON documents of `apply`, `confirm`, `revert` and `status` (`--format json`,
//! docs/json.md, schemas in docs/schema/): the one document of the command this process
//! runs, filled in while it runs and printed once on stdout when it ends. Without
//! `--format json` every call here does nothing; the human lines go to stderr either way.

use crate::cli::args::DiffFormat;
use crate::cli::output::Out;
use hostwall::diag::Diagnostic;
use hostwall::source::{SourceMap, Span};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::cell::RefCell;

/// The document being built: its command, its fields, what went wrong.
struct Doc {
    command: &'static str,
    fields: Map<String, Value>,
    errors: Vec<Value>,
    warnings: Vec<Value>,
}

thread_local! {
    /// The command's document while a `--format json` command runs on this thread.
    static DOC: RefCell<Option<Doc>> = const { RefCell::new(None) };
}

/// Runs `command` (`"apply"`, …) and, with `--format json`, prints its document on
/// stdout when it ends, carrying the exit code. Returns the exit code.
pub fn run(out: &Out, format: DiffFormat, command: &'static str, f: impl FnOnce() -> u8) -> u8 {
    if format != DiffFormat::Json {
        return f();
    }
    DOC.with(|d| {
        *d.borrow_mut() = Some(Doc {
            command,
            fields: Map::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        })
    });
    let code = f();
    let Some(doc) = DOC.with(|d| d.borrow_mut().take()) else {
        return code;
    };
    let printed = out.stdout(&render(doc, code));
    if code == 0 { printed } else { code }
}

/// The envelope around a command's fields (docs/json.md): schema name and version,
/// hostwall's version, whether it succeeded, the exit code, errors and warnings.
fn render(doc: Doc, code: u8) -> String {
    let mut top = doc.fields;
    top.insert(
        "schema".into(),
        json!(format!("hostwall/{}/1", doc.command)),
    );
    top.insert("hostwall".into(), json!(env!("CARGO_PKG_VERSION")));
    top.insert("ok".into(), json!(code == 0));
    top.insert("exit_code".into(), json!(code));
    top.insert("errors".into(), Value::Array(doc.errors));
    top.insert("warnings".into(), Value::Array(doc.warnings));
    // Plain maps of strings, numbers and booleans always serialise.
    let mut s = serde_json::to_string_pretty(&Value::Object(top)).unwrap_or_default();
    s.push('\n');
    s
}

/// Whether a `--format json` command is running.
pub fn active() -> bool {
    DOC.with(|d| d.borrow().is_some())
}

/// Sets a field of the document.
pub fn set(key: &str, value: impl Serialize) {
    DOC.with(|d| {
        if let Some(doc) = d.borrow_mut().as_mut() {
            let v = serde_json::to_value(value).unwrap_or(Value::Null);
            doc.fields.insert(key.into(), v);
        }
    });
}

fn push(error: bool, value: Value) {
    DOC.with(|d| {
        if let Some(doc) = d.borrow_mut().as_mut() {
            if error {
                doc.errors.push(value);
            } else {
                doc.warnings.push(value);
            }
        }
    });
}

/// Prints the one-line error and records it.
pub fn error(out: &Out, msg: &str) {
    out.error(msg);
    push(true, json!({ "message": msg }));
}

/// Records a warning of `kind` that has no policy line.
pub fn warning(kind: &str, message: &str) {
    push(false, json!({ "kind": kind, "message": message }));
}

/// Records a message about a policy line: `file`, `line`, `column` and `location`
/// (`file:line:col`) beside the message.
fn located(map: &SourceMap, span: Span, message: &str, code: &str) -> Value {
    let (line, column) = map.line_col(span);
    let mut v = json!({
        "message": message,
        "file": map.file(span.file).name,
        "line": line,
        "column": column,
        "location": map.location(span),
    });
    if !code.is_empty() {
        v["code"] = json!(code);
    }
    v
}

/// Records the checker's diagnostics: errors as errors, warnings as warnings (kind
/// `policy`).
pub fn diagnostics(map: &SourceMap, diags: &[Diagnostic]) {
    if !active() {
        return;
    }
    for d in diags {
        let mut v = located(map, d.span, &d.message, d.code);
        if let Some(help) = &d.help {
            v["help"] = json!(help);
        }
        if !d.is_error() {
            v["kind"] = json!("policy");
        }
        push(d.is_error(), v);
    }
}

/// Records an error caused by one policy line (a kernel refusal).
pub fn error_at(map: &SourceMap, span: Span, message: &str) {
    push(true, located(map, span, message, ""));
}

/// Records the other tables' conflicts and warnings (`hostwall diff`'s change objects,
/// kind as docs/diff.md names it).
pub fn warning_changes(changes: &[hostwall::diff::Change]) {
    if !active() || changes.is_empty() {
        return;
    }
    for c in change_values(changes) {
        push(false, c);
    }
}

/// `changes` as `hostwall diff --format json` writes them.
pub fn change_values(changes: &[hostwall::diff::Change]) -> Vec<Value> {
    let doc = hostwall::diff::render_json("", changes, false, 0);
    match serde_json::from_str::<Value>(&doc) {
        Ok(Value::Object(mut m)) => match m.remove("changes") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The Unix second `at` as `{unix, utc}`.
pub fn time(at: u64) -> Value {
    json!({ "unix": at, "utc": format!("{}Z", super::lifecycle::utc(at).replace(' ', "T")) })
}
