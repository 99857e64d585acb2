//! `weftd`: see the crate docs and `docs/weftd.md`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// The Weft controller.
#[derive(Debug, Parser)]
#[command(name = "weftd", version, about)]
struct Args {
    /// The fabric's topology file (YAML).
    #[arg(long)]
    topology: PathBuf,
    /// Intent to load into an empty store (operators, leases, networks).
    #[arg(long)]
    intent: Option<PathBuf>,
    /// Where the store, the audit log and the local PKI live.
    #[arg(long, default_value = "weft-data")]
    data_dir: PathBuf,
    /// The gRPC (mTLS) address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// The Prometheus metrics address (plain HTTP, GET /metrics).
    #[arg(long, default_value = "127.0.0.1:9464")]
    metrics_listen: SocketAddr,
    /// Run an in-memory agent per leaf switch (no switches needed).
    #[arg(long)]
    simulate: bool,
    /// Extra DNS names or IP addresses for the server certificate.
    #[arg(long = "server-name")]
    server_names: Vec<String>,
    /// Where intent lives: `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` runs
    /// this process as one replica of several on an etcd cluster (leader
    /// election, fenced writes; see docs/ha.md). Default: the embedded
    /// store in --data-dir.
    #[arg(long)]
    store: Option<String>,
    /// With an etcd store: the HOST:PORT other replicas tell clients and
    /// agents to reach this one at (default: the bound --listen address).
    #[arg(long, requires = "store")]
    advertise: Option<String>,
    /// With an etcd store: the leader lease's TTL in whole seconds; a
    /// leader that dies is replaced after about this long.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    lease_ttl: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let a = Args::parse();
    let config = weftd::Config {
        topology: a.topology,
        intent: a.intent,
        data_dir: a.data_dir.clone(),
        listen: a.listen,
        metrics_listen: Some(a.metrics_listen),
        simulate: a.simulate,
        server_names: a.server_names,
    };
    let store = match a.store {
        None => weftd::ha::StoreConfig::Embedded,
        Some(url) if url.starts_with("etcd://") => {
            weftd::ha::StoreConfig::Etcd(weftd::ha::EtcdReplica {
                url,
                advertise: a.advertise,
                lease_ttl: std::time::Duration::from_secs(a.lease_ttl),
            })
        }
        Some(other) => anyhow::bail!(
            "--store {other:?}: expected etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (omit --store for the embedded store)"
        ),
    };
    let running = weftd::start_with_store(config, store).await?;
    let pki = a.data_dir.join("pki");
    tracing::info!(
        "credentials in {}: ca.pem, admin/admin.pem, auditor/auditor.pem, operator/NAME.pem (see docs/weftd.md)",
        pki.display()
    );
    shutdown_signal().await;
    tracing::info!("signal received; draining");
    running.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
