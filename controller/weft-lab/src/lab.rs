//! A whole fabric on one machine, built from a topology file.
//!
//! ```text
//!                  <lab>-ul: Linux bridge "ul" (the IP underlay, plain L2)
//!                    │ p0            │ p1
//!             up1 ───┘               └─── up1
//!   <lab>-rack1-leaf (ovs)        <lab>-rack2-leaf (linux)
//!   ovs-vswitchd: br-int (Weft)   kernel: bridges/VXLAN made by the agent
//!                 br-phy (VTEP)   VTEP address on up1
//!   eth1 … eth4                   eth1 … eth4
//!     │                             │
//!   <lab>-srv: ovs-vswitchd, one bridge per server NIC ("the NIC's
//!   adapter": passes untagged frames, and pushes/pops the tag of each
//!   tagged endpoint, since this kernel has no 802.1Q)
//!     │                             │
//!   <lab>-r1-srv1-eth0 …          <lab>-r2-srv1-eth0 …   (one namespace per NIC)
//!   <lab>-r1-srv1-eth0-100 …                             (tagged endpoints, on demand)
//! ```
//!
//! Everything is written to the lab's state file *before* it is made, so
//! [`down`] removes all of it even after a crash half-way through `up`.
//! Only `vxlan` fabrics are supported: a `vlan` fabric needs programmed
//! spines, which the lab does not build.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_model::topology::{Dataplane, Encapsulation, PortRole, SwitchRole, Topology};

use crate::cmd::{LabError, Result, run};
use crate::netns::{self, Netns};
use crate::ovs::{Datapath, OvsInstance};
use crate::process;

/// The bridge Weft's agent programs on an `ovs` leaf.
pub const WEFT_BRIDGE: &str = "br-int";
/// The bridge holding an `ovs` leaf's VTEP address and uplink.
pub const UNDERLAY_BRIDGE: &str = "br-phy";
/// The OpenFlow port of the VXLAN tunnel (see docs/pipeline.md).
pub const TUNNEL_PORT: u32 = 65000;
/// Where labs keep their state unless told otherwise.
pub const DEFAULT_STATE_ROOT: &str = "/run/weft-lab";

/// How to start an agent per leaf.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentLaunch {
    /// The `weft-agent` binary.
    pub binary: PathBuf,
    /// `https://HOST:PORT` of the controller.
    pub controller: String,
    /// The controller's PKI directory (`DATA_DIR/pki`): `ca.pem`,
    /// `agent/SWITCH.pem`, `agent/SWITCH.key`.
    pub pki: PathBuf,
    /// Further arguments for every agent (e.g. `--repair-interval 1s`).
    pub extra_args: Vec<String>,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct LabSpec {
    /// Prefix of every namespace; a DNS label, short (≤ 20 bytes).
    pub name: String,
    pub topology: Topology,
    /// The lab's state lives in `STATE_ROOT/NAME`.
    pub state_root: PathBuf,
    pub agents: Option<AgentLaunch>,
}

/// A leaf as built.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeafInfo {
    pub netns: String,
    pub dataplane: String,
    pub vtep: Ipv4Addr,
    /// `ovs` leaves: the instance directory (sockets, logs).
    pub ovs_dir: Option<PathBuf>,
}

/// A server NIC as built: its namespace and untagged address.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NicInfo {
    pub server: String,
    pub nic: String,
    pub leaf: String,
    pub leaf_port: String,
    pub netns: String,
    pub iface: String,
    pub address: Ipv4Addr,
    /// Index of the NIC, naming its adapter bridge `s<index>`.
    pub index: u32,
    /// Tagged endpoints made so far: tag → (namespace, address).
    pub endpoints: BTreeMap<u16, Endpoint>,
}

/// An IP endpoint in its own namespace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    pub netns: String,
    pub iface: String,
    pub address: Ipv4Addr,
}

/// An agent process the lab started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentProc {
    pub pid: u32,
    pub log: PathBuf,
    pub argv: Vec<String>,
}

