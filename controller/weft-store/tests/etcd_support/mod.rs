//! Shared by the etcd test binaries: real etcd clusters on loopback
//! (`weft_lab::etcd`), clients on unique key prefixes, and leaders.
//!
//! Tests skip with the reason when `etcd` is not installed, unless
//! `WEFT_REQUIRE_ETCD` is set (`scripts/test.sh` sets it), in which case
//! they fail.

#![allow(dead_code, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use weft_lab::etcd::{EtcdCluster, etcd_unavailable};
use weft_store::StoreOptions;
use weft_store::etcd::{Election, ElectionOptions, EtcdClient, EtcdConfig, EtcdStore};

/// Lease TTL of test elections: short, so takeovers take seconds.
pub const TTL: Duration = Duration::from_secs(2);

/// A cluster and the temporary directory holding it (removed after it).
pub struct Cluster {
    pub etcd: EtcdCluster,
    _dir: tempfile::TempDir,
}

/// False (after printing why) when the test must skip.
pub fn available() -> bool {
    let Some(why) = etcd_unavailable() else {
        return true;
    };
    if std::env::var_os("WEFT_REQUIRE_ETCD").is_some() {
        panic!("WEFT_REQUIRE_ETCD is set but etcd cannot run: {why}");
    }
    println!("skipped: {why}");
    false
}

/// A cluster of its own, for a test that kills members.
pub fn own_cluster(members: usize) -> Option<Cluster> {
    if !available() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdCluster::start(dir.path(), members).unwrap();
    Some(Cluster { etcd, _dir: dir })
}

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

/// A 3-member cluster shared by the tests of this binary that run at the
/// same time (each on its own prefix); the last one out stops it.
pub fn shared_cluster() -> Option<Arc<Cluster>> {
    if !available() {
        return None;
    }
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(cluster) = shared.upgrade() {
        return Some(cluster);
    }
    let cluster = Arc::new(own_cluster(3)?);
    *shared = Arc::downgrade(&cluster);
    Some(cluster)
}

static NEXT_PREFIX: AtomicU64 = AtomicU64::new(0);

/// A prefix no other test of this process uses.
pub fn unique_prefix(name: &str) -> String {
    let n = NEXT_PREFIX.fetch_add(1, Ordering::Relaxed);
    format!("/test/{name}-{}-{n}/", std::process::id())
}

pub fn client(cluster: &EtcdCluster, prefix: &str) -> EtcdClient {
    EtcdClient::connect(config(cluster, prefix)).unwrap()
}

pub fn config(cluster: &EtcdCluster, prefix: &str) -> EtcdConfig {
    let mut config = EtcdConfig::new(cluster.endpoints()).with_prefix(prefix);
    // Long enough for a raft election on a loaded two-core machine.
    config.request_timeout = Duration::from_secs(4);
    config
}

/// Campaigns as `address` and waits until this replica leads.
pub fn lead(client: &EtcdClient, address: &str) -> Election {
    let election = Election::start(client, ElectionOptions::new(address).with_ttl(TTL)).unwrap();
    wait_until(Duration::from_secs(10), "this replica leads", || {
        election.leadership().is_leader()
    });
    election
}

/// A leader and its store on a fresh prefix.
pub fn leader_store(
    cluster: &EtcdCluster,
    name: &str,
    options: StoreOptions,
) -> (Election, EtcdStore) {
    let client = client(cluster, &unique_prefix(name));
    let election = lead(&client, "leader:1");
    let store = EtcdStore::open(&client, election.fence(), options).unwrap();
    (election, store)
}

/// Polls `cond` every 20 ms; panics naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
