//! The three writes an [`super::EtcdStore`] makes, prepared against a
//! snapshot of the `system/` counters: the checks [`crate::RedbStore`] makes
//! inside its write transaction, and the etcd operations that carry the
//! write out. Sending them, fenced, is [`super::store`]'s job.
//!
//! Every write stores its id in `system/last_commit`, so an attempt whose
//! answer was lost is recognised by the next attempt's snapshot and answered
//! without being applied twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use etcd_client::{DeleteOptions, GetOptions, TxnOp};

use super::keys::{self, Keys, prefix_end};
use super::store::ETCD_SCHEMA_VERSION;
use super::{Conn, kvs};
use crate::{Commit, StoreError, StoreOptions};

/// The three writes a store makes; `id` tells one write's attempts from
/// any other write.
pub(super) struct Write {
    pub(super) id: Vec<u8>,
    pub(super) kind: WriteKind,
}

pub(super) enum WriteKind {
    Commit(Commit),
    Epoch,
    Audit { seq: u64, record: Vec<u8> },
}

/// A write checked against a snapshot.
pub(super) enum Prepared {
    /// Send `ops` guarded by the snapshot's revision; answer `answer`.
    Send {
        snapshot_rev: i64,
        ops: Vec<TxnOp>,
        answer: u64,
    },
    /// Answer at once: an earlier attempt of this write landed.
    Answer(u64),
}

/// The `system/` counters as one snapshot saw them.
#[derive(Debug, Default)]
pub(super) struct System {
    pub(super) revision: u64,
    pub(super) epoch: u64,
    schema: Option<u64>,
    pub(super) audit_seq: Option<u64>,
    events_dropped_through: u64,
    next_request_seq: u64,
    requests_held: u64,
    last_commit: Vec<u8>,
}

impl System {
    pub(super) fn parse(
        conn: &Conn,
        found: &[etcd_client::KeyValue],
    ) -> Result<System, StoreError> {
        let prefix = conn.keys.system_prefix();
        let mut s = System::default();
        for kv in found {
            let Some(name) = Keys::strip(kv.key(), &prefix) else {
                continue;
            };
            if name == keys::LAST_COMMIT {
                s.last_commit = kv.value().to_vec();
                continue;
            }
            let value = keys::parse_u64(kv.value())
                .ok_or_else(|| conn.corrupt(&format!("system/{name} is not a number")))?;
            match name {
                keys::REVISION => s.revision = value,
                keys::EPOCH => s.epoch = value,
                keys::SCHEMA => s.schema = Some(value),
                keys::AUDIT_SEQ => s.audit_seq = Some(value),
                keys::EVENTS_DROPPED_THROUGH => s.events_dropped_through = value,
                keys::NEXT_REQUEST_SEQ => s.next_request_seq = value,
                keys::REQUESTS_HELD => s.requests_held = value,
                // A newer build's counter: the schema check decides.
                _ => {}
            }
        }
        if let Some(found) = s.schema
            && found > ETCD_SCHEMA_VERSION
        {
            return Err(StoreError::UnsupportedSchema {
                location: conn.location.to_string(),
                found,
                supported: ETCD_SCHEMA_VERSION,
            });
        }
        Ok(s)
    }
}

pub(super) fn get_prefix(prefix: Vec<u8>) -> TxnOp {
    TxnOp::get(prefix, Some(GetOptions::new().with_prefix()))
}

pub(super) fn get_range(from: Vec<u8>, to: Vec<u8>) -> TxnOp {
    TxnOp::get(from, Some(GetOptions::new().with_range(to)))
}

fn put(key: Vec<u8>, value: impl Into<Vec<u8>>) -> TxnOp {
    TxnOp::put(key, value, None)
}

fn put_u64(conn: &Conn, name: &str, value: u64) -> TxnOp {
    put(conn.keys.system(name), value.to_string())
}

fn overflow(conn: &Conn, what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "store {}: the {what} counter is exhausted",
        conn.location
    ))
}

