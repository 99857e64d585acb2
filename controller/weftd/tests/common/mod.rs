//! In-process test harness: a real `weftd` on a loopback port with real
//! mTLS, a real redb store in a temporary directory, simulated agents, and
//! clients for every role.

#![allow(dead_code, clippy::unwrap_used)]

pub mod lab;
pub mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::fabric_service_client::FabricServiceClient;
use weft_proto::v1::network_service_client::NetworkServiceClient;
use weft_proto::v1::operator_service_client::OperatorServiceClient;
use weftd::{Config, Running};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn two_racks() -> PathBuf {
    repo().join("topologies/two-racks.yaml")
}

pub fn two_racks_intent() -> PathBuf {
    repo().join("topologies/two-racks.intent.yaml")
}

pub fn config(dir: &Path, intent: bool, simulate: bool) -> Config {
    Config {
        topology: two_racks(),
        intent: intent.then(two_racks_intent),
        data_dir: dir.to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: None,
        simulate,
        server_names: Vec::new(),
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub running: Running,
}

impl Harness {
    /// A controller with the two-racks topology (and its intent when
    /// `intent`), simulated agents when `simulate`.
    pub async fn start(intent: bool, simulate: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let running = weftd::start(config(dir.path(), intent, simulate))
            .await
            .unwrap();
        Harness { dir, running }
    }

    pub fn endpoint(&self) -> String {
        format!("https://{}", self.running.addr)
    }

    pub fn pki(&self) -> &Pki {
        &self.running.pki
    }

    /// A channel authenticated as `p` (credentials issued on demand).
    pub async fn channel(&self, p: &Principal) -> Channel {
        connect(self.pki(), self.running.addr, p).await
    }

    /// A channel with no client certificate (server still verified).
    pub async fn anonymous(&self) -> Channel {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.pki().ca_cert_pem().unwrap()))
            .domain_name("localhost");
        Channel::from_shared(self.endpoint())
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn as_role(&self, role: Role, name: &str) -> Clients {
        Clients::new(self.channel(&Principal::new(role, name).unwrap()).await)
    }

    pub async fn admin(&self) -> Clients {
        self.as_role(Role::Admin, "admin").await
    }

    pub async fn operator(&self, name: &str) -> Clients {
        self.as_role(Role::Operator, name).await
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
    }
}

#[derive(Clone)]
pub struct Clients {
    pub ops: OperatorServiceClient<Channel>,
    pub nets: NetworkServiceClient<Channel>,
    pub fabric: FabricServiceClient<Channel>,
}

impl Clients {
    pub fn new(ch: Channel) -> Self {
        Clients {
            ops: OperatorServiceClient::new(ch.clone()),
            nets: NetworkServiceClient::new(ch.clone()),
            fabric: FabricServiceClient::new(ch),
        }
    }
}

/// A channel to the controller at `addr` authenticated as `p`, with
/// credentials from `pki` (issued on demand).
pub async fn connect(pki: &Pki, addr: SocketAddr, p: &Principal) -> Channel {
    let creds = pki.ensure_client(p).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&creds.ca).unwrap()))
        .identity(Identity::from_pem(
            std::fs::read(&creds.cert).unwrap(),
            std::fs::read(&creds.key).unwrap(),
        ))
        .domain_name("localhost");
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub fn rid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
