//! Whole-log verification, and the two file helpers.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::{AuditChain, AuditError, AuditRecord, GENESIS_PREV, parse_line};

/// The longest line [`verify_lines`] reads, so that a damaged or hostile
/// file cannot make it allocate without bound. Records written by the
/// controller are well under a kilobyte.
pub const MAX_LINE_BYTES: u64 = 1 << 20;

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedLog {
    /// How many records the log holds.
    pub records: u64,
    /// The seq of the first record (0 for an empty log). Above 1 means the
    /// log is a suffix of a longer chain, whose earlier part was not checked.
    pub first_seq: u64,
    /// The hash of the last record ([`GENESIS_PREV`] for an empty log):
    /// compare it with a head kept elsewhere to detect truncation.
    pub head: String,
    /// The last record, if any.
    pub last: Option<AuditRecord>,
}

impl VerifiedLog {
    /// Whether the log starts at seq 1, i.e. holds the whole chain.
    pub fn is_complete(&self) -> bool {
        self.first_seq <= 1
    }

    /// A chain that continues this log.
    pub fn chain(&self) -> AuditChain {
        match &self.last {
            None => AuditChain::genesis(),
            Some(last) => AuditChain {
                next_seq: last.seq.saturating_add(1),
                head: last.hash.clone(),
            },
        }
    }
}

/// Verifies a whole JSON-lines log: every line parses, seqs are consecutive
/// from the first, each `prev` is the previous record's `hash` (64 zeros
/// for seq 1), and each `hash` matches its record. The first problem is
/// returned, with its line number.
///
/// The last line may lack its newline. An empty log is valid.
pub fn verify_lines(mut reader: impl BufRead) -> Result<VerifiedLog, AuditError> {
    let mut buf = Vec::new();
    let mut line: u64 = 0;
    let mut first_seq = 0;
    let mut records = 0;
    let mut last: Option<AuditRecord> = None;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|source| AuditError::Read {
                line: line + 1,
                source,
            })?;
        if n == 0 {
            break;
        }
        line += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.len() as u64 > MAX_LINE_BYTES {
            return Err(AuditError::LineTooLong {
                line,
                limit: MAX_LINE_BYTES,
            });
        }
        let malformed = |reason: String| AuditError::Malformed {
            line: Some(line),
            reason,
        };
        let text = std::str::from_utf8(&buf).map_err(|e| malformed(e.to_string()))?;
        let record = parse_line(text).map_err(malformed)?;
        check_link(line, last.as_ref(), &record)?;
        let computed = record.compute_hash();
        if computed != record.hash {
            return Err(AuditError::HashMismatch {
                line: Some(line),
                seq: record.seq,
                stored: record.hash,
                computed,
            });
        }
        if last.is_none() {
            first_seq = record.seq;
        }
        records += 1;
        last = Some(record);
    }
    Ok(VerifiedLog {
        records,
        first_seq,
        head: last
            .as_ref()
            .map_or_else(|| GENESIS_PREV.to_owned(), |r| r.hash.clone()),
        last,
    })
}

/// Checks `seq` and `prev` of `record` against the record before it.
fn check_link(
    line: u64,
    before: Option<&AuditRecord>,
    record: &AuditRecord,
) -> Result<(), AuditError> {
    let (expected_seq, expected_prev) = match before {
        Some(b) => (b.seq.saturating_add(1), Some(b.hash.as_str())),
        // The first record may start anywhere above 0 (an archived prefix);
        // only seq 1 has a known prev.
        None if record.seq == 1 => (1, Some(GENESIS_PREV)),
        None if record.seq > 1 => (record.seq, None),
        None => (1, None),
    };
    if record.seq != expected_seq {
        return Err(AuditError::SeqMismatch {
            line,
            expected: expected_seq,
            found: record.seq,
        });
    }
    match expected_prev {
        Some(expected) if record.prev != expected => Err(AuditError::BrokenLink {
            line,
            seq: record.seq,
            expected: expected.to_owned(),
            found: record.prev.clone(),
        }),
        _ => Ok(()),
    }
}

/// [`verify_lines`] over a file.
pub fn verify_file(path: &Path) -> Result<VerifiedLog, AuditError> {
    let file = File::open(path).map_err(|source| AuditError::File {
        path: path.to_path_buf(),
        action: "open",
        source,
    })?;
    verify_lines(BufReader::new(file))
}

/// Appends one record and its newline to `path` (created with mode 0600 if
/// missing) and syncs it to disk before returning, so that a request is
/// only acknowledged once its audit record is durable.
///
/// One `write` call per record, with `O_APPEND`: concurrent appenders do
/// not interleave within a line, though the caller must still serialize
/// them to keep the chain in order.
pub fn append_record(path: &Path, record: &AuditRecord) -> Result<(), AuditError> {
    let file_err = |action: &'static str| {
        move |source| AuditError::File {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(file_err("open for appending"))?;
    let mut line = record.to_line();
    line.push('\n');
    file.write_all(line.as_bytes())
        .map_err(file_err("append to"))?;
    file.sync_data().map_err(file_err("sync"))
}
