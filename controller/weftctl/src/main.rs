//! `weftctl`: Weft's command-line tool.
//!
//! Offline commands for network engineers, over files: check topology and
//! intent files, plan and verify a fabric, draw it, generate big ones. They
//! share the controller's code paths (`weft-config` parsing, the
//! `weft-pipeline` compiler, the `weft-verifier` proof), so what passes
//! here passes there. Exit codes are a contract: see [`exit`] and
//! `docs/weftctl.md`.

mod check;
mod exit;
mod generate;
mod graph;
mod json;
mod load;
mod out;
mod plan;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{EXIT_CODES_HELP, FAILURE, Outcome};
use crate::out::{ColorChoice, Out};

#[derive(Debug, Parser)]
#[command(
    name = "weftctl",
    version,
    about = "Weft's command-line tool: check, plan, verify and draw sliced fabrics",
    long_about = "Weft's command-line tool: check, plan, verify and draw sliced fabrics.\n\n\
                  Topology files (NAME.yaml) describe the physical fabric; intent files \
                  (NAME.intent.yaml) describe operators, leases, networks and attachments. \
                  All commands here work offline, on files.",
    after_help = EXIT_CODES_HELP,
    after_long_help = EXIT_CODES_HELP
)]
struct Cli {
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check and draw topology (and intent) files.
    Topology {
        #[command(subcommand)]
        command: TopologyCommand,
    },
    /// Compile an intent, verify isolation, and show what each switch gets (or what changes).
    #[command(after_help = plan::PLAN_HELP)]
    Plan(plan::PlanArgs),
    /// Generate a big fabric and intent (YAML files) for benchmarks and tests.
    #[command(after_help = EXIT_CODES_HELP)]
    Generate(generate::GenerateArgs),
}

#[derive(Debug, Subcommand)]
enum TopologyCommand {
    /// Validate topology and intent files; print every problem at once.
    #[command(after_help = check::CHECK_HELP)]
    Check(check::CheckArgs),
    /// Print the fabric as a Graphviz DOT graph (racks as clusters, ports coloured by operator).
    #[command(after_help = EXIT_CODES_HELP)]
    Graph(graph::GraphArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = Out::new(cli.color);
    let result = match &cli.command {
        Command::Topology {
            command: TopologyCommand::Check(args),
        } => check::run(args, &mut out),
        Command::Topology {
            command: TopologyCommand::Graph(args),
        } => graph::run(args, &mut out),
        Command::Plan(args) => plan::run(args, &mut out),
        Command::Generate(args) => generate::run(args, &mut out),
    };
    let result = result.and_then(|outcome| out.flush().map(|()| outcome).map_err(Into::into));
    match result {
        Ok(outcome) => outcome.into(),
        Err(err) if is_broken_pipe(&err) => {
            // `weftctl … | head`: the reader has what it wanted.
            Outcome::Ok.into()
        }
        Err(err) => {
            let _ = out.error(&format!("error: {err:#}"));
            ExitCode::from(FAILURE)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