/// Checks `write` against a fresh snapshot and builds its operations.
pub(super) async fn prepare(
    conn: &Conn,
    options: StoreOptions,
    write: &Write,
    until: Instant,
) -> Result<Prepared, StoreError> {
    let id = write.id.as_slice();
    let mut extra = Vec::new();
    if let WriteKind::Commit(Commit {
        request: Some((key, _)),
        ..
    }) = &write.kind
    {
        extra.push(TxnOp::get(conn.keys.request(key), None));
        // One commit evicts one record in the steady state; more only after
        // a reopen with less retention, read in `request_view`.
        extra.push(TxnOp::get(
            conn.keys.request_order_prefix(),
            Some(GetOptions::new().with_prefix().with_limit(3)),
        ));
    }
    let (snapshot_rev, system, answers) = read_system(conn, until, extra).await?;
    let landed = system.last_commit == id;
    let (mut ops, answer) = match &write.kind {
        WriteKind::Commit(_) if landed => return Ok(Prepared::Answer(system.revision)),
        WriteKind::Epoch if landed => return Ok(Prepared::Answer(system.epoch)),
        WriteKind::Audit { .. } if landed => return Ok(Prepared::Answer(0)),
        WriteKind::Commit(commit) => {
            prepare_commit(
                conn,
                options,
                &system,
                commit,
                snapshot_rev,
                &answers,
                until,
            )
            .await?
        }
        WriteKind::Epoch => {
            let epoch = system
                .epoch
                .checked_add(1)
                .ok_or_else(|| overflow(conn, "epoch"))?;
            (vec![put_u64(conn, keys::EPOCH, epoch)], epoch)
        }
        WriteKind::Audit { seq, record } => {
            crate::check_audit_seq(*seq, system.audit_seq)?;
            let ops = vec![
                put(conn.keys.audit(*seq), record.clone()),
                put_u64(conn, keys::AUDIT_SEQ, *seq),
            ];
            (ops, 0)
        }
    };
    ops.push(put(conn.keys.system(keys::LAST_COMMIT), id.to_vec()));
    Ok(Prepared::Send {
        snapshot_rev,
        ops,
        answer,
    })
}

/// Reads `system/` plus `extra`, in one snapshot.
async fn read_system(
    conn: &Conn,
    until: Instant,
    extra: Vec<TxnOp>,
) -> Result<(i64, System, Vec<etcd_client::TxnOpResponse>), StoreError> {
    let mut reads = vec![get_prefix(conn.keys.system_prefix())];
    reads.extend(extra);
    let (rev, mut answers) = conn.snapshot(until, reads).await?;
    let system = System::parse(conn, kvs(&answers, 0))?;
    answers.remove(0);
    Ok((rev, system, answers))
}

/// Checks a commit and builds its operations (without the id).
async fn prepare_commit(
    conn: &Conn,
    options: StoreOptions,
    system: &System,
    commit: &Commit,
    snapshot_rev: i64,
    answers: &[etcd_client::TxnOpResponse],
    until: Instant,
) -> Result<(Vec<TxnOp>, u64), StoreError> {
    if system.revision != commit.expected_revision {
        return Err(StoreError::Conflict {
            expected: commit.expected_revision,
            actual: system.revision,
        });
    }
    commit.validate(system.audit_seq)?;
    let view = match commit.request {
        Some(_) => request_view(conn, options, system, snapshot_rev, answers, until).await?,
        None => RequestView::default(),
    };
    commit_ops(conn, options, system, commit, &view)
}

/// What the snapshot says about the idempotency records a commit touches,
/// reading more of the oldest ones (at the snapshot's revision) when one
/// commit evicts several.
async fn request_view(
    conn: &Conn,
    options: StoreOptions,
    system: &System,
    snapshot_rev: i64,
    answers: &[etcd_client::TxnOpResponse],
    until: Instant,
) -> Result<RequestView, StoreError> {
    let mut view = RequestView {
        existing: kvs(answers, 0)
            .first()
            .map(|kv| {
                keys::split_request_value(kv.value())
                    .map(|(seq, _)| seq)
                    .ok_or_else(|| conn.corrupt("a request record is malformed"))
            })
            .transpose()?,
        oldest: parse_order(conn, kvs(answers, 1))?,
    };
    let held = system.requests_held + u64::from(view.existing.is_none());
    // The evicted records, plus the commit key's own old entry among them.
    let wanted = held.saturating_sub(options.request_retention) + 1;
    let have = u64::try_from(view.oldest.len()).unwrap_or(u64::MAX);
    if have < wanted && system.requests_held > have {
        let at = GetOptions::new()
            .with_prefix()
            .with_limit(i64::try_from(wanted).unwrap_or(i64::MAX))
            .with_revision(snapshot_rev);
        let (_, more) = conn
            .snapshot(
                until,
                vec![TxnOp::get(conn.keys.request_order_prefix(), Some(at))],
            )
            .await?;
        view.oldest = parse_order(conn, kvs(&more, 0))?;
    }
    Ok(view)
}

/// Last value per key, in first-seen order: etcd refuses a transaction that
/// puts one key twice.
fn last_wins(pairs: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out: Vec<(&str, &[u8])> = Vec::new();
    for (k, v) in pairs {
        match at.get(k.as_str()) {
            Some(&i) => out[i].1 = v,
            None => {
                at.insert(k, out.len());
                out.push((k, v));
            }
        }
    }
    out
}

