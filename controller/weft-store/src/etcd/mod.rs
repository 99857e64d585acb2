//! The replicated backend: the controller's store on an etcd cluster, with
//! leader election among `weftd` replicas and fenced writes.
//!
//! Layer: persistence, like the rest of this crate, plus the one piece of
//! coordination that must live next to the data: who may write. It does
//! *not* decide what a follower does with a mutation, push to agents, or
//! serve anything; `weftd` does, from the [`Leadership`] this reports.
//!
//! # Pieces
//!
//! * [`EtcdClient`] — one connection to the cluster, on a private runtime
//!   thread, shared by the rest. [`EtcdConfig::from_url`] parses
//!   `etcd://HOST:PORT[,HOST:PORT…][/PREFIX]`.
//! * [`Election`] — campaigns for leadership on a lease (TTL
//!   [`DEFAULT_TTL`]), keeps the lease alive, publishes [`Leadership`]
//!   changes on a `tokio::sync::watch` channel, and hands out the [`Fence`]
//!   the store writes with. It re-campaigns after losing leadership, until
//!   [`Election::resign`].
//! * [`EtcdStore`] — implements [`crate::Store`] with the same semantics as
//!   [`crate::RedbStore`]. Every write ([`crate::Store::commit`],
//!   [`crate::Store::begin_epoch`], [`crate::Store::append_audit`]) is one
//!   etcd transaction that applies only while this replica's candidate key
//!   still exists with the revision it won with and no older candidate
//!   exists: a deposed leader cannot write even before it notices. Reads
//!   need no leadership.
//! * [`StoreWatch`] — for followers: every store revision the leader
//!   commits, with its events, from a given revision on.
//!
//! # Wiring (what `weftd` does)
//!
//! ```no_run
//! # async fn wire() -> Result<(), weft_store::StoreError> {
//! use std::sync::Arc;
//! use weft_store::Store;
//! use weft_store::etcd::{Election, ElectionOptions, EtcdClient, EtcdConfig, EtcdStore};
//!
//! let config = EtcdConfig::from_url("etcd://127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379")?;
//! let client = EtcdClient::connect(config)?;
//! let election = Election::start(&client, ElectionOptions::new("10.0.0.1:50051"))?;
//! let store: Arc<dyn Store> =
//!     Arc::new(EtcdStore::open(&client, election.fence(), Default::default())?);
//! let mut leadership = election.subscribe();
//! loop {
//!     let now = leadership.borrow_and_update().clone();
//!     if now.is_leader() {
//!         // load(), begin_epoch(), serve mutations, push to agents.
//!     } else {
//!         // Serve reads; answer mutations UNAVAILABLE naming now.leader;
//!         // follow the leader's commits with store.watch(revision).
//!     }
//!     if leadership.changed().await.is_err() {
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Errors a caller must tell apart: [`crate::StoreError::NotLeader`] (this
//! replica does not lead: nothing was sent), [`crate::StoreError::Fenced`]
//! (it led when it sent the write, etcd refused it: leadership is gone),
//! [`crate::StoreError::Unavailable`] (no quorum or no member reachable
//! within [`EtcdConfig::request_timeout`]; retry later). After `Unavailable`
//! from a commit, its outcome may be unknown if the cluster never answered
//! again before the deadline: reload the state before the next commit.
//!
//! The key layout, the election and fencing rules and a production layout
//! are in `docs/etcd.md`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, KvClient, Txn, TxnOp, TxnOpResponse};

use crate::StoreError;

mod campaign;
mod election;
mod error;
mod fence;
mod follow;
mod keys;
mod runtime;
mod store;
mod write;

pub use election::{DEFAULT_TTL, Election, ElectionOptions, LeaderInfo, Leadership};
pub use fence::{Fence, LeaderToken};
pub use follow::{StoreUpdate, StoreWatch};
pub use store::{ETCD_SCHEMA_VERSION, EtcdStore};

use error::{from_etcd, timed_out};
use keys::Keys;
use runtime::Runtime;

/// The key prefix when the URL names none.
pub const DEFAULT_PREFIX: &str = "/weft/";

/// Largest etcd answer accepted (a `load` of a large fabric is one answer);
/// tonic's default of 4 MiB is too small.
const MAX_ANSWER_BYTES: usize = 1 << 30;

/// Where the cluster is and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs of the members (`http://HOST:PORT`).
    pub endpoints: Vec<String>,
    /// Every key of this store starts with it (ends with `/`).
    pub prefix: String,
    /// Upper bound of every store call, retries included. A call that
    /// cannot reach a quorum within it fails with
    /// [`StoreError::Unavailable`].
    pub request_timeout: Duration,
    /// Upper bound of one TCP connection attempt to a member.
    pub connect_timeout: Duration,
}

