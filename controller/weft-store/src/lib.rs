//! Weft's controller store: the durable half of the controller's state.
//!
//! Layer: persistence, below `weftd`. It keeps, crash-safely and atomically:
//! resource records, small named values ("meta"), the per-revision events that let a
//! watcher resume, idempotency records, the controller epoch, and audit records.
//!
//! What it does *not* do: it never looks inside a value. Keys are strings, values are
//! opaque bytes; `weftd` owns every encoding, validation and the meaning of a revision.
//! It holds no cache of decoded state. The embedded stores run no tasks; the etcd
//! backend runs its client, lease keepalives and watches on a private runtime thread.
//!
//! The [`Store`] trait is storage-agnostic. Three implementations live here:
//! - [`RedbStore`], the default production store: one `weft.redb` file in a state
//!   directory, for a single controller;
//! - [`etcd::EtcdStore`], the replicated store for several controller replicas, with
//!   the leader election and the fenced writes that keep a deposed leader from writing
//!   (module [`etcd`]; it runs its own tokio runtime thread and speaks etcd's gRPC API);
//! - [`MemoryStore`], an in-memory store for unit tests of the controller.
//!
//! All share the commit rules in [`Commit::validate`] and the retention rules in
//! [`StoreOptions`], so a test against [`MemoryStore`] predicts the others.

use std::collections::{BTreeMap, BTreeSet};

pub mod etcd;
mod memory;
mod redb_store;

pub use memory::MemoryStore;
pub use redb_store::{RedbStore, SCHEMA_VERSION, STORE_FILE_NAME};

/// Everything the controller needs at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredState {
    /// Revision of the last successful [`Commit`]; 0 for an empty store.
    pub revision: u64,
    /// Last epoch handed out by [`Store::begin_epoch`]; 0 if never.
    pub epoch: u64,
    /// Small named values (e.g. the "topology" YAML).
    pub meta: BTreeMap<String, Vec<u8>>,
    /// Resource name -> encoded record.
    pub resources: BTreeMap<String, Vec<u8>>,
    /// Last audit record `(seq, bytes)`, if any: the head the audit chain continues from.
    pub audit_head: Option<(u64, Vec<u8>)>,
}

/// One atomic write.
///
/// Applied iff the store's revision equals `expected_revision`; the revision then becomes
/// `expected_revision + 1`, even when the commit carries no changes. Puts of the same key
/// within one commit: the last one wins. A key may not be both put and deleted, and
/// audit sequences must strictly increase (see [`Commit::validate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    pub expected_revision: u64,
    /// Resource records to create or replace.
    pub puts: Vec<(String, Vec<u8>)>,
    /// Resource names to remove; removing an absent name is not an error.
    pub deletes: Vec<String>,
    /// Named values to create or replace.
    pub meta_puts: Vec<(String, Vec<u8>)>,
    /// Stored under the new revision, in order, for watch resume.
    pub events: Vec<Vec<u8>>,
    /// Idempotency record: request key -> encoded response record.
    pub request: Option<(String, Vec<u8>)>,
    /// Audit records `(seq, bytes)`; seqs are assigned by the caller.
    pub audit: Vec<(u64, Vec<u8>)>,
}

impl Commit {
    /// An empty commit on top of `expected_revision`; fill the fields you need.
    pub fn new(expected_revision: u64) -> Self {
        Self {
            expected_revision,
            ..Self::default()
        }
    }

    /// Checks the rules that do not depend on the revision, given the last stored audit
    /// seq. Every backend calls this before writing anything, so a rejected commit
    /// leaves no trace.
    pub fn validate(&self, last_audit_seq: Option<u64>) -> Result<(), StoreError> {
        let deleted: BTreeSet<&str> = self.deletes.iter().map(String::as_str).collect();
        if let Some((key, _)) = self.puts.iter().find(|(k, _)| deleted.contains(k.as_str())) {
            // Which of the two the caller meant is unknowable; refusing keeps it explicit.
            return Err(StoreError::InvalidCommit(format!(
                "resource {key:?} is both put and deleted in one commit"
            )));
        }
        let mut last = last_audit_seq;
        for (seq, _) in &self.audit {
            check_audit_seq(*seq, last)?;
            last = Some(*seq);
        }
        Ok(())
    }
}

/// Rejects an audit seq that does not come strictly after `last`.
pub(crate) fn check_audit_seq(seq: u64, last: Option<u64>) -> Result<(), StoreError> {
    match last {
        Some(last) if seq <= last => Err(StoreError::AuditOutOfOrder { seq, last }),
        _ => Ok(()),
    }
}

/// Answer of [`Store::events_since`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsSince {
    /// Every event with a revision above the one asked for, ascending: `(revision, bytes)`.
    Events(Vec<(u64, Vec<u8>)>),
    /// Some events the caller needs were dropped by retention. Events of every revision
    /// `>= oldest_available` are still held; the caller must resynchronise from
    /// [`Store::load`] instead of resuming.
    Compacted { oldest_available: u64 },
}

