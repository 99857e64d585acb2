//! `weftctl lab up|down|status|endpoint`: a topology's fabric on this
//! machine, in network namespaces, for trying Weft and for the end-to-end
//! tests. Needs root. The building is `weft-lab`'s; this is its front end.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use weft_lab::{AgentLaunch, Lab, LabSpec};

use crate::exit::Outcome;
use crate::load;
use crate::out::Out;

pub const LAB_HELP: &str = "\
The lab builds, on this machine (as root), for a vxlan topology file:
  * a namespace per leaf: `ovs` leaves run a private Open vSwitch (bridge br-int
    for Weft, br-phy for the VTEP), `linux` leaves are plain kernel namespaces;
  * an IP underlay joining every leaf's first uplink (namespace LAB-ul);
  * a namespace per server NIC, LAB-SERVER-NIC, address 10.200.N.1/16,
    cabled to its leaf port through an adapter (namespace LAB-srv);
  * an agent per leaf, pointed at a running weftd (unless --no-agents).
`weftctl lab endpoint` adds a tagged endpoint LAB-SERVER-NIC-TAG behind a NIC.
Everything is recorded in STATE_ROOT/LAB/state.json before it is made, so
`weftctl lab down` removes all of it, also after a crash.";

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build a topology's fabric in namespaces and start an agent per leaf.
    #[command(after_help = LAB_HELP)]
    Up(UpArgs),
    /// Remove everything a lab made (agents, Open vSwitch instances, namespaces).
    Down(NameArgs),
    /// Show a lab's leaves, NICs (namespace, address) and agents.
    Status(NameArgs),
    /// Add a tagged endpoint behind a NIC (its frames leave the NIC tagged).
    Endpoint(EndpointArgs),
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The topology file the lab was built from (names the lab after the fabric).
    #[arg(required_unless_present = "name")]
    pub file: Option<PathBuf>,
    /// The lab's name (default: the fabric's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Where labs keep their state.
    #[arg(long, default_value = weft_lab::lab::DEFAULT_STATE_ROOT)]
    pub state_root: PathBuf,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub lab: NameArgs,
    /// The controller the agents connect to.
    #[arg(long, default_value = "https://127.0.0.1:50051")]
    pub controller: String,
    /// The controller's PKI directory (weftd's `DATA_DIR/pki`).
    #[arg(long, default_value = "weft-data/pki")]
    pub pki: PathBuf,
    /// The `weft-agent` binary (default: next to weftctl, else on PATH).
    #[arg(long)]
    pub agent_bin: Option<PathBuf>,
    /// Build the fabric without agents.
    #[arg(long)]
    pub no_agents: bool,
    /// Extra argument for every agent (repeatable), e.g. `--agent-arg=--repair-interval=1s`.
    #[arg(long = "agent-arg", allow_hyphen_values = true)]
    pub agent_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EndpointArgs {
    #[command(flatten)]
    pub lab: NameArgs,
    /// The NIC, `SERVER/NIC` (e.g. `r1-srv1/eth0`).
    #[arg(long)]
    pub nic: String,
    /// The VLAN id the endpoint's frames carry on the NIC.
    #[arg(long)]
    pub tag: u16,
}

fn lab_name(args: &NameArgs, out: &mut Out) -> anyhow::Result<Option<String>> {
    if let Some(n) = &args.name {
        return Ok(Some(n.clone()));
    }
    let Some(file) = &args.file else {
        anyhow::bail!("give a topology file or --name");
    };
    Ok(load::topology(file, out)?.map(|t| t.name.to_string()))
}

fn agent_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("weft-agent")))
        .filter(|p| p.is_file());
    if let Some(p) = sibling {
        return Ok(p);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("weft-agent"))
                .find(|p| p.is_file())
        })
        .context("weft-agent not found next to weftctl or on PATH (build it: cargo build --release -p weft-agent, or pass --agent-bin)")
}

