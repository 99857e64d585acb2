//! End to end on the two-racks lab: the real `weftd` binary, the real
//! `weft-agent` binary on an Open vSwitch leaf (OpenFlow 1.3) and a Linux
//! leaf (rtnetlink, nftables), VXLAN between them over a namespace
//! underlay, and real pings between server namespaces.
//!
//! Needs root, Open vSwitch, ethtool, ping and python3 (raw frames). Skips
//! with the reason when they are missing, unless `WEFT_REQUIRE_LAB` is set
//! (the README's test command sets it), in which case it fails.

// Helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::Clients;
use common::process::WeftdProcess;
use weft_lab::{AgentLaunch, Endpoint, Lab, LabSpec, OvsInstance};
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::*;

/// One lab at a time: they are CPU-heavy, and the timing assertions
/// (1 s, 5 s) are about Weft, not about a starved machine.
static SERIAL: Mutex<()> = Mutex::new(());

const OVS_LEAF: &str = "rack1-leaf";
const LINUX_LEAF: &str = "rack2-leaf";

fn missing() -> Option<String> {
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
fn begin() -> Option<std::sync::MutexGuard<'static, ()>> {
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

fn agent_binary() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_weftd")).with_file_name("weft-agent");
    assert!(
        p.is_file(),
        "{} is missing: build it first (cargo build -p weft-agent)",
        p.display()
    );
    p
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A controller, the lab wired to it, and admin/operator clients.
struct Fabric {
    rt: tokio::runtime::Runtime,
    weftd: WeftdProcess,
    addr: SocketAddr,
    lab: Option<Lab>,
    _state_root: tempfile::TempDir,
}

impl Fabric {
    fn start(tag: &str) -> Fabric {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut weftd = WeftdProcess::new(&[]);
        weftd.listen_on(free_port());
        let addr = weftd.start();
        let state_root = tempfile::Builder::new()
            .prefix("wlab")
            .tempdir_in("/tmp")
            .unwrap();
        let name = format!("e{tag}{}", std::process::id() % 100_000);
        let topology = weft_config::load_topology(common::two_racks()).unwrap();
        let spec = LabSpec {
            name,
            topology,
            state_root: state_root.path().to_path_buf(),
            agents: Some(AgentLaunch {
                binary: agent_binary(),
                controller: format!("https://{addr}"),
                pki: weftd.path().join("pki"),
                extra_args: vec![
                    "--repair-interval".into(),
                    "1s".into(),
                    "--report-interval".into(),
                    "1s".into(),
                ],
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

    fn lab(&mut self) -> &mut Lab {
        self.lab.as_mut().unwrap()
    }

    fn clients(&self, role: Role, name: &str) -> Clients {
        let pki = Pki::bootstrap(&self.weftd.path().join("pki"), &[]).unwrap();
        let p = Principal::new(role, name).unwrap();
        self.rt
            .block_on(async { Clients::new(common::connect(&pki, self.addr, &p).await) })
    }

    fn status(&self) -> GetFabricStatusResponse {
        let mut c = self.clients(Role::Admin, "admin");
        self.rt.block_on(async {
            c.fabric
                .get_fabric_status(GetFabricStatusRequest::default())
                .await
                .unwrap()
                .into_inner()
        })
    }

    /// Until both agents are connected and have acknowledged everything.
    fn wait_programmed(&self) -> Duration {
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

    fn agent_logs(&self) -> String {
        self.lab
            .as_ref()
            .map(|lab| agent_logs(lab, 30))
            .unwrap_or_default()
    }

    fn ovs(&self) -> OvsInstance {
        self.lab.as_ref().unwrap().leaf_ovs(OVS_LEAF).unwrap()
    }

    fn linux_ns(&self) -> String {
        self.lab
            .as_ref()
            .unwrap()
            .leaf(LINUX_LEAF)
            .unwrap()
            .netns
            .clone()
    }

    /// Removes the lab and checks nothing it made is left.
    fn finish(mut self) {
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
fn agent_logs(lab: &Lab, lines: usize) -> String {
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
fn ping(from: &Endpoint, to: &Endpoint, args: &[&str]) -> (u32, u32) {
    let out = Command::new("ip")
        .args(["netns", "exec", &from.netns, "ping", "-n", "-q"])
        .args(args)
        .arg(to.address.to_string())
        .output()
        .unwrap();
    parse_ping(&String::from_utf8_lossy(&out.stdout))
}

fn parse_ping(text: &str) -> (u32, u32) {
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

fn reaches(from: &Endpoint, to: &Endpoint) -> bool {
    ping(from, to, &["-c", "3", "-i", "0.2", "-W", "1"]).1 > 0
}

/// A long ping in the background; `finish` waits for it and returns
/// `(transmitted, received)`.
struct LongPing(Child);

impl LongPing {
    fn start(from: &Endpoint, to: &Endpoint, count: u32) -> LongPing {
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

    fn finish(self) -> (u32, u32) {
        let out = self.0.wait_with_output().unwrap();
        parse_ping(&String::from_utf8_lossy(&out.stdout))
    }
}

// ------------------------------------------------------------ intent

/// The endpoints of the two-racks intent: network → its endpoints, as
/// (NIC, tag).
/// A network's endpoints: (NIC, tag).
type Members = &'static [(&'static str, Option<u16>)];

const NETWORKS: &[(&str, Members)] = &[
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
const UNATTACHED: &[&str] = &["r1-srv1/eth0", "r1-srv2/eth0"];

struct Host {
    label: String,
    network: Option<&'static str>,
    endpoint: Endpoint,
}

fn hosts(lab: &mut Lab) -> Vec<Host> {
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
fn flows(ovs: &OvsInstance) -> BTreeMap<String, f64> {
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

fn weft_flow_count(ovs: &OvsInstance) -> usize {
    flows(ovs)
        .keys()
        .filter(|f| f.starts_with("cookie=0x57454654"))
        .count()
}

/// Packets counted by the OVS leaf's flows of `table` (and `priority`).
fn packets(ovs: &OvsInstance, table: u8, priority: Option<u16>) -> u64 {
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
fn linux_objects(ns: &str) -> BTreeSet<String> {
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
fn send_raw(netns: &str, iface: &str, frame: &[u8], count: u32) {
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    let script = "import socket,sys\n\
                  s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
                  s.bind((sys.argv[1],0))\n\
                  f=bytes.fromhex(sys.argv[2])\n\
                  [s.send(f) for _ in range(int(sys.argv[3]))]\n";
    weft_lab::run(
        "ip",
        &[
            "netns",
            "exec",
            netns,
            "python3",
            "-c",
            script,
            iface,
            &hex,
            &count.to_string(),
        ],
    )
    .unwrap();
}

/// A broadcast ARP request, with the given 802.1Q tags outermost first.
fn frame(tags: &[u16]) -> Vec<u8> {
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
fn trace(ovs: &OvsInstance, port: u32, frame: &[u8]) -> String {
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    let out = ovs
        .appctl(&["ofproto/trace", "br-int", &format!("in_port={port}"), &hex])
        .unwrap();
    out.lines()
        .find(|l| l.starts_with("Datapath actions:"))
        .unwrap_or("no datapath actions")
        .to_string()
}

fn wait_until(what: &str, limit: Duration, f: impl FnMut() -> bool) -> Duration {
    wait_until_or(what, limit, f, String::new)
}

/// [`wait_until`], with `context()` printed on failure.
fn wait_until_or(
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

// ------------------------------------------------------------ tests

#[test]
fn isolation_matrix_hostile_frames_and_out_of_band_changes() {
    let Some(_serial) = begin() else {
        return;
    };
    let mut f = Fabric::start("m");
    let hosts = hosts(f.lab());

    // The full matrix, every ordered pair, in parallel.
    let pairs: Vec<(usize, usize)> = (0..hosts.len())
        .flat_map(|a| (0..hosts.len()).map(move |b| (a, b)))
        .filter(|(a, b)| a != b)
        .collect();
    let results: Vec<((usize, usize), bool)> = std::thread::scope(|s| {
        pairs
            .chunks(12)
            .flat_map(|chunk| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|&(a, b)| {
                        let (ha, hb) = (&hosts[a], &hosts[b]);
                        s.spawn(move || ((a, b), reaches(&ha.endpoint, &hb.endpoint)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    let mut wrong = Vec::new();
    let mut reachable = 0;
    for ((a, b), ok) in &results {
        let (ha, hb) = (&hosts[*a], &hosts[*b]);
        let expected = ha.network.is_some() && ha.network == hb.network;
        reachable += usize::from(*ok);
        if *ok != expected {
            wrong.push(format!(
                "{} ({:?}) -> {} ({:?}): ping {}, expected {}",
                ha.label,
                ha.network,
                hb.label,
                hb.network,
                if *ok { "works" } else { "fails" },
                if expected { "works" } else { "fails" }
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "ping matrix:\n{}\n{}",
        wrong.join("\n"),
        f.agent_logs()
    );
    assert_eq!(
        reachable,
        2 * NETWORKS.len(),
        "every network's pair, both ways"
    );
    println!(
        "ping matrix: {} pairs, {reachable} reachable, all as intended",
        results.len()
    );

    // Same VLAN id, two operators, same OVS leaf: alpha/prod#100 and
    // beta/web#100 (both in the matrix above; asserted by name here).
    let a100 = hosts
        .iter()
        .find(|h| h.label == "r1-srv1/eth0#100")
        .unwrap();
    let b100 = hosts
        .iter()
        .find(|h| h.label == "r1-srv2/eth0#100")
        .unwrap();
    assert!(!reaches(&a100.endpoint, &b100.endpoint));

    let ovs = f.ovs();
    // Hostile frames, traced through the OVS leaf's installed tables.
    // rack1-leaf eth2 is alpha/backup's access port; eth1 carries alpha's
    // tags 100 and 200.
    for (what, port, tags) in [
        ("tagged frame on an access port", 2, vec![200]),
        ("double-tagged frame", 1, vec![100, 200]),
        ("frame with an unattached tag", 1, vec![999]),
    ] {
        let actions = trace(&ovs, port, &frame(&tags));
        assert_eq!(actions, "Datapath actions: drop", "{what}");
    }
    let untagged = trace(&ovs, 2, &frame(&[]));
    assert_ne!(untagged, "Datapath actions: drop", "an access frame floods");

    // The same frames for real, from the server namespaces: the drop rules
    // count them, the flood tables see none of them.
    let n = 25;
    let flood_before = packets(&ovs, 2, None);
    let guard_before = packets(&ovs, 0, Some(1100));
    let default_before = packets(&ovs, 0, Some(0));
    let nic_eth2 = f.lab().endpoint("r1-srv1/eth1").unwrap();
    let nic_eth1 = f.lab().endpoint("r1-srv1/eth0").unwrap();
    send_raw(&nic_eth2.netns, &nic_eth2.iface, &frame(&[200]), n);
    send_raw(&nic_eth1.netns, &nic_eth1.iface, &frame(&[100, 200]), n);
    // Flow statistics follow the datapath's with a revalidation delay.
    wait_until(
        "tagged frames counted by the default drop",
        Duration::from_secs(5),
        || packets(&ovs, 0, Some(0)) >= default_before + u64::from(n),
    );
    wait_until_or(
        "double-tagged frames counted by the inner-tag guard",
        Duration::from_secs(5),
        || packets(&ovs, 0, Some(1100)) >= guard_before + u64::from(n),
        || {
            format!(
                "guard before: {guard_before}\n{}",
                ovs.ofctl("dump-flows", "br-int", &[]).unwrap_or_default()
            )
        },
    );
    assert_eq!(
        packets(&ovs, 2, None),
        flood_before,
        "a hostile frame was flooded"
    );

    // Out of band: delete Weft's flows of one network with ovs-ofctl; the
    // agent restores them within 5 s.
    let full = weft_flow_count(&ovs);
    ovs.ofctl("del-flows", "br-int", &["cookie=0x57454654000003e8/-1"])
        .unwrap();
    assert!(weft_flow_count(&ovs) < full);
    let took = wait_until("deleted flows restored", Duration::from_secs(5), || {
        weft_flow_count(&ovs) == full
    });
    println!("flows deleted with ovs-ofctl restored in {took:?}");

    // A foreign flow is left in place and reported.
    ovs.ofctl(
        "add-flow",
        "br-int",
        &["cookie=0x1,table=0,priority=5,in_port=4,dl_dst=02:00:00:00:00:99,actions=drop"],
    )
    .unwrap();
    wait_until("foreign flow reported", Duration::from_secs(5), || {
        f.status()
            .switches
            .iter()
            .any(|s| s.switch == OVS_LEAF && s.foreign_rules == 1)
    });
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        flows(&ovs).keys().any(|k| k.starts_with("cookie=0x1,")),
        "the foreign flow was removed"
    );

    // Linux leaf: an FDB entry and an enslavement removed out of band come
    // back within 5 s.
    let ns = f.linux_ns();
    let before = linux_objects(&ns);
    weft_lab::run(
        "bridge",
        &[
            "-n",
            &ns,
            "fdb",
            "del",
            "00:00:00:00:00:00",
            "dev",
            "weftv000bb8",
            "dst",
            "10.0.0.11",
        ],
    )
    .unwrap();
    weft_lab::run("ip", &["-n", &ns, "link", "set", "eth4", "nomaster"]).unwrap();
    assert_ne!(linux_objects(&ns), before);
    let took = wait_until("Linux objects restored", Duration::from_secs(5), || {
        linux_objects(&ns) == before
    });
    println!("FDB entry and port enslavement restored in {took:?}");
    let gamma: Vec<&Host> = hosts
        .iter()
        .filter(|h| h.network == Some("gamma/lab"))
        .collect();
    assert!(reaches(&gamma[0].endpoint, &gamma[1].endpoint));

    // A frame from an unleased port: gamma detaches rack1-leaf/eth4 and
    // the facility takes the port back from gamma's lease.
    let mut gamma_c = f.clients(Role::Operator, "gamma");
    let mut admin = f.clients(Role::Admin, "admin");
    f.rt.block_on(async {
        gamma_c
            .nets
            .delete_attachment(DeleteAttachmentRequest {
                name: "operators/gamma/networks/lab/attachments/rack1-leaf:eth4".into(),
                request_id: common::rid(),
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
                request_id: common::rid(),
                validate_only: false,
            })
            .await
            .unwrap();
    });
    f.wait_programmed();
    assert_eq!(
        trace(&ovs, 4, &frame(&[])),
        "Datapath actions: drop",
        "unleased port"
    );
    let default_before = packets(&ovs, 0, Some(0));
    let r1srv3 = f.lab().endpoint("r1-srv3/eth0").unwrap();
    send_raw(&r1srv3.netns, &r1srv3.iface, &frame(&[]), n);
    wait_until(
        "unleased port's frames counted by the default drop",
        Duration::from_secs(5),
        || packets(&ovs, 0, Some(0)) >= default_before + u64::from(n),
    );
    assert!(!reaches(&gamma[0].endpoint, &gamma[1].endpoint));

    drop(ovs);
    f.finish();
}

#[test]
fn attach_detach_and_crashes_keep_forwarding() {
    let Some(_serial) = begin() else {
        return;
    };
    let mut f = Fabric::start("c");
    let r1 = f.lab().endpoint("r1-srv3/eth0").unwrap();
    let r2 = f.lab().endpoint("r2-srv3/eth0").unwrap();
    let prod_ovs = f.lab().tagged_endpoint("r1-srv1/eth0", 100).unwrap();
    let prod_linux = f.lab().endpoint("r2-srv1/eth0").unwrap();
    assert!(reaches(&r1, &r2));
    assert!(reaches(&prod_ovs, &prod_linux));

    // Detach and attach through gRPC: reachability follows within 1 s.
    let mut gamma = f.clients(Role::Operator, "gamma");
    let t0 = Instant::now();
    f.rt.block_on(async {
        gamma
            .nets
            .delete_attachment(DeleteAttachmentRequest {
                name: "operators/gamma/networks/lab/attachments/rack2-leaf:eth4".into(),
                request_id: common::rid(),
                ..Default::default()
            })
            .await
            .unwrap();
    });
    f.wait_programmed();
    assert_eq!(
        ping(&r1, &r2, &["-c", "1", "-W", "0.3"]).1,
        0,
        "still reachable after detach"
    );
    let detach = t0.elapsed();
    assert!(detach < Duration::from_secs(1), "detach took {detach:?}");
    let t0 = Instant::now();
    f.rt.block_on(async {
        gamma
            .nets
            .create_attachment(CreateAttachmentRequest {
                parent: "operators/gamma/networks/lab".into(),
                attachment: Some(Attachment {
                    port: "rack2-leaf/eth4".into(),
                    mode: AttachmentMode::Access.into(),
                    ..Default::default()
                }),
                request_id: common::rid(),
                validate_only: false,
            })
            .await
            .unwrap();
    });
    f.wait_programmed();
    while ping(&r1, &r2, &["-c", "1", "-W", "0.2"]).1 == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "not reachable 1 s after attach"
        );
    }
    let attach = t0.elapsed();
    println!("detach → unreachable in {detach:?}; attach → reachable in {attach:?}");

    // kill -9 of the controller while pings run: nothing lost, and after
    // it restarts nothing on the switches changes.
    let ovs = f.ovs();
    let ns = f.linux_ns();
    let flows_before = flows(&ovs);
    let linux_before = linux_objects(&ns);
    let p1 = LongPing::start(&r1, &r2, 120);
    let p2 = LongPing::start(&prod_ovs, &prod_linux, 120);
    std::thread::sleep(Duration::from_millis(1500));
    let killed_at = Instant::now();
    f.weftd.kill();
    std::thread::sleep(Duration::from_millis(1500));
    f.weftd.start();
    f.wait_programmed();
    std::thread::sleep(Duration::from_millis(1500));
    let (tx1, rx1) = p1.finish();
    let (tx2, rx2) = p2.finish();
    assert_eq!(
        (tx1, rx1),
        (120, 120),
        "gamma/lab pings lost across the controller crash"
    );
    assert_eq!(
        (tx2, rx2),
        (120, 120),
        "alpha/prod pings lost across the controller crash"
    );
    let flows_after = flows(&ovs);
    assert_unchanged(&flows_before, &flows_after, killed_at.elapsed());
    assert_eq!(linux_objects(&ns), linux_before, "Linux objects changed");

    // kill -9 of each agent while pings run: the same.
    let flows_before = flows(&ovs);
    let p1 = LongPing::start(&r1, &r2, 120);
    let p2 = LongPing::start(&prod_ovs, &prod_linux, 120);
    std::thread::sleep(Duration::from_millis(1000));
    let killed_at = Instant::now();
    for leaf in [OVS_LEAF, LINUX_LEAF] {
        f.lab().stop_agent(leaf, true).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    for leaf in [OVS_LEAF, LINUX_LEAF] {
        f.lab().start_agent(leaf).unwrap();
    }
    f.wait_programmed();
    std::thread::sleep(Duration::from_millis(1500));
    let (tx1, rx1) = p1.finish();
    let (tx2, rx2) = p2.finish();
    assert_eq!(
        (tx1, rx1),
        (120, 120),
        "gamma/lab pings lost across the agent crashes"
    );
    assert_eq!(
        (tx2, rx2),
        (120, 120),
        "alpha/prod pings lost across the agent crashes"
    );
    assert_unchanged(&flows_before, &flows(&ovs), killed_at.elapsed());
    assert_eq!(linux_objects(&ns), linux_before, "Linux objects changed");

    drop(ovs);
    f.finish();
}

/// Same flows, none re-added: each is at least as old as before plus most
/// of the time that passed.
fn assert_unchanged(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    since: Duration,
) {
    let b: BTreeSet<&String> = before.keys().collect();
    let a: BTreeSet<&String> = after.keys().collect();
    assert_eq!(a, b, "flow set changed");
    for (flow, age) in before {
        let now = after[flow];
        assert!(
            now + 0.5 >= age + since.as_secs_f64(),
            "flow re-added (age {age} s, then {now} s after {since:?}): {flow}"
        );
    }
}
