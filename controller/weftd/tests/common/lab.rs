//! The two-racks namespace lab for end-to-end tests: the real `weftd`
//! binary, the real `weft-agent` binary on an Open vSwitch leaf
//! (OpenFlow 1.3) and a Linux leaf (rtnetlink, nftables), VXLAN between
//! them over a namespace underlay, server namespaces, and the tools the
//! tests use to poke at it (pings, raw frames, flow dumps, kernel objects).
//!
//! Shared by `lab.rs` (forwarding, hostile frames, crashes) and
//! `audit_lab.rs` (isolation reports against faults made out of band).
//!
//! Needs root, Open vSwitch, ethtool, ping, nft and python3 (raw frames).
//! [`begin`] skips with the reason when they are missing, unless
//! `WEFT_REQUIRE_LAB` is set, in which case it fails.

// Helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use weft_lab::{AgentLaunch, Endpoint, Lab, LabSpec, OvsInstance};
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::{
    DeleteAttachmentRequest, GetFabricStatusRequest, GetFabricStatusResponse, GetLeaseRequest,
    Lease, SetLeaseRequest,
};

use super::Clients;
use super::process::WeftdProcess;

/// One lab at a time: they are CPU-heavy, and the timing assertions
/// (1 s, 5 s) are about Weft, not about a starved machine.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub const OVS_LEAF: &str = "rack1-leaf";
pub const LINUX_LEAF: &str = "rack2-leaf";

pub fn missing() -> Option<String> {
    if !weft_lab::is_root() {
        return Some("needs root".into());
    }
    for tool in ["ovs-vswitchd", "ethtool", "ping", "python3", "nft"] {
        if !weft_lab::have(tool) {
            return Some(format!("needs {tool} on PATH"));
        }
    }
    None
}

/// The lab to this test alone, or `None` (with the reason printed) when
/// the test must skip.
pub fn begin() -> Option<std::sync::MutexGuard<'static, ()>> {
    let serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(why) = missing() else {
        return Some(serial);
    };
    if std::env::var_os("WEFT_REQUIRE_LAB").is_some() {
        panic!("WEFT_REQUIRE_LAB is set but the lab cannot run: {why}");
    }
    println!("skipped: {why}");
    None
}

pub fn agent_binary() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_weftd")).with_file_name("weft-agent");
    assert!(
        p.is_file(),
        "{} is missing: build it first (cargo build -p weft-agent)",
        p.display()
    );
    p
}

pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A controller, the lab wired to it, and admin/operator clients.
pub struct Fabric {
    pub rt: tokio::runtime::Runtime,
    pub weftd: WeftdProcess,
    pub addr: SocketAddr,
    lab: Option<Lab>,
    _state_root: tempfile::TempDir,
}

impl Fabric {
    /// `weftd` on the two-racks topology and intent, the lab, and an agent
    /// per leaf started with `agent_args` (e.g. `--repair-interval 1s`);
    /// returns once both leaves hold the intent.
    pub fn start(tag: &str, agent_args: &[&str]) -> Fabric {
        Fabric::start_with(tag, WeftdProcess::new(&[]), agent_args)
    }

    /// [`Fabric::start`] with a `weftd` prepared by the caller (extra
    /// arguments, environment); it is given a fixed listen address and
    /// started here.
    pub fn start_with(tag: &str, mut weftd: WeftdProcess, agent_args: &[&str]) -> Fabric {
        let rt = tokio::runtime::Runtime::new().unwrap();
        weftd.listen_on(free_port());
        let addr = weftd.start();
        let state_root = tempfile::Builder::new()
            .prefix("wlab")
            .tempdir_in("/tmp")
            .unwrap();
        let name = format!("e{tag}{}", std::process::id() % 100_000);
        let topology = weft_config::load_topology(super::two_racks()).unwrap();
        let spec = LabSpec {
            name,
            topology,
            state_root: state_root.path().to_path_buf(),
            agents: Some(AgentLaunch {
                binary: agent_binary(),
                controller: format!("https://{addr}"),
                pki: weftd.path().join("pki"),
                extra_args: agent_args.iter().map(|a| (*a).to_owned()).collect(),
            }),
        };
        let lab = Lab::up(&spec).unwrap();
        let f = Fabric {
            rt,
            weftd,
            addr,
            lab: Some(lab),
            _state_root: state_root,
        };
        f.wait_programmed();
        f
    }

