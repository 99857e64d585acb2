//! `weft-agent`: programs one leaf switch for a `weftd` controller.
//!
//! ```text
//! weft-agent --controller https://weftd.example:50051 --switch rack1-leaf \
//!            --pki /etc/weft/pki --backend ovs --ovs unix:/var/run/openvswitch/br-int.mgmt
//! weft-agent --controller https://weftd.example:50051 --switch rack2-leaf \
//!            --pki /etc/weft/pki --backend linux [--netns NAME]
//! weft-agent --controller https://w1:50051,https://w2:50051,https://w3:50051 ...
//! ```
//!
//! The agent's identity is `PKI/agent/SWITCH.pem` and `.key`; it trusts
//! `PKI/ca.pem` for the controller. Stopping the agent (SIGTERM, SIGINT or
//! SIGKILL) never removes data-plane state: the switch keeps forwarding.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use weft_agent::{AgentConfig, AgentTls, Backend, MemoryBackend};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendKind {
    /// Open vSwitch over OpenFlow 1.3.
    Ovs,
    /// The Linux kernel over rtnetlink (bridges, VXLAN, FDB) and nftables.
    Linux,
    /// In-memory: programs nothing (for trying the protocol).
    Memory,
}

#[derive(Debug, Parser)]
#[command(
    name = "weft-agent",
    version,
    about = "Weft switch agent: programs one leaf for weftd",
    // A flag given twice: the last one wins (a wrapper can append to a
    // launcher's arguments, e.g. a replica list after a single controller).
    args_override_self = true
)]
struct Args {
    /// The controller, `https://HOST:PORT`; for replicated controllers a
    /// comma-separated list of every replica (a follower sends the agent
    /// on to the leader).
    #[arg(long)]
    controller: String,
    /// The switch this agent programs, as named in the topology (and in
    /// its certificate).
    #[arg(long)]
    switch: String,
    /// Directory with `ca.pem` and `agent/SWITCH.pem`/`.key` (a weftd
    /// data directory's `pki/`).
    #[arg(long)]
    pki: PathBuf,
    /// The name the controller's certificate carries.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    #[arg(long, value_enum)]
    backend: BackendKind,
    /// `ovs`: the bridge's OpenFlow endpoint, `unix:PATH` (the bridge's
    /// `.mgmt` socket) or `tcp:HOST:PORT`.
    #[arg(long, required_if_eq("backend", "ovs"))]
    ovs: Option<String>,
    /// `linux`: the network namespace holding the switch's interfaces
    /// (default: the agent's own).
    #[arg(long)]
    netns: Option<String>,
    /// How often to re-read the data plane and repair differences.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    repair_interval: Duration,
    /// How often to report the read-back state to the controller unasked.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    report_interval: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 500ms, 2s, 1m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(format!("{s:?}: unit must be ms, s or m")),
    };
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

fn read(path: PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn config(a: &Args) -> Result<AgentConfig, String> {
    let agent = a.pki.join("agent");
    let mut c = AgentConfig::new(
        a.controller.clone(),
        a.switch.clone(),
        AgentTls {
            ca_pem: read(a.pki.join("ca.pem"))?,
            cert_pem: read(agent.join(format!("{}.pem", a.switch)))?,
            key_pem: read(agent.join(format!("{}.key", a.switch)))?,
            server_name: a.server_name.clone(),
        },
    );
    c.repair_interval = a.repair_interval;
    c.report_interval = a.report_interval;
    Ok(c)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Connects to the switch, retrying every 2 s while it is not there yet
/// (an agent may start before its switch). `None` when asked to stop.
async fn connect_ovs(target: weft_agent::ovs::OvsTarget) -> Option<weft_agent::ovs::OvsBackend> {
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        match weft_agent::ovs::OvsBackend::connect(target.clone()).await {
            Ok(b) => return Some(b),
            Err(e) => {
                tracing::warn!(%target, error = %e, "cannot reach Open vSwitch yet; retrying")
            }
        }
        tokio::select! {
            () = &mut stop => return None,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn serve<B: Backend>(config: AgentConfig, backend: B) {
    tracing::info!(switch = %config.switch, backend = backend.kind(), controller = %config.endpoints.join(","), "agent starting");
    weft_agent::run(config, backend, shutdown_signal(), None).await;
    tracing::info!("agent stopped; data plane left as installed");
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let a = Args::parse();
    let config = match config(&a) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = match a.backend {
        BackendKind::Memory => {
            serve(config, MemoryBackend::new()).await;
            Ok(())
        }
        BackendKind::Ovs => {
            let Some(target) = a.ovs.as_deref() else {
                return ExitCode::from(2);
            };
            match target.parse::<weft_agent::ovs::OvsTarget>() {
                Err(e) => Err(format!("--ovs {target}: {e}")),
                Ok(target) => match connect_ovs(target).await {
                    Some(backend) => {
                        serve(config, backend).await;
                        Ok(())
                    }
                    None => Ok(()),
                },
            }
        }
        BackendKind::Linux => {
            let linux = weft_agent::linux::LinuxConfig {
                netns: a.netns.clone(),
                ..Default::default()
            };
            match weft_agent::linux::LinuxBackend::new(linux) {
                Ok(backend) => {
                    serve(config, backend).await;
                    Ok(())
                }
                Err(e) => Err(format!("cannot open the Linux data plane: {e}")),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}
