//! The online commands: `weftctl` as a client of `weftd`'s gRPC API.
//!
//! They manage connection contexts, operators, leases, networks and
//! attachments, the topology, and show the fabric's programming status and
//! a stream of changes. Every mutation carries a fresh `request_id`, can be
//! `--validate-only`, and (unless `--no-wait`) waits until the switches have
//! programmed it. Also here, because they belong to the same workflow but
//! need no controller: `audit-log verify`, `audit verify`, contexts.
//!
//! This layer decides nothing about the fabric: names are checked for shape
//! only, and every verdict (valid, isolated, allowed) is the controller's.
//! Exit codes are mapped in [`error`], once; see `docs/weftctl-online.md`.

mod audit;
mod client;
mod context;
mod context_cmd;
mod error;
mod fabric;
mod names;
mod network;
mod operator;
mod render;
mod report;
mod views;
mod wait;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use self::client::Session;
use self::context::{ContextFile, Settings};
use self::error::OnlineError;
pub use self::fabric::TopologyCommand;
use self::render::Format;
use self::views::MutationView;
use crate::exit::{ONLINE_EXIT_CODES_HELP, Outcome};
use crate::out::Out;

/// How to reach the controller. Each setting falls back to the context
/// named by `--context`, then the environment, then the current context.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Use this context instead of the current one.
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
    /// Controller endpoint, e.g. https://127.0.0.1:50051 [env: WEFT_ENDPOINT].
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,
    /// CA certificate (PEM) that signed the controller's certificate [env: WEFT_CA].
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Client certificate (PEM): who you are to the controller [env: WEFT_CERT].
    #[arg(long, global = true, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Client private key (PEM) [env: WEFT_KEY].
    #[arg(long, global = true, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Name the controller's certificate must carry (default localhost) [env: WEFT_SERVER_NAME].
    #[arg(long, global = true, value_name = "NAME")]
    server_name: Option<String>,
    /// Deadline, in seconds, of each call and of the wait for the switches.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
}

impl ConnArgs {
    fn flags(&self) -> Settings {
        Settings {
            endpoint: self.endpoint.clone(),
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            server_name: self.server_name.clone(),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    /// Every layer of settings, resolved.
    fn resolved(&self) -> Result<(PathBuf, context::Resolved), OnlineError> {
        let path = context::config_path(|k| std::env::var_os(k))?;
        let file = ContextFile::load(&path)?;
        let env = Settings::from_env(|k| std::env::var_os(k));
        let layers = context::layers(self.flags(), self.context.as_deref(), &file, env)?;
        Ok((path, context::resolve(&layers)))
    }

    /// Resolves the settings now; connects on first use.
    fn session(&self) -> Result<Session, OnlineError> {
        let target = self.resolved()?.1.target()?;
        Ok(Session::new(target, self.timeout()))
    }
}

#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t,
        global = true
    )]
    output: Format,
}

/// Flags of every mutation that changes the data plane.
#[derive(Debug, Clone, Copy, Args)]
pub struct MutateArgs {
    /// Show what the change would do — per-switch entry deltas and the
    /// isolation verdict (FabricService.Plan) — without making it.
    #[arg(long, conflicts_with = "validate_only")]
    plan: bool,
    /// Check the change (the controller compiles and verifies it) without storing it.
    #[arg(long)]
    validate_only: bool,
    /// Return once the change is stored, without waiting for the switches to program it.
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connection contexts: which controller, with which certificate.
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Context {
        #[command(flatten)]
        output: OutputArgs,
        #[command(subcommand)]
        command: context_cmd::ContextCommand,
    },
    /// Operators (tenants renting part of the fabric).
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Operator {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(subcommand)]
        command: operator::OperatorCommand,
    },
    /// An operator's lease: ports, VNI (and VLAN) ranges, quotas.
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Lease {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(subcommand)]
        command: operator::LeaseCommand,
    },
    /// Networks in an operator's slice.
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Network {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(subcommand)]
        command: network::NetworkCommand,
    },
    /// Attach a leased port to a network (access, or tagged with --tag).
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Attach(network::AttachArgs),
    /// Detach a port from a network.
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Detach(network::DetachArgs),
    /// The fabric's programming status: revisions, epoch, isolation, every switch.
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Status(fabric::StatusArgs),
    /// Stream changes as they happen (after the existing resources).
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Watch(fabric::WatchArgs),
    /// Signed isolation reports (report, pubkey, usage) and their offline
    /// verification (verify).
    #[command(after_help = report::REPORT_HELP)]
    Audit {
        #[command(subcommand)]
        command: report::AuditCommand,
    },
    /// The controller's audit log (offline).
    #[command(after_help = audit::AUDIT_HELP)]
    AuditLog {
        #[command(subcommand)]
        command: audit::AuditLogCommand,
    },
}

