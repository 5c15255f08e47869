//! Raw file bytes -> source text: UTF-8 decoding, a leading byte-order mark, control
//! characters. Each problem becomes a coded diagnostic at its place in the file; the text
//! kept in the `SourceMap` never holds a raw control character, so no rendered message or
//! source line can carry one to the terminal.

use crate::diag::Diagnostic;
use crate::source::{FileId, SourceMap, Span};
use std::ops::Range;

/// `E0005`: the file is not UTF-8 (`policy p { allow tcp 22 }` saved as Latin-1 with an `é`).
pub const NOT_UTF8: &str = "E0005";
/// `E0006`: a control character other than tab, newline or carriage return (a NUL byte,
/// an escape sequence).
pub const CONTROL_CHARACTER: &str = "E0006";

/// At most this many encoding problems are reported per file; the rest are counted.
const MAX_REPORTED: usize = 10;

/// UTF-8 byte-order mark: accepted at the very start of a file and dropped.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What is wrong at one place of a decoded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// These bytes are not UTF-8; the text holds U+FFFD in their place.
    NotUtf8(Vec<u8>),
    /// This control character; the text holds a visible stand-in (U+2400 block or U+FFFD).
    Control(char),
}

/// A file's text and what had to be replaced in it.
#[derive(Clone, Debug, Default)]
pub struct Decoded {
    pub text: String,
    /// The first problems (at most [`MAX_REPORTED`]), each with its range in `text`.
    pub problems: Vec<(Range<usize>, Problem)>,
    /// How many problems there were in all.
    pub total: usize,
    /// Whether the text is known to be all ASCII (seen while decoding; `false` when not
    /// known).
    pub ascii: bool,
}

/// Tab, newline and carriage return (see [`decode`] for a lone one) are text; every other
/// control character is not.
fn forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The visible stand-in for a control character: its Unicode "control picture" (`␀`, `␛`,
/// `␡`), or U+FFFD for the C1 range, which has none.
fn picture(c: char) -> char {
    match c as u32 {
        n @ 0..=0x1f => char::from_u32(0x2400 + n).unwrap_or('\u{FFFD}'),
        0x7f => '\u{2421}',
        _ => '\u{FFFD}',
    }
}

/// Decodes `bytes` as UTF-8 text, dropping a leading byte-order mark. Never fails: invalid
/// sequences and control characters are replaced and listed, so the caller can report them.
/// A carriage return is text only before a newline (CRLF line ends); a lone one is a control
/// character, since the grammar would end a line there and every line count would not.
pub fn decode(bytes: &[u8]) -> Decoded {
    decode_owned(bytes.to_vec())
}

/// [`decode`] of bytes the caller gives up: plain text (the usual case) becomes the
/// decoded text in place, without a copy, and its UTF-8 is checked once.
pub fn decode_owned(mut bytes: Vec<u8>) -> Decoded {
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    let scan = scan(&bytes);
    if !scan.controls_free {
        return decode_chars(&bytes);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Decoded {
            text,
            ascii: scan.ascii,
            ..Decoded::default()
        },
        Err(e) => decode_chars(e.as_bytes()),
    }
}

/// [`decode`] character by character (`bytes` without its byte-order mark).
fn decode_chars(bytes: &[u8]) -> Decoded {
    let mut d = Decoded {
        text: String::with_capacity(bytes.len()),
        ..Decoded::default()
    };
    let lone_cr = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
    let mut offset = 0;
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        let clean = !valid.chars().any(forbidden)
            && !valid.bytes().enumerate().any(|(i, _)| lone_cr(offset + i));
        if clean {
            d.text.push_str(valid);
        } else {
            for (i, c) in valid.char_indices() {
                if forbidden(c) || (c == '\r' && lone_cr(offset + i)) {
                    d.replace(picture(c), Problem::Control(c));
                } else {
                    d.text.push(c);
                }
            }
        }
        if !chunk.invalid().is_empty() {
            d.replace('\u{FFFD}', Problem::NotUtf8(chunk.invalid().to_vec()));
        }
        offset += valid.len() + chunk.invalid().len();
    }
    d
}

