//! `weftctl topology check FILE...`: validate topology and intent files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use weft_model::{AttachMode, Encapsulation, Intent, PortRole, SwitchRole, Topology};

use crate::exit::Outcome;
use crate::load;
use crate::out::Out;

pub const CHECK_HELP: &str = "\
Files ending in .intent.yaml are intent files: each is checked against the
topology beside it (NAME.intent.yaml -> NAME.yaml) unless --topology is given.
Valid files get a one-line summary on stdout; problems go to stderr, every one
of them, with file:line:col, the offending text and a hint.

Exit codes:
  0  every file is valid
  1  some file is invalid or unreadable (all diagnostics are printed)
  2  usage error";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Topology files (NAME.yaml) and intent files (NAME.intent.yaml).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Topology file to check every intent file against.
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
}

pub fn run(args: &CheckArgs, out: &mut Out) -> anyhow::Result<Outcome> {
    // Each topology is parsed once, whether checked itself or used by intents.
    let mut topologies: BTreeMap<PathBuf, Option<Topology>> = BTreeMap::new();
    let mut outcome = Outcome::Ok;
    let mut invalid = 0usize;
    for file in &args.files {
        let valid = if load::is_intent_file(file) {
            let Some(topo_path) = args
                .topology
                .clone()
                .or_else(|| load::sibling_topology(file))
            else {
                out.error(&format!("error: no topology for {}", file.display()))?;
                invalid += 1;
                continue;
            };
            if !topologies.contains_key(&topo_path) {
                let t = load::topology(&topo_path, out)?;
                topologies.insert(topo_path.clone(), t);
            }
            match &topologies[&topo_path] {
                None => {
                    out.error(&format!(
                        "error: cannot check {}: its topology {} is invalid",
                        file.display(),
                        topo_path.display()
                    ))?;
                    false
                }
                Some(topology) => match load::intent(file, topology, out)? {
                    Some(intent) => {
                        out.line(&format!(
                            "ok  {}  {}",
                            file.display(),
                            intent_summary(&intent, topology)
                        ))?;
                        true
                    }
                    None => false,
                },
            }
        } else {
            if !topologies.contains_key(file) {
                let t = load::topology(file, out)?;
                topologies.insert(file.clone(), t);
            }
            match &topologies[file] {
                Some(topology) => {
                    out.line(&format!(
                        "ok  {}  {}",
                        file.display(),
                        topology_summary(topology)
                    ))?;
                    true
                }
                None => false,
            }
        };
        if !valid {
            invalid += 1;
            outcome = outcome.max(Outcome::Invalid);
        }
    }
    if invalid > 0 {
        out.error(&format!(
            "{invalid} of {} file(s) invalid",
            args.files.len()
        ))?;
        outcome = Outcome::Invalid;
    }
    Ok(outcome)
}

pub fn topology_summary(t: &Topology) -> String {
    let leaves = t
        .switches
        .iter()
        .filter(|s| s.role == SwitchRole::Leaf)
        .count();
    let spines = t.switches.len() - leaves;
    let server_ports = t
        .switches
        .iter()
        .flat_map(|s| &s.ports)
        .filter(|p| p.role == PortRole::Server)
        .count();
    let encap = match t.encapsulation {
        Encapsulation::Vxlan => "vxlan",
        Encapsulation::Vlan => "vlan",
    };
    format!(
        "fabric {} ({encap}): {} switches ({leaves} leaves, {spines} spines), {server_ports} server ports, {} links, {} servers",
        t.name,
        t.switches.len(),
        t.links.len(),
        t.servers.len()
    )
}

pub fn intent_summary(intent: &Intent, t: &Topology) -> String {
    let networks: usize = intent.operators.values().map(|o| o.networks.len()).sum();
    let (attachments, tagged) = intent
        .attachments()
        .fold((0, 0), |(a, g), (_, _, _, mode)| {
            (
                a + 1,
                g + usize::from(matches!(mode, AttachMode::Tagged(_))),
            )
        });
    let leased: usize = intent
        .operators
        .values()
        .filter_map(|o| o.lease.as_ref())
        .map(|l| l.ports.len())
        .sum();
    format!(
        "intent for fabric {}: {} operators, {leased} leased ports, {networks} networks, {attachments} attachments ({tagged} tagged)",
        t.name,
        intent.operators.len()
    )
}