impl EtcdConfig {
    /// Endpoints given as `HOST:PORT` or URLs, with the default prefix and
    /// timeouts (5 s per call, 1 s per connection attempt).
    pub fn new<S: AsRef<str>>(endpoints: impl IntoIterator<Item = S>) -> EtcdConfig {
        EtcdConfig {
            endpoints: endpoints
                .into_iter()
                .map(|e| {
                    let e = e.as_ref();
                    if e.contains("://") {
                        e.to_owned()
                    } else {
                        format!("http://{e}")
                    }
                })
                .collect(),
            prefix: DEFAULT_PREFIX.to_owned(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
        }
    }

    /// Parses `etcd://HOST:PORT[,HOST:PORT…][/PREFIX]`, the form of
    /// `weftd --store`. Without a path the prefix is [`DEFAULT_PREFIX`].
    pub fn from_url(url: &str) -> Result<EtcdConfig, StoreError> {
        let bad = |why: &str| {
            StoreError::InvalidConfig(format!(
                "{url:?} is not an etcd store URL ({why}); expected \
                 etcd://HOST:PORT[,HOST:PORT...][/PREFIX]"
            ))
        };
        let rest = url
            .strip_prefix("etcd://")
            .ok_or_else(|| bad("it does not start with etcd://"))?;
        let (hosts, path) = match rest.split_once('/') {
            Some((hosts, path)) => (hosts, Some(path)),
            None => (rest, None),
        };
        let endpoints: Vec<&str> = hosts.split(',').collect();
        for e in &endpoints {
            let (host, port) = e
                .rsplit_once(':')
                .ok_or_else(|| bad(&format!("endpoint {e:?} has no port")))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad(&format!("endpoint {e:?} is not HOST:PORT")));
            }
        }
        let mut config = EtcdConfig::new(endpoints);
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            config.prefix = Keys::new(&format!("/{path}")).prefix().to_owned();
        }
        Ok(config)
    }

    /// The same cluster under another prefix.
    pub fn with_prefix(mut self, prefix: &str) -> EtcdConfig {
        self.prefix = Keys::new(prefix).prefix().to_owned();
        self
    }

    /// `etcd://…/prefix`, for messages.
    fn location(&self) -> String {
        let hosts: Vec<&str> = self
            .endpoints
            .iter()
            .map(|e| e.split_once("://").map_or(e.as_str(), |(_, h)| h))
            .collect();
        format!("etcd://{}{}", hosts.join(","), self.prefix)
    }
}

/// A connection to an etcd cluster, shared by the [`Election`] and the
/// [`EtcdStore`] of one replica. Cheap to clone.
#[derive(Clone)]
pub struct EtcdClient {
    runtime: Arc<Runtime>,
    conn: Conn,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdClient")
            .field("location", &self.conn.location)
            .finish_non_exhaustive()
    }
}

