//! [`MemoryStore`]: an in-memory [`Store`] for tests. Not for production: nothing
//! survives the process.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{
    Commit, EventsSince, Store, StoreError, StoreOptions, StoredState, check_audit_seq, compacted,
};

/// An in-memory [`Store`] for unit tests of the controller.
///
/// It follows the same commit, retention and ordering rules as [`crate::RedbStore`]
/// (a property test checks this), but keeps everything in memory: it is **not** durable
/// and must not be used in production.
#[derive(Debug, Default)]
pub struct MemoryStore {
    options: StoreOptions,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    revision: u64,
    epoch: u64,
    meta: BTreeMap<String, Vec<u8>>,
    resources: BTreeMap<String, Vec<u8>>,
    /// (revision, index within the commit) -> event.
    events: BTreeMap<(u64, u64), Vec<u8>>,
    events_dropped_through: u64,
    /// request key -> (insertion seq, response record).
    requests: BTreeMap<String, (u64, Vec<u8>)>,
    request_order: BTreeMap<u64, String>,
    next_request_seq: u64,
    audit: BTreeMap<u64, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store with default [`StoreOptions`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with the given retention.
    pub fn with_options(options: StoreOptions) -> Self {
        Self {
            options,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation is validated before it starts and cannot panic midway, so a
        // poisoned lock still guards consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn exhausted(what: &str) -> StoreError {
    StoreError::Corrupt(format!("memory store: {what} counter is exhausted"))
}

impl Store for MemoryStore {
    fn load(&self) -> Result<StoredState, StoreError> {
        let inner = self.lock();
        Ok(StoredState {
            revision: inner.revision,
            epoch: inner.epoch,
            meta: inner.meta.clone(),
            resources: inner.resources.clone(),
            audit_head: inner.audit.last_key_value().map(|(s, r)| (*s, r.clone())),
        })
    }

    fn commit(&self, commit: Commit) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        if inner.revision != commit.expected_revision {
            return Err(StoreError::Conflict {
                expected: commit.expected_revision,
                actual: inner.revision,
            });
        }
        commit.validate(inner.audit.last_key_value().map(|(s, _)| *s))?;
        let revision = inner
            .revision
            .checked_add(1)
            .ok_or_else(|| exhausted("revision"))?;
        let next_request_seq = match commit.request {
            Some(_) => Some(
                inner
                    .next_request_seq
                    .checked_add(1)
                    .ok_or_else(|| exhausted("request"))?,
            ),
            None => None,
        };

        // Nothing below can fail, so the commit is all-or-nothing.
        let inner = &mut *inner;
        inner.resources.extend(commit.puts);
        for key in &commit.deletes {
            inner.resources.remove(key);
        }
        inner.meta.extend(commit.meta_puts);
        for (index, event) in (0u64..).zip(commit.events) {
            inner.events.insert((revision, index), event);
        }
        let through = inner
            .events_dropped_through
            .max(self.options.events_dropped_through(revision));
        inner.events_dropped_through = through;
        inner.events.retain(|(rev, _), _| *rev > through);
        if let (Some((key, response)), Some(next)) = (commit.request, next_request_seq) {
            let seq = inner.next_request_seq;
            inner.next_request_seq = next;
            if let Some((old_seq, _)) = inner.requests.insert(key.clone(), (seq, response)) {
                inner.request_order.remove(&old_seq);
            }
            inner.request_order.insert(seq, key);
            while u64::try_from(inner.requests.len()).unwrap_or(u64::MAX)
                > self.options.request_retention
            {
                let Some((_, oldest)) = inner.request_order.pop_first() else {
                    break;
                };
                inner.requests.remove(&oldest);
            }
        }
        inner.audit.extend(commit.audit);
        inner.revision = revision;
        Ok(revision)
    }

    fn request(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().requests.get(key).map(|(_, r)| r.clone()))
    }

    fn events_since(&self, after_revision: u64) -> Result<EventsSince, StoreError> {
        let inner = self.lock();
        if let Some(answer) = compacted(after_revision, inner.events_dropped_through) {
            return Ok(answer);
        }
        let Some(first) = after_revision.checked_add(1) else {
            return Ok(EventsSince::Events(Vec::new()));
        };
        let events = inner.events.range((first, 0)..);
        Ok(EventsSince::Events(
            events.map(|((rev, _), e)| (*rev, e.clone())).collect(),
        ))
    }

    fn begin_epoch(&self) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        inner.epoch = inner
            .epoch
            .checked_add(1)
            .ok_or_else(|| exhausted("epoch"))?;
        Ok(inner.epoch)
    }

    fn append_audit(&self, seq: u64, record: Vec<u8>) -> Result<(), StoreError> {
        let mut inner = self.lock();
        check_audit_seq(seq, inner.audit.last_key_value().map(|(s, _)| *s))?;
        inner.audit.insert(seq, record);
        Ok(())
    }

    fn audit_since(&self, after_seq: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let Some(first) = after_seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        let inner = self.lock();
        let records = inner.audit.range(first..);
        Ok(records.map(|(s, r)| (*s, r.clone())).collect())
    }
}
