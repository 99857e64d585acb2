//! [`EtcdStore`]: [`Store`] on etcd, every write one fenced transaction.
//!
//! A write reads the `system/` counters it depends on in one snapshot
//! (etcd revision `H`), checks the commit against them exactly as
//! [`crate::RedbStore`] does, and sends one transaction that applies only if
//! (a) this replica's candidate key still exists with the revision it won
//! with, (b) no older candidate exists, and (c) no `system/` key changed
//! after `H`. Every write changes a `system/` key, so (c) makes the
//! read-check-write atomic, and (a)+(b) make it a leader-only write.
//!
//! A write carries an id that it stores in `system/last_commit`. When an
//! attempt's answer is lost (a member died mid-call), the next attempt's
//! snapshot shows whether that id landed, so a write is acknowledged
//! exactly once and never applied twice. The checks and operations of each
//! write are in [`super::write`].

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use etcd_client::{Compare, CompareOp, GetOptions, SortOrder, SortTarget, Txn, TxnOp};

use super::fence::{Fence, LeaderToken};
use super::follow::{self, StoreWatch};
use super::keys::{self, Keys, prefix_end};
use super::runtime::Runtime;
use super::write::{Prepared, System, Write, WriteKind, get_prefix, get_range, prepare};
use super::{Conn, EtcdClient, kvs};
use crate::{Commit, EventsSince, Store, StoreError, StoreOptions, StoredState};

/// Layout version stored in `system/schema_version`. Bump it when a key
/// family or the meaning of a stored value changes.
pub const ETCD_SCHEMA_VERSION: u64 = 1;

/// How often a write is re-read and re-sent when another write slipped in
/// between its snapshot and its transaction. Writes of one process are
/// serialised, so this only happens with a second process writing under
/// the same leadership: a misconfiguration.
const MAX_RACES: usize = 8;

/// The controller's store on etcd (see the module docs of
/// [`crate::etcd`]).
pub struct EtcdStore {
    runtime: Arc<Runtime>,
    conn: Conn,
    fence: Fence,
    options: StoreOptions,
    /// Writes of this process go one at a time: a write racing another of
    /// the same leader would only fail its compare and be retried.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Distinguishes this store's commit ids from any other process's.
    id_base: u64,
    next_id: AtomicU64,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("location", &self.conn.location)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How a fenced write ended.
enum Outcome<T> {
    Done(T),
    /// The snapshot was stale when the transaction arrived: read again.
    Raced,
}

impl EtcdStore {
    /// A store on `client` that writes while `fence` is held (the
    /// [`super::Election`]'s, or [`Fence::none`] for a read-only store).
    /// Reads the schema version, so an unreachable cluster fails here with
    /// [`StoreError::Unavailable`].
    pub fn open(
        client: &EtcdClient,
        fence: Fence,
        options: StoreOptions,
    ) -> Result<EtcdStore, StoreError> {
        let id_base = RandomState::new().hash_one(std::process::id());
        let store = EtcdStore {
            runtime: Arc::clone(&client.runtime),
            conn: client.conn.clone(),
            fence,
            options,
            writer: Arc::default(),
            id_base,
            next_id: AtomicU64::new(0),
        };
        let conn = store.conn.clone();
        store.runtime.block(async move {
            let until = conn.deadline();
            let (_, answers) = conn
                .snapshot(until, vec![get_prefix(conn.keys.system_prefix())])
                .await?;
            System::parse(&conn, kvs(&answers, 0)).map(drop)
        })?;
        Ok(store)
    }

    /// The retention this store was opened with.
    pub fn options(&self) -> StoreOptions {
        self.options
    }

    /// The fence this store writes with.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// `etcd://HOSTS/PREFIX`.
    pub fn location(&self) -> &str {
        &self.conn.location
    }

    /// Follows the store from `after_revision`: a [`StoreWatch`] yields
    /// every later revision with its events, whoever commits them. For
    /// followers; see [`StoreWatch`].
    pub fn watch(&self, after_revision: u64) -> StoreWatch {
        follow::start(&self.runtime, self.conn.clone(), after_revision)
    }

    fn token(&self) -> Result<LeaderToken, StoreError> {
        self.fence.current().ok_or_else(|| StoreError::NotLeader {
            location: self.conn.location.to_string(),
        })
    }

