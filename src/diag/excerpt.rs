//! One diagnostic's view of its files for rendering: only the lines it shows, and on a long
//! line only windows around its label ends, so a diagnostic renders in the same time and
//! size on a 10 MB line or in a million-line file as on a short one.
//!
//! The view is a small text per file holding the kept lines in order (two empty lines stand
//! for each run of skipped lines, so the renderer prints its `...` break); line numbers and
//! the located column are the real ones.

use crate::source::{FileId, SourceMap};
use codespan_reporting::files::{self, Files};
use std::ops::Range;

/// Lines up to this many bytes are shown whole.
pub const MAX_LINE: usize = 200;
/// Bytes kept on each side of a label end on a longer line.
const CONTEXT: usize = 60;

/// A kept piece of a real line: `real` bytes written at `at` in the view's text.
struct Piece {
    real: Range<usize>,
    at: usize,
}

struct View {
    file: FileId,
    name: String,
    text: String,
    starts: Vec<usize>,
    /// Real 0-based line index of each view line (fillers repeat the previous one).
    lines: Vec<usize>,
    pieces: Vec<Piece>,
    /// Real 0-based column of each label start, by its position in the view.
    columns: Vec<(usize, usize)>,
}

/// The views of every file a diagnostic points into.
pub struct Excerpt {
    views: Vec<View>,
}

impl Excerpt {
    /// Views for labels given as (file, real byte range); each range must lie in its file.
    pub fn new(map: &SourceMap, labels: &[(FileId, Range<usize>)]) -> Excerpt {
        let mut views: Vec<View> = Vec::new();
        let mut files: Vec<FileId> = labels.iter().map(|l| l.0).collect();
        files.sort();
        files.dedup();
        for file in files {
            let ranges: Vec<&Range<usize>> = (labels.iter().filter(|l| l.0 == file))
                .map(|l| &l.1)
                .collect();
            views.push(View::new(map, file, &ranges));
        }
        Excerpt { views }
    }

    /// Where a real byte range of `file` lies in its view.
    pub fn map(&self, file: FileId, range: &Range<usize>) -> Range<usize> {
        match self.view(file) {
            Some(v) => v.pos(range.start)..v.pos(range.end),
            None => range.clone(),
        }
    }

    fn view(&self, file: FileId) -> Option<&View> {
        self.views.iter().find(|v| v.file == file)
    }

    fn get(&self, file: FileId) -> Result<&View, files::Error> {
        self.view(file).ok_or(files::Error::FileMissing)
    }
}

impl View {
    fn new(map: &SourceMap, file: FileId, ranges: &[&Range<usize>]) -> View {
        debug_assert!(
            !map.is_shed(file),
            "a shed text is read back before rendering"
        );
        let text = &map.file(file).text;
        let mut points: Vec<usize> = ranges.iter().flat_map(|r| [r.start, r.end]).collect();
        points.iter_mut().for_each(|p| *p = (*p).min(text.len()));
        points.sort_unstable();
        points.dedup();
        // The lines of label ends, and the first and last inner line of a multi-line label
        // (the renderer shows one line of context there).
        let mut lines: Vec<usize> = points.iter().map(|&p| map.line_index(file, p)).collect();
        for r in ranges {
            let (s, e) = (map.line_index(file, r.start), map.line_index(file, r.end));
            if e > s + 1 {
                lines.extend([s + 1, e - 1]);
            }
        }
        lines.sort_unstable();
        lines.dedup();
        let mut v = View {
            file,
            name: map.file(file).name.clone(),
            text: String::new(),
            starts: Vec::new(),
            lines: Vec::new(),
            pieces: Vec::new(),
            columns: Vec::new(),
        };
        let mut prev: Option<usize> = None;
        for &line in &lines {
            match prev {
                // One skipped line is shown by the renderer: keep it.
                Some(p) if line == p + 2 => v.keep_line(map, p + 1, &points),
                Some(p) if line > p + 2 => {
                    for _ in 0..2 {
                        v.starts.push(v.text.len());
                        v.lines.push(p);
                        v.text.push('\n');
                    }
                }
                _ => {}
            }
            v.keep_line(map, line, &points);
            prev = Some(line);
        }
        for r in ranges {
            let start = r.start.min(text.len());
            let line = map.line_index(file, start);
            v.columns
                .push((v.pos(start), map.column_index(file, line, start)));
        }
        v
    }

