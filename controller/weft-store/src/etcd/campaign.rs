//! The campaign: a candidate's lease, keepalives, candidate key, wait for
//! the older candidates to go, and its term as leader; plus the observer
//! that keeps every replica's view of who leads current. Runs as tasks on
//! the client's runtime, owned by an [`super::Election`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{
    Compare, CompareOp, EventType, GetOptions, PutOptions, SortOrder, SortTarget, Txn, TxnOp,
    WatchOptions,
};
use tokio::sync::watch;

use super::election::{LeaderInfo, Leadership};
use super::fence::{Fence, Held, LeaderToken, LeaseClock};
use super::{Conn, kvs};
use crate::StoreError;

/// The campaign loop's state.
pub(super) struct Candidate {
    pub(super) conn: Conn,
    pub(super) address: String,
    pub(super) ttl: i64,
    pub(super) fence: Fence,
    pub(super) status: Arc<watch::Sender<Leadership>>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) lease: Arc<AtomicI64>,
}

/// Why a term (or an attempt at one) ended.
enum TermEnd {
    Stopped,
    Lost(String),
}

impl Candidate {
    pub(super) async fn run(mut self) {
        let mut pause = Duration::from_millis(100);
        // Leases whose revoke failed (no quorum at the time). Their keys may
        // outlive the outage (etcd renews every lease when it elects a new
        // raft leader) and would make this replica wait behind itself.
        let mut unrevoked: Vec<i64> = Vec::new();
        loop {
            if *self.stop.borrow() {
                break;
            }
            let lease = match self.grant().await {
                Ok(lease) => lease,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot get an etcd lease to campaign on; retrying");
                    if self.pause(pause).await {
                        break;
                    }
                    pause = (pause * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            pause = Duration::from_millis(100);
            let mut still = Vec::new();
            for old in unrevoked.drain(..) {
                if let Err(StoreError::Unavailable { .. }) = revoke(&self.conn, old).await {
                    still.push(old);
                }
            }
            unrevoked = still;
            let lease_id = lease.0;
            let end = self.term(lease).await;
            self.fence.set(None);
            self.status.send_if_modified(|s| s.token.take().is_some());
            // Revoking deletes the key now instead of after the TTL, so an
            // election after a lost lease or a resignation is quick. Best
            // effort: an expired lease is already gone.
            if let Err(StoreError::Unavailable { .. }) = revoke(&self.conn, lease_id).await {
                unrevoked.push(lease_id);
            }
            self.lease.store(0, Ordering::SeqCst);
            match end {
                TermEnd::Stopped => break,
                TermEnd::Lost(why) => {
                    tracing::warn!(%why, "leadership candidacy ended; campaigning again");
                }
            }
        }
    }

    /// Sleeps `d`; true when stopped meanwhile.
    async fn pause(&mut self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => *self.stop.borrow(),
            _ = self.stop.changed() => true,
        }
    }

    /// A new lease and the clock of its proven lifetime.
    async fn grant(&self) -> Result<(i64, LeaseClock), StoreError> {
        let sent = Instant::now();
        let until = self.conn.deadline();
        let ttl = self.ttl;
        let mut lease_client = self.conn.client.lease_client();
        let granted = self
            .conn
            .attempt("a lease grant", until, lease_client.grant(ttl, None))
            .await?;
        let id = granted.id();
        self.lease.store(id, Ordering::SeqCst);
        let lifetime = Duration::from_secs(u64::try_from(granted.ttl()).unwrap_or(0));
        Ok((id, LeaseClock::new(sent, lifetime)))
    }

    /// One candidacy on `lease`: campaign, lead, until the lease is lost or
    /// the election stopped.
    async fn term(&self, lease: (i64, LeaseClock)) -> TermEnd {
        let (id, clock) = lease;
        let keepalive = keep_alive(self.conn.clone(), id, clock.clone());
        tokio::pin!(keepalive);
        let mut stop = self.stop.clone();
        let lead = self.campaign_and_lead(id, clock);
        tokio::pin!(lead);
        tokio::select! {
            why = &mut keepalive => TermEnd::Lost(why),
            _ = stop.changed() => TermEnd::Stopped,
            why = &mut lead => TermEnd::Lost(why),
        }
    }

    /// Puts the candidate key, waits to be the oldest, then leads until the
    /// key disappears. Returns why it stopped.
    async fn campaign_and_lead(&self, lease: i64, clock: LeaseClock) -> String {
        let conn = &self.conn;
        let key = conn.keys.candidate(lease);
        let revision = match self.put_candidate(&key, lease).await {
            Ok(rev) => rev,
            Err(e) => return format!("cannot put the candidate key: {e}"),
        };
        wait_until_oldest(conn, revision).await;
        let token = LeaderToken {
            key: key.clone(),
            revision,
        };
        let number = token.revision_u64();
        self.fence.set(Some(Held {
            token,
            clock: Some(clock),
        }));
        let address = self.address.clone();
        self.status.send_modify(|s| {
            s.token = Some(number);
            s.leader = Some(LeaderInfo {
                address,
                token: number,
            });
        });
        tracing::info!(token = number, "this replica leads");
        hold(conn, &key, revision).await
    }

    /// Creates the candidate key (or finds it, after a lost answer) and
    /// returns its create revision.
    async fn put_candidate(&self, key: &[u8], lease: i64) -> Result<i64, StoreError> {
        let conn = &self.conn;
        let until = conn.deadline();
        let txn = Txn::new()
            .when(vec![Compare::create_revision(
                key.to_vec(),
                CompareOp::Equal,
                0,
            )])
            .and_then(vec![TxnOp::put(
                key.to_vec(),
                self.address.clone(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else(vec![TxnOp::get(key.to_vec(), None)]);
        let resp = conn
            .retry("a campaign", until, |mut kv| {
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            })
            .await?;
        if resp.succeeded() {
            return resp
                .header()
                .map(etcd_client::ResponseHeader::revision)
                .ok_or_else(|| StoreError::Backend("etcd answered without a header".into()));
        }
        kvs(&resp.op_responses(), 0)
            .first()
            .map(etcd_client::KeyValue::create_revision)
            .ok_or_else(|| StoreError::Backend("the candidate key vanished".into()))
    }
}

/// Renews the lease every third of its TTL until it is lost; returns why.
/// Keeps `clock` at the lifetime the answers prove.
async fn keep_alive(conn: Conn, lease: i64, clock: LeaseClock) -> String {
    let mut lease_client = conn.client.lease_client();
    let ttl = clock.ttl;
    loop {
        let sent = Instant::now();
        let (mut keeper, mut answers) = match conn
            .attempt(
                "a lease keepalive",
                clock.until(),
                lease_client.keep_alive(lease),
            )
            .await
        {
            Ok(pair) => {
                // Opening the stream renewed the lease once (an expired
                // lease fails the call).
                clock.extend(sent + ttl);
                pair
            }
            Err(e) => {
                tracing::debug!(error = %e, "lease keepalive: cannot (re)open the stream");
                if !clock.alive() || e.to_string().contains("lease not found") {
                    return format!("the lease expired: {e}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Renew at a third of the proven time left, so two answers can be
        // lost before it runs out.
        loop {
            let left = clock.until().saturating_duration_since(Instant::now());
            tokio::time::sleep(left / 3).await;
            let sent = Instant::now();
            if keeper.keep_alive().await.is_err() {
                break;
            }
            let left = clock.until().saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, answers.message()).await {
                Ok(Ok(Some(answer))) if answer.ttl() > 0 => {
                    let ttl = Duration::from_secs(u64::try_from(answer.ttl()).unwrap_or(0));
                    clock.extend(sent + ttl);
                }
                Ok(Ok(Some(_))) => return "etcd says the lease expired".to_owned(),
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "lease keepalive: the stream broke");
                    break;
                }
                Err(_) => return "no keepalive answer before the lease could expire".to_owned(),
            }
        }
        if !clock.alive() {
            return "the lease expired while reconnecting".to_owned();
        }
    }
}

/// Waits until no candidate key older than `revision` exists. A broken
/// watch or an unreachable cluster only delays it: the keepalive loop is
/// what gives a candidacy up.
async fn wait_until_oldest(conn: &Conn, revision: i64) {
    loop {
        let older = GetOptions::new()
            .with_prefix()
            .with_max_create_revision(revision - 1)
            .with_sort(SortTarget::Create, SortOrder::Descend)
            .with_limit(1);
        let read = conn
            .snapshot(
                conn.deadline(),
                vec![TxnOp::get(conn.keys.election_prefix(), Some(older))],
            )
            .await;
        let waited = match read {
            Ok((at, answers)) => match kvs(&answers, 0).first() {
                None => return,
                // Watch only the next older candidate: when it goes, look
                // again (an even older one may still be there).
                Some(previous) => wait_deleted(conn, previous.key(), at).await,
            },
            Err(e) => Err(e),
        };
        if let Err(e) = waited {
            tracing::debug!(error = %e, "campaign: lost the election watch; looking again");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Leads until the leader key (created at `revision`) disappears. A broken
/// watch is re-established from a fresh read of the key; an unreachable
/// cluster is waited out (the keepalive loop decides when the lease may
/// have expired).
async fn hold(conn: &Conn, key: &[u8], revision: i64) -> String {
    let mut after = revision;
    loop {
        match wait_deleted(conn, key, after).await {
            Ok(()) => return "the leader key was deleted".to_owned(),
            Err(e) => {
                tracing::debug!(error = %e, "leader: lost the watch on its key; reading it again");
            }
        }
        loop {
            let read = conn
                .snapshot(conn.deadline(), vec![TxnOp::get(key.to_vec(), None)])
                .await;
            match read {
                Ok((at, answers)) => {
                    let created = kvs(&answers, 0)
                        .first()
                        .map(etcd_client::KeyValue::create_revision);
                    if created != Some(revision) {
                        return "the leader key is gone".to_owned();
                    }
                    after = at;
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

/// Waits until `key` is deleted at a revision after `after`.
async fn wait_deleted(conn: &Conn, key: &[u8], after: i64) -> Result<(), StoreError> {
    let mut watch_client = conn.client.watch_client();
    let options = WatchOptions::new().with_start_revision(after + 1);
    let mut stream = conn
        .attempt(
            "a watch",
            conn.deadline(),
            watch_client.watch(key.to_vec(), Some(options)),
        )
        .await?;
    loop {
        let answer = stream
            .message()
            .await
            .map_err(|e| super::error::from_etcd(&conn.location, e))?;
        let Some(answer) = answer else {
            return Err(StoreError::Unavailable {
                location: conn.location.to_string(),
                reason: "the watch ended".into(),
            });
        };
        if answer.canceled() {
            return Err(StoreError::Unavailable {
                location: conn.location.to_string(),
                reason: format!("the watch was cancelled: {}", answer.cancel_reason()),
            });
        }
        if answer
            .events()
            .iter()
            .any(|e| e.event_type() == EventType::Delete)
        {
            return Ok(());
        }
    }
}

/// The oldest candidate (the leader) and the snapshot's revision.
pub(super) async fn current_leader(
    conn: &Conn,
    until: Instant,
) -> Result<(Option<LeaderInfo>, i64), StoreError> {
    let oldest = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend)
        .with_limit(1);
    let (at, answers) = conn
        .snapshot(
            until,
            vec![TxnOp::get(conn.keys.election_prefix(), Some(oldest))],
        )
        .await?;
    let leader = kvs(&answers, 0).first().map(|kv| LeaderInfo {
        address: String::from_utf8_lossy(kv.value()).into_owned(),
        token: u64::try_from(kv.create_revision()).unwrap_or(0),
    });
    Ok((leader, at))
}

/// Keeps `status.leader` on the oldest candidate, as the election prefix
/// changes; on trouble it keeps the last known leader and tries again. It
/// owns the field: the campaign only sets it early when it wins (to the
/// value this would read) and leaves it alone when it loses.
pub(super) async fn observe(conn: Conn, status: Arc<watch::Sender<Leadership>>) {
    loop {
        let round = async {
            let (leader, at) = current_leader(&conn, conn.deadline()).await?;
            status.send_if_modified(|s| {
                let changed = s.leader != leader;
                if changed {
                    s.leader = leader;
                }
                changed
            });
            let mut watch_client = conn.client.watch_client();
            let options = WatchOptions::new()
                .with_prefix()
                .with_start_revision(at + 1);
            let mut stream = conn
                .attempt(
                    "a watch",
                    conn.deadline(),
                    watch_client.watch(conn.keys.election_prefix(), Some(options)),
                )
                .await?;
            // Any change: read the leader again.
            match stream.message().await {
                Ok(Some(answer)) if !answer.canceled() => Ok(()),
                Ok(_) => Err(StoreError::Unavailable {
                    location: conn.location.to_string(),
                    reason: "the election watch ended".into(),
                }),
                Err(e) => Err(super::error::from_etcd(&conn.location, e)),
            }
        };
        if round.await.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Revokes `lease`, deleting the keys attached to it.
pub(super) async fn revoke(conn: &Conn, lease: i64) -> Result<(), StoreError> {
    let mut lease_client = conn.client.lease_client();
    conn.attempt(
        "a lease revoke",
        conn.deadline(),
        lease_client.revoke(lease),
    )
    .await
    .map(drop)
}