/// The operations of a commit on top of `system` (already checked to be at
/// `commit.expected_revision`).
fn commit_ops(
    conn: &Conn,
    options: StoreOptions,
    system: &System,
    commit: &Commit,
    requests: &RequestView,
) -> Result<(Vec<TxnOp>, u64), StoreError> {
    let k = &conn.keys;
    let revision = system
        .revision
        .checked_add(1)
        .ok_or_else(|| overflow(conn, "revision"))?;
    let mut ops = vec![put_u64(conn, keys::REVISION, revision)];
    if system.schema.is_none() {
        ops.push(put_u64(conn, keys::SCHEMA, ETCD_SCHEMA_VERSION));
    }
    for (key, value) in last_wins(&commit.puts) {
        ops.push(put(k.resource(key), value.to_vec()));
    }
    let deletes: BTreeSet<&str> = commit.deletes.iter().map(String::as_str).collect();
    for key in deletes {
        ops.push(TxnOp::delete(k.resource(key), None));
    }
    for (key, value) in last_wins(&commit.meta_puts) {
        ops.push(put(k.meta(key), value.to_vec()));
    }
    let through = system
        .events_dropped_through
        .max(options.events_dropped_through(revision));
    // Events retention drops at once are never written: etcd refuses a put
    // inside a range the same transaction deletes.
    if through < revision {
        for (index, event) in (0u64..).zip(&commit.events) {
            ops.push(put(k.event(revision, index), event.clone()));
        }
    }
    if through > system.events_dropped_through {
        ops.push(put_u64(conn, keys::EVENTS_DROPPED_THROUGH, through));
        let end = match through.checked_add(1) {
            Some(next) => k.events_from(next),
            None => prefix_end(&k.events_prefix()),
        };
        ops.push(TxnOp::delete(
            k.events_prefix(),
            Some(DeleteOptions::new().with_range(end)),
        ));
    }
    if let Some((key, response)) = &commit.request {
        ops.extend(request_ops(conn, options, system, key, response, requests)?);
    }
    if let Some((last, _)) = commit.audit.last() {
        for (seq, record) in &commit.audit {
            ops.push(put(k.audit(*seq), record.clone()));
        }
        ops.push(put_u64(conn, keys::AUDIT_SEQ, *last));
    }
    Ok((ops, revision))
}

/// What a commit with an idempotency record needs to know about the
/// records held: the same key's current record, and the oldest ones.
#[derive(Debug, Default)]
struct RequestView {
    /// Insertion seq of the record already stored under the commit's key.
    existing: Option<u64>,
    /// The oldest records, `(seq, key)`, ascending; at least as many as
    /// the commit evicts plus one.
    oldest: Vec<(u64, String)>,
}

fn request_ops(
    conn: &Conn,
    options: StoreOptions,
    system: &System,
    key: &str,
    response: &[u8],
    view: &RequestView,
) -> Result<Vec<TxnOp>, StoreError> {
    let k = &conn.keys;
    let seq = system.next_request_seq;
    let next = seq
        .checked_add(1)
        .ok_or_else(|| overflow(conn, "request"))?;
    let mut ops = vec![put_u64(conn, keys::NEXT_REQUEST_SEQ, next)];
    // The order after storing: every other record oldest first, then this.
    let mut order: Vec<(u64, &str)> = view
        .oldest
        .iter()
        .filter(|(s, _)| Some(*s) != view.existing)
        .map(|(s, key)| (*s, key.as_str()))
        .collect();
    order.push((seq, key));
    let held = if view.existing.is_some() {
        system.requests_held
    } else {
        system.requests_held + 1
    };
    let evict = held.saturating_sub(options.request_retention);
    let evict_n = usize::try_from(evict).unwrap_or(usize::MAX);
    if evict_n > order.len() {
        return Err(conn.corrupt("system/requests_held is out of step with the records"));
    }
    let evicted = &order[..evict_n];
    let new_evicted = evicted.iter().any(|(s, _)| *s == seq);
    if let Some(old) = view.existing {
        ops.push(TxnOp::delete(k.request_order(old), None));
    }
    for (s, key) in evicted.iter().filter(|(s, _)| *s != seq) {
        ops.push(TxnOp::delete(k.request_order(*s), None));
        ops.push(TxnOp::delete(k.request(key), None));
    }
    if new_evicted {
        // Retention keeps nothing: the record goes as it comes, and the
        // key's older record with it.
        if view.existing.is_some() {
            ops.push(TxnOp::delete(k.request(key), None));
        }
    } else {
        ops.push(put(k.request(key), keys::request_value(seq, response)));
        ops.push(put(k.request_order(seq), key.as_bytes().to_vec()));
    }
    ops.push(put_u64(conn, keys::REQUESTS_HELD, held - evict));
    Ok(ops)
}

/// Parses request order entries into `(seq, key)`.
fn parse_order(
    conn: &Conn,
    found: &[etcd_client::KeyValue],
) -> Result<Vec<(u64, String)>, StoreError> {
    found
        .iter()
        .map(|kv| {
            let seq = keys::parse_padded_tail(kv.key());
            let key = std::str::from_utf8(kv.value()).ok();
            match (seq, key) {
                (Some(seq), Some(key)) => Ok((seq, key.to_owned())),
                _ => Err(conn.corrupt("a request_order entry is malformed")),
            }
        })
        .collect()
}