/// Everything a lab made, written before it is made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LabState {
    pub name: String,
    pub namespaces: Vec<String>,
    pub ovs_dirs: Vec<PathBuf>,
    pub leaves: BTreeMap<String, LeafInfo>,
    /// Keyed `SERVER/NIC`.
    pub nics: BTreeMap<String, NicInfo>,
    pub agents: BTreeMap<String, AgentProc>,
    pub agent_launch: Option<AgentLaunch>,
    /// The servers' adapter Open vSwitch.
    pub servers_ovs: Option<PathBuf>,
}

/// A running lab. Dropping it leaves everything in place (`down` removes
/// it); tests wrap it in a guard that calls [`Lab::down`].
#[derive(Debug)]
pub struct Lab {
    dir: PathBuf,
    state: LabState,
    children: BTreeMap<u32, Child>,
}

/// The underlay: every leaf's VTEP on its uplink, in one prefix holding
/// them all; the underlay bridge carries ARP and VXLAN between them.
fn vteps(topo: &Topology) -> Vec<(String, Ipv4Addr)> {
    topo.switches
        .iter()
        .filter(|s| s.role == SwitchRole::Leaf)
        .filter_map(|s| s.vtep.map(|v| (s.name.to_string(), v)))
        .collect()
}

fn check_iface(name: &str, what: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 || name.contains('/') || name.contains(' ') {
        return Err(LabError::Setup(format!(
            "{what} {name:?} is not a usable Linux interface name (1-15 bytes, no '/' or space)"
        )));
    }
    Ok(())
}

fn check_spec(spec: &LabSpec) -> Result<()> {
    let n = &spec.name;
    if n.is_empty()
        || n.len() > 20
        || !n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(LabError::Setup(format!(
            "lab name {n:?}: use 1-20 lowercase letters, digits and '-'"
        )));
    }
    if spec.topology.encapsulation != Encapsulation::Vxlan {
        return Err(LabError::Setup(
            "the lab builds vxlan fabrics only (a vlan fabric needs programmed spines)".into(),
        ));
    }
    for s in spec
        .topology
        .switches
        .iter()
        .filter(|s| s.role == SwitchRole::Leaf)
    {
        if s.vtep.is_none() {
            return Err(LabError::Setup(format!("leaf {} has no vtep", s.name)));
        }
        if !s
            .ports
            .iter()
            .any(|p| p.role == PortRole::Fabric && p.peer.is_some())
        {
            return Err(LabError::Setup(format!(
                "leaf {} has no cabled uplink",
                s.name
            )));
        }
        for p in &s.ports {
            check_iface(p.name.as_str(), &format!("port {}/{}", s.name, p.name))?;
        }
    }
    for srv in &spec.topology.servers {
        for nic in &srv.nics {
            check_iface(nic.name.as_str(), &format!("NIC {}/{}", srv.name, nic.name))?;
        }
    }
    Ok(())
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

