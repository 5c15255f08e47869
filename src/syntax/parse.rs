//! Policy text -> AST: pest (`grammar.rs`) or the fast lane for long lists, and comment
//! spans. Only this module, `grammar.rs`, `build.rs` and `errors.rs` see pest `Rule`/`Pair` types.

use super::ast::*;
use super::build::Builder;
use super::grammar::Rule;
use super::lists;
use crate::source::{FileId, Span};
use std::cell::Cell;

/// Parses `text` (the whole file, so pest offsets are file offsets) into an AST.
///
/// Long address lists go through the fast lane (`lists`); when that cannot be proven to give
/// the same tree, or the text has a syntax error, pest parses the original text, so every
/// error is reported exactly as pest sees it.
pub(crate) fn parse_text(file: FileId, text: &str) -> Result<File, Box<pest::error::Error<Rule>>> {
    parse_text_with(file, text, lists::MIN_RUN)
}

/// [`parse_text`] with the fast lane's run threshold as a parameter (tests use small ones).
pub(crate) fn parse_text_with(
    file: FileId,
    text: &str,
    min_run: usize,
) -> Result<File, Box<pest::error::Error<Rule>>> {
    if let Some(spliced) = lists::splice(file, text, min_run) {
        let b = Builder {
            file,
            spliced: Some(&spliced),
            consumed: Cell::new(0),
        };
        if let Ok(items) = b.file(&spliced.text) {
            if b.consumed.get() == spliced.cuts.len() {
                return Ok(File {
                    items,
                    comments: comments(file, text),
                });
            }
        }
    }
    let b = Builder {
        file,
        spliced: None,
        consumed: Cell::new(0),
    };
    Ok(File {
        items: b.file(text)?,
        comments: comments(file, text),
    })
}

/// Whether the fast lane's tree was used for `text` (tests: it must not silently always fall back).
#[cfg(test)]
pub(crate) fn fast_lane_taken(text: &str, min_run: usize) -> bool {
    let Some(spliced) = lists::splice(FileId::default(), text, min_run) else {
        return false;
    };
    let b = Builder {
        file: FileId::default(),
        spliced: Some(&spliced),
        consumed: Cell::new(0),
    };
    b.file(&spliced.text).is_ok() && b.consumed.get() == spliced.cuts.len()
}

/// Finds every `#` comment (a `#` outside a quoted string runs to the end of its line).
fn comments(file: FileId, text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut start = None;
    // Bytes, not chars: every byte looked at is ASCII, so offsets are the same, and a
    // 100,000-entry policy is megabytes of text.
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        i = next_marked(bytes, i);
        let Some(&c) = bytes.get(i) else { break };
        match c {
            b'\n' => {
                if let Some(s) = start.take() {
                    out.push(Span::new(file, s..trim_cr(text, s, i)));
                }
                in_string = false;
            }
            b'"' if start.is_none() => in_string = !in_string,
            b'#' if start.is_none() && !in_string => start = Some(i),
            _ => {}
        }
        i += 1;
    }
    if let Some(s) = start {
        out.push(Span::new(file, s..trim_cr(text, s, text.len())));
    }
    out
}

/// The first position from `i` that may hold a newline, quote or `#` (the only bytes the
/// comment scan acts on): whole 32-byte blocks holding none are skipped in one
/// branch-free test each, so a long address list is passed over at memory speed.
fn next_marked(bytes: &[u8], mut i: usize) -> usize {
    const BLOCK: usize = 32;
    let marked = |c: u8| u8::from((c == b'\n') | (c == b'"') | (c == b'#'));
    // A fixed-size block folded into a byte: the compiler makes it a few vector
    // compares (a fold of `bool`s over a slice stayed a byte loop, 4 times slower).
    while let Some(block) = bytes.get(i..).and_then(|b| b.first_chunk::<BLOCK>()) {
        if block.iter().fold(0, |any, &c| any | marked(c)) != 0 {
            break;
        }
        i += BLOCK;
    }
    i
}

fn trim_cr(text: &str, start: usize, end: usize) -> usize {
    if end > start && text.as_bytes()[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan byte by byte, without skipping blocks.
    fn comments_bytewise(text: &str) -> Vec<(usize, usize)> {
        let (mut out, mut in_string, mut start) = (Vec::new(), false, None);
        for (i, &c) in text.as_bytes().iter().enumerate() {
            match c {
                b'\n' => {
                    if let Some(s) = start.take() {
                        out.push((s, trim_cr(text, s, i)));
                    }
                    in_string = false;
                }
                b'"' if start.is_none() => in_string = !in_string,
                b'#' if start.is_none() && !in_string => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push((s, trim_cr(text, s, text.len())));
        }
        out
    }

    proptest::proptest! {
        /// Skipping blocks finds every comment the byte-by-byte scan finds, wherever
        /// the markers fall against block edges.
        #[test]
        fn block_skipping_finds_the_same_comments(parts in proptest::collection::vec(
            (0usize..80, proptest::sample::select(vec!["\n", "#", "\"", "\r\n", "# c\r", "\"#\""])),
            0..12,
        )) {
            let mut text = String::new();
            for (pad, mark) in parts {
                text.push_str(&"1.2.3.4, ".repeat(pad / 9));
                text.push_str(&"x".repeat(pad % 9));
                text.push_str(mark);
            }
            let got: Vec<(usize, usize)> = comments(FileId(0), &text)
                .iter()
                .map(|s| (s.start as usize, s.end as usize))
                .collect();
            proptest::prop_assert_eq!(got, comments_bytewise(&text));
        }
    }
}