pub fn run(command: &Command, out: &mut Out) -> anyhow::Result<Outcome> {
    let result = match command {
        Command::Context { output, command } => context_cmd::run(command, output.output, out),
        Command::AuditLog { command } => audit::run(command, out),
        Command::Audit { command } => match report::run_offline(command, out) {
            Some(result) => result,
            None => block_on(report::run(command, out)),
        },
        remote => block_on(run_remote(remote, out)),
    };
    finish(result, out)
}

pub fn run_topology(command: &TopologyCommand, out: &mut Out) -> anyhow::Result<Outcome> {
    let result = block_on(fabric::run_topology(command, out));
    finish(result, out)
}

async fn run_remote(command: &Command, out: &mut Out) -> Result<Outcome, OnlineError> {
    match command {
        Command::Operator {
            conn,
            output,
            command,
        } => operator::run_operator(command, &mut conn.session()?, output.output, out).await,
        Command::Lease {
            conn,
            output,
            command,
        } => operator::run_lease(command, &mut conn.session()?, output.output, out).await,
        Command::Network {
            conn,
            output,
            command,
        } => network::run(command, &mut conn.session()?, output.output, out).await,
        Command::Attach(args) => network::attach(args, out).await,
        Command::Detach(args) => network::detach(args, out).await,
        Command::Status(args) => fabric::status(args, out).await,
        Command::Watch(args) => fabric::watch(args, out).await,
        Command::Context { .. } | Command::AuditLog { .. } | Command::Audit { .. } => {
            Ok(Outcome::Ok)
        }
    }
}

/// A small runtime per invocation: one command, then exit.
fn block_on<F: Future<Output = Result<Outcome, OnlineError>>>(
    future: F,
) -> Result<Outcome, OnlineError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OnlineError::Config(format!("cannot start the async runtime: {e}")))?
        .block_on(future)
}

/// Reports a failure on stderr and turns it into its exit code; a failure
/// to write the output goes to `main`, which knows about broken pipes.
fn finish(result: Result<Outcome, OnlineError>, out: &mut Out) -> anyhow::Result<Outcome> {
    match result {
        Ok(outcome) => Ok(outcome),
        Err(OnlineError::Output(e)) => Err(e.into()),
        Err(e) => {
            for line in e.report() {
                out.error(&line)?;
            }
            Ok(e.outcome())
        }
    }
}

/// Prints what a mutation did, then waits for the switches to program it
/// (unless told not to, or nothing was stored).
/// `--plan`: the controller's plan for one change, instead of the change.
async fn plan_change(
    session: &mut Session,
    out: &mut Out,
    format: Format,
    change: weft_proto::v1::planned_change::Change,
) -> Result<Outcome, OnlineError> {
    use weft_proto::v1::{PlanRequest, PlannedChange};
    let request = session.request(PlanRequest {
        changes: vec![PlannedChange {
            change: Some(change),
        }],
    });
    let response = session.fabric().await?.plan(request).await?.into_inner();
    let plan = response.result.ok_or_else(|| operator::missing("a plan"))?;
    let view = views::PlanView::from(&plan);
    render::emit(out, format, &view, |v| {
        let mut text = render::plan(v);
        text.push_str("plan only: nothing was changed\n");
        text
    })?;
    out.flush()?;
    Ok(if view.isolated {
        Outcome::Ok
    } else {
        Outcome::Violation
    })
}

async fn after_mutation(
    session: &mut Session,
    out: &mut Out,
    format: Format,
    view: &MutationView,
    mutate: MutateArgs,
) -> Result<Outcome, OnlineError> {
    render::emit(out, format, view, render::mutation)?;
    out.flush()?;
    settle(session, out, view.revision, mutate).await
}

async fn settle(
    session: &mut Session,
    out: &mut Out,
    revision: u64,
    mutate: MutateArgs,
) -> Result<Outcome, OnlineError> {
    if mutate.validate_only || mutate.no_wait || revision == 0 {
        return Ok(Outcome::Ok);
    }
    let timeout = session.timeout;
    let p = wait::wait_for_revision(session, revision, timeout).await?;
    out.error(&format!(
        "programmed: revision {revision} is in force ({}/{} switches acknowledged)",
        p.done, p.total
    ))?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests;