impl Lab {
    fn save(&self) -> Result<()> {
        let text = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| LabError::Setup(format!("cannot encode lab state: {e}")))?;
        let tmp = self.dir.join("state.json.tmp");
        std::fs::write(&tmp, text).map_err(|e| LabError::io("writing lab state", e))?;
        std::fs::rename(&tmp, state_file(&self.dir))
            .map_err(|e| LabError::io("writing lab state", e))
    }

    /// Records a namespace, then creates it.
    fn netns(&mut self, name: String) -> Result<()> {
        self.state.namespaces.push(name.clone());
        self.save()?;
        let ns = Netns::create(&name)?;
        // No IPv6: its router and neighbour solicitations would add
        // traffic (and flow counts) that nobody asked for.
        ns.exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ])?;
        ns.keep();
        Ok(())
    }

    fn ovs(&mut self, dir: PathBuf, ns: &str) -> Result<OvsInstance> {
        self.state.ovs_dirs.push(dir.clone());
        self.save()?;
        OvsInstance::start(&dir, Some(ns), Datapath::Netdev)
    }

    /// Builds the lab. On failure, removes whatever was made.
    pub fn up(spec: &LabSpec) -> Result<Lab> {
        check_spec(spec)?;
        let dir = spec.state_root.join(&spec.name);
        if state_file(&dir).exists() {
            return Err(LabError::Setup(format!(
                "lab {} is already up (state in {}); run `weftctl lab down` first",
                spec.name,
                dir.display()
            )));
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| LabError::io(format!("cannot create {}", dir.display()), e))?;
        let mut lab = Lab {
            dir: dir.clone(),
            state: LabState {
                name: spec.name.clone(),
                agent_launch: spec.agents.clone(),
                ..LabState::default()
            },
            children: BTreeMap::new(),
        };
        lab.save()?;
        match lab.build(spec) {
            Ok(()) => Ok(lab),
            Err(e) => {
                if let Err(cleanup) = lab.teardown() {
                    tracing::warn!(error = %cleanup, "cleaning up a failed lab");
                }
                Err(e)
            }
        }
    }

    fn build(&mut self, spec: &LabSpec) -> Result<()> {
        let topo = &spec.topology;
        let name = spec.name.clone();
        let ul = format!("{name}-ul");
        self.netns(ul.clone())?;
        run("ip", &["-n", &ul, "link", "add", "ul", "type", "bridge"])?;
        run("ip", &["-n", &ul, "link", "set", "ul", "up"])?;
        let all_vteps = vteps(topo);

        // Leaves: namespace, uplink into the underlay, VTEP address.
        let leaves: Vec<_> = topo
            .switches
            .iter()
            .filter(|s| s.role == SwitchRole::Leaf)
            .collect();
        for (i, leaf) in leaves.iter().enumerate() {
            let ns = format!("{name}-{}", leaf.name);
            self.netns(ns.clone())?;
            let uplink = leaf
                .ports
                .iter()
                .find(|p| p.role == PortRole::Fabric && p.peer.is_some())
                .ok_or_else(|| LabError::Setup(format!("leaf {} has no uplink", leaf.name)))?;
            let peer = format!("p{i}");
            veth(&ns, uplink.name.as_str(), &ul, &peer)?;
            run("ip", &["-n", &ul, "link", "set", &peer, "master", "ul"])?;
            let vtep = leaf.vtep.ok_or_else(|| LabError::Setup("no vtep".into()))?;
            self.state.leaves.insert(
                leaf.name.to_string(),
                LeafInfo {
                    netns: ns.clone(),
                    dataplane: match leaf.dataplane {
                        Dataplane::Ovs => "ovs".into(),
                        Dataplane::Linux => "linux".into(),
                    },
                    vtep,
                    ovs_dir: None,
                },
            );
            self.save()?;
        }

        // Server NICs: leaf port ↔ adapter bridge ↔ NIC namespace.
        let srv_ns = format!("{name}-srv");
        self.netns(srv_ns.clone())?;
        let srv_dir = self.dir.join("ovs-srv");
        self.state.servers_ovs = Some(srv_dir.clone());
        let servers_ovs = self.ovs(srv_dir, &srv_ns)?.keep();
        let servers_ovs = OvsInstance::attach(&servers_ovs, Some(&srv_ns));
        let mut index = 0u32;
        for server in &topo.servers {
            for nic in &server.nics {
                let leaf = topo.switch(nic.port.switch);
                let port = leaf
                    .port(nic.port.port)
                    .ok_or_else(|| LabError::Setup("NIC on an unknown port".into()))?;
                let leaf_ns = format!("{name}-{}", leaf.name);
                let nic_ns = format!("{name}-{}-{}", server.name, nic.name);
                self.netns(nic_ns.clone())?;
                let up = format!("n{index}");
                let down = format!("u{index}");
                veth(&leaf_ns, port.name.as_str(), &srv_ns, &up)?;
                veth(&srv_ns, &down, &nic_ns, nic.name.as_str())?;
                let address = Ipv4Addr::new(10, 200, octet(index)?, 1);
                run(
                    "ip",
                    &[
                        "-n",
                        &nic_ns,
                        "addr",
                        "add",
                        &format!("{address}/16"),
                        "dev",
                        nic.name.as_str(),
                    ],
                )?;
                let bridge = format!("s{index}");
                servers_ovs.add_bridge(&bridge)?;
                servers_ovs.add_port(&bridge, &up, 1, &[])?;
                servers_ovs.add_port(&bridge, &down, 2, &[])?;
                // Everything passes unchanged between the NIC and the leaf
                // (so raw tagged frames sent from the NIC reach the leaf as
                // they are); tagged endpoints get higher-priority rules.
                servers_ovs.ofctl(
                    "add-flow",
                    &bridge,
                    &["priority=10,in_port=1,actions=output:2"],
                )?;
                servers_ovs.ofctl(
                    "add-flow",
                    &bridge,
                    &["priority=10,in_port=2,actions=output:1"],
                )?;
                self.state.nics.insert(
                    format!("{}/{}", server.name, nic.name),
                    NicInfo {
                        server: server.name.to_string(),
                        nic: nic.name.to_string(),
                        leaf: leaf.name.to_string(),
                        leaf_port: port.name.to_string(),
                        netns: nic_ns,
                        iface: nic.name.to_string(),
                        address,
                        index,
                        endpoints: BTreeMap::new(),
                    },
                );
                self.save()?;
                index += 1;
            }
        }

        // Unused server ports still exist on the leaf (as a veth to nowhere
        // would be pointless: they are simply absent); bring every leaf
        // port that exists up.
        for leaf in &leaves {
            let ns = format!("{name}-{}", leaf.name);
            let vtep = leaf.vtep.ok_or_else(|| LabError::Setup("no vtep".into()))?;
            let uplink = leaf
                .ports
                .iter()
                .find(|p| p.role == PortRole::Fabric && p.peer.is_some())
                .map(|p| p.name.to_string())
                .unwrap_or_default();
            match leaf.dataplane {
                Dataplane::Linux => {
                    ip_addr_routes(&ns, &uplink, vtep, &all_vteps)?;
                }
                Dataplane::Ovs => {
                    let dir = self.dir.join(format!("ovs-{}", leaf.name));
                    let ovs = self.ovs(dir.clone(), &ns)?.keep();
                    let ovs = OvsInstance::attach(&ovs, Some(&ns));
                    if let Some(info) = self.state.leaves.get_mut(leaf.name.as_str()) {
                        info.ovs_dir = Some(dir);
                    }
                    self.save()?;
                    ovs.add_bridge(WEFT_BRIDGE)?;
                    for p in leaf.ports.iter().filter(|p| p.role == PortRole::Server) {
                        if link_exists(&ns, p.name.as_str()) {
                            ovs.add_port(WEFT_BRIDGE, p.name.as_str(), p.number.get(), &[])?;
                        }
                    }
                    let local = format!("options:local_ip={vtep}");
                    ovs.add_port(
                        WEFT_BRIDGE,
                        "vxlan0",
                        TUNNEL_PORT,
                        &[
                            "type=vxlan",
                            "options:remote_ip=flow",
                            "options:key=flow",
                            local.as_str(),
                        ],
                    )?;
                    // The underlay bridge: standalone (plain L2 learning),
                    // the uplink, and the VTEP address on its own port.
                    ovs.vsctl(&[
                        "add-br",
                        UNDERLAY_BRIDGE,
                        "--",
                        "set",
                        "bridge",
                        UNDERLAY_BRIDGE,
                        "datapath_type=netdev",
                    ])?;
                    ovs.vsctl(&["add-port", UNDERLAY_BRIDGE, &uplink])?;
                    wait_link(&ns, UNDERLAY_BRIDGE)?;
                    ip_addr_routes(&ns, UNDERLAY_BRIDGE, vtep, &all_vteps)?;
                }
            }
        }
        if let Some(launch) = spec.agents.clone() {
            for leaf in leaves {
                self.start_agent_with(&launch, leaf.name.as_str())?;
            }
        }
        Ok(())
    }

    /// Loads a lab that is up.
    pub fn load(name: &str, state_root: &Path) -> Result<Lab> {
        let dir = state_root.join(name);
        let text = std::fs::read(state_file(&dir)).map_err(|e| {
            LabError::io(
                format!("lab {name} is not up (no {})", state_file(&dir).display()),
                e,
            )
        })?;
        let state: LabState = serde_json::from_slice(&text)
            .map_err(|e| LabError::Setup(format!("lab state of {name} is unreadable: {e}")))?;
        Ok(Lab {
            dir,
            state,
            children: BTreeMap::new(),
        })
    }

    pub fn state(&self) -> &LabState {
        &self.state
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn nic(&self, key: &str) -> Result<&NicInfo> {
        self.state
            .nics
            .get(key)
            .ok_or_else(|| LabError::Setup(format!("no NIC {key} in the lab")))
    }

    pub fn leaf(&self, switch: &str) -> Result<&LeafInfo> {
        self.state
            .leaves
            .get(switch)
            .ok_or_else(|| LabError::Setup(format!("no leaf {switch} in the lab")))
    }

    /// The Open vSwitch of an `ovs` leaf (not stopped when dropped).
    pub fn leaf_ovs(&self, switch: &str) -> Result<OvsInstance> {
        let leaf = self.leaf(switch)?;
        let dir = leaf
            .ovs_dir
            .as_ref()
            .ok_or_else(|| LabError::Setup(format!("leaf {switch} is not an ovs leaf")))?;
        Ok(OvsInstance::attach(dir, Some(&leaf.netns)))
    }

    /// The untagged endpoint of a NIC.
    pub fn endpoint(&self, key: &str) -> Result<Endpoint> {
        let nic = self.nic(key)?;
        Ok(Endpoint {
            netns: nic.netns.clone(),
            iface: nic.iface.clone(),
            address: nic.address,
        })
    }

    /// A tagged endpoint of a NIC: a namespace whose frames leave the NIC
    /// tagged `tag` (the NIC's adapter pushes and pops the tag). Made on
    /// first use.
    pub fn tagged_endpoint(&mut self, key: &str, tag: u16) -> Result<Endpoint> {
        if !(1..=4094).contains(&tag) {
            return Err(LabError::Setup(format!("tag {tag} is not a VLAN id")));
        }
        let nic = self.nic(key)?.clone();
        if let Some(e) = nic.endpoints.get(&tag) {
            return Ok(e.clone());
        }
        let ns = format!("{}-{tag}", nic.netns);
        let iface = format!("v{tag}");
        let host = octet(u32::try_from(nic.endpoints.len()).unwrap_or(250) + 2)?;
        let address = Ipv4Addr::new(10, 200, octet(nic.index)?, host);
        let endpoint = Endpoint {
            netns: ns.clone(),
            iface: iface.clone(),
            address,
        };
        self.netns(ns.clone())?;
        if let Some(n) = self.state.nics.get_mut(key) {
            n.endpoints.insert(tag, endpoint.clone());
        }
        self.save()?;
        let srv_ns = format!("{}-srv", self.state.name);
        let side = format!("t{}v{tag}", nic.index);
        veth(&srv_ns, &side, &ns, &iface)?;
        run(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/16"),
                "dev",
                &iface,
            ],
        )?;
        let ovs = self.servers_ovs()?;
        let bridge = format!("s{}", nic.index);
        let ofport = 100 + u32::from(tag);
        ovs.add_port(&bridge, &side, ofport, &[])?;
        ovs.ofctl(
            "add-flow",
            &bridge,
            &[&format!(
                "priority=20,in_port=1,dl_vlan={tag},actions=pop_vlan,output:{ofport}"
            )],
        )?;
        ovs.ofctl(
            "add-flow",
            &bridge,
            &[&format!(
                "priority=20,in_port={ofport},actions=push_vlan:0x8100,set_field:{}->vlan_vid,output:1",
                u32::from(tag) | 0x1000
            )],
        )?;
        Ok(endpoint)
    }

    fn servers_ovs(&self) -> Result<OvsInstance> {
        let dir = self
            .state
            .servers_ovs
            .as_ref()
            .ok_or_else(|| LabError::Setup("the lab has no server adapters".into()))?;
        Ok(OvsInstance::attach(
            dir,
            Some(&format!("{}-srv", self.state.name)),
        ))
    }

    /// Starts (or restarts) the agent of `switch` with the lab's launch
    /// settings.
    pub fn start_agent(&mut self, switch: &str) -> Result<u32> {
        let launch = self
            .state
            .agent_launch
            .clone()
            .ok_or_else(|| LabError::Setup("the lab was started without agents".into()))?;
        self.start_agent_with(&launch, switch)
    }

    fn start_agent_with(&mut self, launch: &AgentLaunch, switch: &str) -> Result<u32> {
        if let Some(old) = self.state.agents.get(switch)
            && process::alive(old.pid)
        {
            return Err(LabError::Setup(format!(
                "the agent of {switch} is running (pid {})",
                old.pid
            )));
        }
        let leaf = self.leaf(switch)?.clone();
        let mut argv: Vec<String> = vec![
            "--controller".into(),
            launch.controller.clone(),
            "--switch".into(),
            switch.into(),
            "--pki".into(),
            launch.pki.display().to_string(),
        ];
        match &leaf.ovs_dir {
            Some(dir) => argv.extend([
                "--backend".into(),
                "ovs".into(),
                "--ovs".into(),
                format!("unix:{}", dir.join(format!("{WEFT_BRIDGE}.mgmt")).display()),
            ]),
            None => argv.extend([
                "--backend".into(),
                "linux".into(),
                "--netns".into(),
                leaf.netns.clone(),
            ]),
        }
        argv.extend(launch.extra_args.iter().cloned());
        let log = self.dir.join(format!("agent-{switch}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| LabError::io(format!("cannot open {}", log.display()), e))?;
        let err = out.try_clone().map_err(|e| LabError::io("agent log", e))?;
        use std::os::unix::process::CommandExt;
        let child = Command::new(&launch.binary)
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::io(format!("cannot start {}", launch.binary.display()), e))?;
        let pid = child.id();
        self.children.insert(pid, child);
        self.state.agents.insert(
            switch.to_string(),
            AgentProc {
                pid,
                log,
                argv: std::iter::once(launch.binary.display().to_string())
                    .chain(argv)
                    .collect(),
            },
        );
        self.save()?;
        Ok(pid)
    }

    /// The pid of a leaf's agent.
    pub fn agent_pid(&self, switch: &str) -> Option<u32> {
        self.state.agents.get(switch).map(|a| a.pid)
    }

    /// Stops a leaf's agent: `SIGKILL` when `hard`, else `SIGTERM`.
    pub fn stop_agent(&mut self, switch: &str, hard: bool) -> Result<()> {
        let Some(agent) = self.state.agents.get(switch).cloned() else {
            return Ok(());
        };
        if hard {
            if process::alive(agent.pid) {
                process::kill9(agent.pid)?;
            }
        } else {
            process::terminate(agent.pid, Duration::from_secs(5))?;
        }
        if let Some(mut child) = self.children.remove(&agent.pid) {
            let _ = child.wait();
        }
        Ok(())
    }

    /// Removes everything this lab made.
    pub fn down(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        let mut errors: Vec<LabError> = Vec::new();
        for agent in self.state.agents.values() {
            errors.extend(process::terminate(agent.pid, Duration::from_secs(5)).err());
        }
        for child in self.children.values_mut() {
            let _ = child.try_wait();
        }
        for dir in &self.state.ovs_dirs {
            errors.extend(crate::ovs::stop_dir(dir).err());
        }
        for ns in self.state.namespaces.iter().rev() {
            errors.extend(netns::delete(ns).err());
        }
        if errors.is_empty() {
            match std::fs::remove_dir_all(&self.dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    errors.push(LabError::io(format!("removing {}", self.dir.display()), e));
                }
                _ => {}
            }
        }
        match errors.into_iter().next() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// Removes the lab named `name` (whatever its state file lists). A lab
/// that is not up is not an error.
pub fn down(name: &str, state_root: &Path) -> Result<bool> {
    if !state_file(&state_root.join(name)).exists() {
        return Ok(false);
    }
    Lab::load(name, state_root)?.down()?;
    Ok(true)
}

fn octet(i: u32) -> Result<u8> {
    u8::try_from(i)
        .ok()
        .filter(|&o| o < 255)
        .ok_or_else(|| LabError::Setup("the lab supports at most 254 NICs".into()))
}

/// A veth pair between two namespaces, both ends up, with transmit
/// checksum offload off: Open vSwitch's userspace datapath reads frames
/// with AF_PACKET and would see the partial checksums a veth leaves (the
/// kernel's VXLAN packets then fail OVS's decapsulation).
fn veth(ns_a: &str, a: &str, ns_b: &str, b: &str) -> Result<()> {
    run(
        "ip",
        &[
            "-n", ns_a, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns_b,
        ],
    )?;
    for (ns, dev) in [(ns_a, a), (ns_b, b)] {
        run(
            "ip",
            &["netns", "exec", ns, "ethtool", "-K", dev, "tx", "off"],
        )?;
        run("ip", &["-n", ns, "link", "set", dev, "up"])?;
    }
    Ok(())
}

fn link_exists(ns: &str, dev: &str) -> bool {
    run("ip", &["-n", ns, "link", "show", dev]).is_ok()
}

fn wait_link(ns: &str, dev: &str) -> Result<()> {
    for _ in 0..250 {
        if link_exists(ns, dev) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(LabError::Setup(format!("{dev} did not appear in {ns}")))
}

/// The underlay prefix: the longest one holding every VTEP, at most /24,
/// so every VTEP is on-link. (Open vSwitch's tunnel routing learns the
/// kernel's on-link prefix route; it does not pick up host routes added
/// by hand.)
fn underlay_prefix(all: &[(String, Ipv4Addr)]) -> u32 {
    let Some((_, first)) = all.first() else {
        return 24;
    };
    let first = u32::from(*first);
    let differ = all
        .iter()
        .fold(0u32, |acc, (_, v)| acc | (u32::from(*v) ^ first));
    differ.leading_zeros().min(24)
}

fn ip_addr_routes(ns: &str, dev: &str, vtep: Ipv4Addr, all: &[(String, Ipv4Addr)]) -> Result<()> {
    let prefix = underlay_prefix(all);
    run(
        "ip",
        &[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{vtep}/{prefix}"),
            "dev",
            dev,
        ],
    )?;
    run("ip", &["-n", ns, "link", "set", dev, "up"])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<(String, Ipv4Addr)> {
        list.iter()
            .map(|a| (String::new(), a.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)))
            .collect()
    }

    #[test]
    fn the_underlay_prefix_holds_every_vtep() {
        assert_eq!(underlay_prefix(&v(&["10.0.0.11", "10.0.0.12"])), 24);
        assert_eq!(underlay_prefix(&v(&["10.0.0.11"])), 24);
        assert_eq!(underlay_prefix(&v(&["10.0.0.11", "10.0.3.1"])), 22);
        assert_eq!(underlay_prefix(&v(&["10.1.0.1", "192.168.0.1"])), 0);
    }
}
