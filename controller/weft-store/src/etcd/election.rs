//! Leader election among `weftd` replicas on an etcd lease, and the
//! [`Fence`] the store writes with.
//!
//! The recipe is etcd's own (its `concurrency` package): each candidate
//! puts a key under `PREFIX/election/`, named after its lease and holding
//! its advertised address, and the candidate whose key has the lowest
//! create revision leads. A candidate waits for the deletion of the key just
//! older than its own. A key disappears when its lease expires (the
//! replica stopped keeping it alive: crashed, frozen, cut off) or is
//! revoked (the replica resigned).
//!
//! The fencing token is the leader key's create revision. Tokens grow with
//! every term (a later key has a later revision), so they also order terms.
//!
//! This file is the API; the tasks are in [`super::campaign`], the fence in
//! [`super::fence`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::campaign::{Candidate, current_leader, observe, revoke};
use super::fence::{Fence, LeaderToken};
use super::runtime::Runtime;
use super::{Conn, EtcdClient};
use crate::StoreError;

/// Lease TTL when none is configured.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

/// How a replica campaigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionOptions {
    /// What followers are told to reach the leader at (the replica's gRPC
    /// address); the leader key's value.
    pub address: String,
    /// Lease TTL: a leader that stops renewing is replaced after about this
    /// long. Whole seconds, at least 1 s (etcd's unit), and no less than
    /// etcd's minimum (1.5 × its election timeout, rounded up).
    pub ttl: Duration,
}

impl ElectionOptions {
    /// Campaigns as `address` with the [`DEFAULT_TTL`].
    pub fn new(address: impl Into<String>) -> ElectionOptions {
        ElectionOptions {
            address: address.into(),
            ttl: DEFAULT_TTL,
        }
    }

    /// The same with another TTL.
    pub fn with_ttl(mut self, ttl: Duration) -> ElectionOptions {
        self.ttl = ttl;
        self
    }

    fn ttl_secs(&self) -> Result<i64, StoreError> {
        let secs = self.ttl.as_secs();
        if secs == 0 || u128::from(secs) * 1000 != self.ttl.as_millis() {
            return Err(StoreError::InvalidConfig(format!(
                "lease TTL {:?} is not a whole number of seconds >= 1",
                self.ttl
            )));
        }
        i64::try_from(secs)
            .map_err(|_| StoreError::InvalidConfig(format!("lease TTL {secs}s is too long")))
    }
}

/// Who leads, as the current term's leader key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderInfo {
    /// The leader's advertised address.
    pub address: String,
    /// Its fencing token (the leader key's create revision).
    pub token: u64,
}

/// This replica's view of the election.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    /// This replica's fencing token while it leads; `None` while it follows
    /// or campaigns.
    pub token: Option<u64>,
    /// The leader as last observed (this replica while it leads); `None`
    /// while no replica leads, or before the first observation.
    pub leader: Option<LeaderInfo>,
}

impl Leadership {
    /// True while this replica leads.
    pub fn is_leader(&self) -> bool {
        self.token.is_some()
    }
}

/// A replica's candidacy: campaigns, leads, re-campaigns after losing, until
/// resigned or dropped. See the module docs.
pub struct Election {
    runtime: Arc<Runtime>,
    conn: Conn,
    fence: Fence,
    status: watch::Receiver<Leadership>,
    stop: watch::Sender<bool>,
    /// The lease of the current candidacy (0: none).
    lease: Arc<AtomicI64>,
    campaign: Mutex<Option<JoinHandle<()>>>,
    observer: JoinHandle<()>,
}

impl std::fmt::Debug for Election {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Election")
            .field("location", &self.conn.location)
            .field("leadership", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Election {
    /// Starts campaigning in the background and returns at once; watch
    /// [`Election::subscribe`] for the outcome.
    pub fn start(client: &EtcdClient, options: ElectionOptions) -> Result<Election, StoreError> {
        let ttl = options.ttl_secs()?;
        let (status_tx, status) = watch::channel(Leadership::default());
        let status_tx = Arc::new(status_tx);
        let (stop, stop_rx) = watch::channel(false);
        let fence = Fence::none();
        let lease = Arc::new(AtomicI64::new(0));
        let campaign = Candidate {
            conn: client.conn.clone(),
            address: options.address,
            ttl,
            fence: fence.clone(),
            status: Arc::clone(&status_tx),
            stop: stop_rx.clone(),
            lease: Arc::clone(&lease),
        };
        let handle = client.runtime.handle();
        let campaign = handle.spawn(campaign.run());
        // The observer runs until the election is dropped, also after a
        // resignation: a resigned replica still tells clients who leads.
        let observer = handle.spawn(observe(client.conn.clone(), status_tx));
        Ok(Election {
            runtime: Arc::clone(&client.runtime),
            conn: client.conn.clone(),
            fence,
            status,
            stop,
            lease,
            campaign: Mutex::new(Some(campaign)),
            observer,
        })
    }

    /// The fence an [`super::EtcdStore`] of this replica writes with.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// This replica's leader token while it leads.
    pub fn token(&self) -> Option<LeaderToken> {
        self.fence.current()
    }

    /// The election as this replica sees it now.
    pub fn leadership(&self) -> Leadership {
        self.status.borrow().clone()
    }

    /// Every change of [`Election::leadership`]. Usable from any runtime.
    pub fn subscribe(&self) -> watch::Receiver<Leadership> {
        self.status.clone()
    }

    /// Asks etcd who leads now.
    pub async fn leader(&self) -> Result<Option<LeaderInfo>, StoreError> {
        let conn = self.conn.clone();
        self.runtime
            .run(async move { current_leader(&conn, conn.deadline()).await.map(|(l, _)| l) })
            .await
    }

    /// Stops campaigning and gives leadership up at once: the lease is
    /// revoked, which deletes this replica's key, so the next candidate
    /// takes over without waiting for the TTL. Writes are refused from the
    /// moment this is called.
    pub async fn resign(&self) -> Result<(), StoreError> {
        self.fence.set(None);
        let _ = self.stop.send(true);
        let campaign = self
            .campaign
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(campaign) = campaign {
            // The campaign task revokes its lease on its way out.
            let _ = campaign.await;
        }
        let conn = self.conn.clone();
        let lease = self.lease.swap(0, Ordering::SeqCst);
        self.runtime
            .run(async move {
                if lease != 0 {
                    revoke(&conn, lease).await?;
                }
                Ok(())
            })
            .await
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        // The campaign task revokes its lease when it sees the stop (if the
        // runtime outlives this; otherwise the lease expires after its TTL).
        self.fence.set(None);
        let _ = self.stop.send(true);
        self.observer.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_must_be_whole_seconds() {
        let o = ElectionOptions::new("a:1");
        assert_eq!(o.ttl_secs().unwrap(), 5);
        for bad in [Duration::ZERO, Duration::from_millis(1500)] {
            assert!(o.clone().with_ttl(bad).ttl_secs().is_err(), "{bad:?}");
        }
    }
}
