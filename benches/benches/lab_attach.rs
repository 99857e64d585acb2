//! Attach-to-forwarding latency on the real two-racks lab: `weftd` in
//! process (embedded store), the real `weft-agent` binary on an Open
//! vSwitch leaf and a Linux leaf, VXLAN between them (`docs/lab.md`).
//!
//! `lab/attach_to_forwarding`: gamma's `rack2-leaf/eth4` (Linux leaf) is
//! attached to `gamma/lab` with `CreateAttachment`; the time runs from the
//! RPC until the first ping from `r1-srv3/eth0` (OVS leaf, same network)
//! to `r2-srv3/eth0` is answered: compile, verify, commit, push to the
//! agent, netlink and nftables programming, ARP across the tunnel. The
//! detach that resets the state, and the wait until it is unreachable
//! again, are not timed. A `ping -D -i 0.005` runs from just before the
//! RPC; the figure is the kernel timestamp of the first reply minus the
//! time the RPC was sent, so it is at most one 5 ms interval late.
//!
//! Needs root, Open vSwitch, `ping` and the release agent binary:
//! `cargo build --release -p weft-agent && cargo bench -p weft-benches --bench lab_attach`.
//! Prints why and measures nothing when something is missing.

// A bench reports on standard output.
#![allow(clippy::print_stdout)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use support::{channel, repo_file};
use tokio::runtime::Runtime;
use weft_lab::{AgentLaunch, Endpoint, Lab, LabSpec};
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::fabric_service_client::FabricServiceClient;
use weft_proto::v1::network_service_client::NetworkServiceClient;
use weft_proto::v1::*;

const NETWORK: &str = "operators/gamma/networks/lab";
const PORT: &str = "rack2-leaf/eth4";
const ATTACHMENT: &str = "operators/gamma/networks/lab/attachments/rack2-leaf:eth4";
/// Give up on one attach after this long.
const LIMIT: Duration = Duration::from_secs(10);

fn agent_binary() -> PathBuf {
    repo_file("target/release/weft-agent")
}

fn missing() -> Option<String> {
    if let Some(why) = weft_lab::ovs_unavailable() {
        return Some(why.to_owned());
    }
    for tool in ["ping", "ethtool", "nft"] {
        if !weft_lab::have(tool) {
            return Some(format!("needs {tool} on PATH"));
        }
    }
    let agent = agent_binary();
    (!agent.is_file()).then(|| {
        format!(
            "{} is missing: cargo build --release -p weft-agent",
            agent.display()
        )
    })
}

/// Starts pinging every 5 ms, runs `start`, and returns how long after
/// `start` began the first reply arrived, by the reply's kernel timestamp.
fn first_reply_after(from: &Endpoint, to: &Endpoint, start: impl FnOnce()) -> Duration {
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &from.netns,
            "ping",
            "-n",
            "-D",
            "-i",
            "0.005",
        ])
        .args(["-w", &LIMIT.as_secs().to_string()])
        .arg(to.address.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ping starts");
    let since = now();
    start();
    let out = child.stdout.take().expect("ping's output");
    let mut reply = None;
    for line in BufReader::new(out).lines() {
        let line = line.expect("ping's output");
        // "[1701000000.123456] 64 bytes from 10.200.7.1: icmp_seq=…"
        if !line.contains("bytes from") {
            continue;
        }
        let stamp = line
            .strip_prefix('[')
            .and_then(|l| l.split(']').next())
            .and_then(|t| t.parse::<f64>().ok())
            .expect("a -D timestamp");
        reply = Some(Duration::from_secs_f64(stamp));
        break;
    }
    let _ = child.kill();
    let _ = child.wait();
    let at = reply.unwrap_or_else(|| panic!("no reply within {LIMIT:?} of the attach"));
    at.saturating_sub(since)
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
}

