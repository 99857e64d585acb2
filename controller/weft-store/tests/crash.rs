//! Crash safety: a process killed with SIGKILL mid-stream loses no acknowledged commit
//! and leaves a store that opens.
//!
//! The parent re-runs this test binary as a child that runs only `crash_child`, which
//! commits in a loop and prints each revision once `commit` has returned. After enough
//! acknowledgements the parent kills it, reopens the store and checks.

// Test helpers outside #[test] fns are not covered by clippy.toml's test allowance.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use weft_store::{Commit, RedbStore, Store};

const DIR_VAR: &str = "WEFT_STORE_CRASH_CHILD_DIR";
const ACK: &str = "acked revision ";
const ACKS_BEFORE_KILL: u64 = 50;
/// The child stops by itself if it is never killed.
const CHILD_MAX_COMMITS: u64 = 100_000;

/// The child's body: a no-op unless started by `killed_writer_loses_no_acked_commit`.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let store = RedbStore::open(Path::new(&dir)).unwrap();
    let mut revision = store.load().unwrap().revision;
    let mut out = std::io::stdout().lock();
    for _ in 0..CHILD_MAX_COMMITS {
        let mut commit = Commit::new(revision);
        // Enough bytes per commit that a kill lands mid-write now and then.
        commit
            .puts
            .push((format!("r{}", revision % 64), vec![0xC3; 16 * 1024]));
        commit.events.push(revision.to_be_bytes().to_vec());
        commit.audit.push((revision + 1, b"audit".to_vec()));
        revision = store.commit(commit).unwrap();
        writeln!(out, "{ACK}{revision}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn killed_writer_loses_no_acked_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_acked = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rev) = line.strip_prefix(ACK) {
            last_acked = rev.parse().unwrap();
            if last_acked >= ACKS_BEFORE_KILL {
                break;
            }
        }
    }
    // SIGKILL: no destructor, no flush, no clean shutdown of the database.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        last_acked >= ACKS_BEFORE_KILL,
        "child stopped after {last_acked} acks"
    );

    let store = RedbStore::open(dir.path()).unwrap();
    let state = store.load().unwrap();
    assert!(
        state.revision >= last_acked,
        "acked revision {last_acked} lost: store is at {}",
        state.revision
    );
    assert_eq!(state.audit_head.map(|(seq, _)| seq), Some(state.revision));
    assert!(store.events_since(0).is_ok());
    // The reopened store is writable where the child stopped.
    assert_eq!(
        store.commit(Commit::new(state.revision)).unwrap(),
        state.revision + 1
    );
}
