//! The text of a file with a line index, shared by all its problems.
//!
//! Placing a problem (line, column, whether its lines are safe to print)
//! costs a binary search, not a scan of the text: a hostile file with
//! thousands of problems on one megabyte-long line stays linear.

use miette::{MietteError, NamedSource, SourceCode, SourceSpan, SpanContents};

use crate::positions::ByteSpan;

/// Lines longer than this are not printed in snippets: a hostile one-line
/// file must not flood a terminal or a log.
const MAX_SNIPPET_LINE: usize = 300;

#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    /// Short and free of control characters a terminal would interpret.
    printable: bool,
    ascii: bool,
}

#[derive(Debug)]
pub(crate) struct SourceFile {
    named: NamedSource<String>,
    lines: Vec<Line>,
}

impl SourceFile {
    pub(crate) fn new(name: &str, text: &str) -> Self {
        let mut lines = Vec::new();
        let mut start = 0;
        for line in text.split('\n') {
            lines.push(Line {
                start,
                printable: line.len() <= MAX_SNIPPET_LINE
                    && !line
                        .chars()
                        .any(|c| c.is_control() && c != '\t' && c != '\r'),
                ascii: line.is_ascii(),
            });
            start += line.len() + 1;
        }
        SourceFile {
            named: NamedSource::new(name, text.to_owned()),
            lines,
        }
    }

    pub(crate) fn text(&self) -> &str {
        self.named.inner()
    }

    /// Index of the line holding `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.lines
            .partition_point(|l| l.start <= offset)
            .saturating_sub(1)
    }

    /// Keeps a span inside the text and on character boundaries.
    pub(crate) fn clamp(&self, span: ByteSpan) -> ByteSpan {
        let text = self.text();
        let mut start = span.offset.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = span
            .offset
            .saturating_add(span.len)
            .clamp(start, text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        ByteSpan {
            offset: start,
            len: end - start,
        }
    }

    /// 1-based line and column (in characters) of a byte offset on a
    /// character boundary.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let i = self.line_of(offset);
        let line = self.lines[i];
        let before = &self.text()[line.start..offset];
        let col = if line.ascii {
            before.len()
        } else {
            before.chars().count()
        };
        (i + 1, col + 1)
    }

    /// Whether the lines a snippet of `span` prints (its own and one line
    /// of context each side) are safe to show.
    pub(crate) fn printable(&self, span: ByteSpan) -> bool {
        let first = self.line_of(span.offset).saturating_sub(1);
        let last =
            (self.line_of(span.offset.saturating_add(span.len)) + 1).min(self.lines.len() - 1);
        self.lines[first..=last].iter().all(|l| l.printable)
    }
}

impl SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        self.named
            .read_span(span, context_lines_before, context_lines_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_columns_and_printability() {
        let f = SourceFile::new("t", "ab\nçd: x\n\u{1b}[2J\nok\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(7), (2, 4), "ç is one column");
        assert_eq!(f.line_col(f.text().len()), (5, 1));
        assert!(f.printable(ByteSpan { offset: 0, len: 1 }));
        // Line 2 is fine, but its context (line 3) holds an escape sequence.
        assert!(!f.printable(ByteSpan { offset: 3, len: 2 }));
        let long = format!("a: 1\n{}\n", "x".repeat(400));
        assert!(!SourceFile::new("t", &long).printable(ByteSpan { offset: 0, len: 1 }));
        let clamped = f.clamp(ByteSpan {
            offset: 4,
            len: 100,
        });
        assert_eq!(
            (clamped.offset, clamped.offset + clamped.len),
            (3, f.text().len())
        );
    }
}
