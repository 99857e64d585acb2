//! `EtcdStore` against a real 3-member etcd cluster: the scenarios of the
//! redb store's tests, checked on `EtcdStore` and `MemoryStore` alike, a
//! "reopen" (a new client and store on the same prefix), the follower's
//! watch, and a property test that `EtcdStore` and `MemoryStore` are
//! indistinguishable through the `Store` trait.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod scenarios;
mod store_model;
#[path = "etcd_support/mod.rs"]
mod support;

use std::time::Duration;

use proptest::prelude::*;
use scenarios::{put, small, with_event, with_request};
use store_model::{apply, observe, op};
use weft_store::etcd::{EtcdStore, Fence, StoreUpdate};
use weft_store::{Commit, EventsSince, MemoryStore, Store, StoreError, StoreOptions};

/// Runs `check` on a fresh `EtcdStore` (leading) and on a `MemoryStore`.
fn both(name: &str, options: StoreOptions, check: impl Fn(&dyn Store)) {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    let (_election, store) = support::leader_store(&cluster.etcd, name, options);
    check(&store);
    check(&MemoryStore::with_options(options));
}

#[test]
fn empty_store_loads_default_state() {
    both(
        "empty",
        StoreOptions::default(),
        scenarios::empty_store_loads_default_state,
    );
}

#[test]
fn commit_then_reopen_shows_everything() {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    let prefix = support::unique_prefix("reopen");
    {
        let client = support::client(&cluster.etcd, &prefix);
        let election = support::lead(&client, "a:1");
        let store = EtcdStore::open(&client, election.fence(), StoreOptions::default()).unwrap();
        let mut c = put(0, "slice/a", b"A1");
        c.puts.push(("slice/b".into(), b"B".to_vec()));
        // The last put of a key wins, as in the other stores.
        c.puts.push(("slice/a".into(), b"A1 again".to_vec()));
        c.meta_puts
            .push(("topology".into(), b"switches: []".to_vec()));
        c.events = vec![b"e1".to_vec(), b"e2".to_vec()];
        c.request = Some(("req-1".into(), b"ok".to_vec()));
        c.audit = vec![(1, b"created a".to_vec())];
        assert_eq!(store.commit(c).unwrap(), 1);
        let mut c = put(1, "slice/a", b"A2");
        c.deletes.push("slice/b".into());
        c.deletes.push("never/there".into());
        c.audit = vec![(2, b"updated a".to_vec())];
        assert_eq!(store.commit(c).unwrap(), 2);
        assert_eq!(store.begin_epoch().unwrap(), 1);
    }
    // Another client, as another process would: a follower reads it all.
    let client = support::client(&cluster.etcd, &prefix);
    let store = EtcdStore::open(&client, Fence::none(), StoreOptions::default()).unwrap();
    let state = store.load().unwrap();
    assert_eq!(state.revision, 2);
    assert_eq!(state.epoch, 1);
    assert_eq!(
        state.resources.into_iter().collect::<Vec<_>>(),
        vec![("slice/a".to_string(), b"A2".to_vec())]
    );
    assert_eq!(state.meta["topology"], b"switches: []");
    assert_eq!(state.audit_head, Some((2, b"updated a".to_vec())));
    assert_eq!(store.request("req-1").unwrap(), Some(b"ok".to_vec()));
    assert_eq!(
        store.events_since(0).unwrap(),
        EventsSince::Events(vec![(1, b"e1".to_vec()), (1, b"e2".to_vec())])
    );
    // Without leadership it reads but never writes.
    assert!(matches!(
        store.commit(Commit::new(2)),
        Err(StoreError::NotLeader { .. })
    ));
    assert!(matches!(
        store.begin_epoch(),
        Err(StoreError::NotLeader { .. })
    ));
    assert!(matches!(
        store.append_audit(3, vec![]),
        Err(StoreError::NotLeader { .. })
    ));
    assert_eq!(store.load().unwrap().revision, 2);
}

#[test]
fn rejected_commits_leave_store_unchanged() {
    both(
        "rejected",
        StoreOptions::default(),
        scenarios::rejected_commits_leave_store_unchanged,
    );
}

#[test]
fn events_since_resumes_and_reports_compaction() {
    both(
        "events",
        small(),
        scenarios::events_since_resumes_and_reports_compaction,
    );
}

#[test]
fn compaction_is_remembered_across_a_reopen_with_more_retention() {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    let prefix = support::unique_prefix("compaction");
    let client = support::client(&cluster.etcd, &prefix);
    let election = support::lead(&client, "a:1");
    {
        let store = EtcdStore::open(&client, election.fence(), small()).unwrap();
        for rev in 0..6 {
            store.commit(with_event(rev, b"e")).unwrap();
        }
    }
    let store = EtcdStore::open(&client, election.fence(), StoreOptions::default()).unwrap();
    assert_eq!(
        store.events_since(0).unwrap(),
        EventsSince::Compacted {
            oldest_available: 4
        }
    );
    let EventsSince::Events(events) = store.events_since(3).unwrap() else {
        panic!("revisions above 3 are retained");
    };
    assert_eq!(
        events.iter().map(|(rev, _)| *rev).collect::<Vec<_>>(),
        [4, 5, 6]
    );
}