    /// Runs one fenced write of `kind` to its end.
    fn fenced_write(&self, kind: WriteKind) -> Result<u64, StoreError> {
        let token = self.token()?;
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let write = Write {
            id: format!("{:016x}-{n}", self.id_base).into_bytes(),
            kind,
        };
        let conn = self.conn.clone();
        let options = self.options;
        let writer = Arc::clone(&self.writer);
        self.runtime.block(async move {
            let _one_at_a_time = writer.lock().await;
            fenced_write(&conn, options, &token, &write).await
        })
    }
}

/// Prepares and sends `write` until it lands, is refused, or the call's
/// deadline passes.
async fn fenced_write(
    conn: &Conn,
    options: StoreOptions,
    token: &LeaderToken,
    write: &Write,
) -> Result<u64, StoreError> {
    let until = conn.deadline();
    let mut races = 0;
    loop {
        let (snapshot_rev, ops, answer) = match prepare(conn, options, write, until).await? {
            Prepared::Answer(answer) => return Ok(answer),
            Prepared::Send {
                snapshot_rev,
                ops,
                answer,
            } => (snapshot_rev, ops, answer),
        };
        let compares = vec![
            // (a) the key this replica won with is still there, unchanged;
            Compare::create_revision(token.key.clone(), CompareOp::Equal, token.revision),
            // (b) and no candidate older than it exists, so it leads;
            Compare::create_revision(
                conn.keys.election_prefix(),
                CompareOp::Greater,
                token.revision - 1,
            )
            .with_prefix(),
            // (c) and nothing this write was checked against has changed.
            Compare::mod_revision(conn.keys.system_prefix(), CompareOp::Less, snapshot_rev + 1)
                .with_prefix(),
        ];
        let txn = Txn::new().when(compares).and_then(ops);
        match conn
            .attempt("a write", until, conn.kv.clone().txn(txn))
            .await
        {
            Ok(resp) if resp.succeeded() => return Ok(answer),
            Ok(_) => match why_refused(conn, token, until).await? {
                Outcome::Done(e) => return Err(e),
                Outcome::Raced if races < MAX_RACES => races += 1,
                Outcome::Raced => {
                    return Err(StoreError::Backend(format!(
                        "store {}: writes keep racing; is another process writing with this \
                         replica's leadership?",
                        conn.location
                    )));
                }
            },
            // The answer was lost: the next snapshot tells whether it landed.
            Err(StoreError::Unavailable { .. }) if Instant::now() < until => {
                tokio::time::sleep(super::RETRY_PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// After a refused transaction: fenced, or a stale snapshot.
async fn why_refused(
    conn: &Conn,
    token: &LeaderToken,
    until: Instant,
) -> Result<Outcome<StoreError>, StoreError> {
    let oldest = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend)
        .with_limit(1);
    let (_, answers) = conn
        .snapshot(
            until,
            vec![
                TxnOp::get(token.key.clone(), None),
                TxnOp::get(conn.keys.election_prefix(), Some(oldest)),
            ],
        )
        .await?;
    let mine = kvs(&answers, 0)
        .first()
        .map(etcd_client::KeyValue::create_revision);
    let leader = kvs(&answers, 1)
        .first()
        .map(etcd_client::KeyValue::create_revision);
    if mine != Some(token.revision) || leader != Some(token.revision) {
        return Ok(Outcome::Done(StoreError::Fenced {
            location: conn.location.to_string(),
            token: token.revision_u64(),
        }));
    }
    tracing::debug!("store write raced another; reading again");
    Ok(Outcome::Raced)
}

impl Store for EtcdStore {
    fn load(&self) -> Result<StoredState, StoreError> {
        let conn = self.conn.clone();
        self.runtime.block(async move {
            let k = &conn.keys;
            let until = conn.deadline();
            let (rev, answers) = conn
                .snapshot(
                    until,
                    vec![
                        get_prefix(k.system_prefix()),
                        get_prefix(k.meta_prefix()),
                        get_prefix(k.resources_prefix()),
                    ],
                )
                .await?;
            let system = System::parse(&conn, kvs(&answers, 0))?;
            let named =
                |index: usize, prefix: Vec<u8>| -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
                    kvs(&answers, index)
                        .iter()
                        .map(|kv| {
                            let name = Keys::strip(kv.key(), &prefix)
                                .ok_or_else(|| conn.corrupt("a key name is not UTF-8"))?;
                            Ok((name.to_owned(), kv.value().to_vec()))
                        })
                        .collect()
                };
            let meta = named(1, k.meta_prefix())?;
            let resources = named(2, k.resources_prefix())?;
            // The head record, read at the same revision as the rest.
            let audit_head = match system.audit_seq {
                None => None,
                Some(seq) => {
                    let at = GetOptions::new().with_revision(rev);
                    let (_, head) = conn
                        .snapshot(until, vec![TxnOp::get(k.audit(seq), Some(at))])
                        .await?;
                    let record = kvs(&head, 0)
                        .first()
                        .ok_or_else(|| conn.corrupt("the last audit record is missing"))?;
                    Some((seq, record.value().to_vec()))
                }
            };
            Ok(StoredState {
                revision: system.revision,
                epoch: system.epoch,
                meta,
                resources,
                audit_head,
            })
        })
    }

    fn commit(&self, commit: Commit) -> Result<u64, StoreError> {
        self.fenced_write(WriteKind::Commit(commit))
    }

    fn request(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn.clone();
        let key = conn.keys.request(key);
        self.runtime.block(async move {
            let (_, answers) = conn
                .snapshot(conn.deadline(), vec![TxnOp::get(key, None)])
                .await?;
            kvs(&answers, 0)
                .first()
                .map(|kv| {
                    keys::split_request_value(kv.value())
                        .map(|(_, response)| response.to_vec())
                        .ok_or_else(|| conn.corrupt("a request record is malformed"))
                })
                .transpose()
        })
    }

    fn events_since(&self, after_revision: u64) -> Result<EventsSince, StoreError> {
        let conn = self.conn.clone();
        self.runtime.block(async move {
            follow::read_events(&conn, conn.deadline(), after_revision)
                .await
                .map(|(_, _, events)| events)
        })
    }

    fn begin_epoch(&self) -> Result<u64, StoreError> {
        self.fenced_write(WriteKind::Epoch)
    }

    fn append_audit(&self, seq: u64, record: Vec<u8>) -> Result<(), StoreError> {
        self.fenced_write(WriteKind::Audit { seq, record })
            .map(drop)
    }

    fn audit_since(&self, after_seq: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let Some(first) = after_seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        let conn = self.conn.clone();
        self.runtime.block(async move {
            let k = &conn.keys;
            let (_, answers) = conn
                .snapshot(
                    conn.deadline(),
                    vec![get_range(k.audit(first), prefix_end(&k.audit_prefix()))],
                )
                .await?;
            kvs(&answers, 0)
                .iter()
                .map(|kv| {
                    let seq = keys::parse_padded_tail(kv.key())
                        .ok_or_else(|| conn.corrupt("an audit key is malformed"))?;
                    Ok((seq, kv.value().to_vec()))
                })
                .collect()
        })
    }
}