pub fn run(command: &LabCommand, out: &mut Out) -> anyhow::Result<Outcome> {
    if !weft_lab::is_root() {
        out.error("error: the lab creates network namespaces and needs root")?;
        return Ok(Outcome::Usage);
    }
    match command {
        LabCommand::Up(a) => up(a, out),
        LabCommand::Down(a) => {
            let Some(name) = lab_name(a, out)? else {
                return Ok(Outcome::Invalid);
            };
            if weft_lab::down(&name, &a.state_root)? {
                out.line(&format!("lab {name}: removed"))?;
            } else {
                out.line(&format!("lab {name}: not up, nothing to remove"))?;
            }
            Ok(Outcome::Ok)
        }
        LabCommand::Status(a) => {
            let Some(name) = lab_name(a, out)? else {
                return Ok(Outcome::Invalid);
            };
            let lab = Lab::load(&name, &a.state_root)?;
            status(&lab, out)?;
            Ok(Outcome::Ok)
        }
        LabCommand::Endpoint(a) => {
            let Some(name) = lab_name(&a.lab, out)? else {
                return Ok(Outcome::Invalid);
            };
            let mut lab = Lab::load(&name, &a.lab.state_root)?;
            let e = lab.tagged_endpoint(&a.nic, a.tag)?;
            out.line(&format!(
                "{} tag {}: namespace {}, {} {}/16",
                a.nic, a.tag, e.netns, e.iface, e.address
            ))?;
            Ok(Outcome::Ok)
        }
    }
}

fn up(a: &UpArgs, out: &mut Out) -> anyhow::Result<Outcome> {
    let Some(file) = &a.lab.file else {
        anyhow::bail!("`lab up` needs the topology file");
    };
    let Some(topology) = load::topology(file, out)? else {
        return Ok(Outcome::Invalid);
    };
    let agents = if a.no_agents {
        None
    } else {
        let pki = a.pki.canonicalize().with_context(|| {
            format!(
                "controller PKI {} (start weftd first, or pass --pki)",
                a.pki.display()
            )
        })?;
        Some(AgentLaunch {
            binary: agent_binary(a.agent_bin.as_deref())?,
            controller: a.controller.clone(),
            pki,
            extra_args: a.agent_args.clone(),
        })
    };
    let spec = LabSpec {
        name: a
            .lab
            .name
            .clone()
            .unwrap_or_else(|| topology.name.to_string()),
        topology,
        state_root: a.lab.state_root.clone(),
        agents,
    };
    let lab = Lab::up(&spec)?;
    status(&lab, out)?;
    out.line(&format!(
        "remove it with: weftctl lab down --name {}",
        spec.name
    ))?;
    Ok(Outcome::Ok)
}

fn status(lab: &Lab, out: &mut Out) -> anyhow::Result<()> {
    let s = lab.state();
    out.line(&format!(
        "lab {} (state in {})",
        s.name,
        lab.dir().display()
    ))?;
    for (name, leaf) in &s.leaves {
        let agent = match s.agents.get(name) {
            Some(p) if weft_lab::process::alive(p.pid) => {
                format!("agent pid {}, log {}", p.pid, p.log.display())
            }
            Some(p) => format!("agent pid {} NOT RUNNING, log {}", p.pid, p.log.display()),
            None => "no agent".into(),
        };
        out.line(&format!(
            "  leaf {name:<12} {:<5} netns {:<24} vtep {:<12} {agent}",
            leaf.dataplane, leaf.netns, leaf.vtep
        ))?;
        if let Some(dir) = &leaf.ovs_dir {
            out.line(&format!(
                "       ovs-ofctl -O OpenFlow13 dump-flows unix:{}",
                dir.join(format!("{}.mgmt", weft_lab::lab::WEFT_BRIDGE))
                    .display()
            ))?;
        }
    }
    for (key, nic) in &s.nics {
        out.line(&format!(
            "  nic  {key:<14} {}/{:<6} netns {:<26} {} {}/16",
            nic.leaf, nic.leaf_port, nic.netns, nic.iface, nic.address
        ))?;
        for (tag, e) in &nic.endpoints {
            out.line(&format!(
                "       tag {tag:<5} netns {:<26} {} {}/16",
                e.netns, e.iface, e.address
            ))?;
        }
    }
    Ok(())
}
