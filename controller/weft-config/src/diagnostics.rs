//! Diagnostics: every problem of a file, each with its rule code, place
//! (`file:line:col`, field path, source span), message and hint.
//!
//! [`Diagnostics`] is a [`miette::Diagnostic`] whose related diagnostics are
//! the [`Problem`]s, so any miette handler renders them; [`Diagnostics::render`]
//! renders them without colour for terminals, logs and snapshot tests, and
//! [`Diagnostics::records`] flattens them for JSON output.

use std::fmt;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, Severity, SourceCode,
};
use serde::Serialize;
use weft_model::{FieldPath, Violation};

use crate::positions::{ByteSpan, Found, Node};
use crate::source::SourceFile;

/// The text of a file, shared by all its problems.
pub(crate) type Source = Arc<SourceFile>;

/// One problem in a file.
#[derive(Debug, Clone)]
pub struct Problem {
    code: String,
    message: String,
    hint: Option<String>,
    path: Option<String>,
    /// 1-based line and column (in characters) of the primary span.
    position: Option<(usize, usize)>,
    primary: Option<(ByteSpan, String)>,
    related: Vec<(ByteSpan, String)>,
    source: Option<Source>,
    /// The problem's lines are not safe to print (very long, or with
    /// control characters).
    hidden_snippet: bool,
}

impl Problem {
    /// A problem with no place in a file (e.g. the file could not be read).
    pub(crate) fn unplaced(code: &str, message: impl Into<String>, hint: Option<String>) -> Self {
        Problem {
            code: code.to_owned(),
            message: message.into(),
            hint,
            path: None,
            position: None,
            primary: None,
            related: Vec::new(),
            source: None,
            hidden_snippet: false,
        }
    }

    /// A problem at `span` of `source`.
    pub(crate) fn at(
        source: &Source,
        code: &str,
        message: impl Into<String>,
        hint: Option<String>,
        span: Option<ByteSpan>,
        label: impl Into<String>,
    ) -> Self {
        let mut p = Problem::unplaced(code, message, hint);
        p.source = Some(Arc::clone(source));
        if let Some(span) = span.map(|s| source.clamp(s)) {
            p.position = Some(source.line_col(span.offset));
            if !source.printable(span) {
                p.hidden_snippet = true;
            } else {
                p.primary = Some((span, label.into()));
            }
        }
        p
    }

    /// A validation violation, placed through the document's positions.
    pub(crate) fn from_violation(
        source: &Source,
        tree: Option<&serde_saphyr::Spanned<Node>>,
        v: &Violation,
    ) -> Self {
        let locate = |path: &FieldPath| tree.and_then(|t| Node::find(t, path));
        let (span, label) = match locate(&v.path) {
            Some(Found::Exact(s)) => (Some(s), v.path.to_string()),
            Some(Found::Missing(s)) => (Some(s), format!("{} is not set", v.path)),
            None => (None, v.path.to_string()),
        };
        let mut p = Problem::at(
            source,
            v.kind.code(),
            v.kind.to_string(),
            v.kind.hint().map(str::to_owned),
            span,
            label,
        );
        p.path = Some(v.path.to_string());
        for (path, label) in &v.related {
            if let Some(Found::Exact(s) | Found::Missing(s)) = locate(path) {
                p = p.with_related(s, label);
            }
        }
        p
    }

    #[must_use]
    pub(crate) fn with_related(mut self, span: ByteSpan, label: &str) -> Self {
        if let Some(source) = &self.source {
            let span = source.clamp(span);
            if source.printable(span) {
                self.related.push((span, label.to_owned()));
            }
        }
        self
    }

    #[must_use]
    pub(crate) fn with_path(mut self, path: Option<String>) -> Self {
        self.path = path;
        self
    }

    /// The rule that was broken, e.g. `duplicate-vtep` or `unknown-key`.
    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The field path (`switches[2].vtep`), when known.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// 1-based line and column, when the problem has a place in the file.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        self.position
    }

    fn sort_key(&self) -> (usize, &str, &str) {
        let offset = self.primary.as_ref().map_or(0, |(s, _)| s.offset);
        (offset, &self.code, &self.message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }

    fn severity(&self) -> Option<Severity> {
        Some(Severity::Error)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (span, label) = self.primary.as_ref()?;
        let primary =
            LabeledSpan::new_primary_with_span(Some(label.clone()), (span.offset, span.len));
        let related = self
            .related
            .iter()
            .map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), (s.offset, s.len)));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// One problem, flattened for JSON output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub file: String,
    pub code: String,
    /// The field path, or empty when the problem is not about one field.
    pub path: String,
    /// 1-based; 0 when the problem has no place in the file.
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Everything wrong with one file: the error type of the parse functions.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    source_name: String,
    what: &'static str,
    problems: Vec<Problem>,
    /// Problems found but not placed or kept (past [`MAX_PROBLEMS`]).
    omitted: usize,
}

/// At most this many problems are placed and kept: beyond, a report helps
/// nobody, and placing each one costs time on hostile input.
pub const MAX_PROBLEMS: usize = 200;

impl Diagnostics {
    /// `what` names the kind of file (`topology`, `intent`) in the summary.
    pub(crate) fn new(source_name: &str, what: &'static str, mut problems: Vec<Problem>) -> Self {
        problems.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Diagnostics {
            source_name: source_name.to_owned(),
            what,
            problems,
            omitted: 0,
        }
    }

    #[must_use]
    pub(crate) fn with_omitted(mut self, omitted: usize) -> Self {
        self.omitted = omitted;
        self
    }

    /// How many further problems were found but not kept (see [`MAX_PROBLEMS`]).
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Problems in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Every problem rendered with its snippet, without colour: the summary
    /// line, then one block per problem.
    pub fn render(&self) -> String {
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_links(false)
            .without_cause_chain();
        let mut out = format!("{self}\n");
        for p in &self.problems {
            out.push('\n');
            // Writing into a String cannot fail.
            let _ = handler.render_report(&mut out, p);
            if let (true, Some((line, col))) = (p.hidden_snippet, p.position) {
                out.push_str(&format!(
                    "  at {}:{line}:{col} (the source is not shown: long lines or control characters)\n",
                    self.source_name
                ));
            }
        }
        if self.omitted > 0 {
            out.push_str(&format!(
                "\n... and {} more problems not shown: fix these first\n",
                self.omitted
            ));
        }
        out
    }

    /// One line per problem: `file:line:col: error[code]: message (hint: …)`.
    pub fn render_short(&self) -> String {
        let mut out = String::new();
        for r in self.records() {
            let place = if r.line == 0 {
                r.file.clone()
            } else {
                format!("{}:{}:{}", r.file, r.line, r.column)
            };
            out.push_str(&format!("{place}: error[{}]: {}", r.code, r.message));
            if let Some(h) = &r.hint {
                out.push_str(&format!(" (hint: {h})"));
            }
            out.push('\n');
        }
        out
    }

    /// The problems as flat records (for `-o json`).
    pub fn records(&self) -> Vec<Record> {
        self.problems
            .iter()
            .map(|p| {
                let (line, column) = p.position.unwrap_or((0, 0));
                Record {
                    file: self.source_name.clone(),
                    code: p.code.clone(),
                    path: p.path.clone().unwrap_or_default(),
                    line,
                    column,
                    message: p.message.clone(),
                    hint: p.hint.clone(),
                }
            })
            .collect()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len() + self.omitted;
        write!(
            f,
            "{}: {} file rejected, {n} problem{}",
            self.source_name,
            self.what,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

impl Diagnostic for Diagnostics {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("weft::invalid-file"))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}
