//! Store scenarios every `Store` must pass, run by `redb_store.rs` (redb
//! and memory) and `etcd_store.rs` (etcd and memory) alike, and the
//! commit builders they use.

// Each test crate uses its share.
#![allow(dead_code, clippy::unwrap_used)]

use weft_store::{Commit, EventsSince, Store, StoreError, StoreOptions, StoredState};

/// Retention small enough that scenarios reach it.
pub fn small() -> StoreOptions {
    StoreOptions {
        event_retention: 3,
        request_retention: 2,
    }
}

pub fn put(expected: u64, key: &str, value: &[u8]) -> Commit {
    let mut c = Commit::new(expected);
    c.puts.push((key.into(), value.to_vec()));
    c
}

pub fn with_event(expected: u64, event: &[u8]) -> Commit {
    let mut c = Commit::new(expected);
    c.events.push(event.to_vec());
    c
}

pub fn with_request(expected: u64, key: &str) -> Commit {
    let mut c = Commit::new(expected);
    c.request = Some((key.into(), format!("response of {key}").into_bytes()));
    c
}

/// Run with `StoreOptions::default()`.
pub fn empty_store_loads_default_state(store: &dyn Store) {
    assert_eq!(store.load().unwrap(), StoredState::default());
    assert_eq!(store.events_since(0).unwrap(), EventsSince::Events(vec![]));
    assert_eq!(store.audit_since(0).unwrap(), vec![]);
    assert_eq!(store.request("x").unwrap(), None);
}

/// Run with `StoreOptions::default()`.
pub fn rejected_commits_leave_store_unchanged(store: &dyn Store) {
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
}

/// Run with `small()`.
pub fn events_since_resumes_and_reports_compaction(store: &dyn Store) {
    // Revisions 1..=5, with an empty commit at revision 3.
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
    // At revision 5 with retention 3, revisions 1 and 2 are gone.
    assert_eq!(
        store.events_since(0).unwrap(),
        EventsSince::Compacted {
            oldest_available: 3
        }
    );
    assert_eq!(
        store.events_since(1).unwrap(),
        EventsSince::Compacted {
            oldest_available: 3
        }
    );
    assert_eq!(
        store.events_since(2).unwrap(),
        EventsSince::Events(vec![(4, b"d".to_vec()), (5, b"e".to_vec())])
    );
    assert_eq!(store.events_since(5).unwrap(), EventsSince::Events(vec![]));
    assert_eq!(
        store.events_since(u64::MAX).unwrap(),
        EventsSince::Events(vec![])
    );
}

/// Run with `small()`.
pub fn request_records_are_evicted_oldest_first(store: &dyn Store) {
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
    assert_eq!(
        store.request("r3").unwrap(),
        Some(b"response of r3".to_vec())
    );
    store.commit(with_request(4, "r4")).unwrap();
    assert_eq!(store.request("r1").unwrap(), None);
    assert!(store.request("r3").unwrap().is_some());
    assert!(store.request("r4").unwrap().is_some());
}