impl EtcdClient {
    /// Sets up the connection. Members are dialled lazily, so this succeeds
    /// while the cluster is down; calls fail with
    /// [`StoreError::Unavailable`] until it is back.
    pub fn connect(config: EtcdConfig) -> Result<EtcdClient, StoreError> {
        if config.endpoints.is_empty() {
            return Err(StoreError::InvalidConfig(
                "an etcd store needs at least one endpoint".into(),
            ));
        }
        let runtime = Arc::new(Runtime::start()?);
        let location = config.location();
        let options = ConnectOptions::new()
            // A member cut off from its quorum answers "no leader" at once
            // instead of holding the call until the deadline.
            .with_require_leader(true)
            .with_connect_timeout(config.connect_timeout)
            // Finds a frozen or unplugged member's dead connection. etcd
            // refuses pings closer than 5 s apart (too_many_pings).
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(3))
            .with_keep_alive_while_idle(true);
        let endpoints = config.endpoints.clone();
        let client = runtime.block(async move {
            Client::connect(endpoints, Some(options))
                .await
                .map_err(|e| StoreError::InvalidConfig(format!("etcd client: {e}")))
        })?;
        let conn = Conn {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_ANSWER_BYTES),
            client,
            keys: Keys::new(&config.prefix),
            location: Arc::from(location),
            timeout: config.request_timeout,
        };
        Ok(EtcdClient { runtime, conn })
    }

    /// `etcd://HOSTS/PREFIX`, as errors name it.
    pub fn location(&self) -> &str {
        &self.conn.location
    }
}

/// What a task on the runtime needs to talk to etcd. Never holds the
/// runtime itself, so the runtime's last owner is never one of its tasks.
#[derive(Clone)]
pub(crate) struct Conn {
    client: Client,
    kv: KvClient,
    keys: Keys,
    location: Arc<str>,
    timeout: Duration,
}

/// Pause between attempts of a call that met an unavailable cluster.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

impl Conn {
    /// One attempt of `op`, bounded by `until`.
    async fn attempt<T, F>(&self, what: &str, until: Instant, op: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(from_etcd(&self.location, e)),
            Err(_) => Err(timed_out(&self.location, what, self.timeout)),
        }
    }

    /// `op` until it succeeds, fails for a reason other than availability,
    /// or the call's deadline passes. Only for operations that are safe to
    /// repeat (reads, and transactions whose compares make a repeat fail).
    async fn retry<T, F, Fut>(&self, what: &str, until: Instant, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut(KvClient) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        loop {
            match self.attempt(what, until, op(self.kv.clone())).await {
                Err(StoreError::Unavailable { .. }) if Instant::now() + RETRY_PAUSE < until => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                other => return other,
            }
        }
    }

    /// Runs `ops` as one read-only transaction: a consistent snapshot.
    /// Returns the snapshot's etcd revision and each op's answer.
    async fn snapshot(
        &self,
        until: Instant,
        ops: Vec<TxnOp>,
    ) -> Result<(i64, Vec<TxnOpResponse>), StoreError> {
        let resp = self
            .retry("a read", until, |mut kv| {
                let ops = ops.clone();
                async move { kv.txn(Txn::new().and_then(ops)).await }
            })
            .await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        Ok((revision, resp.op_responses()))
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::Corrupt(format!(
            "store {}: {what}; it was not written by a compatible weftd",
            self.location
        ))
    }
}

/// The key-values of a get in a snapshot's answers.
fn kvs(responses: &[TxnOpResponse], index: usize) -> &[etcd_client::KeyValue] {
    match responses.get(index) {
        Some(TxnOpResponse::Get(get)) => get.kvs(),
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse() {
        let c = EtcdConfig::from_url("etcd://127.0.0.1:2379,10.0.0.2:2379").unwrap();
        assert_eq!(
            c.endpoints,
            ["http://127.0.0.1:2379", "http://10.0.0.2:2379"]
        );
        assert_eq!(c.prefix, DEFAULT_PREFIX);
        assert_eq!(c.location(), "etcd://127.0.0.1:2379,10.0.0.2:2379/weft/");
        let c = EtcdConfig::from_url("etcd://h:1/fabric/paris").unwrap();
        assert_eq!(c.prefix, "/fabric/paris/");
        for bad in [
            "http://h:1",
            "etcd://h",
            "etcd://:1",
            "etcd://h:x",
            "etcd://",
        ] {
            assert!(
                matches!(EtcdConfig::from_url(bad), Err(StoreError::InvalidConfig(_))),
                "{bad}"
            );
        }
    }
}
