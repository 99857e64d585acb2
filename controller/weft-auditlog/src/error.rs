//! What can be wrong with an audit log, and where.

use std::io;
use std::path::PathBuf;

/// Why a log or record failed to parse or verify. `line` is 1-based; it is
/// `None` for a record checked on its own ([`AuditRecord::from_line`],
/// [`AuditChain::resume`]).
///
/// [`AuditRecord::from_line`]: crate::AuditRecord::from_line
/// [`AuditChain::resume`]: crate::AuditChain::resume
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The line is not a well-formed record (bad JSON, unknown or missing
    /// field, invalid UTF-8, malformed digest).
    #[error("{}not an audit record: {reason}", at(*line))]
    Malformed {
        /// Where.
        line: Option<u64>,
        /// The parser's complaint.
        reason: String,
    },

    /// A line is longer than [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES).
    #[error("line {line}: longer than {limit} bytes; not a record this crate writes")]
    LineTooLong {
        /// Where.
        line: u64,
        /// The limit.
        limit: u64,
    },

    /// `seq` is not the one expected: records were deleted, duplicated or
    /// reordered.
    #[error(
        "line {line}: expected seq {expected}, found {found}: records were \
         deleted, duplicated or reordered"
    )]
    SeqMismatch {
        /// Where.
        line: u64,
        /// The seq the chain requires here.
        expected: u64,
        /// The seq the record carries.
        found: u64,
    },

    /// `prev` is not the previous record's hash: the previous record was
    /// altered (and its hash recomputed), or records were removed.
    #[error(
        "line {line} (seq {seq}): prev {found} is not the previous record's hash \
         {expected}: the previous record was altered or records were removed"
    )]
    BrokenLink {
        /// Where.
        line: u64,
        /// The record's seq.
        seq: u64,
        /// The previous record's hash (or 64 zeros for seq 1).
        expected: String,
        /// The record's `prev`.
        found: String,
    },

    /// `hash` does not match the record's contents: the record was altered.
    #[error(
        "{}seq {seq}: stored hash {stored} does not match the contents (computed \
         {computed}): the record was altered",
        at(*line)
    )]
    HashMismatch {
        /// Where.
        line: Option<u64>,
        /// The record's seq.
        seq: u64,
        /// The record's `hash`.
        stored: String,
        /// The hash of its contents.
        computed: String,
    },

    /// Reading the log failed.
    #[error("line {line}: cannot read: {source}")]
    Read {
        /// The line being read.
        line: u64,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// Opening or writing a log file failed.
    #[error("{}: cannot {action}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl AuditError {
    /// The 1-based line the error is about, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            AuditError::Malformed { line, .. } | AuditError::HashMismatch { line, .. } => *line,
            AuditError::LineTooLong { line, .. }
            | AuditError::SeqMismatch { line, .. }
            | AuditError::BrokenLink { line, .. }
            | AuditError::Read { line, .. } => Some(*line),
            AuditError::File { .. } => None,
        }
    }
}

fn at(line: Option<u64>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}
