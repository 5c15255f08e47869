//! Policy text -> AST (`parse`), and AST -> canonical text (`format`).
//!
//! pest types never leave this module. Parsing reports every syntax error it can find: after an
//! error, the offending line is blanked (braces kept) and parsing restarts, so one run lists the
//! independent mistakes of a file instead of only the first.

pub mod ast;
mod build;
mod errors;
mod fmt;
mod grammar;
mod lists;
mod parse;
mod v4;

pub use errors::SYNTAX;

use crate::diag::Diagnostic;
use crate::source::{FileId, SourceMap};

/// At most this many syntax errors are reported per file; later ones are usually echoes.
const MAX_SYNTAX_ERRORS: usize = 10;

/// Parses one file. Err: every syntax error found (at least one).
pub fn parse(map: &SourceMap, file: FileId) -> Result<ast::File, Vec<Diagnostic>> {
    let original = &map.file(file).text;
    let first = match parse::parse_text(file, original) {
        Ok(ast) => return Ok(ast),
        Err(e) => e,
    };
    let mut diags = vec![errors::to_diagnostic(file, original, &first)];
    let mut text = original.clone();
    let mut last_line = None;
    while diags.len() < MAX_SYNTAX_ERRORS {
        let pos = diags.last().map(|d| d.span.start as usize).unwrap_or(0);
        let line = line_bounds(&text, pos);
        if last_line == Some(line) || !blank_line(&mut text, line) {
            break;
        }
        last_line = Some(line);
        match parse::parse_text(file, &text) {
            Ok(_) => break,
            Err(e) => {
                let d = errors::to_diagnostic(file, &text, &e);
                if diags.iter().any(|x| x.span == d.span) {
                    break;
                }
                diags.push(d);
            }
        }
    }
    Err(diags)
}

/// Canonical formatting (comments kept, idempotent). Err: syntax diagnostics.
pub fn format(map: &SourceMap, file: FileId) -> Result<String, Vec<Diagnostic>> {
    let ast = parse(map, file)?;
    Ok(fmt::format_file(&map.file(file).text, &ast))
}

fn line_bounds(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = text[pos..]
        .find('\n')
        .map(|i| pos + i)
        .unwrap_or(text.len());
    (start, end)
}

/// Replaces every byte of the line except braces with a space (byte offsets stay valid).
/// Returns false when nothing changed, so recovery cannot loop.
fn blank_line(text: &mut String, (start, end): (usize, usize)) -> bool {
    let blanked: String = text[start..end]
        .chars()
        .map(|c| match c {
            '{' | '}' => c.to_string(),
            c => " ".repeat(c.len_utf8()),
        })
        .collect();
    if blanked == text[start..end] {
        return false;
    }
    text.replace_range(start..end, &blanked);
    true
}
