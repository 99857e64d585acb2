//! `EtcdStore` against a real 3-member etcd cluster: the scenarios of the
//! redb store's tests, checked on `EtcdStore` and `MemoryStore` alike, a
//! "reopen" (a new client and store on the same prefix), the follower's
//! watch, and a property test that `EtcdStore` and `MemoryStore` are
//! indistinguishable through the `Store` trait.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "etcd_support/mod.rs"]
mod support;

use std::time::Duration;

use proptest::prelude::*;
use weft_store::etcd::{EtcdStore, Fence, StoreUpdate};
use weft_store::{Commit, EventsSince, MemoryStore, Store, StoreError, StoreOptions, StoredState};

fn small() -> StoreOptions {
    StoreOptions {
        event_retention: 3,
        request_retention: 2,
    }
}

/// Runs `check` on a fresh `EtcdStore` (leading) and on a `MemoryStore`.
fn both(name: &str, options: StoreOptions, check: impl Fn(&dyn Store)) {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    let (_election, store) = support::leader_store(&cluster.etcd, name, options);
    check(&store);
    check(&MemoryStore::with_options(options));
}

fn put(expected: u64, key: &str, value: &[u8]) -> Commit {
    let mut c = Commit::new(expected);
    c.puts.push((key.into(), value.to_vec()));
    c
}

fn with_event(expected: u64, event: &[u8]) -> Commit {
    let mut c = Commit::new(expected);
    c.events.push(event.to_vec());
    c
}

fn with_request(expected: u64, key: &str) -> Commit {
    let mut c = Commit::new(expected);
    c.request = Some((key.into(), format!("response of {key}").into_bytes()));
    c
}

#[test]
fn empty_store_loads_default_state() {
    both("empty", StoreOptions::default(), |store| {
        assert_eq!(store.load().unwrap(), StoredState::default());
        assert_eq!(store.events_since(0).unwrap(), EventsSince::Events(vec![]));
        assert_eq!(store.audit_since(0).unwrap(), vec![]);
        assert_eq!(store.request("x").unwrap(), None);
    });
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
    both("rejected", StoreOptions::default(), |store| {
        let mut c = put(0, "a", b"1");
        c.audit = vec![(5, b"x".to_vec())];
        store.commit(c).unwrap();
        let before = store.load().unwrap();

        let mut stale = put(0, "a", b"stale");
        stale.events.push(b"lost".to_vec());
        stale.request = Some(("r".into(), b"lost".to_vec()));
        match store.commit(stale) {
            Err(StoreError::Conflict {
                expected: 0,
                actual: 1,
            }) => {}
            other => panic!("expected a conflict, got {other:?}"),
        }

        let mut both_ways = put(1, "a", b"2");
        both_ways.deletes.push("a".into());
        assert!(matches!(
            store.commit(both_ways),
            Err(StoreError::InvalidCommit(_))
        ));

        let mut old_audit = put(1, "b", b"2");
        old_audit.audit = vec![(5, b"again".to_vec())];
        assert!(matches!(
            store.commit(old_audit),
            Err(StoreError::AuditOutOfOrder { seq: 5, last: 5 })
        ));

        assert_eq!(store.load().unwrap(), before);
        assert_eq!(store.request("r").unwrap(), None);
        assert_eq!(store.events_since(0).unwrap(), EventsSince::Events(vec![]));
    });
}

