//! A model of every operation the `Store` trait takes, for the property
//! tests that check two stores are indistinguishable through it
//! (`equivalence.rs`: redb and memory; `etcd_store.rs`: etcd and memory).

// Each test crate uses its share.
#![allow(dead_code, clippy::unwrap_used)]

use proptest::prelude::*;
use weft_store::{Commit, Store, StoreError};

/// Few keys, so puts, deletes and request keys collide often.
pub fn key() -> impl Strategy<Value = String> {
    (0u8..4).prop_map(|k| format!("k{k}"))
}

pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

#[derive(Debug, Clone)]
pub enum Op {
    Commit {
        /// Added to the current revision: mostly 0, sometimes a stale or future one.
        revision_offset: i8,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
        meta_puts: Vec<(String, Vec<u8>)>,
        events: Vec<Vec<u8>>,
        request: Option<(String, Vec<u8>)>,
        /// Each audit seq is the previous one plus this; 0 makes the commit invalid.
        audit_steps: Vec<u8>,
    },
    BeginEpoch,
    AppendAudit {
        step: u8,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
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

/// Outcomes compared by value; errors by their (location-free) kind and fields.
pub fn outcome<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Ok(v) => format!("ok {v:?}"),
        Err(e @ StoreError::Conflict { .. })
        | Err(e @ StoreError::AuditOutOfOrder { .. })
        | Err(e @ StoreError::InvalidCommit(_)) => format!("err {e:?}"),
        Err(e) => panic!("unexpected backend failure: {e}"),
    }
}

pub fn apply(store: &dyn Store, op: &Op) -> String {
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

/// Everything observable through the trait.
pub fn observe(store: &dyn Store) -> String {
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
