//! Source files and byte spans: what every diagnostic and every IR rule points back to.

use std::ops::Range;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        Span {
            file,
            start: range.start as u32,
            end: range.end as u32,
        }
    }

    pub fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A value together with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// One loaded file: its display name and text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    /// Empty while the file is shed ([`SourceMap::shed`]).
    pub text: String,
    /// Byte offset of each line's first byte (the first is 0). Files are at most 8 MiB.
    line_starts: Vec<u32>,
    /// Whether the text is all ASCII (columns are then byte offsets).
    ascii: bool,
    /// The text's length, kept while it is shed.
    len: usize,
    /// While shed: the BLAKE3 digest (hex) of the text, to know it again when it is restored.
    shed: Option<String>,
}

/// All files read for one run (policy, includes, site file).
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i as u32 + 1))
            .collect();
        let ascii = text.is_ascii();
        let len = text.len();
        self.files.push(SourceFile {
            name: name.into(),
            text,
            line_starts,
            ascii,
            len,
            shed: None,
        });
        FileId((self.files.len() - 1) as u32)
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    /// The text at `span`; empty when the file is shed or the span is not in it.
    pub fn text(&self, span: Span) -> &str {
        self.file(span.file).text.get(span.range()).unwrap_or("")
    }

    /// Lets go of the text of file `id` while keeping what locates a span in it (line
    /// starts, length), so a large input is not held through compile and apply when
    /// nothing more needs its text; [`SourceMap::restore`] takes it back for rendering
    /// an excerpt or storing it. Only an ASCII file is shed (a column elsewhere counts
    /// characters). Returns whether it was.
    pub fn shed(&mut self, id: FileId) -> bool {
        let f = &mut self.files[id.0 as usize];
        if !f.ascii || f.shed.is_some() {
            return false;
        }
        f.shed = Some(crate::digest::blake3_hex(f.text.as_bytes()));
        f.text = String::new();
        true
    }

    /// Whether file `id`'s text is shed.
    pub fn is_shed(&self, id: FileId) -> bool {
        self.file(id).shed.is_some()
    }

    /// Puts back the text of shed file `id`, read again: only the very text it had.
    pub fn restore(&mut self, id: FileId, text: String) -> Result<(), String> {
        let f = &mut self.files[id.0 as usize];
        let Some(digest) = &f.shed else {
            return Ok(());
        };
        if text.len() != f.len || crate::digest::blake3_hex(text.as_bytes()) != *digest {
            return Err(format!("{} changed since it was checked", f.name));
        }
        f.text = text;
        f.shed = None;
        Ok(())
    }

    /// 0-based index of the line holding byte `pos` (clamped to the file): a binary search
    /// in the line starts computed once when the file was added.
    pub fn line_index(&self, id: FileId, pos: usize) -> usize {
        let f = self.file(id);
        let pos = pos.min(f.len) as u32;
        crate::work::add(u64::from(usize::BITS - f.line_starts.len().leading_zeros()));
        match f.line_starts.binary_search(&pos) {
            Ok(l) => l,
            Err(l) => l.saturating_sub(1),
        }
    }

    /// Byte range of 0-based line `line`, its newline included; `None` past the last line.
    pub fn line_range(&self, id: FileId, line: usize) -> Option<Range<usize>> {
        let f = self.file(id);
        let start = *f.line_starts.get(line)? as usize;
        let end = (f.line_starts.get(line + 1)).map_or(f.len, |&e| e as usize);
        Some(start..end)
    }

    /// Number of lines of a file (a final line without a newline counts).
    pub fn line_count(&self, id: FileId) -> usize {
        self.file(id).line_starts.len()
    }

    /// 0-based column (in characters) of byte `pos` on 0-based line `line`: a subtraction
    /// in an ASCII file, a count of the line's characters up to `pos` otherwise.
    pub fn column_index(&self, id: FileId, line: usize, pos: usize) -> usize {
        let f = self.file(id);
        let start = f.line_starts.get(line).map_or(f.len, |&s| s as usize);
        let pos = pos.clamp(start, f.len);
        if f.ascii {
            return pos - start;
        }
        let mut end = pos;
        while !f.text.is_char_boundary(end) {
            end -= 1;
        }
        crate::work::add((end - start) as u64);
        f.text[start..end].chars().count()
    }

    /// 1-based line and column (in characters) of the span's start.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        let line = self.line_index(span.file, span.start as usize);
        let col = self.column_index(span.file, line, span.start as usize);
        (line + 1, col + 1)
    }

    /// `file:line:col` of a span, as diagnostics and kernel errors print it.
    pub fn location(&self, span: Span) -> String {
        let (l, c) = self.line_col(span);
        format!("{}:{}:{}", self.file(span.file).name, l, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let mut m = SourceMap::new();
        let f = m.add("p", "ab\ncdé f\n");
        assert_eq!(m.line_col(Span::new(f, 0..1)), (1, 1));
        assert_eq!(m.line_col(Span::new(f, 3..4)), (2, 1));
        // 'f' is after a two-byte character: column counts characters.
        assert_eq!(m.line_col(Span::new(f, 8..9)), (2, 5));
        assert_eq!(m.location(Span::new(f, 3..4)), "p:2:1");
    }

    #[test]
    fn a_shed_file_still_locates_spans_and_takes_back_only_its_own_text() {
        let mut m = SourceMap::new();
        let f = m.add("p", "ab\ncd ef\n");
        let span = Span::new(f, 6..8);
        assert_eq!(m.text(span), "ef");
        assert!(m.shed(f));
        assert!(m.is_shed(f));
        assert_eq!((m.text(span), m.location(span)), ("", "p:2:4".to_string()));
        assert_eq!(m.line_range(f, 1), Some(3..9));
        let err = m.restore(f, "ab\ncd eg\n".into());
        assert_eq!(err, Err("p changed since it was checked".into()));
        assert!(m.restore(f, "ab\ncd ef\n".into()).is_ok());
        assert!(!m.is_shed(f));
        assert_eq!(m.text(span), "ef");
        let u = m.add("u", "é\n");
        assert!(!m.shed(u), "columns of a non-ASCII file need its text");
    }
}
