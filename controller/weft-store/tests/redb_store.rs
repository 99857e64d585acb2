//! Behaviour of the store on real redb files (and, where no reopen is involved, of
//! `MemoryStore` too, through the same checks).

// Test helpers outside #[test] fns are not covered by clippy.toml's test allowance.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use weft_store::{
    Commit, EventsSince, MemoryStore, RedbStore, SCHEMA_VERSION, STORE_FILE_NAME, Store,
    StoreError, StoreOptions, StoredState,
};

fn small() -> StoreOptions {
    StoreOptions {
        event_retention: 3,
        request_retention: 2,
    }
}

fn both(options: StoreOptions, check: impl Fn(&dyn Store)) {
    let dir = tempfile::tempdir().unwrap();
    check(&RedbStore::with_options(dir.path(), options).unwrap());
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
    both(StoreOptions::default(), |store| {
        assert_eq!(store.load().unwrap(), StoredState::default());
        assert_eq!(store.events_since(0).unwrap(), EventsSince::Events(vec![]));
        assert_eq!(store.audit_since(0).unwrap(), vec![]);
        assert_eq!(store.request("x").unwrap(), None);
    });
}

#[test]
fn commit_then_reopen_shows_everything() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("nested/state");
    {
        let store = RedbStore::open(&state_dir).unwrap();
        assert_eq!(store.path(), state_dir.join(STORE_FILE_NAME));
        let mut c = put(0, "slice/a", b"A1");
        c.puts.push(("slice/b".into(), b"B".to_vec()));
        c.meta_puts
            .push(("topology".into(), b"switches: []".to_vec()));
        c.events = vec![b"e1".to_vec(), b"e2".to_vec()];
        c.request = Some(("req-1".into(), b"ok".to_vec()));
        c.audit = vec![(1, b"created a".to_vec())];
        assert_eq!(store.commit(c).unwrap(), 1);
        let mut c = put(1, "slice/a", b"A2");
        c.deletes.push("slice/b".into());
        c.audit = vec![(2, b"updated a".to_vec())];
        assert_eq!(store.commit(c).unwrap(), 2);
    }
    let store = RedbStore::open(&state_dir).unwrap();
    let state = store.load().unwrap();
    assert_eq!(state.revision, 2);
    assert_eq!(state.epoch, 0);
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
}

#[test]
fn rejected_commits_leave_store_unchanged() {
    both(StoreOptions::default(), |store| {
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
    both(small(), |store| {
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
    });
}

#[test]
fn compaction_is_remembered_across_a_reopen_with_more_retention() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::with_options(dir.path(), small()).unwrap();
        for rev in 0..6 {
            store.commit(with_event(rev, b"e")).unwrap();
        }
    }
    let store = RedbStore::open(dir.path()).unwrap();
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
    both(small(), |store| {
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
    });
}

#[test]
fn epoch_increments_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(store.begin_epoch().unwrap(), 1);
        assert_eq!(store.begin_epoch().unwrap(), 2);
    }
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.load().unwrap().epoch, 2);
    assert_eq!(store.begin_epoch().unwrap(), 3);
    // The epoch is not a revision.
    assert_eq!(store.load().unwrap().revision, 0);
}

#[test]
fn audit_records_are_ordered_and_reject_old_seqs() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
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
    }
    let store = RedbStore::open(dir.path()).unwrap();
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
    assert_eq!(
        store.load().unwrap().audit_head,
        Some((8, b"denied again".to_vec()))
    );
}

#[test]
fn a_second_open_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RedbStore::open(dir.path()).unwrap();
    let err = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains(STORE_FILE_NAME), "{err}");
}

#[test]
fn a_file_that_is_not_a_store_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(STORE_FILE_NAME), vec![0xAB; 8192]).unwrap();
    let err = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains(STORE_FILE_NAME), "{err}");
}

fn stamp_schema(dir: &Path, version: u64) {
    const SYSTEM: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("system");
    let db = redb::Database::create(dir.join(STORE_FILE_NAME)).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(SYSTEM)
        .unwrap()
        .insert("schema_version", version)
        .unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(RedbStore::open(dir.path()).unwrap());
    stamp_schema(dir.path(), SCHEMA_VERSION + 1);
    match RedbStore::open(dir.path()) {
        Err(StoreError::UnsupportedSchema {
            found, supported, ..
        }) => assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION)),
        other => panic!("expected UnsupportedSchema, got {other:?}"),
    }
}

#[test]
fn a_damaged_store_is_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        for rev in 0..20 {
            store
                .commit(put(rev, &format!("k{rev}"), &[0x5A; 512]))
                .unwrap();
        }
    }
    let file = dir.path().join(STORE_FILE_NAME);
    let mut bytes = std::fs::read(&file).unwrap();
    // Past the header, every byte of every page is flipped: data, branches, free lists.
    for b in bytes.iter_mut().skip(4096) {
        *b = !*b;
    }
    std::fs::write(&file, bytes).unwrap();
    let err = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}
