//! `weftctl`: Weft's command-line tool.
//!
//! Offline commands for network engineers, over files: check topology and
//! intent files, plan and verify a fabric, draw it, generate big ones. They
//! share the controller's code paths (`weft-config` parsing, the
//! `weft-pipeline` compiler, the `weft-verifier` proof), so what passes
//! here passes there.
//!
//! Online commands ([`online`]) are a client of `weftd`: contexts,
//! operators, leases, networks, attachments, the topology, status and
//! watch. Exit codes are a contract: see [`exit`], `docs/weftctl.md` and
//! `docs/weftctl-online.md`.

mod check;
mod exit;
mod generate;
mod graph;
mod json;
mod lab;
mod load;
mod online;
mod out;
mod plan;
mod table;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

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
                  `topology check|graph`, `plan` and `generate` work offline, on files; \
                  the other commands talk to the controller, weftd (see `weftctl context`).",
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
    /// Check and draw topology (and intent) files; apply or get the controller's topology.
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
    /// Build a topology's fabric on this machine in network namespaces (root).
    Lab {
        #[command(subcommand)]
        command: lab::LabCommand,
    },
    #[command(flatten)]
    Online(online::Command),
    /// Print a shell completion script (e.g. `weftctl completions bash > /etc/bash_completion.d/weftctl`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum TopologyCommand {
    /// Validate topology and intent files; print every problem at once.
    #[command(after_help = check::CHECK_HELP)]
    Check(check::CheckArgs),
    /// Print the fabric as a Graphviz DOT graph (racks as clusters, ports coloured by operator).
    #[command(after_help = EXIT_CODES_HELP)]
    Graph(graph::GraphArgs),
    #[command(flatten)]
    Online(online::TopologyCommand),
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
        Command::Topology {
            command: TopologyCommand::Online(command),
        } => online::run_topology(command, &mut out),
        Command::Plan(args) => plan::run(args, &mut out),
        Command::Generate(args) => generate::run(args, &mut out),
        Command::Lab { command } => lab::run(command, &mut out),
        Command::Online(command) => online::run(command, &mut out),
        Command::Completions { shell } => completions(*shell, &mut out),
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

fn completions(shell: clap_complete::Shell, out: &mut Out) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "weftctl", &mut script);
    out.data(&String::from_utf8_lossy(&script))?;
    Ok(Outcome::Ok)
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
    use clap::Parser;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    fn parses(args: &[&str]) -> bool {
        super::Cli::try_parse_from(std::iter::once("weftctl").chain(args.iter().copied())).is_ok()
    }

    #[test]
    fn online_flags_go_before_or_after_the_verb() {
        assert!(parses(&[
            "operator",
            "list",
            "--endpoint",
            "https://h:1",
            "-o",
            "json"
        ]));
        assert!(parses(&["operator", "--context", "admin", "list"]));
        assert!(parses(&[
            "attach",
            "alpha/web",
            "rack1-leaf/eth1",
            "--tag",
            "100",
            "--no-wait"
        ]));
        assert!(parses(&[
            "topology",
            "apply",
            "f.yaml",
            "--validate-only",
            "--timeout",
            "5"
        ]));
        assert!(parses(&[
            "lease", "set", "alpha", "--port", "a/1,b/2", "--vni", "1-9"
        ]));
        assert!(parses(&["watch", "alpha", "--resume", "7", "-o", "json"]));
        assert!(parses(&[
            "context",
            "show",
            "--context",
            "admin",
            "-o",
            "yaml"
        ]));
        assert!(parses(&["completions", "zsh"]));
        // The offline commands keep their own -o.
        assert!(parses(&[
            "plan",
            "--topology",
            "t",
            "--intent",
            "i",
            "-o",
            "rules"
        ]));
        assert!(!parses(&[
            "attach",
            "alpha/web",
            "leaf/eth1",
            "--tag",
            "4095"
        ]));
        assert!(!parses(&["status", "--timeout", "0"]));
    }
}
