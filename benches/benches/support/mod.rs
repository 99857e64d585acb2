//! What the controller benches share: repository paths, mTLS channels to
//! an in-process `weftd`, and the 16-client network churn workload.

// Each bench uses its share.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::network_service_client::NetworkServiceClient;
use weft_proto::v1::operator_service_client::OperatorServiceClient;
use weft_proto::v1::{
    CreateNetworkRequest, CreateOperatorRequest, DeleteNetworkRequest, Lease, SetLeaseRequest,
};

/// A file of the repository, e.g. `topologies/two-racks.yaml`.
pub fn repo_file(rel: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// A channel to `weftd` at `addr` authenticated as `p` (credentials issued
/// from the local CA on demand).
pub async fn channel(pki: &Pki, addr: SocketAddr, p: &Principal) -> Channel {
    let creds = pki.ensure_client(p).expect("client credentials");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(
            std::fs::read(&creds.ca).expect("CA certificate"),
        ))
        .identity(Identity::from_pem(
            std::fs::read(&creds.cert).expect("client certificate"),
            std::fs::read(&creds.key).expect("client key"),
        ))
        .domain_name("localhost");
    Channel::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(tls)
        .expect("TLS config")
        .connect()
        .await
        .expect("connect to weftd")
}

/// Concurrent clients of the churn workload.
pub const CLIENTS: usize = 16;

/// 16 operators with a small lease each (no ports: networks only).
pub async fn churners(pki: &Pki, addr: SocketAddr) -> Vec<NetworkServiceClient<Channel>> {
    let admin = channel(
        pki,
        addr,
        &Principal::new(Role::Admin, "admin").expect("principal"),
    )
    .await;
    let mut admin = OperatorServiceClient::new(admin);
    let mut out = Vec::new();
    for i in 0..CLIENTS {
        let op = format!("bench{i:02}");
        let first = 20_000 + i * 100;
        admin
            .create_operator(CreateOperatorRequest {
                operator_id: op.clone(),
                request_id: format!("bench-op-{op}"),
                ..Default::default()
            })
            .await
            .expect("create operator");
        admin
            .set_lease(SetLeaseRequest {
                lease: Some(Lease {
                    name: format!("operators/{op}/lease"),
                    vni_range: format!("{first}-{}", first + 99),
                    ..Default::default()
                }),
                request_id: format!("bench-lease-{op}"),
                validate_only: false,
            })
            .await
            .expect("set lease");
        let p = Principal::new(Role::Operator, &op).expect("principal");
        out.push(NetworkServiceClient::new(channel(pki, addr, &p).await));
    }
    out
}

/// One create and one delete of a network by client `i`; returns each
/// call's latency.
pub async fn create_delete(
    c: &mut NetworkServiceClient<Channel>,
    i: usize,
    tag: &str,
) -> [Duration; 2] {
    let parent = format!("operators/bench{i:02}");
    let started = Instant::now();
    c.create_network(CreateNetworkRequest {
        parent: parent.clone(),
        network_id: tag.to_owned(),
        network: None,
        request_id: format!("bench-c-{tag}"),
        validate_only: false,
    })
    .await
    .expect("create network");
    let created = started.elapsed();
    let started = Instant::now();
    c.delete_network(DeleteNetworkRequest {
        name: format!("{parent}/networks/{tag}"),
        request_id: format!("bench-d-{tag}"),
        ..Default::default()
    })
    .await
    .expect("delete network");
    [created, started.elapsed()]
}

/// `iters` create/delete pairs on each client, concurrently.
pub async fn churn(clients: &[NetworkServiceClient<Channel>], iters: u64, round: u64) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..iters {
                create_delete(&mut c, i, &format!("n{round}-{k}")).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    started.elapsed()
}

/// The value below which `pct` percent of the sorted samples fall.
pub fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank - 1]
}
