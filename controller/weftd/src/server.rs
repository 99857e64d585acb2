//! Parse → bind → spawn → drain: starting `weftd` and stopping it cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::agent_service_server::AgentServiceServer;
use weft_proto::v1::audit_service_server::AuditServiceServer;
use weft_proto::v1::fabric_service_server::FabricServiceServer;
use weft_proto::v1::network_service_server::NetworkServiceServer;
use weft_proto::v1::operator_service_server::OperatorServiceServer;
use weft_store::etcd::{Election, ElectionOptions, EtcdClient, EtcdConfig, EtcdStore};
use weft_store::{RedbStore, StoreOptions};

use crate::api::Api;
use crate::controller::Controller;
use crate::ha::StoreConfig;

/// Largest request the API decodes. Leases and topology files are the
/// biggest legitimate requests; 4 MiB leaves room for a large topology.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Concurrent requests served per connection; more wait.
pub const CONCURRENCY_PER_CONNECTION: usize = 64;
/// HTTP/2 streams per connection.
pub const MAX_STREAMS: u32 = 256;
/// Upper bound on any unary call, whatever deadline the client sets.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How to run `weftd`.
#[derive(Debug, Clone)]
pub struct Config {
    pub topology: PathBuf,
    pub intent: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `None`: no metrics endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// Run an in-memory agent per programmed switch.
    pub simulate: bool,
    /// Extra names (or addresses) for the server certificate.
    pub server_names: Vec<String>,
}

/// A running controller.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub controller: Arc<Controller>,
    pub pki: Pki,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops serving, lets open calls finish, stops simulated agents.
    pub async fn shutdown(self) {
        self.controller.close_streams();
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

pub(crate) async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|&s| s).await;
}

/// Loads state, binds the sockets and starts serving, on the embedded
/// store.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_with_store(config, StoreConfig::Embedded).await
}

/// The address followers name for this replica when `--advertise` is not
/// given: the bound one (a wildcard becomes loopback, which only works on
/// one machine; say `--advertise` in production).
fn default_advertise(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        tracing::warn!(
            %addr,
            "listening on a wildcard address without --advertise: followers will name 127.0.0.1 as this replica's address"
        );
        SocketAddr::from(([127, 0, 0, 1], addr.port())).to_string()
    } else {
        addr.to_string()
    }
}