/// How much history a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Keep events of at most this many newest revisions (revisions without events count).
    pub event_retention: u64,
    /// Keep at most this many idempotency records; the oldest inserted is dropped first.
    pub request_retention: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            event_retention: 100_000,
            request_retention: 100_000,
        }
    }
}

impl StoreOptions {
    /// Highest revision whose events retention allows dropping once the store is at
    /// `revision`; 0 while nothing may be dropped. Shared so both backends agree.
    pub(crate) fn events_dropped_through(&self, revision: u64) -> u64 {
        revision.saturating_sub(self.event_retention)
    }
}

/// Answer to `events_since(after)` given where retention has dropped events through.
pub(crate) fn compacted(after_revision: u64, dropped_through: u64) -> Option<EventsSince> {
    (after_revision < dropped_through).then_some(EventsSince::Compacted {
        oldest_available: dropped_through + 1,
    })
}

/// Why a store operation failed. `location` names the file (or, for a remote backend,
/// the endpoint) so the operator knows where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(
        "revision conflict: the commit expected revision {expected} but the store is at {actual}; \
         reload the state and retry"
    )]
    Conflict { expected: u64, actual: u64 },
    #[error(
        "audit sequence {seq} does not come after the last stored audit record {last}; \
         audit sequences must strictly increase"
    )]
    AuditOutOfOrder { seq: u64, last: u64 },
    #[error("invalid commit: {0}")]
    InvalidCommit(String),
    #[error(
        "store {location} is in use by another process; stop the other controller \
         or give this one a different state directory"
    )]
    Locked { location: String },
    #[error(
        "store {location} has schema version {found}, but this build understands up to \
         {supported}; run a newer weftd"
    )]
    UnsupportedSchema {
        location: String,
        found: u64,
        supported: u64,
    },
    #[error("{0}")]
    Corrupt(String),
    #[error("I/O error on store {location}: {source}")]
    Io {
        location: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Backend(String),
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),
    /// A replicated store refused a write because this replica does not lead;
    /// nothing was sent.
    #[error(
        "store {location}: this replica is not the leader, so it does not write; \
         send the request to the leader"
    )]
    NotLeader { location: String },
    /// The replicated store refused a write made with leadership that had already
    /// ended (fencing token `token`); nothing was applied.
    #[error(
        "store {location}: write refused, leadership term {token} has ended \
         (another replica leads now); nothing was applied"
    )]
    Fenced { location: String, token: u64 },
    /// The replicated store cannot reach a quorum now; retry later. From a commit, the
    /// outcome may be unknown (see `etcd`): reload before the next commit.
    #[error("store {location} is unavailable: {reason}")]
    Unavailable { location: String, reason: String },
}

/// The controller's durable state, whatever holds it.
///
/// Every method is durable on return: a crash right after `Ok` loses nothing.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Reads everything the controller needs at start.
    fn load(&self) -> Result<StoredState, StoreError>;
    /// Applies `commit` atomically; returns the new revision.
    fn commit(&self, commit: Commit) -> Result<u64, StoreError>;
    /// Idempotency lookup: the response record stored for `key`, if still retained.
    fn request(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Events with revision `> after_revision`, ascending; `Compacted` if some were dropped.
    fn events_since(&self, after_revision: u64) -> Result<EventsSince, StoreError>;
    /// Durably increments and returns the controller epoch.
    fn begin_epoch(&self) -> Result<u64, StoreError>;
    /// Stores an audit record outside any commit (e.g. a denied request).
    fn append_audit(&self, seq: u64, record: Vec<u8>) -> Result<(), StoreError>;
    /// Audit records with seq `> after_seq`, ascending.
    fn audit_since(&self, after_seq: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_put_and_delete_of_one_key() {
        let mut c = Commit::new(0);
        c.puts.push(("a".into(), vec![1]));
        c.deletes.push("a".into());
        assert!(matches!(
            c.validate(None),
            Err(StoreError::InvalidCommit(_))
        ));
    }

    #[test]
    fn validate_requires_increasing_audit_seqs() {
        let mut c = Commit::new(0);
        c.audit = vec![(3, vec![]), (3, vec![])];
        assert!(matches!(
            c.validate(None),
            Err(StoreError::AuditOutOfOrder { seq: 3, last: 3 })
        ));
        c.audit = vec![(3, vec![]), (4, vec![])];
        assert!(c.validate(Some(2)).is_ok());
        assert!(matches!(
            c.validate(Some(3)),
            Err(StoreError::AuditOutOfOrder { seq: 3, last: 3 })
        ));
    }

    #[test]
    fn compaction_boundary() {
        let opts = StoreOptions {
            event_retention: 3,
            request_retention: 1,
        };
        assert_eq!(opts.events_dropped_through(2), 0);
        assert_eq!(opts.events_dropped_through(10), 7);
        assert_eq!(compacted(7, 7), None);
        assert_eq!(
            compacted(6, 7),
            Some(EventsSince::Compacted {
                oldest_available: 8
            })
        );
    }
}