/// `bytes` as text when decoding would keep every byte as it is: valid UTF-8 holding no
/// control character but tab and newline (no byte below 0x20, no DEL, no carriage return,
/// no 0xC2 lead byte, which every C1 control starts with). One branch-free pass per chunk,
/// so the scan vectorises; anything else takes the character-by-character decode.
pub fn plain(bytes: &[u8]) -> Option<&str> {
    controls_free(bytes).then(|| std::str::from_utf8(bytes).ok())?
}

/// Whether `bytes` hold no byte that can start a control character but tab and newline
/// ([`plain`] without its UTF-8 check).
fn controls_free(bytes: &[u8]) -> bool {
    scan(bytes).controls_free
}

/// What one pass over a file's bytes tells.
struct Scan {
    /// No byte that can start a control character but tab and newline.
    controls_free: bool,
    /// Every byte below 0x80 (so the bytes are UTF-8); only known while `controls_free`.
    ascii: bool,
}

/// [`Scan`] of `bytes`: one branch-free pass per 64-byte chunk (it vectorises), which
/// stops at the first chunk holding a control character. A million addresses are 17 MB:
/// the source map's own pass to learn that they are ASCII took half a millisecond.
fn scan(bytes: &[u8]) -> Scan {
    let kept = |b: u8| (b >= 0x20 && b != 0x7f && b != 0xc2) || b == b'\n' || b == b'\t';
    let mut ascii = true;
    let controls_free = (bytes.chunks(64)).all(|c| {
        let (ok, high) = (c.iter()).fold((true, 0u8), |(ok, high), &b| (ok & kept(b), high | b));
        ascii &= high < 0x80;
        ok
    });
    Scan {
        controls_free,
        ascii,
    }
}

impl Decoded {
    fn replace(&mut self, with: char, problem: Problem) {
        let start = self.text.len();
        self.text.push(with);
        self.total += 1;
        if self.problems.len() < MAX_REPORTED {
            self.problems.push((start..self.text.len(), problem));
        }
    }

    /// One diagnostic per reported problem; the last says how many more there were.
    pub fn diagnostics(&self, file: FileId) -> Vec<Diagnostic> {
        let mut out: Vec<Diagnostic> = self
            .problems
            .iter()
            .map(|(range, p)| diagnostic(Span::new(file, range.clone()), p))
            .collect();
        let more = self.total - self.problems.len();
        if more > 0 {
            if let Some(last) = out.pop() {
                let help = last.help.clone().unwrap_or_default();
                out.push(last.with_help(format!(
                    "{help} ({more} more such place{} not shown)",
                    if more == 1 { "" } else { "s" }
                )));
            }
        }
        out
    }
}

fn diagnostic(span: Span, p: &Problem) -> Diagnostic {
    match p {
        Problem::NotUtf8(bytes) => {
            let shown: Vec<String> = bytes.iter().map(|b| format!("0x{b:02x}")).collect();
            Diagnostic::error(NOT_UTF8, span, "the file is not UTF-8 text")
                .with_label(format!(
                    "byte{} {} not UTF-8",
                    if bytes.len() == 1 { "" } else { "s" },
                    shown.join(" ")
                ))
                .with_help("policy, include and site files are UTF-8; save the file as UTF-8")
        }
        Problem::Control(c) => Diagnostic::error(
            CONTROL_CHARACTER,
            span,
            format!("control character {} in the text", escaped(*c)),
        )
        .with_label(format!("U+{:04X}, shown as {}", *c as u32, picture(*c)))
        .with_help(
            "remove it: tab, newline and a carriage return before a newline are the only control \
             characters allowed",
        ),
    }
}

/// A character as Rust would escape it (`\0`, `\u{1b}`), for messages.
pub fn escaped(c: char) -> String {
    match c {
        '\0' => "\\0".into(),
        c => c.escape_default().to_string(),
    }
}

/// Adds a file read as bytes to `map`; returns its id and its encoding diagnostics.
pub fn add(
    map: &mut SourceMap,
    name: impl Into<String>,
    bytes: &[u8],
) -> (FileId, Vec<Diagnostic>) {
    add_owned(map, name, bytes.to_vec())
}