/// [`start`] on the store `store_config` says: the embedded one, or an
/// etcd cluster shared with other replicas (see [`crate::ha`]).
pub async fn start_with_store(
    config: Config,
    store_config: StoreConfig,
) -> anyhow::Result<Running> {
    let yaml = std::fs::read_to_string(&config.topology)
        .with_context(|| format!("reading topology {}", config.topology.display()))?;
    let topo = weft_config::parse_topology(&config.topology.display().to_string(), &yaml)
        .map_err(|d| anyhow::anyhow!("{:?}", miette::Report::new(d)))?;
    let initial = match &config.intent {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading intent {}", path.display()))?;
            let intent = weft_config::parse_intent(&path.display().to_string(), &text, &topo)
                .map_err(|d| anyhow::anyhow!("{:?}", miette::Report::new(d)))?;
            Some(intent.to_spec(&topo))
        }
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // Bound first: a replica advertises the bound address.
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let audit_file = config.data_dir.join("audit.log");
    let (controller, replica) = match &store_config {
        StoreConfig::Embedded => {
            let store = Arc::new(RedbStore::open(&config.data_dir)?);
            let c = Controller::open(store, (topo, yaml), initial, audit_file)?;
            (Arc::new(c), None)
        }
        StoreConfig::Etcd(r) => {
            let etcd = EtcdConfig::from_url(&r.url)?;
            let advertise = r
                .advertise
                .clone()
                .unwrap_or_else(|| default_advertise(addr));
            let ttl = r.lease_ttl;
            let (client, election, store) = tokio::task::spawn_blocking(move || {
                let client = EtcdClient::connect(etcd)?;
                let election =
                    Election::start(&client, ElectionOptions::new(advertise).with_ttl(ttl))?;
                let store = EtcdStore::open(&client, election.fence(), StoreOptions::default())?;
                Ok::<_, weft_store::StoreError>((client, election, Arc::new(store)))
            })
            .await??;
            tracing::info!(
                store = client.location(),
                "replica of an etcd store; following until elected"
            );
            let c = Controller::open_replica(
                Arc::clone(&store) as Arc<dyn weft_store::Store>,
                (topo, yaml),
                initial,
                audit_file,
                election.fence(),
            )?;
            (Arc::new(c), Some((election, store)))
        }
    };
    let pki = Pki::bootstrap(&config.data_dir.join("pki"), &config.server_names)?;
    issue_credentials(&pki, &controller).await?;

    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    let server_creds = pki.server();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            std::fs::read(&server_creds.cert)?,
            std::fs::read(&server_creds.key)?,
        ))
        .client_ca_root(Certificate::from_pem(pki.ca_cert_pem()?))
        // Calls without a certificate get UNAUTHENTICATED from the API (and
        // an audit record) rather than a bare handshake failure; a
        // certificate from another CA still fails the handshake.
        .client_auth_optional(true);
    let report_key = crate::reports::load_or_create_key(&config.data_dir)?;
    let api = Api {
        c: Arc::clone(&controller),
        pki: Some(Arc::new(pki.clone())),
        report_key: Arc::new(report_key),
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    if replica.is_none() {
        health.set_serving::<OperatorServiceServer<Api>>().await;
        health.set_serving::<NetworkServiceServer<Api>>().await;
        health.set_serving::<FabricServiceServer<Api>>().await;
        health.set_serving::<AgentServiceServer<Api>>().await;
    }
    health.set_serving::<AuditServiceServer<Api>>().await;
    if let Some((election, store)) = replica {
        // The role machine reports the write services NOT_SERVING until
        // this replica leads.
        tasks.push(crate::ha::spawn_role_machine(
            Arc::clone(&controller),
            election,
            store,
            health.clone(),
            stop_rx.clone(),
        ));
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(weft_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(weft_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let router = Server::builder()
        .tls_config(tls)?
        .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
        .max_concurrent_streams(Some(MAX_STREAMS))
        .timeout(REQUEST_TIMEOUT)
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            OperatorServiceServer::new(api.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            NetworkServiceServer::new(api.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            FabricServiceServer::new(api.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            AuditServiceServer::new(api.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(AgentServiceServer::new(api).max_decoding_message_size(MAX_MESSAGE_BYTES));
    let serve_stop = stopped(stop_rx.clone());
    tasks.push(tokio::spawn(async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), serve_stop)
            .await
        {
            tracing::error!(error = %e, "gRPC server failed");
        }
    }));

    let metrics_addr = match config.metrics_listen {
        None => None,
        Some(a) => {
            let l = TcpListener::bind(a)
                .await
                .with_context(|| format!("binding metrics on {a}"))?;
            let bound = l.local_addr()?;
            let c = Arc::clone(&controller);
            let s = stopped(stop_rx.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = crate::metrics::serve(l, c, s).await {
                    tracing::error!(error = %e, "metrics server failed");
                }
            }));
            Some(bound)
        }
    };

    if config.simulate {
        let switches = controller.core.lock().await.topology.programmed_switches();
        for switch in switches {
            let cfg = crate::simulate::agent_config(&pki, addr, &switch)?;
            let s = stopped(stop_rx.clone());
            tasks.push(tokio::spawn(async move {
                weft_agent::run(cfg, weft_agent::MemoryBackend::new(), s, None).await;
            }));
        }
    }
    tracing::info!(%addr, epoch = controller.epoch(), leading = controller.leading(), "weftd serving");
    Ok(Running {
        addr,
        metrics_addr,
        controller,
        pki,
        stop,
        tasks,
    })
}

/// Credentials for the admin, an auditor, every operator and every agent,
/// so the quickstart works with no PKI set up by hand.
async fn issue_credentials(pki: &Pki, controller: &Controller) -> anyhow::Result<()> {
    let core = controller.core.lock().await;
    let mut principals = vec![
        Principal::new(Role::Admin, "admin")?,
        Principal::new(Role::Auditor, "auditor")?,
    ];
    for op in core.intent.operators.keys() {
        principals.push(Principal::new(Role::Operator, op.as_str())?);
    }
    for sw in core.topology.programmed_switches() {
        principals.push(Principal::new(Role::Agent, &sw)?);
    }
    for p in principals {
        pki.ensure_client(&p)?;
    }
    Ok(())
}

/// Runs until `shutdown` resolves (e.g. SIGINT/SIGTERM), then drains.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let running = start(config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
