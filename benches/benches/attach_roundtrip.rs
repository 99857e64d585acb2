//! The controller end to end: `weftd` in process on two-racks with its
//! intent, simulated agents, a real redb store (one fsync per commit) and
//! mTLS clients on loopback.
//!
//! - `weftd/attach_roundtrip`: an operator attaches a port
//!   (`CreateAttachment`) and waits until every agent has installed and
//!   acknowledged it (`GetFabricStatus` with `wait_for_revision`). The
//!   detach that resets the state is not timed.
//! - `weftd/mutations_16_clients`: 16 operators, each on its own
//!   connection, create and delete networks concurrently; throughput is
//!   mutations per second (each iteration is 32 mutations).
//!
//! A plain loop of 500 attach round trips then prints p50/p99 (criterion
//! reports means and medians only).
//!
//! Run: `cargo bench -p weft-benches --bench attach_roundtrip`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use support::{CLIENTS, channel, churn, churners, percentile, repo_file};
use tokio::runtime::Runtime;
use tonic::transport::Channel;
use weft_pki::{Principal, Role};
use weft_proto::v1::fabric_service_client::FabricServiceClient;
use weft_proto::v1::network_service_client::NetworkServiceClient;
use weft_proto::v1::*;

const PERCENTILE_RUNS: usize = 500;
/// alpha's network and a port of its lease (rack1-leaf runs OVS, which
/// takes tagged attachments).
const NETWORK: &str = "operators/alpha/networks/prod";
const PORT: &str = "rack1-leaf/eth2";
const VLAN: u32 = 700;
/// How long a status call may wait for the agents.
const WAIT: Duration = Duration::from_secs(30);

/// Waits until every agent acknowledged `revision`.
async fn programmed(fabric: &mut FabricServiceClient<Channel>, revision: u64) {
    let mut req = tonic::Request::new(GetFabricStatusRequest {
        wait_for_revision: revision,
    });
    req.set_timeout(WAIT);
    let st = fabric
        .get_fabric_status(req)
        .await
        .expect("agents acknowledge")
        .into_inner();
    assert!(st.programmed_revision >= revision);
}

/// One operator's attach and detach of `PORT`.
#[derive(Clone)]
struct Attacher {
    nets: NetworkServiceClient<Channel>,
    fabric: FabricServiceClient<Channel>,
    seq: u64,
}

impl Attacher {
    fn rid(&mut self, what: &str) -> String {
        self.seq += 1;
        format!("bench-{what}-{}", self.seq)
    }

    /// Attach and wait for every agent: the timed part.
    async fn attach(&mut self) -> String {
        let request_id = self.rid("attach");
        let resp = self
            .nets
            .create_attachment(CreateAttachmentRequest {
                parent: NETWORK.into(),
                attachment: Some(Attachment {
                    port: PORT.into(),
                    mode: AttachmentMode::Tagged.into(),
                    vlan_id: VLAN,
                    ..Default::default()
                }),
                request_id,
                validate_only: false,
            })
            .await
            .expect("attach")
            .into_inner();
        programmed(&mut self.fabric, resp.revision).await;
        resp.attachment.expect("attachment").name
    }

    /// Detach and wait, so the next attach starts from the same state.
    async fn detach(&mut self, name: String) {
        let request_id = self.rid("detach");
        let resp = self
            .nets
            .delete_attachment(DeleteAttachmentRequest {
                name,
                request_id,
                ..Default::default()
            })
            .await
            .expect("detach")
            .into_inner();
        programmed(&mut self.fabric, resp.revision).await;
    }
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temporary data directory");
    let config = weftd::Config {
        topology: repo_file("topologies/two-racks.yaml"),
        intent: Some(repo_file("topologies/two-racks.intent.yaml")),
        data_dir: dir.path().to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: None,
        simulate: true,
        server_names: Vec::new(),
    };
    let running = rt.block_on(weftd::start(config)).expect("start weftd");
    let addr = running.addr;
    let (mut attacher, clients) = rt.block_on(async {
        let alpha = channel(
            &running.pki,
            addr,
            &Principal::new(Role::Operator, "alpha").expect("principal"),
        )
        .await;
        let mut attacher = Attacher {
            nets: NetworkServiceClient::new(alpha.clone()),
            fabric: FabricServiceClient::new(alpha),
            seq: 0,
        };
        // The agents hold the initial intent before anything is timed.
        let now = attacher
            .fabric
            .get_fabric_status(GetFabricStatusRequest::default())
            .await
            .expect("status")
            .into_inner()
            .revision;
        programmed(&mut attacher.fabric, now).await;
        let clients = churners(&running.pki, addr).await;
        (attacher, clients)
    });

    let mut group = c.benchmark_group("weftd");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("attach_roundtrip", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let name = attacher.attach().await;
                    timed += started.elapsed();
                    attacher.detach(name).await;
                }
                timed
            })
        })
    });
    // Each iteration: one create and one delete on each of the 16 clients.
    group.throughput(Throughput::Elements(2 * CLIENTS as u64));
    let mut round = 0;
    group.bench_function("mutations_16_clients", |b| {
        b.iter_custom(|iters| {
            round += 1;
            rt.block_on(churn(&clients, iters, round))
        })
    });
    group.finish();

    let mut samples: Vec<Duration> = rt.block_on(async {
        let mut out = Vec::with_capacity(PERCENTILE_RUNS);
        for _ in 0..PERCENTILE_RUNS {
            let started = Instant::now();
            let name = attacher.attach().await;
            out.push(started.elapsed());
            attacher.detach(name).await;
        }
        out
    });
    samples.sort();
    eprintln!(
        "attach round trip over {PERCENTILE_RUNS} runs: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&samples, 50),
        percentile(&samples, 99),
        samples[samples.len() - 1]
    );
    rt.block_on(running.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
