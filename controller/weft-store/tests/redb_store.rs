//! Behaviour of the store on real redb files (and, where no reopen is involved, of
//! `MemoryStore` too, through the same checks).

// Test helpers outside #[test] fns are not covered by clippy.toml's test allowance.
#![allow(clippy::unwrap_used)]

mod scenarios;

use std::path::Path;

use scenarios::{put, small, with_event};

use weft_store::{
    Commit, EventsSince, MemoryStore, RedbStore, SCHEMA_VERSION, STORE_FILE_NAME, Store,
    StoreError, StoreOptions,
};

fn both(options: StoreOptions, check: impl Fn(&dyn Store)) {
    let dir = tempfile::tempdir().unwrap();
    check(&RedbStore::with_options(dir.path(), options).unwrap());
    check(&MemoryStore::with_options(options));
}

#[test]
fn empty_store_loads_default_state() {
    both(
        StoreOptions::default(),
        scenarios::empty_store_loads_default_state,
    );
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
    both(
        StoreOptions::default(),
        scenarios::rejected_commits_leave_store_unchanged,
    );
}

#[test]
fn events_since_resumes_and_reports_compaction() {
    both(
        small(),
        scenarios::events_since_resumes_and_reports_compaction,
    );
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
    both(small(), scenarios::request_records_are_evicted_oldest_first);
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
