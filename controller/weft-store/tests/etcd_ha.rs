//! Leader election, fencing and member failures on real etcd clusters.
//!
//! The deposed-leader test runs the leader in a child process (this test
//! binary again, running only `replica_child`) so that it can really be
//! frozen with SIGSTOP past its lease, as a hung machine would be.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "etcd_support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use weft_store::etcd::{Election, ElectionOptions, EtcdClient, EtcdConfig, EtcdStore, Fence};
use weft_store::{Commit, Store, StoreError, StoreOptions};

fn put(expected: u64, key: &str) -> Commit {
    let mut c = Commit::new(expected);
    c.puts.push((key.into(), key.as_bytes().to_vec()));
    c
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn one_replica_leads_and_resigning_hands_over() {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    let prefix = support::unique_prefix("elect");
    let clients: Vec<EtcdClient> = (0..3)
        .map(|_| support::client(&cluster.etcd, &prefix))
        .collect();
    let elections: Vec<Election> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Election::start(
                c,
                ElectionOptions::new(format!("replica-{i}:50051")).with_ttl(support::TTL),
            )
            .unwrap()
        })
        .collect();
    let leaders = |elections: &[Election]| -> Vec<usize> {
        (0..elections.len())
            .filter(|i| elections[*i].leadership().is_leader())
            .collect()
    };
    support::wait_until(Duration::from_secs(10), "one replica leads", || {
        leaders(&elections).len() == 1
    });
    let first = leaders(&elections)[0];
    let first_token = elections[first].leadership().token.unwrap();
    let expected = weft_store::etcd::LeaderInfo {
        address: format!("replica-{first}:50051"),
        token: first_token,
    };
    // Every replica, leader or not, learns who leads and how to reach it.
    support::wait_until(Duration::from_secs(5), "followers see the leader", || {
        elections
            .iter()
            .all(|e| e.leadership().leader.as_ref() == Some(&expected))
    });
    let rt = rt();
    assert_eq!(
        rt.block_on(elections[(first + 1) % 3].leader()).unwrap(),
        Some(expected)
    );
    // Still exactly one leader a while later: no flapping.
    std::thread::sleep(support::TTL);
    assert_eq!(leaders(&elections), [first]);

    let changes = elections[first].subscribe();
    let started = Instant::now();
    rt.block_on(elections[first].resign()).unwrap();
    assert!(!elections[first].leadership().is_leader());
    assert!(elections[first].fence().current().is_none());
    assert!(changes.has_changed().unwrap());
    support::wait_until(Duration::from_secs(5), "another replica leads", || {
        leaders(&elections).len() == 1
    });
    // Revoking the lease hands over at once, well within a TTL.
    assert!(started.elapsed() < support::TTL, "{:?}", started.elapsed());
    let second = leaders(&elections)[0];
    assert_ne!(second, first);
    let second_token = elections[second].leadership().token.unwrap();
    assert!(second_token > first_token, "tokens grow with terms");
    support::wait_until(Duration::from_secs(5), "the resigned one sees it", || {
        elections[first]
            .leadership()
            .leader
            .is_some_and(|l| l.token == second_token)
    });
}