#[test]
fn events_since_resumes_and_reports_compaction() {
    both("events", small(), |store| {
        for (rev, event) in [(0, "a"), (1, "b")] {
            store.commit(with_event(rev, event.as_bytes())).unwrap();
        }
        store.commit(Commit::new(2)).unwrap();
        assert_eq!(
            store.events_since(1).unwrap(),
            EventsSince::Events(vec![(2, b"b".to_vec())])
        );
        assert_eq!(store.events_since(3).unwrap(), EventsSince::Events(vec![]));
        for (rev, event) in [(3, "d"), (4, "e")] {
            store.commit(with_event(rev, event.as_bytes())).unwrap();
        }
        assert_eq!(
            store.events_since(0).unwrap(),
            EventsSince::Compacted {
                oldest_available: 3
            }
        );
        assert_eq!(
            store.events_since(2).unwrap(),
            EventsSince::Events(vec![(4, b"d".to_vec()), (5, b"e".to_vec())])
        );
        assert_eq!(
            store.events_since(u64::MAX).unwrap(),
            EventsSince::Events(vec![])
        );
    });
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
    both("requests", small(), |store| {
        store.commit(with_request(0, "r1")).unwrap();
        store.commit(with_request(1, "r2")).unwrap();
        // Re-storing r1 makes it the newest, so r2 is now the oldest.
        store.commit(with_request(2, "r1")).unwrap();
        store.commit(with_request(3, "r3")).unwrap();
        assert_eq!(store.request("r2").unwrap(), None);
        assert_eq!(
            store.request("r1").unwrap(),
            Some(b"response of r1".to_vec())
        );
        assert!(store.request("r3").unwrap().is_some());
        store.commit(with_request(4, "r4")).unwrap();
        assert_eq!(store.request("r1").unwrap(), None);
        assert!(store.request("r3").unwrap().is_some());
        assert!(store.request("r4").unwrap().is_some());
    });
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

fn key() -> impl Strategy<Value = String> {
    (0u8..4).prop_map(|k| format!("k{k}"))
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

#[derive(Debug, Clone)]
enum Op {
    Commit {
        revision_offset: i8,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
        meta_puts: Vec<(String, Vec<u8>)>,
        events: Vec<Vec<u8>>,
        request: Option<(String, Vec<u8>)>,
        audit_steps: Vec<u8>,
    },
    BeginEpoch,
    AppendAudit {
        step: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let commit = (
        prop_oneof![6 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)],
        prop::collection::vec((key(), bytes()), 0..3),
        prop::collection::vec(key(), 0..2),
        prop::collection::vec((key(), bytes()), 0..2),
        prop::collection::vec(bytes(), 0..3),
        prop::option::of((key(), bytes())),
        prop::collection::vec(0u8..3, 0..3),
    )
        .prop_map(
            |(revision_offset, puts, deletes, meta_puts, events, request, audit_steps)| {
                Op::Commit {
                    revision_offset,
                    puts,
                    deletes,
                    meta_puts,
                    events,
                    request,
                    audit_steps,
                }
            },
        );
    prop_oneof![
        8 => commit,
        1 => Just(Op::BeginEpoch),
        1 => (0u8..3).prop_map(|step| Op::AppendAudit { step }),
    ]
}

fn outcome<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Ok(v) => format!("ok {v:?}"),
        Err(e @ StoreError::Conflict { .. })
        | Err(e @ StoreError::AuditOutOfOrder { .. })
        | Err(e @ StoreError::InvalidCommit(_)) => format!("err {e:?}"),
        Err(e) => panic!("unexpected backend failure: {e}"),
    }
}

fn apply(store: &dyn Store, op: &Op) -> String {
    let state = store.load().unwrap();
    let last_audit = state.audit_head.map_or(0, |(seq, _)| seq);
    match op.clone() {
        Op::Commit {
            revision_offset,
            puts,
            deletes,
            meta_puts,
            events,
            request,
            audit_steps,
        } => {
            let expected = state.revision.saturating_add_signed(revision_offset.into());
            let audit = audit_steps
                .iter()
                .scan(last_audit, |seq, step| {
                    *seq += u64::from(*step);
                    Some((*seq, seq.to_be_bytes().to_vec()))
                })
                .collect();
            outcome(store.commit(Commit {
                expected_revision: expected,
                puts,
                deletes,
                meta_puts,
                events,
                request,
                audit,
            }))
        }
        Op::BeginEpoch => outcome(store.begin_epoch()),
        Op::AppendAudit { step } => {
            outcome(store.append_audit(last_audit + u64::from(step), vec![step]))
        }
    }
}

fn observe(store: &dyn Store) -> String {
    let state = store.load().unwrap();
    let events: Vec<_> = (0..=state.revision + 1)
        .map(|after| store.events_since(after).unwrap())
        .collect();
    let requests: Vec<_> = (0u8..4)
        .map(|k| store.request(&format!("k{k}")).unwrap())
        .collect();
    let audit = store.audit_since(0).unwrap();
    format!("{state:?}\n{events:?}\n{requests:?}\n{audit:?}")
}

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