    pub fn lab(&mut self) -> &mut Lab {
        self.lab.as_mut().unwrap()
    }

    pub fn lab_ref(&self) -> &Lab {
        self.lab.as_ref().unwrap()
    }

    /// A channel to the controller authenticated as `role`/`name`.
    pub fn channel(&self, role: Role, name: &str) -> Channel {
        let pki = Pki::bootstrap(&self.weftd.path().join("pki"), &[]).unwrap();
        let p = Principal::new(role, name).unwrap();
        self.rt
            .block_on(async { super::connect(&pki, self.addr, &p).await })
    }

    pub fn clients(&self, role: Role, name: &str) -> Clients {
        Clients::new(self.channel(role, name))
    }

    /// Stops a leaf's agent (SIGTERM) and starts it again: the new session
    /// gets a snapshot and reconciles the data plane to it.
    pub fn restart_agent(&mut self, leaf: &str) {
        self.lab().stop_agent(leaf, false).unwrap();
        self.lab().start_agent(leaf).unwrap();
    }

    pub fn status(&self) -> GetFabricStatusResponse {
        let mut c = self.clients(Role::Admin, "admin");
        self.rt.block_on(async {
            c.fabric
                .get_fabric_status(GetFabricStatusRequest::default())
                .await
                .unwrap()
                .into_inner()
        })
    }

    /// Takes rack1-leaf/eth4 back from gamma (detach, then shrink the
    /// lease): the Open vSwitch leaf gets a port leased to nobody.
    pub fn unlease_rack1_eth4(&self) {
        let mut gamma = self.clients(Role::Operator, "gamma");
        let mut admin = self.clients(Role::Admin, "admin");
        self.rt.block_on(async {
            gamma
                .nets
                .delete_attachment(DeleteAttachmentRequest {
                    name: "operators/gamma/networks/lab/attachments/rack1-leaf:eth4".into(),
                    request_id: super::rid(),
                    ..Default::default()
                })
                .await
                .unwrap();
            let lease = admin
                .ops
                .get_lease(GetLeaseRequest {
                    name: "operators/gamma/lease".into(),
                })
                .await
                .unwrap()
                .into_inner()
                .lease
                .unwrap();
            admin
                .ops
                .set_lease(SetLeaseRequest {
                    lease: Some(Lease {
                        ports: vec!["rack2-leaf/eth4".into()],
                        etag: String::new(),
                        ..lease
                    }),
                    request_id: super::rid(),
                    validate_only: false,
                })
                .await
                .unwrap();
        });
        self.wait_programmed();
    }

