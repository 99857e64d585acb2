//! Failover in the lab (issue 6): the two-racks fabric of Open vSwitch and
//! Linux leaves, their real agents, and three `weftd` replicas on a
//! three-member etcd cluster. `kill -9` of the leader while hosts ping
//! each other across the racks on every existing network loses no ping:
//! the data plane never depends on the controller. The agents then find
//! the new leader and are brought up to date without touching the
//! switches, and a change made at the new leader reaches them.
//!
//! Needs root, Open vSwitch and etcd (see `common::lab::missing`); skipped
//! with the reason otherwise, unless `WEFT_REQUIRE_LAB` (or
//! `WEFT_REQUIRE_ETCD`) is set.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::lab::{Fabric, LongPing, free_port, hosts, weft_flow_count};
use common::process::WeftdProcess;
use weft_lab::etcd::{EtcdCluster, etcd_unavailable};
use weft_pki::Pki;

const TTL: &str = "2";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

fn replica(url: &str, pki: &Path) -> WeftdProcess {
    let p = WeftdProcess::new(&["--store", url, "--lease-ttl", TTL]);
    copy_dir(pki, &p.path().join("pki"));
    p
}

#[test]
fn killing_the_leader_loses_no_ping() {
    let Some(_serial) = common::lab::begin() else {
        return;
    };
    if let Some(why) = etcd_unavailable() {
        assert!(
            std::env::var_os("WEFT_REQUIRE_ETCD").is_none(),
            "WEFT_REQUIRE_ETCD is set but {why}"
        );
        println!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdCluster::start(dir.path(), 3).unwrap();
    let hosts_list: Vec<String> = etcd
        .endpoints()
        .iter()
        .map(|e| e.trim_start_matches("http://").to_owned())
        .collect();
    let url = format!("etcd://{}", hosts_list.join(","));
    let pki_dir = dir.path().join("pki");
    Pki::bootstrap(&pki_dir, &[]).unwrap();

    // The first replica is the fabric's controller and leads (it campaigns
    // first); the two others start a little later, on addresses the agents
    // know. The agents' list names only those two: a follower sends them
    // on to the leader, wherever it is.
    let first = replica(&url, &pki_dir);
    let others: Vec<SocketAddr> = (0..2).map(|_| free_port()).collect();
    let list: Vec<String> = others.iter().map(|a| format!("https://{a}")).collect();
    let list = list.join(",");
    let late = {
        let (url, pki_dir, others) = (url.clone(), pki_dir.clone(), others.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            others
                .iter()
                .map(|a| {
                    let mut p = replica(&url, &pki_dir);
                    p.listen_on(*a);
                    p.start();
                    p
                })
                .collect::<Vec<_>>()
        })
    };
    let mut f = Fabric::start_with("ha", first, &["--controller", &list]);
    let mut replicas = late.join().unwrap();
    let flows_before = weft_flow_count(&f.ovs());

    // Pings across the racks on every network with a member in each rack.
    let all = hosts(f.lab());
    let mut pings = Vec::new();
    for a in &all {
        for b in &all {
            if a.network.is_some()
                && a.network == b.network
                && a.label.starts_with("r1-")
                && b.label.starts_with("r2-")
            {
                println!("pinging {} → {} on {:?}", a.label, b.label, a.network);
                pings.push((
                    a.label.clone(),
                    b.label.clone(),
                    LongPing::start(&a.endpoint, &b.endpoint, 300),
                ));
            }
        }
    }
    assert!(
        pings.len() >= 3,
        "too few cross-rack pairs: {}",
        pings.len()
    );
    std::thread::sleep(Duration::from_secs(3));

    let killed = Instant::now();
    f.weftd.kill();
    // A new leader among the two others, and both agents on it.
    let pki = Pki::bootstrap(&pki_dir, &[]).unwrap();
    let new = f.rt.block_on(async {
        loop {
            for (i, a) in others.iter().enumerate() {
                let admin = weft_pki::Principal::new(weft_pki::Role::Admin, "admin").unwrap();
                let ch = common::connect(&pki, *a, &admin).await;
                let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
                let r = h
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: "weft.v1.AgentService".into(),
                    })
                    .await;
                if r.is_ok_and(|r| {
                    r.into_inner().status
                        == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                }) {
                    return i;
                }
            }
            assert!(killed.elapsed() < Duration::from_secs(10), "no new leader");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    println!("new leader after {:?}", killed.elapsed());
    f.addr = others[new];
    let reconnected = f.wait_programmed();
    println!(
        "agents programmed by the new leader {:?} after the kill ({reconnected:?} waiting)",
        killed.elapsed()
    );

    for (a, b, p) in pings {
        let (sent, received) = p.finish();
        println!("{a} → {b}: {received}/{sent}");
        assert_eq!(received, sent, "{a} → {b} lost pings during the failover");
    }
    // Reconnecting to the new leader changed nothing on the switches.
    assert_eq!(weft_flow_count(&f.ovs()), flows_before);
    // A change made at the new leader reaches the switches.
    let mut alpha = f.clients(weft_pki::Role::Operator, "alpha");
    f.rt.block_on(async {
        alpha
            .nets
            .create_attachment(weft_proto::v1::CreateAttachmentRequest {
                parent: "operators/alpha/networks/prod".into(),
                attachment: Some(weft_proto::v1::Attachment {
                    port: "rack1-leaf/eth2".into(),
                    mode: weft_proto::v1::AttachmentMode::Tagged.into(),
                    vlan_id: 700,
                    ..Default::default()
                }),
                request_id: "ha-lab-attach".into(),
                validate_only: false,
            })
            .await
            .unwrap()
    });
    f.wait_programmed();
    assert!(weft_flow_count(&f.ovs()) > flows_before);
    replicas.iter_mut().for_each(WeftdProcess::kill);
    drop(replicas);
    f.finish();
    drop(etcd);
}
