//! Weft's audit log: hash-chained records, one JSON object per line.
//!
//! Layer: a pure format library under the controller. [`AuditChain`]
//! turns an [`AuditEntry`] (who did what, with what outcome) into the next
//! [`AuditRecord`] of the chain; [`verify_lines`] checks a whole log. The
//! only I/O is in two thin helpers that take a path: [`verify_file`] and
//! [`append_record`].
//!
//! This crate does **not** decide what to record (the controller records
//! every mutation and every denial), read a clock (the caller passes the
//! time), or keep the log from being truncated: a chain proves that no
//! record was changed, inserted, removed or reordered *before its head*,
//! but deleting records from the end, or rewriting the chain from some
//! record on, leaves a valid chain. Keeping a copy of recent heads
//! elsewhere (the store, another host, a printout) is what detects that.
//!
//! # Records
//!
//! A line is the JSON object of an [`AuditRecord`], fields in declaration
//! order, no whitespace, terminated by `\n`. Unknown fields are rejected.
//! `seq` counts from 1 without gaps; `prev` is the `hash` of the previous
//! record (64 `0`s for seq 1); `hash` is computed as below. A log may start
//! at a seq above 1 (an older part was archived), in which case its first
//! `prev` cannot be checked from the log alone; [`VerifiedLog::first_seq`]
//! says where it started.
//!
//! # Canonical hash encoding (version 1)
//!
//! `hash` is the lowercase hex SHA-256 of the concatenation of:
//!
//! ```text
//! str("weft-audit-v1")
//! u64(seq) str(time) str(principal) str(method) str(resource)
//! str(outcome) str(code) str(request_id) u64(revision) str(prev)
//! ```
//!
//! where `u64(n)` is `n` as 8 bytes big-endian and `str(s)` is
//! `u64(byte length of s in UTF-8)` followed by those UTF-8 bytes. The
//! hash covers the decoded field values, not the JSON text, so it does not
//! depend on how a JSON library escapes strings; length prefixes make the
//! field boundaries unambiguous. In Python:
//!
//! ```text
//! def u64(n): return n.to_bytes(8, "big")
//! def s(x): b = x.encode(); return u64(len(b)) + b
//! h = sha256(s("weft-audit-v1") + u64(r["seq"])
//!            + b"".join(s(r[k]) for k in ["time", "principal", "method", "resource",
//!                                         "outcome", "code", "request_id"])
//!            + u64(r["revision"]) + s(r["prev"])).hexdigest()
//! ```
//!
//! ```
//! use weft_auditlog::{AuditChain, AuditEntry, verify_lines};
//! let mut chain = AuditChain::genesis();
//! let mut log = String::new();
//! for id in ["r1", "r2"] {
//!     let record = chain.append(AuditEntry {
//!         time: "2025-01-01T00:00:00Z".into(),
//!         principal: "operator alpha".into(),
//!         method: "/weft.v1.NetworkService/CreateNetwork".into(),
//!         resource: "operators/alpha/networks/prod".into(),
//!         outcome: "ok".into(),
//!         code: "OK".into(),
//!         request_id: id.into(),
//!         revision: 7,
//!     });
//!     log.push_str(&record.to_line());
//!     log.push('\n');
//! }
//! let verified = verify_lines(log.as_bytes()).unwrap();
//! assert_eq!((verified.records, verified.head.as_str()), (2, chain.head()));
//! ```

mod error;
mod verify;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use error::AuditError;
pub use verify::{MAX_LINE_BYTES, VerifiedLog, append_record, verify_file, verify_lines};

/// `prev` of the first record: 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation tag, first in the hashed encoding; a future encoding
/// gets another tag.
const HASH_TAG: &str = "weft-audit-v1";

/// One line of the audit log. See the crate docs for the format.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the chain: 1, 2, 3...
    pub seq: u64,
    /// When the request was handled, RFC 3339 UTC, as given by the caller.
    pub time: String,
    /// Who asked, e.g. `operator alpha`, `anonymous`.
    pub principal: String,
    /// The gRPC method, e.g. `/weft.v1.NetworkService/CreateNetwork`.
    pub method: String,
    /// The resource name the request targeted, `""` if none.
    pub resource: String,
    /// `ok`, `denied` or `error` (see [`Outcome`]).
    pub outcome: String,
    /// The gRPC status code name, e.g. `OK`, `PERMISSION_DENIED`.
    pub code: String,
    /// The request's idempotency id.
    pub request_id: String,
    /// The store revision after the mutation, 0 if none.
    pub revision: u64,
    /// The previous record's `hash`; [`GENESIS_PREV`] for seq 1.
    pub prev: String,
    /// Lowercase hex SHA-256 of the canonical encoding of the other fields.
    pub hash: String,
}