#[test]
fn a_stale_token_is_refused_by_etcd_and_the_new_leader_writes() {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    let prefix = support::unique_prefix("stale");
    let a = support::client(&cluster.etcd, &prefix);
    let b = support::client(&cluster.etcd, &prefix);
    let election_a = support::lead(&a, "a:1");
    let token_a = election_a.token().unwrap();
    let store_a = EtcdStore::open(&a, election_a.fence(), StoreOptions::default()).unwrap();
    store_a.commit(put(0, "by-a")).unwrap();
    // A store that never learns its term ended.
    let unaware =
        EtcdStore::open(&a, Fence::fixed(token_a.clone()), StoreOptions::default()).unwrap();
    let election_b =
        Election::start(&b, ElectionOptions::new("b:1").with_ttl(support::TTL)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!election_b.leadership().is_leader(), "a still leads");

    rt().block_on(election_a.resign()).unwrap();
    support::wait_until(Duration::from_secs(5), "b leads", || {
        election_b.leadership().is_leader()
    });
    let store_b = EtcdStore::open(&b, election_b.fence(), StoreOptions::default()).unwrap();
    assert_eq!(store_b.commit(put(1, "by-b")).unwrap(), 2);

    // The same commit that would apply for b is refused for the old term.
    match unaware.commit(put(2, "by-a-again")) {
        Err(StoreError::Fenced { token, .. }) => assert_eq!(token, token_a.revision()),
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert!(matches!(
        unaware.begin_epoch(),
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(
        unaware.append_audit(1, b"x".to_vec()),
        Err(StoreError::Fenced { .. })
    ));
    // The live fence of the resigned replica refuses before sending.
    assert!(matches!(
        store_a.commit(put(2, "by-a-again")),
        Err(StoreError::NotLeader { .. })
    ));
    let state = store_b.load().unwrap();
    assert_eq!(state.revision, 2);
    assert_eq!(state.epoch, 0);
    assert!(!state.resources.contains_key("by-a-again"));
    assert_eq!(state.audit_head, None);
}

// ---- a leader frozen past its lease ----

const CHILD_ENDPOINTS: &str = "WEFT_ETCD_CHILD_ENDPOINTS";
const CHILD_PREFIX: &str = "WEFT_ETCD_CHILD_PREFIX";

/// The child replica: leads, then on each `commit` line from stdin tries
/// a commit with its live fence and with the token it won with, and prints
/// both outcomes. Prints `follows` when it notices it lost leadership.
#[test]
fn replica_child() {
    let (Some(endpoints), Some(prefix)) = (
        std::env::var_os(CHILD_ENDPOINTS),
        std::env::var_os(CHILD_PREFIX),
    ) else {
        return;
    };
    let endpoints: Vec<String> = endpoints
        .to_string_lossy()
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut config = EtcdConfig::new(endpoints).with_prefix(&prefix.to_string_lossy());
    config.request_timeout = Duration::from_secs(4);
    let client = EtcdClient::connect(config).unwrap();
    let election = support::lead(&client, "child:1");
    let token = election.token().unwrap();
    let live = EtcdStore::open(&client, election.fence(), StoreOptions::default()).unwrap();
    let unaware = EtcdStore::open(
        &client,
        Fence::fixed(token.clone()),
        StoreOptions::default(),
    )
    .unwrap();
    live.commit(put(0, "by-child")).unwrap();
    println!("@leads {}", token.revision());

    let mut changes = election.subscribe();
    std::thread::spawn(move || {
        let rt = rt();
        rt.block_on(async {
            while changes.changed().await.is_ok() {
                if !changes.borrow_and_update().is_leader() {
                    println!("@follows");
                    return;
                }
            }
        });
    });
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let Some(expected) = line.strip_prefix("commit ") else {
            break;
        };
        let expected: u64 = expected.parse().unwrap();
        let kind = |r: Result<u64, StoreError>| match r {
            Ok(rev) => format!("ok:{rev}"),
            Err(StoreError::Fenced { .. }) => "fenced".to_owned(),
            Err(StoreError::NotLeader { .. }) => "not-leader".to_owned(),
            Err(e) => format!("error:{e}"),
        };
        let unaware = kind(unaware.commit(put(expected, "late-unaware")));
        let live = kind(live.commit(put(expected, "late-live")));
        println!("@result unaware={unaware} live={live}");
    }
}

#[test]
fn a_leader_frozen_past_its_lease_is_deposed_and_fenced() {
    let Some(cluster) = support::shared_cluster() else {
        return;
    };
    let prefix = support::unique_prefix("frozen");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "replica_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENDPOINTS, cluster.etcd.endpoints().join(","))
        .env(CHILD_PREFIX, &prefix)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Kill the child whatever happens below.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-CONT", &self.0.id().to_string()])
                .status();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let _reap = Reap(child);
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Lines read but not asked for yet: the child's threads print in any
    // order.
    let unclaimed = std::cell::RefCell::new(Vec::<String>::new());
    let expect = |marker: &str| -> String {
        // libtest may have printed "test replica_child ... " first.
        let claim = |line: &str| {
            line.find(marker)
                .map(|at| line[at + marker.len()..].trim().to_owned())
        };
        let mut held = unclaimed.borrow_mut();
        if let Some(i) = held.iter().position(|l| claim(l).is_some()) {
            return claim(&held.remove(i)).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("the child never printed {marker:?}; it printed {held:?}")
            });
            match claim(&line) {
                Some(rest) => return rest,
                None => held.push(line),
            }
        }
    };
    let child_token: u64 = expect("@leads ").parse().unwrap();

    let client = support::client(&cluster.etcd, &prefix);
    let election = Election::start(
        &client,
        ElectionOptions::new("parent:1").with_ttl(support::TTL),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!election.leadership().is_leader(), "the child leads");

    let status = Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let frozen = Instant::now();
    support::wait_until(
        2 * support::TTL + Duration::from_secs(2),
        "the parent leads",
        || election.leadership().is_leader(),
    );
    let takeover = frozen.elapsed();
    assert!(
        takeover < 2 * support::TTL,
        "a new leader within 2 x TTL, took {takeover:?}"
    );
    let token = election.leadership().token.unwrap();
    assert!(token > child_token);
    let store = EtcdStore::open(&client, election.fence(), StoreOptions::default()).unwrap();
    assert_eq!(store.commit(put(1, "by-parent")).unwrap(), 2);

    // Resume the child and make it write at once, before it has heard from
    // etcd: the write with the token it won with reaches etcd and is refused
    // there; the live fence refuses locally (its lease clock ran out) or
    // is refused by etcd, whichever comes first.
    let status = Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    writeln!(stdin, "commit 2").unwrap();
    stdin.flush().unwrap();
    let result = expect("@result ");
    let (unaware, live) = result.split_once(' ').unwrap();
    assert_eq!(unaware, "unaware=fenced", "{result}");
    assert!(
        live == "live=not-leader" || live == "live=fenced",
        "{result}"
    );
    // The child notices on its own that it no longer leads.
    expect("@follows");
    let state = store.load().unwrap();
    assert_eq!(state.revision, 2);
    assert!(
        state.resources.keys().all(|k| !k.starts_with("late")),
        "{state:?}"
    );
    assert!(election.leadership().is_leader(), "the parent still leads");
    writeln!(stdin, "quit").unwrap();
}

