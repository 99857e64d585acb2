//! Replicated `weftd` on etcd against the embedded store, same workload.
//!
//! - `ha/mutations_16_clients/{embedded,etcd}`: 16 operators, each on its
//!   own connection, create and delete networks concurrently against one
//!   `weftd` in process (no agents: the store is what differs). `embedded`
//!   is the redb store (one fsync per commit); `etcd` is the leader of a
//!   replica group on a private 3-member etcd cluster on loopback (every
//!   commit one fenced transaction, committed by a raft quorum, each member
//!   fsyncing its WAL). Throughput is mutations per second.
//! - Then a plain loop of 500 sequential mutations per store prints p50 and
//!   p99 latency (criterion reports means and medians only).
//! - Failover: three replicas in process; the leader shuts down (it
//!   resigns) and the time until another leads is printed, twice. The time
//!   after `kill -9` (lease expiry) is measured by
//!   `cargo test -p weftd --test ha killing -- --nocapture`.
//!
//! Run: `cargo bench -p weft-benches --bench ha` (needs `etcd` on PATH;
//! without it the etcd half is skipped with the reason).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use support::{CLIENTS, churn, churners, create_delete, percentile, repo_file};
use tokio::runtime::Runtime;
use tonic::transport::Channel;
use weft_lab::etcd::{EtcdCluster, etcd_unavailable};
use weft_pki::Pki;
use weft_proto::v1::network_service_client::NetworkServiceClient;
use weftd::ha::{EtcdReplica, StoreConfig};

const PERCENTILE_RUNS: usize = 500;
/// Lease TTL of the replicas (the tests' value).
const TTL: Duration = Duration::from_secs(2);

fn config(dir: &Path) -> weftd::Config {
    weftd::Config {
        topology: repo_file("topologies/two-racks.yaml"),
        intent: Some(repo_file("topologies/two-racks.intent.yaml")),
        data_dir: dir.to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: None,
        simulate: false,
        server_names: Vec::new(),
    }
}

fn etcd_store(etcd: &EtcdCluster) -> StoreConfig {
    let hosts: Vec<String> = etcd
        .endpoints()
        .iter()
        .map(|e| e.trim_start_matches("http://").to_owned())
        .collect();
    StoreConfig::Etcd(EtcdReplica {
        url: format!("etcd://{}", hosts.join(",")),
        advertise: None,
        lease_ttl: TTL,
    })
}

/// Waits until `running` leads (at once on the embedded store).
async fn leading(running: &weftd::Running, within: Duration) -> Duration {
    let started = Instant::now();
    while !running.controller.leading() {
        assert!(
            started.elapsed() < within,
            "no leadership within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// Sequential mutations by one client: p50 and p99.
async fn latencies(client: &NetworkServiceClient<Channel>, name: &str) {
    let mut c = client.clone();
    let mut samples = Vec::with_capacity(PERCENTILE_RUNS);
    for k in 0..PERCENTILE_RUNS / 2 {
        samples.extend(create_delete(&mut c, 0, &format!("lat-{k}")).await);
    }
    samples.sort();
    eprintln!(
        "{name}: one client, {} sequential mutations: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        percentile(&samples, 50),
        percentile(&samples, 99),
        samples[samples.len() - 1]
    );
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let etcd = match etcd_unavailable() {
        Some(why) => {
            eprintln!("etcd half skipped: {why}");
            None
        }
        None => Some(EtcdCluster::start(dir.path(), 3).expect("etcd cluster")),
    };
    let mut stores = vec![("embedded", StoreConfig::Embedded)];
    if let Some(etcd) = &etcd {
        stores.push(("etcd", etcd_store(etcd)));
    }

    let mut group = c.benchmark_group("ha/mutations_16_clients");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(2 * CLIENTS as u64));
    let mut round = 0;
    for (name, store) in &stores {
        let data = dir.path().join(format!("weftd-{name}"));
        let running = rt
            .block_on(weftd::start_with_store(config(&data), store.clone()))
            .expect("start weftd");
        rt.block_on(leading(&running, Duration::from_secs(10)));
        let clients = rt.block_on(churners(&running.pki, running.addr));
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                round += 1;
                rt.block_on(churn(&clients, iters, round))
            })
        });
        rt.block_on(latencies(&clients[0], name));
        rt.block_on(running.shutdown());
    }
    group.finish();

    if let Some(etcd) = &etcd {
        failover(&rt, dir.path(), etcd);
    }
}

/// Three replicas; the leader shuts down (resigning) twice.
fn failover(rt: &Runtime, dir: &Path, etcd: &EtcdCluster) {
    let store = match etcd_store(etcd) {
        StoreConfig::Etcd(mut r) => {
            r.url.push_str("/failover");
            StoreConfig::Etcd(r)
        }
        StoreConfig::Embedded => return,
    };
    rt.block_on(async {
        let pki_dir = dir.join("failover-pki");
        Pki::bootstrap(&pki_dir, &[]).expect("PKI");
        let mut replicas = Vec::new();
        for i in 0..3 {
            let data = dir.join(format!("failover-{i}"));
            copy_dir(&pki_dir, &data.join("pki"));
            let r = weftd::start_with_store(config(&data), store.clone())
                .await
                .expect("replica");
            replicas.push(r);
        }
        let first = Instant::now();
        loop {
            if replicas.iter().any(|r| r.controller.leading()) {
                break;
            }
            assert!(first.elapsed() < Duration::from_secs(10), "no leader");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for _ in 0..2 {
            let at = replicas
                .iter()
                .position(|r| r.controller.leading())
                .expect("a leader");
            let old = replicas.remove(at);
            let started = Instant::now();
            old.shutdown().await;
            loop {
                if replicas.iter().any(|r| r.controller.leading()) {
                    break;
                }
                assert!(started.elapsed() < 2 * TTL, "no new leader");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            eprintln!(
                "failover after the leader resigned: {:?} (lease TTL {TTL:?})",
                started.elapsed()
            );
        }
        for r in replicas {
            r.shutdown().await;
        }
    });
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("directory");
    for entry in std::fs::read_dir(from).expect("PKI directory") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy");
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
