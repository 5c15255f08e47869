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
    /// Whether the text is shed: its [`SourceFile::digest`] then knows it again when
    /// it is restored.
    shed: bool,
    /// BLAKE3 of the text, once asked for.
    digest: std::sync::OnceLock<[u8; 32]>,
    /// [`crate::digest::checksum`] of the text, once asked for.
    checksum: std::sync::OnceLock<u64>,
}

impl SourceFile {
    /// Whether [`SourceFile::digest`] and [`SourceFile::checksum`] were both taken.
    pub fn has_sums(&self) -> bool {
        self.digest.get().is_some() && self.checksum.get().is_some()
    }

    /// BLAKE3 of the text (of the text it had, while shed), taken once.
    pub fn digest(&self) -> [u8; 32] {
        *(self.digest).get_or_init(|| *blake3::hash(self.text.as_bytes()).as_bytes())
    }

    /// [`crate::digest::checksum`] of the text (of the text it had, while shed), taken
    /// once: a file's part of `record::inputs_checksum`.
    pub fn checksum(&self) -> u64 {
        *(self.checksum).get_or_init(|| crate::digest::checksum(self.text.as_bytes()))
    }

    /// Takes [`SourceFile::digest`] and [`SourceFile::checksum`] both.
    pub fn take_sums(&self) {
        self.digest();
        self.checksum();
    }

    /// The text's length in bytes (kept while it is shed).
    pub fn text_len(&self) -> usize {
        self.len
    }
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
        let ascii = text.is_ascii();
        self.push(name.into(), text, ascii)
    }

    /// [`SourceMap::add`] of a text its caller knows to be all ASCII (seen while
    /// decoding it), which is then not looked through again for that.
    pub fn add_ascii(&mut self, name: impl Into<String>, text: String) -> FileId {
        debug_assert!(text.is_ascii());
        self.push(name.into(), text, true)
    }

    fn push(&mut self, name: String, text: String, ascii: bool) -> FileId {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i as u32 + 1))
            .collect();
        let len = text.len();
        self.files.push(SourceFile {
            name,
            text,
            line_starts,
            ascii,
            len,
            shed: false,
            digest: Default::default(),
            checksum: Default::default(),
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
        if !f.ascii || f.shed {
            return false;
        }
        f.take_sums();
        f.shed = true;
        crate::pages::retire(std::mem::take(&mut f.text).into_bytes());
        true
    }

    /// Takes every file's [`SourceFile::digest`] and [`SourceFile::checksum`] not yet
    /// taken: on as many threads as the CPUs allow when there are several files and 1 MiB
    /// of text or more to hash (a million addresses: 17 MB in four files, 3.8 ms on one
    /// CPU here).
    pub fn digest_all(&self) {
        let todo: Vec<&SourceFile> = (self.files.iter()).filter(|f| !f.has_sums()).collect();
        let bytes: usize = todo.iter().map(|f| f.text.len()).sum();
        let threads = match (todo.len() < 2, bytes < 1 << 20) {
            (false, false) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            _ => 1,
        }
        .min(todo.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || {
            while let Some(f) = todo.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                f.take_sums();
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..threads {
                let _ = std::thread::Builder::new().spawn_scoped(scope, work);
            }
            work();
        });
    }

    /// Whether file `id`'s text is shed.
    pub fn is_shed(&self, id: FileId) -> bool {
        self.file(id).shed
    }

    /// Puts back the text of shed file `id`, read again: only the very text it had.
    pub fn restore(&mut self, id: FileId, text: String) -> Result<(), String> {
        let f = &mut self.files[id.0 as usize];
        if !f.shed {
            return Ok(());
        }
        if text.len() != f.len || *blake3::hash(text.as_bytes()).as_bytes() != f.digest() {
            return Err(format!("{} changed since it was checked", f.name));
        }
        f.text = text;
        f.shed = false;
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

    /// Every file's digest, taken on several threads for large texts, is the BLAKE3 of
    /// its text, and a shed file keeps it.
    #[test]
    fn every_files_digest_is_its_texts_whether_taken_at_once_or_alone() {
        let mut m = SourceMap::new();
        let texts: Vec<String> = (0..5).map(|i| format!("{i}\n").repeat(300_000)).collect();
        let ids: Vec<FileId> = (texts.iter()).map(|t| m.add("p", t.as_str())).collect();
        let small = m.add("s", "x\n");
        assert!(m.shed(ids[0]));
        m.digest_all();
        assert!(
            m.files.iter().all(|f| f.digest.get().is_some()),
            "all taken at once"
        );
        for (id, t) in ids.iter().zip(&texts).chain([(&small, &"x\n".to_string())]) {
            assert_eq!(m.file(*id).digest(), *blake3::hash(t.as_bytes()).as_bytes());
        }
    }
}