/// What the caller supplies for a record: everything but the chain fields
/// (`seq`, `prev`, `hash`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct AuditEntry {
    /// See [`AuditRecord::time`].
    pub time: String,
    /// See [`AuditRecord::principal`].
    pub principal: String,
    /// See [`AuditRecord::method`].
    pub method: String,
    /// See [`AuditRecord::resource`].
    pub resource: String,
    /// See [`AuditRecord::outcome`].
    pub outcome: String,
    /// See [`AuditRecord::code`].
    pub code: String,
    /// See [`AuditRecord::request_id`].
    pub request_id: String,
    /// See [`AuditRecord::revision`].
    pub revision: u64,
}

/// The values of [`AuditRecord::outcome`], so callers need not spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The request succeeded.
    Ok,
    /// Authorization refused the request.
    Denied,
    /// The request was allowed but failed.
    Error,
}

impl Outcome {
    /// `ok`, `denied` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AuditRecord {
    /// The record as one JSON line, without the newline. Field order is
    /// the declaration order and never changes.
    pub fn to_line(&self) -> String {
        // Serializing plain strings and integers cannot fail; the fallback
        // keeps the signature infallible without a panic path.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one line (without its newline) and checks that `prev` and
    /// `hash` are 64 lowercase hex digits. Does not check the hash: see
    /// [`AuditRecord::compute_hash`] and [`verify_lines`].
    pub fn from_line(line: &str) -> Result<Self, AuditError> {
        parse_line(line).map_err(|reason| AuditError::Malformed { line: None, reason })
    }

    /// The hash this record should carry: lowercase hex SHA-256 of the
    /// canonical encoding of every field but `hash` (see the crate docs).
    pub fn compute_hash(&self) -> String {
        // Fields in the documented order; destructuring makes adding a
        // field without deciding its place in the hash a compile error.
        let AuditRecord {
            seq,
            time,
            principal,
            method,
            resource,
            outcome,
            code,
            request_id,
            revision,
            prev,
            hash: _,
        } = self;
        let mut h = Sha256::new();
        put_str(&mut h, HASH_TAG);
        h.update(seq.to_be_bytes());
        for s in [time, principal, method, resource, outcome, code, request_id] {
            put_str(&mut h, s);
        }
        h.update(revision.to_be_bytes());
        put_str(&mut h, prev);
        to_hex(&h.finalize())
    }
}

/// `str(s)` of the canonical encoding: byte length as u64 big-endian, then
/// the UTF-8 bytes.
fn put_str(h: &mut Sha256, s: &str) {
    // usize is at most 64 bits on every supported target.
    h.update(u64::try_from(s.len()).unwrap_or(u64::MAX).to_be_bytes());
    h.update(s.as_bytes());
}

pub(crate) fn parse_line(line: &str) -> Result<AuditRecord, String> {
    if line.is_empty() {
        return Err("the line is empty".to_owned());
    }
    let record: AuditRecord = serde_json::from_str(line).map_err(|e| e.to_string())?;
    for (field, value) in [("prev", &record.prev), ("hash", &record.hash)] {
        if !is_hex_digest(value) {
            return Err(format!("{field} is not 64 lowercase hex digits"));
        }
    }
    Ok(record)
}

fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The writer's side of the chain: the next seq and the current head hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditChain {
    next_seq: u64,
    head: String,
}

impl AuditChain {
    /// An empty chain: the first record gets seq 1 and [`GENESIS_PREV`].
    pub fn genesis() -> Self {
        AuditChain {
            next_seq: 1,
            head: GENESIS_PREV.to_owned(),
        }
    }

    /// Continues after `last`, the last record of an existing log, after
    /// checking that its hash matches its contents. (Checking the whole log
    /// is [`verify_lines`]' job; [`VerifiedLog::chain`] does both.)
    pub fn resume(last: &AuditRecord) -> Result<Self, AuditError> {
        let computed = last.compute_hash();
        if computed != last.hash {
            return Err(AuditError::HashMismatch {
                line: None,
                seq: last.seq,
                stored: last.hash.clone(),
                computed,
            });
        }
        let next_seq = match last.seq.checked_add(1) {
            Some(next) if last.seq > 0 => next,
            _ => {
                return Err(AuditError::Malformed {
                    line: None,
                    reason: format!("seq {} cannot be followed", last.seq),
                });
            }
        };
        Ok(AuditChain {
            next_seq,
            head: last.hash.clone(),
        })
    }