    /// Appends a real line: whole when short, else windows around the points on it.
    fn keep_line(&mut self, map: &SourceMap, line: usize, points: &[usize]) {
        let text = &map.file(self.file).text;
        // No line of a file whose text is shed (`SourceMap::shed`): nothing to show.
        let Some(range) = map
            .line_range(self.file, line)
            .filter(|r| r.end <= text.len())
        else {
            return;
        };
        self.starts.push(self.text.len());
        self.lines.push(line);
        let body_end = if text[range.clone()].ends_with('\n') {
            range.end - 1
        } else {
            range.end
        };
        let mut windows: Vec<Range<usize>> = Vec::new();
        if body_end - range.start <= MAX_LINE {
            windows.push(range.start..body_end);
        } else {
            let lo = points.partition_point(|&p| p < range.start);
            let hi = points.partition_point(|&p| p <= body_end);
            for &p in &points[lo..hi] {
                let w = floor(text, p.saturating_sub(CONTEXT).max(range.start))
                    ..ceil(text, (p + CONTEXT).min(body_end));
                match windows.last_mut() {
                    Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
                    _ => windows.push(w),
                }
            }
        }
        let mut cursor = range.start;
        for w in windows {
            if w.start > cursor {
                self.text.push_str(if cursor == range.start {
                    "... "
                } else {
                    " ... "
                });
            }
            self.pieces.push(Piece {
                real: w.clone(),
                at: self.text.len(),
            });
            self.text.push_str(&text[w.clone()]);
            cursor = w.end;
        }
        if cursor < body_end {
            self.text.push_str(" ...");
        }
        // The line end itself, so a label ending there maps onto the view.
        self.pieces.push(Piece {
            real: body_end..range.end,
            at: self.text.len(),
        });
        self.text.push('\n');
    }

    /// The view position of a real position inside a kept piece (the nearest kept end
    /// otherwise, which cannot happen for label ends).
    fn pos(&self, real: usize) -> usize {
        let i = self.pieces.partition_point(|p| p.real.end < real);
        match self.pieces.get(i) {
            Some(p) if p.real.start <= real => p.at + (real - p.real.start),
            Some(p) => p.at,
            None => self.text.len(),
        }
    }

    fn line_of(&self, pos: usize) -> usize {
        match self.starts.binary_search(&pos) {
            Ok(l) => l,
            Err(l) => l.saturating_sub(1),
        }
    }
}

fn floor(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

impl<'a> Files<'a> for Excerpt {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        Ok(&self.get(id)?.name)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        Ok(&self.get(id)?.text)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, files::Error> {
        Ok(self.get(id)?.line_of(byte_index))
    }

    fn line_number(&'a self, id: FileId, line_index: usize) -> Result<usize, files::Error> {
        let v = self.get(id)?;
        Ok(v.lines.get(line_index).map_or(line_index, |l| l + 1))
    }

    fn column_number(
        &'a self,
        id: FileId,
        line_index: usize,
        byte_index: usize,
    ) -> Result<usize, files::Error> {
        let v = self.get(id)?;
        let found = v.columns.iter().find(|(at, _)| *at == byte_index);
        let start = v.starts.get(line_index).copied().unwrap_or(0);
        Ok(found.map_or(byte_index.saturating_sub(start), |(_, c)| *c) + 1)
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, files::Error> {
        let v = self.get(id)?;
        let start = *v.starts.get(line_index).ok_or(files::Error::LineTooLarge {
            given: line_index,
            max: v.starts.len().saturating_sub(1),
        })?;
        let end = v
            .starts
            .get(line_index + 1)
            .copied()
            .unwrap_or(v.text.len());
        Ok(start..end)
    }
}