#[test]
fn request_records_are_evicted_oldest_first() {
    both(
        "requests",
        small(),
        scenarios::request_records_are_evicted_oldest_first,
    );
}

#[test]
fn a_reopen_with_less_request_retention_evicts_the_excess_at_once() {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    let prefix = support::unique_prefix("shrink");
    let client = support::client(&cluster.etcd, &prefix);
    let election = support::lead(&client, "a:1");
    let roomy = StoreOptions {
        event_retention: 10,
        request_retention: 10,
    };
    {
        let store = EtcdStore::open(&client, election.fence(), roomy).unwrap();
        for rev in 0..8 {
            let key = format!("r{rev}");
            store.commit(with_request(rev, &key)).unwrap();
        }
    }
    let store = EtcdStore::open(&client, election.fence(), small()).unwrap();
    store.commit(with_request(8, "r3")).unwrap();
    let held: Vec<_> = (0..9)
        .filter(|i| store.request(&format!("r{i}")).unwrap().is_some())
        .collect();
    // Retention 2: the refreshed r3 and the newest other, r7.
    assert_eq!(held, [3, 7]);
}

#[test]
fn epoch_and_audit_records() {
    both("audit", StoreOptions::default(), |store| {
        assert_eq!(store.begin_epoch().unwrap(), 1);
        assert_eq!(store.begin_epoch().unwrap(), 2);
        assert_eq!(store.load().unwrap().revision, 0);
        store.append_audit(1, b"denied".to_vec()).unwrap();
        let mut c = Commit::new(0);
        c.audit = vec![(2, b"c2".to_vec()), (7, b"c7".to_vec())];
        store.commit(c).unwrap();
        for seq in [0, 1, 7] {
            assert!(matches!(
                store.append_audit(seq, b"late".to_vec()),
                Err(StoreError::AuditOutOfOrder { last: 7, .. })
            ));
        }
        store.append_audit(8, b"denied again".to_vec()).unwrap();
        assert_eq!(
            store.audit_since(1).unwrap(),
            vec![
                (2, b"c2".to_vec()),
                (7, b"c7".to_vec()),
                (8, b"denied again".to_vec())
            ]
        );
        assert_eq!(store.audit_since(0).unwrap().len(), 4);
        let state = store.load().unwrap();
        assert_eq!(state.audit_head, Some((8, b"denied again".to_vec())));
        assert_eq!(state.epoch, 2);
    });
}

#[test]
fn a_follower_watch_sees_every_revision_in_order() {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    let prefix = support::unique_prefix("follow");
    let client = support::client(&cluster.etcd, &prefix);
    let election = support::lead(&client, "a:1");
    let leader = EtcdStore::open(&client, election.fence(), small()).unwrap();
    leader.commit(with_event(0, b"before")).unwrap();

    let follower_client = support::client(&cluster.etcd, &prefix);
    let follower =
        EtcdStore::open(&follower_client, Fence::none(), StoreOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut watch = follower.watch(0);
    let first = rt.block_on(watch.next()).unwrap().unwrap();
    assert_eq!(
        first,
        StoreUpdate {
            revision: 1,
            events: EventsSince::Events(vec![(1, b"before".to_vec())]),
        }
    );
    // Commits made while the follower waits, one of them without events.
    let writer = std::thread::spawn(move || {
        leader.commit(with_event(1, b"two")).unwrap();
        leader.commit(Commit::new(2)).unwrap();
        leader.commit(with_event(3, b"four")).unwrap();
        leader
    });
    let mut seen = Vec::new();
    let mut revision = 1;
    while revision < 4 {
        let update = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), watch.next()).await })
            .expect("an update within 10 s")
            .unwrap()
            .unwrap();
        assert!(update.revision > revision, "{update:?} after {revision}");
        revision = update.revision;
        let EventsSince::Events(events) = update.events else {
            panic!("nothing is compacted yet");
        };
        seen.extend(events);
    }
    assert_eq!(seen, vec![(2, b"two".to_vec()), (4, b"four".to_vec())]);
    let leader = writer.join().unwrap();
    // A follower far behind is told to reload.
    for rev in 4..8 {
        leader.commit(Commit::new(rev)).unwrap();
    }
    let mut late = follower.watch(1);
    let update = rt.block_on(late.next()).unwrap().unwrap();
    assert_eq!(update.revision, 8);
    assert_eq!(
        update.events,
        EventsSince::Compacted {
            oldest_available: 6
        }
    );
}

// ---- EtcdStore and MemoryStore agree on random operation sequences ----

#[test]
fn etcd_and_memory_stores_agree() {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    // One leader for every case; each case gets its own prefix (store).
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let strategy = (0u64..5, 0u64..4, prop::collection::vec(op(), 1..25));
    runner
        .run(&strategy, |(event_retention, request_retention, ops)| {
            let options = StoreOptions {
                event_retention,
                request_retention,
            };
            let (_election, etcd) = support::leader_store(&cluster.etcd, "agree", options);
            let memory = MemoryStore::with_options(options);
            for op in &ops {
                prop_assert_eq!(apply(&etcd, op), apply(&memory, op), "op {:?}", op);
                prop_assert_eq!(etcd.load().unwrap(), memory.load().unwrap());
            }
            prop_assert_eq!(observe(&etcd), observe(&memory));
            Ok(())
        })
        .unwrap();
}