    /// Builds the next record (assigning `seq`, `prev` and `hash`) and
    /// advances the chain.
    pub fn append(&mut self, entry: AuditEntry) -> AuditRecord {
        let AuditEntry {
            time,
            principal,
            method,
            resource,
            outcome,
            code,
            request_id,
            revision,
        } = entry;
        let mut record = AuditRecord {
            seq: self.next_seq,
            time,
            principal,
            method,
            resource,
            outcome,
            code,
            request_id,
            revision,
            prev: self.head.clone(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        self.head.clone_from(&record.hash);
        // 2^64 records cannot be written; saturating keeps this total.
        self.next_seq = self.next_seq.saturating_add(1);
        record
    }

    /// The hash of the last record appended, or [`GENESIS_PREV`].
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The seq the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            time: "2025-06-01T12:00:00Z".into(),
            principal: "operator alpha".into(),
            method: "/weft.v1.NetworkService/CreateNetwork".into(),
            resource: "operators/alpha/networks/prod".into(),
            outcome: Outcome::Ok.to_string(),
            code: "OK".into(),
            request_id: "req-1".into(),
            revision: 42,
        }
    }

    /// Pins the canonical encoding. The expected value was computed with an
    /// independent Python implementation of the documented encoding.
    #[test]
    fn hash_matches_the_documented_encoding() {
        let record = AuditChain::genesis().append(entry());
        assert_eq!(record.seq, 1);
        assert_eq!(record.prev, GENESIS_PREV);
        assert_eq!(record.hash, EXPECTED_FIRST_HASH);
    }

    const EXPECTED_FIRST_HASH: &str =
        "217c18706086e90e679b85bbbf34aed6e57446420a80e19a8319e184882361e2";

    #[test]
    fn to_line_has_a_stable_field_order() {
        let record = AuditChain::genesis().append(entry());
        let line = record.to_line();
        assert!(!line.contains('\n'));
        let expected = format!(
            concat!(
                r#"{{"seq":1,"time":"2025-06-01T12:00:00Z","principal":"operator alpha","#,
                r#""method":"/weft.v1.NetworkService/CreateNetwork","#,
                r#""resource":"operators/alpha/networks/prod","outcome":"ok","code":"OK","#,
                r#""request_id":"req-1","revision":42,"prev":"{}","hash":"{}"}}"#
            ),
            GENESIS_PREV, record.hash
        );
        assert_eq!(line, expected);
        assert_eq!(AuditRecord::from_line(&line).unwrap(), record);
    }

    #[test]
    fn newlines_in_fields_stay_on_one_line() {
        let mut e = entry();
        e.resource = "a\nb\r\u{2028}".into();
        let record = AuditChain::genesis().append(e);
        let line = record.to_line();
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert_eq!(AuditRecord::from_line(&line).unwrap(), record);
    }

    #[test]
    fn length_prefixes_separate_fields() {
        // Moving a character from one field to the next changes the hash.
        let mut a = entry();
        a.method = "/x/ab".into();
        a.resource = "c".into();
        let mut b = entry();
        b.method = "/x/a".into();
        b.resource = "bc".into();
        let ha = AuditChain::genesis().append(a).hash;
        let hb = AuditChain::genesis().append(b).hash;
        assert_ne!(ha, hb);
    }

    #[test]
    fn from_line_rejects_unknown_fields_and_bad_digests() {
        let record = AuditChain::genesis().append(entry());
        let line = record.to_line();
        let extra = line.replacen("{", r#"{"extra":1,"#, 1);
        assert!(AuditRecord::from_line(&extra).is_err());
        let upper = line.replace(&record.hash, &record.hash.to_uppercase());
        let err = AuditRecord::from_line(&upper).unwrap_err();
        assert!(
            err.to_string().contains("hash is not 64 lowercase hex"),
            "{err}"
        );
        assert!(AuditRecord::from_line("").is_err());
    }

    #[test]
    fn resume_continues_and_checks_the_head() {
        let mut chain = AuditChain::genesis();
        let _ = chain.append(entry());
        let second = chain.append(entry());
        let mut resumed = AuditChain::resume(&second).unwrap();
        assert_eq!(resumed, chain);
        assert_eq!(resumed.next_seq(), 3);
        assert_eq!(resumed.append(entry()), chain.append(entry()));

        let mut edited = second.clone();
        edited.revision += 1;
        let err = AuditChain::resume(&edited).unwrap_err();
        assert!(
            matches!(
                err,
                AuditError::HashMismatch {
                    seq: 2,
                    line: None,
                    ..
                }
            ),
            "{err}"
        );
    }
}