    /// Until both agents are connected and have acknowledged everything.
    pub fn wait_programmed(&self) -> Duration {
        let t0 = Instant::now();
        loop {
            let s = self.status();
            let leaves: Vec<_> = s
                .switches
                .iter()
                .filter(|w| w.switch == OVS_LEAF || w.switch == LINUX_LEAF)
                .collect();
            if s.programmed_revision >= s.revision
                && leaves.len() == 2
                && leaves
                    .iter()
                    .all(|w| w.connected && w.acked_generation >= w.desired_generation)
            {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "fabric not programmed: {s:?}\n{}",
                self.agent_logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn agent_logs(&self) -> String {
        self.lab
            .as_ref()
            .map(|lab| agent_logs(lab, 30))
            .unwrap_or_default()
    }

    pub fn ovs(&self) -> OvsInstance {
        self.lab.as_ref().unwrap().leaf_ovs(OVS_LEAF).unwrap()
    }

    pub fn linux_ns(&self) -> String {
        self.lab
            .as_ref()
            .unwrap()
            .leaf(LINUX_LEAF)
            .unwrap()
            .netns
            .clone()
    }

    /// Removes the lab and checks nothing it made is left.
    pub fn finish(mut self) {
        let lab = self.lab.take().unwrap();
        let namespaces = lab.state().namespaces.clone();
        let dirs = lab.state().ovs_dirs.clone();
        let pids: Vec<u32> = lab
            .state()
            .agents
            .values()
            .map(|a| a.pid)
            .chain(
                dirs.iter()
                    .flat_map(|d| OvsInstance::attach(d, None).pids()),
            )
            .collect();
        lab.down().unwrap();
        for ns in namespaces {
            assert!(!weft_lab::netns::exists(&ns), "namespace {ns} left behind");
        }
        for pid in pids {
            assert!(!weft_lab::process::alive(pid), "process {pid} left running");
        }
        for d in dirs {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        if let Some(lab) = self.lab.take() {
            if std::thread::panicking() {
                eprintln!("{}", agent_logs(&lab, 200));
            }
            if let Err(e) = lab.down() {
                eprintln!("lab down failed: {e}");
            }
        }
    }
}

/// The last `lines` lines of every agent's log, newest first.
pub fn agent_logs(lab: &Lab, lines: usize) -> String {
    lab.state()
        .agents
        .iter()
        .map(|(s, a)| {
            let text = std::fs::read_to_string(&a.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(lines).collect();
            format!("--- agent {s} (newest first):\n{}", tail.join("\n"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------- pings

/// `(transmitted, received)` of a ping run from `from` to `to`.
pub fn ping(from: &Endpoint, to: &Endpoint, args: &[&str]) -> (u32, u32) {
    let out = Command::new("ip")
        .args(["netns", "exec", &from.netns, "ping", "-n", "-q"])
        .args(args)
        .arg(to.address.to_string())
        .output()
        .unwrap();
    parse_ping(&String::from_utf8_lossy(&out.stdout))
}

pub fn parse_ping(text: &str) -> (u32, u32) {
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("0 packets transmitted, 0 received");
    let mut nums = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap());
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0))
}

pub fn reaches(from: &Endpoint, to: &Endpoint) -> bool {
    ping(from, to, &["-c", "3", "-i", "0.2", "-W", "1"]).1 > 0
}

/// A long ping in the background; `finish` waits for it and returns
/// `(transmitted, received)`.
pub struct LongPing(Child);

impl LongPing {
    pub fn start(from: &Endpoint, to: &Endpoint, count: u32) -> LongPing {
        LongPing(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &from.netns,
                    "ping",
                    "-n",
                    "-q",
                    "-i",
                    "0.05",
                    "-W",
                    "1",
                    "-c",
                ])
                .arg(count.to_string())
                .arg(to.address.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    pub fn finish(self) -> (u32, u32) {
        let out = self.0.wait_with_output().unwrap();
        parse_ping(&String::from_utf8_lossy(&out.stdout))
    }
}

// ------------------------------------------------------------ intent

/// The endpoints of the two-racks intent: network → its endpoints, as
/// (NIC, tag).
/// A network's endpoints: (NIC, tag).
pub type Members = &'static [(&'static str, Option<u16>)];

pub const NETWORKS: &[(&str, Members)] = &[
    (
        "alpha/prod",
        &[("r1-srv1/eth0", Some(100)), ("r2-srv1/eth0", None)],
    ),
    (
        "alpha/backup",
        &[("r1-srv1/eth0", Some(200)), ("r1-srv1/eth1", None)],
    ),
    (
        "beta/web",
        &[("r1-srv2/eth0", Some(100)), ("r2-srv2/eth0", None)],
    ),
    (
        "beta/db",
        &[("r1-srv2/eth0", Some(300)), ("r2-srv2/eth1", None)],
    ),
    (
        "gamma/lab",
        &[("r1-srv3/eth0", None), ("r2-srv3/eth0", None)],
    ),
];

/// NIC endpoints that are on no network (their ports carry tagged
/// attachments only): they must reach nothing.
pub const UNATTACHED: &[&str] = &["r1-srv1/eth0", "r1-srv2/eth0"];

pub struct Host {
    pub label: String,
    pub network: Option<&'static str>,
    pub endpoint: Endpoint,
}

pub fn hosts(lab: &mut Lab) -> Vec<Host> {
    let mut out = Vec::new();
    for (net, members) in NETWORKS {
        for (nic, tag) in *members {
            let endpoint = match tag {
                Some(t) => lab.tagged_endpoint(nic, *t).unwrap(),
                None => lab.endpoint(nic).unwrap(),
            };
            out.push(Host {
                label: match tag {
                    Some(t) => format!("{nic}#{t}"),
                    None => (*nic).to_string(),
                },
                network: Some(net),
                endpoint,
            });
        }
    }
    for nic in UNATTACHED {
        out.push(Host {
            label: format!("{nic} (untagged)"),
            network: None,
            endpoint: lab.endpoint(nic).unwrap(),
        });
    }
    out
}

// ------------------------------------------------------------ switches

/// Weft's and foreign flows of the OVS leaf: the flow (without its
/// statistics) → its age in seconds.
pub fn flows(ovs: &OvsInstance) -> BTreeMap<String, f64> {
    let text = ovs.ofctl("dump-flows", "br-int", &[]).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains("actions=")) {
        let mut age = 0.0;
        let kept: Vec<&str> = line
            .trim()
            .split(", ")
            .filter(|field| {
                if let Some(d) = field.strip_prefix("duration=") {
                    age = d.trim_end_matches('s').parse().unwrap();
                    return false;
                }
                !["n_packets=", "n_bytes=", "idle_age=", "hard_age="]
                    .iter()
                    .any(|p| field.starts_with(p))
            })
            .collect();
        out.insert(kept.join(", "), age);
    }
    out
}

pub fn weft_flow_count(ovs: &OvsInstance) -> usize {
    flows(ovs)
        .keys()
        .filter(|f| f.starts_with("cookie=0x57454654"))
        .count()
}

/// Packets counted by the OVS leaf's flows of `table` (and `priority`).
pub fn packets(ovs: &OvsInstance, table: u8, priority: Option<u16>) -> u64 {
    let field = |line: &str, key: &str| -> Option<u64> {
        let rest = line.split(key).nth(1)?;
        rest.split([',', ' ']).next()?.parse().ok()
    };
    let text = ovs.ofctl("dump-flows", "br-int", &[]).unwrap();
    text.lines()
        .filter(|l| field(l, "table=") == Some(u64::from(table)))
        .filter(|l| {
            priority.is_none_or(|p| {
                field(l, " priority=").or(field(l, ",priority=")) == Some(u64::from(p))
            })
        })
        .filter_map(|l| field(l, "n_packets="))
        .sum()
}

/// The Linux leaf's Weft objects: links with their ifindex (a re-created
/// link gets a new one), masters, and the VXLAN devices' FDB.
pub fn linux_objects(ns: &str) -> BTreeSet<String> {
    let links = weft_lab::run("ip", &["-n", ns, "-o", "link", "show"]).unwrap();
    let mut out: BTreeSet<String> = links
        .lines()
        .filter(|l| l.contains("weft") || l.contains("master"))
        .map(|l| {
            l.split_whitespace()
                .take_while(|w| *w != "state")
                .filter(|w| !w.starts_with('<'))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let fdb = weft_lab::run("bridge", &["-n", ns, "fdb", "show"]).unwrap();
    out.extend(
        fdb.lines()
            .filter(|l| l.contains("dev weftv") && l.contains(" dst "))
            .map(str::to_string),
    );
    out
}

/// Sends `count` copies of a raw Ethernet frame out of `iface` in `netns`.
pub fn send_raw(netns: &str, iface: &str, frame: &[u8], count: u32) {
    weft_lab::frames::send(netns, iface, frame, count).unwrap();
}

/// A broadcast ARP request, with the given 802.1Q tags outermost first.
pub fn frame(tags: &[u16]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend([0x02, 0, 0, 0, 0xee, 0x01]);
    for t in tags {
        f.extend([0x81, 0x00]);
        f.extend(t.to_be_bytes());
    }
    f.extend([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend([0x02, 0, 0, 0, 0xee, 0x01, 10, 200, 99, 1]);
    f.extend([0; 6]);
    f.extend([10, 200, 99, 2]);
    f.resize(f.len().max(60), 0);
    f
}

/// `ofproto/trace` of a raw frame entering the OVS leaf on `port`: the
/// datapath actions line.
pub fn trace(ovs: &OvsInstance, port: u32, frame: &[u8]) -> String {
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    let out = ovs
        .appctl(&["ofproto/trace", "br-int", &format!("in_port={port}"), &hex])
        .unwrap();
    out.lines()
        .find(|l| l.starts_with("Datapath actions:"))
        .unwrap_or("no datapath actions")
        .to_string()
}

pub fn wait_until(what: &str, limit: Duration, f: impl FnMut() -> bool) -> Duration {
    wait_until_or(what, limit, f, String::new)
}

/// [`wait_until`], with `context()` printed on failure.
pub fn wait_until_or(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> bool,
    context: impl Fn() -> String,
) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < limit,
            "{what}: not within {limit:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}
