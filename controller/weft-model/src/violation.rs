//! Validation findings: what is wrong, where (a [`FieldPath`]), and what to do.

use crate::path::FieldPath;

/// One problem found in a document or request. Validation collects all of
/// them rather than stopping at the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: FieldPath,
    pub kind: ViolationKind,
    /// Other places involved (e.g. the first definition of a duplicate).
    pub related: Vec<(FieldPath, String)>,
}

impl Violation {
    pub fn new(path: FieldPath, kind: ViolationKind) -> Self {
        Violation { path, kind, related: Vec::new() }
    }

    #[must_use]
    pub fn with_related(mut self, path: FieldPath, label: impl Into<String>) -> Self {
        self.related.push((path, label.into()));
        self
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}

/// What is wrong. Each kind has a stable [`code`](ViolationKind::code) (for
/// snapshots, gRPC error details and documentation) and a
/// [`hint`](ViolationKind::hint) saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ViolationKind {
    /// A value that is not a valid identifier (the message says which rule).
    #[error("{0}")]
    InvalidValue(#[from] crate::ids::IdError),
    #[error("duplicate {what} name {name:?}")]
    DuplicateName { what: &'static str, name: String },
    #[error("unknown {what} {name:?}")]
    UnknownReference { what: &'static str, name: String },
}

impl ViolationKind {
    /// A stable, kebab-case identifier of the rule that was broken.
    pub fn code(&self) -> &'static str {
        match self {
            ViolationKind::InvalidValue(_) => "invalid-value",
            ViolationKind::DuplicateName { .. } => "duplicate-name",
            ViolationKind::UnknownReference { .. } => "unknown-reference",
        }
    }

    /// What the author should do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ViolationKind::InvalidValue(_) => None,
            ViolationKind::DuplicateName { .. } => Some("give each one a unique name"),
            ViolationKind::UnknownReference { .. } => {
                Some("check the spelling, or declare it first")
            }
        }
    }
}