// ---- etcd members lost and back ----

#[test]
fn commits_survive_one_member_fail_without_quorum_and_resume() {
    let Some(mut cluster) = support::own_cluster(3) else {
        return;
    };
    let prefix = support::unique_prefix("members");
    let client = support::client(&cluster.etcd, &prefix);
    let election = support::lead(&client, "a:1");
    let store = EtcdStore::open(&client, election.fence(), StoreOptions::default()).unwrap();
    let mut revision = 0;
    let commit = |store: &EtcdStore, revision: &mut u64| -> Result<u64, StoreError> {
        let r = store.commit(put(*revision, &format!("k{revision}")))?;
        *revision = r;
        Ok(r)
    };
    for _ in 0..5 {
        commit(&store, &mut revision).unwrap();
    }

    // One member down: a quorum of two remains, and the store goes on.
    cluster.etcd.kill9(0).unwrap();
    for _ in 0..10 {
        commit(&store, &mut revision).unwrap();
    }
    assert_eq!(revision, 15);
    assert!(election.leadership().is_leader());

    // Two down: no quorum. Writes fail, typed and within the deadline.
    cluster.etcd.kill9(1).unwrap();
    let started = Instant::now();
    match store.commit(put(revision, "unacknowledged")) {
        Err(StoreError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(matches!(store.load(), Err(StoreError::Unavailable { .. })));
    // The lease cannot be renewed without a quorum: the replica stops
    // leading once it may have expired, and says so.
    support::wait_until(
        support::TTL + Duration::from_secs(2),
        "leadership lapses",
        || !election.leadership().is_leader(),
    );
    assert!(matches!(
        store.commit(put(revision, "unacknowledged")),
        Err(StoreError::NotLeader { .. })
    ));

    // Quorum back: the same store object, without re-creating anything,
    // writes again once its election leads again.
    cluster.etcd.restart(0).unwrap();
    cluster.etcd.restart(1).unwrap();
    cluster.etcd.wait_healthy(Duration::from_secs(30)).unwrap();
    support::wait_until(Duration::from_secs(15), "the replica leads again", || {
        election.leadership().is_leader()
    });
    // The refused commit's outcome was unknown (a lone etcd leader may have
    // logged it and committed it once the others came back), so the caller
    // reloads before writing again, as weftd does after Unavailable.
    let state = store.load().unwrap();
    let unacknowledged = state.resources.contains_key("unacknowledged");
    assert_eq!(state.revision, 15 + u64::from(unacknowledged));
    revision = state.revision;
    for _ in 0..5 {
        commit(&store, &mut revision).unwrap();
    }
    let state = store.load().unwrap();
    assert_eq!(state.revision, 20 + u64::from(unacknowledged));
    // Every acknowledged commit is there exactly once, and nothing else.
    let mut expected: Vec<String> = (0..15)
        .chain(15 + u64::from(unacknowledged)..20 + u64::from(unacknowledged))
        .map(|r| format!("k{r}"))
        .collect();
    if unacknowledged {
        expected.push("unacknowledged".into());
    }
    expected.sort();
    assert_eq!(
        state.resources.keys().cloned().collect::<Vec<_>>(),
        expected
    );
}
