//! Property: `RedbStore` and `MemoryStore` are indistinguishable through the `Store`
//! trait, so controller tests written against `MemoryStore` hold for production.

// Test helpers outside #[test] fns are not covered by clippy.toml's test allowance.
#![allow(clippy::unwrap_used)]

mod store_model;

use proptest::prelude::*;
use store_model::{apply, observe, op};
use weft_store::{MemoryStore, RedbStore, Store, StoreOptions};

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn redb_and_memory_stores_agree(
        event_retention in 0u64..5,
        request_retention in 0u64..4,
        ops in prop::collection::vec(op(), 1..30),
    ) {
        let options = StoreOptions { event_retention, request_retention };
        let dir = tempfile::tempdir().unwrap();
        let memory = MemoryStore::with_options(options);
        {
            let redb = RedbStore::with_options(dir.path(), options).unwrap();
            for op in &ops {
                prop_assert_eq!(apply(&redb, op), apply(&memory, op), "op {:?}", op);
                prop_assert_eq!(redb.load().unwrap(), memory.load().unwrap());
            }
            prop_assert_eq!(observe(&redb), observe(&memory));
        }
        let reopened = RedbStore::with_options(dir.path(), options).unwrap();
        prop_assert_eq!(observe(&reopened), observe(&memory));
    }
}