/// One ping with a 100 ms answer window; true when answered.
fn answers(from: &Endpoint, to: &Endpoint) -> bool {
    Command::new("ip")
        .args(["netns", "exec", &from.netns, "ping", "-n", "-q", "-c", "1"])
        .args(["-W", "0.1"])
        .arg(to.address.to_string())
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Setup {
    nets: NetworkServiceClient<tonic::transport::Channel>,
    fabric: FabricServiceClient<tonic::transport::Channel>,
}

impl Setup {
    async fn programmed(&mut self, revision: u64) {
        let mut req = tonic::Request::new(GetFabricStatusRequest {
            wait_for_revision: revision,
        });
        req.set_timeout(LIMIT);
        self.fabric
            .get_fabric_status(req)
            .await
            .expect("the agents acknowledge");
    }

    async fn detach(&mut self) {
        let r = self
            .nets
            .delete_attachment(DeleteAttachmentRequest {
                name: ATTACHMENT.into(),
                ..Default::default()
            })
            .await
            .expect("detach")
            .into_inner();
        self.programmed(r.revision).await;
    }

    async fn attach(&mut self) {
        self.nets
            .create_attachment(CreateAttachmentRequest {
                parent: NETWORK.into(),
                attachment: Some(Attachment {
                    port: PORT.into(),
                    mode: AttachmentMode::Access.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
                validate_only: false,
            })
            .await
            .expect("attach");
    }
}

fn bench(c: &mut Criterion) {
    if let Some(why) = missing() {
        println!("lab_attach: skipped: {why}");
        return;
    }
    let rt = Runtime::new().expect("tokio runtime");
    let dir = tempfile::Builder::new()
        .prefix("wbench")
        .tempdir_in("/tmp")
        .expect("temporary directory");
    let running = rt
        .block_on(weftd::start(weftd::Config {
            topology: repo_file("topologies/two-racks.yaml"),
            intent: Some(repo_file("topologies/two-racks.intent.yaml")),
            data_dir: dir.path().join("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_listen: None,
            simulate: false,
            server_names: Vec::new(),
        }))
        .expect("weftd starts");
    let topology =
        weft_config::load_topology(repo_file("topologies/two-racks.yaml")).expect("topology");
    let lab = Lab::up(&LabSpec {
        name: format!("wb{}", std::process::id() % 100_000),
        topology,
        state_root: dir.path().join("lab"),
        agents: Some(AgentLaunch {
            binary: agent_binary(),
            controller: format!("https://{}", running.addr),
            pki: dir.path().join("data/pki"),
            extra_args: Vec::new(),
        }),
    })
    .expect("lab up");
    let from = lab.endpoint("r1-srv3/eth0").expect("endpoint");
    let to = lab.endpoint("r2-srv3/eth0").expect("endpoint");

    let pki = Pki::bootstrap(&dir.path().join("data/pki"), &[]).expect("PKI");
    let gamma = Principal::new(Role::Operator, "gamma").expect("principal");
    let admin = Principal::new(Role::Admin, "admin").expect("principal");
    let mut setup = rt.block_on(async {
        Setup {
            nets: NetworkServiceClient::new(channel(&pki, running.addr, &gamma).await),
            fabric: FabricServiceClient::new(channel(&pki, running.addr, &admin).await),
        }
    });
    // The intent attaches the port: it must forward before anything is
    // timed.
    let t0 = Instant::now();
    while !answers(&from, &to) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the lab never forwards"
        );
    }

    let mut samples = Vec::new();
    let mut group = c.benchmark_group("lab");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("attach_to_forwarding", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                rt.block_on(setup.detach());
                let gone = Instant::now();
                while answers(&from, &to) {
                    assert!(gone.elapsed() < LIMIT, "still forwarding after detach");
                }
                let took = first_reply_after(&from, &to, || rt.block_on(setup.attach()));
                samples.push(took);
                total += took;
            }
            total
        });
    });
    group.finish();
    samples.sort();
    if !samples.is_empty() {
        let at = |pct: usize| samples[(samples.len() - 1) * pct / 100];
        println!(
            "lab/attach_to_forwarding over {} attaches: min {:?}, p50 {:?}, p90 {:?}, max {:?}",
            samples.len(),
            samples[0],
            at(50),
            at(90),
            at(100)
        );
    }
    lab.down().expect("lab down");
    rt.block_on(running.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
