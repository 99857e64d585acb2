//! Following the leader's commits: [`StoreWatch`].
//!
//! A follower keeps its copy of the state current by reading, after each
//! change of `system/revision`, the events of the revisions it has not seen.
//! The watch on `system/revision` starts at the etcd revision of the read
//! that came before it, so no commit falls between a read and the watch;
//! when the watch breaks (a member died), the loop reads again and watches
//! again from there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{GetOptions, TxnOp, WatchOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::keys::{self, prefix_end};
use super::runtime::Runtime;
use super::{Conn, kvs};
use crate::{EventsSince, StoreError, compacted};

/// One step of the store seen by a follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUpdate {
    /// The store's revision now.
    pub revision: u64,
    /// The events of the revisions after the previous update (or after the
    /// revision the watch started from), or `Compacted` when retention
    /// dropped some: then reload with [`crate::Store::load`].
    pub events: EventsSince,
}

/// The store's revisions as they are committed, from a given revision on.
/// Dropping it stops the watch.
#[derive(Debug)]
pub struct StoreWatch {
    updates: mpsc::Receiver<Result<StoreUpdate, StoreError>>,
    task: JoinHandle<()>,
}

impl StoreWatch {
    /// The next update, in revision order; an `Err` reports that the
    /// cluster is unreachable (the watch keeps trying and resumes where it
    /// was). `None` once the store's client is gone.
    pub async fn next(&mut self) -> Option<Result<StoreUpdate, StoreError>> {
        self.updates.recv().await
    }
}

impl Drop for StoreWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn start(runtime: &Arc<Runtime>, conn: Conn, after: u64) -> StoreWatch {
    let (tx, updates) = mpsc::channel(64);
    let task = runtime.handle().spawn(follow(conn, after, tx));
    StoreWatch { updates, task }
}

/// Reads, in one snapshot, the store revision and the events after
/// `after_revision`: `(snapshot etcd revision, store revision, events)`.
pub(crate) async fn read_events(
    conn: &Conn,
    until: Instant,
    after_revision: u64,
) -> Result<(i64, u64, EventsSince), StoreError> {
    let k = &conn.keys;
    let first = after_revision.checked_add(1);
    let mut reads = vec![
        TxnOp::get(k.system(keys::REVISION), None),
        TxnOp::get(k.system(keys::EVENTS_DROPPED_THROUGH), None),
    ];
    if let Some(first) = first {
        reads.push(TxnOp::get(
            k.events_from(first),
            Some(GetOptions::new().with_range(prefix_end(&k.events_prefix()))),
        ));
    }
    let (at, answers) = conn.snapshot(until, reads).await?;
    let counter = |index: usize, name: &str| -> Result<u64, StoreError> {
        kvs(&answers, index).first().map_or(Ok(0), |kv| {
            keys::parse_u64(kv.value())
                .ok_or_else(|| conn.corrupt(&format!("system/{name} is not a number")))
        })
    };
    let revision = counter(0, keys::REVISION)?;
    let dropped_through = counter(1, keys::EVENTS_DROPPED_THROUGH)?;
    if let Some(answer) = compacted(after_revision, dropped_through) {
        return Ok((at, revision, answer));
    }
    let events = kvs(&answers, 2)
        .iter()
        .map(|kv| {
            let rev = keys::event_revision(kv.key())
                .ok_or_else(|| conn.corrupt("an event key is malformed"))?;
            Ok((rev, kv.value().to_vec()))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((at, revision, EventsSince::Events(events)))
}

async fn follow(conn: Conn, mut seen: u64, tx: mpsc::Sender<Result<StoreUpdate, StoreError>>) {
    let mut pause = Duration::from_millis(50);
    loop {
        match follow_until_broken(&conn, &mut seen, &tx).await {
            Ok(()) => return, // nobody listens any more
            Err(e) => {
                if tx.send(Err(e)).await.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Reads and watches until the watch breaks (`Err`) or the receiver is
/// dropped (`Ok`).
async fn follow_until_broken(
    conn: &Conn,
    seen: &mut u64,
    tx: &mpsc::Sender<Result<StoreUpdate, StoreError>>,
) -> Result<(), StoreError> {
    let (at, revision, events) = read_events(conn, conn.deadline(), *seen).await?;
    if revision > *seen {
        *seen = revision;
        if tx.send(Ok(StoreUpdate { revision, events })).await.is_err() {
            return Ok(());
        }
    }
    let mut watch_client = conn.client.watch_client();
    let options = WatchOptions::new().with_start_revision(at + 1);
    let mut stream = conn
        .attempt(
            "a watch",
            conn.deadline(),
            watch_client.watch(conn.keys.system(keys::REVISION), Some(options)),
        )
        .await?;
    loop {
        let answer = stream
            .message()
            .await
            .map_err(|e| super::error::from_etcd(&conn.location, e))?;
        let answer = answer.ok_or_else(|| StoreError::Unavailable {
            location: conn.location.to_string(),
            reason: "the store watch ended".into(),
        })?;
        if answer.canceled() {
            return Err(StoreError::Unavailable {
                location: conn.location.to_string(),
                reason: format!("the store watch was cancelled: {}", answer.cancel_reason()),
            });
        }
        if answer.events().is_empty() {
            continue;
        }
        let (_, revision, events) = read_events(conn, conn.deadline(), *seen).await?;
        if revision > *seen {
            *seen = revision;
            if tx.send(Ok(StoreUpdate { revision, events })).await.is_err() {
                return Ok(());
            }
        }
    }
}