/// [`add`] of bytes the caller gives up (no copy of plain text).
pub fn add_owned(
    map: &mut SourceMap,
    name: impl Into<String>,
    bytes: Vec<u8>,
) -> (FileId, Vec<Diagnostic>) {
    let mut d = decode_owned(bytes);
    let text = std::mem::take(&mut d.text);
    let id = match d.ascii {
        true => map.add_ascii(name, text),
        false => map.add(name, text),
    };
    (id, d.diagnostics(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast path is exact: whatever it accepts, decoding character by
        /// character gives the same text and no problem.
        #[test]
        fn plain_text_decodes_as_itself(bytes in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::any::<u8>(),
                proptest::sample::select(b"\r\n\t\x7f\xc2\x85\x9f\xa0\xc3\xa9 a,./0".to_vec()),
            ],
            0..300,
        )) {
            let body = bytes.strip_prefix(BOM).unwrap_or(&bytes);
            let chars = decode_chars(body);
            if plain(body).is_some() {
                proptest::prop_assert!(chars.problems.is_empty() && chars.total == 0);
                proptest::prop_assert_eq!(plain(body), Some(chars.text.as_str()));
            }
            let d = decode(&bytes);
            proptest::prop_assert_eq!(&d.text, &chars.text);
            proptest::prop_assert_eq!(d.total, chars.total);
            // Bytes given up, with or without a byte-order mark before them, decode the
            // same as character by character.
            let mut with_bom = BOM.to_vec();
            with_bom.extend_from_slice(&bytes);
            for (given, chars) in [(bytes.clone(), chars), (with_bom, decode_chars(&bytes))] {
                let owned = decode_owned(given);
                proptest::prop_assert_eq!(&owned.text, &chars.text);
                proptest::prop_assert_eq!(owned.total, chars.total);
                proptest::prop_assert_eq!(owned.problems.len(), chars.problems.len());
            }
        }
    }

    #[test]
    fn valid_text_is_unchanged_and_a_bom_is_dropped() {
        let d = decode("policy p {\n\tallow ssh # é\r\n}\n".as_bytes());
        assert_eq!(d.text, "policy p {\n\tallow ssh # é\r\n}\n");
        assert_eq!(d.total, 0);
        let d = decode(b"\xEF\xBB\xBFpolicy p { }\n");
        assert_eq!(d.text, "policy p { }\n");
        assert_eq!(d.total, 0);
    }

    #[test]
    fn invalid_bytes_and_control_characters_are_replaced_and_placed() {
        let d = decode(b"ab\xffc\x00d\x1b[31m\xc3");
        assert_eq!(d.text, "ab\u{FFFD}c\u{2400}d\u{241b}[31m\u{FFFD}");
        let kinds: Vec<&Problem> = d.problems.iter().map(|(_, p)| p).collect();
        assert_eq!(
            kinds,
            [
                &Problem::NotUtf8(vec![0xff]),
                &Problem::Control('\0'),
                &Problem::Control('\u{1b}'),
                &Problem::NotUtf8(vec![0xc3]),
            ]
        );
        assert_eq!(&d.text[d.problems[1].0.clone()], "\u{2400}");
        assert!(!d.text.chars().any(forbidden));
    }

    /// A carriage return ends a line only as CRLF; alone it is reported (pest would end the
    /// line there while comments and line numbers would not: regression found by the fuzzer).
    #[test]
    fn a_lone_carriage_return_is_a_control_character() {
        let d = decode(b"a\r\nb # c\rallow\r");
        assert_eq!(d.text, "a\r\nb # c\u{240d}allow\u{240d}");
        assert_eq!(d.total, 2);
        assert_eq!(d.problems[0].1, Problem::Control('\r'));
        let d = decode(b"x\r\xff\n");
        assert_eq!(d.text, "x\u{240d}\u{FFFD}\n");
    }

    #[test]
    fn a_binary_file_reports_a_bounded_number_of_problems() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
        let d = decode(&bytes);
        assert_eq!(d.problems.len(), MAX_REPORTED);
        assert!(d.total > 1000);
        let diags = d.diagnostics(FileId::default());
        assert_eq!(diags.len(), MAX_REPORTED);
        assert!(
            diags[MAX_REPORTED - 1]
                .help
                .as_deref()
                .unwrap_or("")
                .contains("more")
        );
        assert!(!d.text.chars().any(forbidden));
    }
}
