//! Rust source split into views of equal byte length: code without comments or string
//! contents, code with strings kept, and comments alone, so line numbers and byte offsets
//! agree across views and a check looks only at what it means to look at.

/// One source file in three views; every byte outside its view is a space (newlines kept).
pub struct Lexed {
    /// Code only: comments blanked, string and char literal contents blanked (quotes kept).
    pub code: Vec<u8>,
    /// Code and literals: only comments blanked.
    pub literal: Vec<u8>,
    /// Comments only (doc comments included).
    pub comment: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Code,
    Literal,
    Comment,
}

impl Lexed {
    pub fn new(text: &str) -> Lexed {
        let classes = classify(text.as_bytes());
        let view = |keep: &dyn Fn(Class) -> bool| -> Vec<u8> {
            text.bytes()
                .zip(&classes)
                .map(|(b, &c)| if b == b'\n' || keep(c) { b } else { b' ' })
                .collect()
        };
        Lexed {
            code: view(&|c| c == Class::Code),
            literal: view(&|c| c != Class::Comment),
            comment: view(&|c| c == Class::Comment),
        }
    }
}

/// Splits a view into lines (1-based numbering is the caller's: index + 1).
pub fn lines(view: &[u8]) -> Vec<&str> {
    view.split(|&b| b == b'\n')
        .map(|l| std::str::from_utf8(l).unwrap_or(""))
        .collect()
}

/// The 1-based line of a byte offset.
pub fn line_of(view: &[u8], offset: usize) -> usize {
    view[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

pub fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The class of every byte. Handles line and nested block comments, strings with escapes,
/// raw strings (`r#"…"#`, `br"…"`, `cr"…"`), char literals and lifetimes.
fn classify(s: &[u8]) -> Vec<Class> {
    let mut out = vec![Class::Code; s.len()];
    let mut i = 0;
    while i < s.len() {
        let prev_ident = i > 0 && is_ident(s[i - 1]);
        let end = if s[i..].starts_with(b"//") {
            let end = s[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(s.len(), |p| i + p);
            mark(&mut out, i, end, Class::Comment);
            end
        } else if s[i..].starts_with(b"/*") {
            let end = block_comment_end(s, i);
            mark(&mut out, i, end, Class::Comment);
            end
        } else if let Some((open, hashes)) = raw_string_open(s, i, prev_ident) {
            let end = raw_string_end(s, open, hashes);
            mark(
                &mut out,
                open,
                end.saturating_sub(1 + hashes),
                Class::Literal,
            );
            end
        } else if s[i] == b'"' {
            let end = quoted_end(s, i, b'"');
            mark(&mut out, i + 1, end - 1, Class::Literal);
            end
        } else if s[i] == b'\'' && is_char_literal(s, i) {
            let end = quoted_end(s, i, b'\'');
            mark(&mut out, i + 1, end - 1, Class::Literal);
            end
        } else {
            i + 1
        };
        i = end.max(i + 1);
    }
    out
}

fn mark(out: &mut [Class], from: usize, to: usize, class: Class) {
    for c in out.iter_mut().take(to).skip(from) {
        *c = class;
    }
}

fn block_comment_end(s: &[u8], start: usize) -> usize {
    let (mut depth, mut i) = (0usize, start);
    while i < s.len() {
        if s[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if s[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    s.len()
}

/// At a raw string's prefix (`r`, `br`, `cr` not inside an identifier): the offset just
/// after its opening quote and its number of `#`.
fn raw_string_open(s: &[u8], i: usize, prev_ident: bool) -> Option<(usize, usize)> {
    if prev_ident {
        return None;
    }
    let mut j = i;
    if matches!(s[j], b'b' | b'c') && s.get(j + 1) == Some(&b'r') {
        j += 1;
    }
    if s[j] != b'r' {
        return None;
    }
    j += 1;
    let hashes = s[j..].iter().take_while(|&&b| b == b'#').count();
    (s.get(j + hashes) == Some(&b'"')).then_some((j + hashes + 1, hashes))
}

/// The offset just after a raw string's closing quote and hashes.
fn raw_string_end(s: &[u8], open: usize, hashes: usize) -> usize {
    let mut i = open;
    while i < s.len() {
        if s[i] == b'"'
            && s[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&b| b == b'#')
                .count()
                == hashes
        {
            return i + 1 + hashes;
        }
        i += 1;
    }
    s.len()
}

/// The offset just after the closing `quote` of a literal opened at `start` (escapes skipped).
fn quoted_end(s: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

/// A `'` opens a char literal (`'x'`, `'\n'`, `'é'`) rather than a lifetime (`'a`).
fn is_char_literal(s: &[u8], i: usize) -> bool {
    match s.get(i + 1) {
        Some(b'\\') => true,
        Some(&lead) => {
            let width = match lead {
                0xf0.. => 4,
                0xe0.. => 3,
                0xc0.. => 2,
                _ => 1,
            };
            s.get(i + 1 + width) == Some(&b'\'')
        }
        None => false,
    }
}
