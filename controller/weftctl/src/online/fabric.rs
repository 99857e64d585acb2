//! `weftctl status`, `weftctl watch`, `weftctl topology apply|get`:
//! FabricService and NetworkService.Watch.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use weft_proto::v1::{
    ApplyTopologyRequest, GetFabricStatusRequest, GetTopologyRequest, WatchRequest,
};

use super::client::request_id;
use super::error::OnlineError;
use super::names::{operator_name, parse_operator};
use super::operator::missing;
use super::render::{self, Format};
use super::views::{ApplyView, FabricStatusView, PlanView, TopologyView, WatchEventView};
use super::{ConnArgs, MutateArgs, OutputArgs, settle};
use crate::exit::{ONLINE_EXIT_CODES_HELP, Outcome};
use crate::out::Out;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only this operator's slice (ID or operators/ID); everything when
    /// omitted (admins and auditors).
    operator: Option<String>,
    /// Only the changes after this revision (no initial list). A revision
    /// too old to replay is refused (exit 1): watch without it.
    #[arg(long, value_name = "REV")]
    resume: Option<u64>,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// The online topology commands, beside the offline `check` and `graph`.
#[derive(Debug, Subcommand)]
pub enum TopologyCommand {
    /// Replace the controller's topology (admins) and show the plan: what
    /// changes on each switch, and the isolation verdict.
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Apply(ApplyArgs),
    /// Show the controller's topology; --raw prints the file as loaded.
    #[command(after_help = ONLINE_EXIT_CODES_HELP)]
    Get(GetArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Topology file (YAML).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Only if the controller's topology still has this digest (`topology get`).
    #[arg(long)]
    etag: Option<String>,
    #[command(flatten)]
    mutate: MutateArgs,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Print the topology file exactly as the controller loaded it.
    #[arg(long, conflicts_with = "output")]
    raw: bool,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Exit 3 when the controller's verdict on the current tables is not
/// "isolated": `weftctl status` is the check a monitoring job runs.
pub async fn status(args: &StatusArgs, out: &mut Out) -> Result<Outcome, OnlineError> {
    let mut session = args.conn.session()?;
    let request = session.request(GetFabricStatusRequest {
        wait_for_revision: 0,
    });
    let response = session
        .fabric()
        .await?
        .get_fabric_status(request)
        .await?
        .into_inner();
    let view = FabricStatusView::from(&response);
    render::emit(out, args.output.output, &view, render::fabric_status)?;
    Ok(if view.isolated {
        Outcome::Ok
    } else {
        Outcome::Violation
    })
}

/// Runs until the stream ends or the command is interrupted; each event is
/// flushed as it comes, so `watch | grep` sees it at once.
pub async fn watch(args: &WatchArgs, out: &mut Out) -> Result<Outcome, OnlineError> {
    let parent = match &args.operator {
        Some(op) => operator_name(&parse_operator(op)?),
        None => String::new(),
    };
    let mut session = args.conn.session()?;
    // No deadline: a watch lasts as long as the caller wants it.
    let request = WatchRequest {
        parent,
        resume_revision: args.resume.unwrap_or(0),
    };
    let mut stream = session.networks().await?.watch(request).await?.into_inner();
    while let Some(event) = stream.message().await? {
        let view = WatchEventView::from(&event);
        let text = match args.output.output {
            Format::Table => render::watch_event(&view),
            // JSON lines: one compact object per event.
            Format::Json => {
                let mut line = serde_json::to_string(&view).map_err(std::io::Error::other)?;
                line.push('\n');
                line
            }
            Format::Yaml => format!(
                "---\n{}",
                serde_saphyr::to_string(&view).map_err(std::io::Error::other)?
            ),
        };
        out.data(&text)?;
        out.flush()?;
    }
    Err(OnlineError::Unavailable(
        "the controller closed the watch stream".into(),
    ))
}

pub async fn run_topology(
    command: &TopologyCommand,
    out: &mut Out,
) -> Result<Outcome, OnlineError> {
    match command {
        TopologyCommand::Apply(args) => apply(args, out).await,
        TopologyCommand::Get(args) => get(args, out).await,
    }
}

async fn apply(args: &ApplyArgs, out: &mut Out) -> Result<Outcome, OnlineError> {
    let yaml = std::fs::read_to_string(&args.file)
        .map_err(|e| OnlineError::Config(format!("cannot read {}: {e}", args.file.display())))?;
    let mut session = args.conn.session()?;
    let request = session.request(ApplyTopologyRequest {
        yaml,
        etag: args.etag.clone().unwrap_or_default(),
        request_id: request_id(),
        validate_only: args.mutate.validate_only,
    });
    let response = session
        .fabric()
        .await?
        .apply_topology(request)
        .await?
        .into_inner();
    let Some(plan) = &response.plan else {
        return Err(missing("a plan"));
    };
    let view = ApplyView {
        plan: PlanView::from(plan),
        revision: response.revision,
        validate_only: args.mutate.validate_only,
    };
    render::emit(out, args.output.output, &view, |v| {
        let mut text = render::plan(&v.plan);
        text.push_str(&if v.validate_only {
            "validate-only: nothing was changed\n".to_owned()
        } else {
            format!("applied at revision {}\n", v.revision)
        });
        text
    })?;
    out.flush()?;
    if !view.plan.isolated {
        // The controller refuses to store such a topology; with
        // --validate-only it may still answer with the plan.
        return Ok(Outcome::Violation);
    }
    settle(&mut session, out, response.revision, args.mutate).await
}

async fn get(args: &GetArgs, out: &mut Out) -> Result<Outcome, OnlineError> {
    let mut session = args.conn.session()?;
    let request = session.request(GetTopologyRequest {});
    let response = session
        .fabric()
        .await?
        .get_topology(request)
        .await?
        .into_inner();
    let view = TopologyView::from(&response);
    if args.raw {
        out.data(&view.yaml)?;
    } else {
        render::emit(out, args.output.output, &view, render::topology)?;
    }
    Ok(Outcome::Ok)
}
