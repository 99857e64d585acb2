//! Isolation reports against the real data planes of the two-racks lab.
//!
//! The report must say what the switches *do*. So this test breaks the
//! switches out of band, the way a careless engineer or an intruder would
//! (`ovs-ofctl` on the Open vSwitch leaf; `ip`, `bridge` and `nft` on the
//! Linux leaf), asks the real `weftd` for a signed report over gRPC, and
//! checks that it flags exactly the operator pairs and policy checks the
//! fault breaks. Then every counterexample the report gives is replayed as
//! a real frame: its header is sent from the namespace behind its ingress
//! port and captured at its egress (a server port's namespace, or the
//! receiving leaf's uplink for a frame on the wire). A counterexample that
//! does not arrive, or arrives with other tags or another VNI, fails the
//! test; after the fault is reverted the same frame must not arrive.
//!
//! The fabric: the two-racks intent with rack1-leaf/eth4 taken back from
//! gamma, so the Open vSwitch leaf has a port leased to nobody. Networks
//! alpha/prod, beta/web and beta/db span both racks; alpha/backup is on
//! rack1 only, gamma/lab on rack2 only.
//!
//! Needs what `lab.rs` needs (root, Open vSwitch, ethtool, ping, nft,
//! python3); skips with the reason otherwise, unless `WEFT_REQUIRE_LAB`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::lab::*;
use common::process::WeftdProcess;
use weft_lab::frames::{self, Capture};
use weft_model::topology::{PortRole, Topology};
use weft_pki::Role;
use weft_proto::v1::audit_service_client::AuditServiceClient;
use weft_proto::v1::*;
use weft_report::{CellVerdict, CheckVerdict, Counterexample, FindingClass, Report};

/// The agents never repair on their own during this test: every 60
/// minutes instead of every 2 s (the flag takes ms, s or m). Several
/// faults change state the agent owns (an enslavement, an FDB entry, the
/// nftables drops) and the periodic repair would undo them before, or
/// while, the report reads the switch back: the test would then check the
/// repair, not the report. Reverts that need the agent restart it, which
/// reconciles once.
const AGENT_ARGS: &[&str] = &["--repair-interval", "60m"];

/// `SOURCE_DATE_EPOCH` of the controller: 2026-01-01T00:00:00Z. Reports of
/// unchanged state must then be byte-identical.
const EPOCH: &str = "1767225600";

/// How long a capture waits for a frame that must arrive, and for one
/// that must not.
const MUST_ARRIVE: Duration = Duration::from_secs(4);
const MUST_NOT_ARRIVE: Duration = Duration::from_millis(1500);

/// The cookie of the foreign flows (any cookie without Weft's `WEFT`
/// prefix is foreign to the agent, which never touches such flows).
const FOREIGN_COOKIE: &str = "0xbad0000000000000";

// ------------------------------------------------------------ the report

/// A report fetched over gRPC as an auditor, opened (signature and schema
/// checked) with the key the controller publishes, and re-checked.
struct Audit {
    envelope: Vec<u8>,
    payload: Vec<u8>,
    report: Report,
}

fn fetch_report(f: &Fabric) -> Audit {
    let ch = f.channel(Role::Auditor, "audit");
    let (envelope, published) = f.rt.block_on(async {
        let mut c = AuditServiceClient::new(ch);
        let key = c
            .get_report_key(GetReportKeyRequest {})
            .await
            .unwrap()
            .into_inner();
        let t0 = Instant::now();
        let r = c
            .get_isolation_report(GetIsolationReportRequest {
                readback_timeout_ms: 10_000,
                usage_since: 0,
            })
            .await
            .unwrap()
            .into_inner();
        // The lab figure in benches/README.md: read-back from both real
        // agents, verification, signing, over gRPC.
        println!(
            "report: {:.1?} (read-back + verify + sign, {} bytes)",
            t0.elapsed(),
            r.envelope.len()
        );
        let opened = weft_report::open(&r.envelope, None).unwrap();
        assert_eq!(r.isolated, opened.report.is_isolated());
        assert_eq!(r.complete, opened.report.is_complete());
        (r.envelope, key.public_key)
    });
    let key: weft_report::PublicKey = published.parse().unwrap();
    let opened = weft_report::open(&envelope, Some(&key)).unwrap();
    assert!(opened.key_trusted);
    // What `weftctl audit verify` does offline: every verdict re-derived
    // from the evidence the report carries (real read-backs, foreign
    // flows and kernel objects included).
    if let Err(d) = weft_report::recheck(&opened.report) {
        panic!("the report does not re-check: {d:#?}");
    }
    Audit {
        envelope,
        payload: opened.payload,
        report: opened.report,
    }
}

fn violated_cells(r: &Report) -> BTreeSet<(String, String)> {
    r.isolation
        .cells
        .iter()
        .filter(|c| c.verdict == CellVerdict::Violated)
        .map(|c| (c.from.clone(), c.to.clone()))
        .collect()
}

fn failed_checks(r: &Report) -> BTreeSet<String> {
    r.policy
        .iter()
        .filter(|c| c.verdict == CheckVerdict::Fail)
        .map(|c| c.check.clone())
        .collect()
}

fn drifted_switches(r: &Report) -> BTreeSet<String> {
    r.drift.switches.iter().map(|d| d.switch.clone()).collect()
}

/// Nothing to report: every cell isolated, every check passed, every
/// switch read back and holding exactly what was intended.
fn is_clean(r: &Report) -> bool {
    r.is_isolated()
        && r.is_complete()
        && r.findings.is_empty()
        && r.drift.switches.is_empty()
        && violated_cells(r).is_empty()
        && failed_checks(r).is_empty()
}

fn wait_clean(f: &Fabric, after: &str) -> Audit {
    let t0 = Instant::now();
    loop {
        let a = fetch_report(f);
        if is_clean(&a.report) {
            return a;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no clean report 20 s after {after}: cells {:?}, checks {:?}, drift {:?}, findings {:#?}\n{}",
            violated_cells(&a.report),
            failed_checks(&a.report),
            drifted_switches(&a.report),
            a.report.findings,
            f.agent_logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The counterexamples to replay: the first of every violated cell and
/// of every failed check, each once.
fn to_confirm(r: &Report) -> Vec<(String, Counterexample)> {
    let mut out: Vec<(String, Counterexample)> = Vec::new();
    let mut push = |why: String, cx: &Counterexample| {
        if !out
            .iter()
            .any(|(_, c)| c.ingress == cx.ingress && c.class == cx.class && c.egress == cx.egress)
        {
            out.push((why, cx.clone()));
        }
    };
    for c in &r.isolation.cells {
        if let Some(cx) = c.counterexamples.first() {
            push(format!("cell {} -> {}", c.from, c.to), cx);
        }
    }
    for c in r.policy.iter().filter(|c| c.verdict == CheckVerdict::Fail) {
        if let Some(&i) = c.findings.first() {
            let i = usize::try_from(i).unwrap();
            push(format!("check {}", c.check), &r.findings[i].counterexample);
        }
    }
    out
}

// ------------------------------------------------------------ packets

/// The lab's view of where frames enter and leave.
struct Wires {
    topology: Topology,
}

impl Wires {
    fn new() -> Wires {
        Wires {
            topology: weft_config::load_topology(common::two_racks()).unwrap(),
        }
    }

    fn vtep(&self, leaf: &str) -> Ipv4Addr {
        self.topology
            .switches
            .iter()
            .find(|s| s.name.as_str() == leaf)
            .and_then(|s| s.vtep)
            .unwrap()
    }

    /// The leaf's cabled uplink (the lab wires the first one).
    fn uplink(&self, leaf: &str) -> String {
        let sw = self
            .topology
            .switches
            .iter()
            .find(|s| s.name.as_str() == leaf)
            .unwrap();
        sw.ports
            .iter()
            .find(|p| p.role == PortRole::Fabric && p.peer.is_some())
            .unwrap()
            .name
            .to_string()
    }

    /// The interface holding a leaf's VTEP address: `br-phy` on an Open
    /// vSwitch leaf, the uplink itself on a Linux leaf.
    fn vtep_iface(&self, f: &Fabric, leaf: &str) -> String {
        if f.lab_ref().leaf(leaf).unwrap().ovs_dir.is_some() {
            weft_lab::lab::UNDERLAY_BRIDGE.to_owned()
        } else {
            self.uplink(leaf)
        }
    }
}

/// The server NIC cabled to `SWITCH/PORT`.
fn nic_at(f: &Fabric, port: &str) -> weft_lab::Endpoint {
    let (nic, _) = f
        .lab_ref()
        .state()
        .nics
        .iter()
        .find(|(_, n)| format!("{}/{}", n.leaf, n.leaf_port) == port)
        .unwrap_or_else(|| panic!("no NIC is cabled to {port}"));
    f.lab_ref().endpoint(nic).unwrap()
}

/// A frame as the verifier means it: its tags and destination, with the
/// marker as payload.
fn frame_of(h: &weft_report::Frame, src: [u8; 6], marker: &frames::Marker) -> Vec<u8> {
    let dst = frames::parse_mac(&h.eth_dst).unwrap();
    frames::ethernet(
        dst,
        src,
        &h.vlan_tags,
        frames::ETHERTYPE_EXPERIMENTAL,
        marker,
    )
}

/// Sends the counterexample's frame in at its ingress and reports whether
/// it came out at its egress looking as the counterexample says: with the
/// egress frame's tags at a server port; as VXLAN with the egress frame's
/// VNI, destination VTEP and inner tags on the wire.
fn replay(f: &Fabric, w: &Wires, cx: &Counterexample, window: Duration) -> Result<(), String> {
    let egress = cx
        .egress
        .as_ref()
        .ok_or_else(|| format!("counterexample without egress: {cx:?}"))?;
    let marker = frames::marker();
    let ul = format!("{}-ul", f.lab_ref().state().name);

    // Where to listen.
    let wire = egress.at.strip_prefix("tunnel ");
    let (cap_ns, cap_iface) = match wire {
        Some(hops) => {
            let to = hops.split(" -> ").nth(1).unwrap();
            (f.lab_ref().leaf(to).unwrap().netns.clone(), w.uplink(to))
        }
        None => {
            let nic = nic_at(f, &egress.at);
            (nic.netns, nic.iface)
        }
    };
    let cap = Capture::start(&cap_ns, &cap_iface, &marker, window, 1).unwrap();

    // What to send, and where.
    match cx.ingress.strip_suffix("/vxlan") {
        Some(leaf) => {
            let inner = frame_of(&cx.header, [2, 0, 0, 0, 0xee, 0x02], &marker);
            let outer = frames::VxlanOuter {
                dst_mac: frames::mac_of(
                    &f.lab_ref().leaf(leaf).unwrap().netns,
                    &w.vtep_iface(f, leaf),
                )
                .unwrap(),
                src_mac: [2, 0, 0, 0, 0xee, 0x01],
                src_ip: cx.header.tun_src.unwrap(),
                dst_ip: w.vtep(leaf),
                vni: u32::try_from(cx.header.tun_id.unwrap()).unwrap(),
                src_port: 49152,
            };
            frames::send(&ul, "ul", &frames::vxlan(&outer, &inner), 3).unwrap();
        }
        None => {
            let nic = nic_at(f, &cx.ingress);
            let src = frames::mac_of(&nic.netns, &nic.iface).unwrap();
            frames::send(
                &nic.netns,
                &nic.iface,
                &frame_of(&cx.header, src, &marker),
                3,
            )
            .unwrap();
        }
    }

    let got = cap.finish().unwrap();
    let want = &egress.frame;
    let matching = got.iter().filter(|c| !c.outgoing).any(|c| match wire {
        None => frames::parse(&c.bytes).is_some_and(|p| p.tags == want.vlan_tags),
        Some(_) => frames::parse_vxlan(&c.bytes).is_some_and(|v| {
            Some(u64::from(v.vni)) == want.tun_id
                && want.tun_dst.is_none_or(|d| d == v.dst_ip)
                && frames::parse(v.inner).is_some_and(|p| p.tags == want.vlan_tags)
        }),
    });
    if matching {
        Ok(())
    } else {
        Err(format!(
            "sent {:?} at {}, captured at {} in {cap_ns}: {} marked frame(s), none as expected ({:?})",
            cx.header,
            cx.ingress,
            cap_iface,
            got.len(),
            want
        ))
    }
}

// ------------------------------------------------------------ faults

/// One way of breaking a switch out of band, and what a report must say
/// about it.
struct Fault {
    name: &'static str,
    leaf: &'static str,
    inject: fn(&Fabric),
    /// Undoes the fault by hand (foreign state: the agent never removes
    /// it); Weft's own state is then restored by restarting the leaf's
    /// agent (see `AGENT_ARGS`) when `restart` is set.
    revert: fn(&Fabric),
    restart: bool,
    /// The violated cells of the matrix, as (from, to): exactly these.
    cells: &'static [(&'static str, &'static str)],
    /// The failed policy checks: exactly these.
    checks: &'static [&'static str],
    /// Foreign flows the OVS leaf's drift lists.
    foreign_flows: usize,
}

fn ofctl_add(f: &Fabric, flow: &str) {
    let flow = format!("cookie={FOREIGN_COOKIE},{flow}");
    f.ovs().ofctl("add-flow", "br-int", &[&flow]).unwrap();
}

fn ofctl_revert(f: &Fabric) {
    f.ovs()
        .ofctl(
            "del-flows",
            "br-int",
            &[&format!("cookie={FOREIGN_COOKIE}/-1")],
        )
        .unwrap();
}

/// `ip`, `bridge` or `nft` in the Linux leaf's namespace.
fn on_linux(f: &Fabric, tool: &str, args: &[&str]) {
    let ns = f.linux_ns();
    let mut all = vec!["netns", "exec", ns.as_str(), tool];
    all.extend_from_slice(args);
    weft_lab::run("ip", &all).unwrap();
}

fn nothing(_: &Fabric) {}

/// rack1-leaf ports: eth1 alpha (tag 100 prod/1100, tag 200 backup/1000),
/// eth2 alpha (access, backup/1000), eth3 beta (tag 100 web/2000, tag 300
/// db/2001), eth4 unleased; tunnel port 65000. rack2-leaf: eth1 alpha
/// prod, eth2 beta web, eth3 beta db, eth4 gamma lab, all access; its
/// Weft objects are `weftb<VNI hex>` bridges and `weftv<VNI hex>` VXLAN
/// devices.
const FAULTS: &[Fault] = &[
    Fault {
        name: "ovs: foreign flow joining alpha's access port to beta's port",
        leaf: OVS_LEAF,
        inject: |f| ofctl_add(f, "table=0,priority=2000,in_port=2,actions=output:3"),
        revert: ofctl_revert,
        restart: false,
        cells: &[("alpha", "beta")],
        checks: &["operators-isolated"],
        foreign_flows: 1,
    },
    Fault {
        name: "ovs: alpha's access port accepts frames tagged 300",
        leaf: OVS_LEAF,
        inject: |f| {
            ofctl_add(
                f,
                "table=0,priority=1000,in_port=2,dl_vlan=300,actions=pop_vlan,write_metadata:0x3e8,goto_table:1",
            )
        },
        revert: ofctl_revert,
        restart: false,
        cells: &[],
        checks: &["access-ports-drop-tagged"],
        foreign_flows: 1,
    },
    Fault {
        name: "ovs: the unleased port forwards into alpha/prod",
        leaf: OVS_LEAF,
        inject: |f| {
            ofctl_add(
                f,
                "table=0,priority=1000,in_port=4,actions=write_metadata:0x44c,goto_table:1",
            )
        },
        revert: ofctl_revert,
        restart: false,
        cells: &[("(unleased)", "alpha")],
        checks: &["unleased-ports-drop-all"],
        foreign_flows: 1,
    },
    Fault {
        name: "ovs: double-tagged frames on alpha's tag 200 skip the tag guard",
        leaf: OVS_LEAF,
        inject: |f| {
            ofctl_add(
                f,
                "table=0,priority=1200,in_port=1,dl_vlan=200,actions=pop_vlan,write_metadata:0x3e8,goto_table:2",
            )
        },
        revert: ofctl_revert,
        restart: false,
        cells: &[],
        checks: &["double-tags-dropped"],
        foreign_flows: 1,
    },
    Fault {
        name: "ovs: beta/web's VNI accepted from any VTEP",
        leaf: OVS_LEAF,
        inject: |f| {
            ofctl_add(
                f,
                "table=0,priority=900,in_port=65000,tun_id=2000,actions=write_metadata:0x7d0,goto_table:1",
            )
        },
        revert: ofctl_revert,
        restart: false,
        cells: &[],
        checks: &["tunnel-ingress-known-vteps"],
        foreign_flows: 1,
    },
    Fault {
        name: "ovs: alpha/backup also tunnelled to rack2 under beta/web's VNI",
        leaf: OVS_LEAF,
        inject: |f| {
            ofctl_add(
                f,
                "table=2,priority=1500,metadata=0x3e8,actions=output:2,push_vlan:0x8100,set_field:4296->vlan_vid,output:1,pop_vlan,set_field:2000->tun_id,set_field:10.0.0.12->tun_dst,output:65000",
            )
        },
        revert: ofctl_revert,
        restart: false,
        cells: &[("alpha", "beta")],
        checks: &["operators-isolated", "no-shared-vni"],
        foreign_flows: 1,
    },
    Fault {
        name: "ovs: beta/web's traffic from rack2 also delivered to alpha's port with alpha's tag 200",
        leaf: OVS_LEAF,
        inject: |f| {
            ofctl_add(
                f,
                "table=2,priority=2500,metadata=0x7d0,in_port=65000,actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:3,pop_vlan,push_vlan:0x8100,set_field:4296->vlan_vid,output:1,pop_vlan",
            )
        },
        revert: ofctl_revert,
        restart: false,
        cells: &[("beta", "alpha")],
        checks: &["operators-isolated"],
        foreign_flows: 1,
    },
    Fault {
        name: "linux: gamma's port enslaved to alpha/prod's bridge",
        leaf: LINUX_LEAF,
        inject: |f| {
            on_linux(f, "ip", &["link", "set", "eth4", "nomaster"]);
            on_linux(f, "ip", &["link", "set", "eth4", "master", "weftb00044c"]);
        },
        revert: nothing,
        restart: true,
        cells: &[("alpha", "gamma"), ("gamma", "alpha")],
        checks: &["operators-isolated", "no-shared-vni"],
        foreign_flows: 0,
    },
    Fault {
        name: "linux: beta/web's VXLAN device replaced by a foreign one (VNI 2000) in alpha/prod's bridge",
        leaf: LINUX_LEAF,
        inject: |f| {
            on_linux(f, "ip", &["link", "del", "weftv0007d0"]);
            on_linux(
                f,
                "ip",
                &[
                    "link",
                    "add",
                    "vxfoe",
                    "type",
                    "vxlan",
                    "id",
                    "2000",
                    "local",
                    "10.0.0.12",
                    "dstport",
                    "4789",
                    "nolearning",
                ],
            );
            on_linux(f, "ip", &["link", "set", "vxfoe", "master", "weftb00044c"]);
            on_linux(
                f,
                "bridge",
                &[
                    "fdb",
                    "append",
                    "00:00:00:00:00:00",
                    "dev",
                    "vxfoe",
                    "dst",
                    "10.0.0.11",
                    "self",
                    "permanent",
                ],
            );
            on_linux(f, "ip", &["link", "set", "vxfoe", "up"]);
        },
        revert: |f| on_linux(f, "ip", &["link", "del", "vxfoe"]),
        restart: true,
        cells: &[("alpha", "beta"), ("beta", "alpha")],
        checks: &["operators-isolated", "no-shared-vni"],
        foreign_flows: 0,
    },
    Fault {
        name: "linux: FDB entry sending alpha/prod's flood to rack1's VTEP under beta/db's VNI",
        leaf: LINUX_LEAF,
        inject: |f| {
            on_linux(
                f,
                "bridge",
                &[
                    "fdb",
                    "append",
                    "00:00:00:00:00:00",
                    "dev",
                    "weftv00044c",
                    "dst",
                    "10.0.0.11",
                    "vni",
                    "2001",
                    "self",
                    "permanent",
                ],
            )
        },
        revert: |f| {
            on_linux(
                f,
                "bridge",
                &[
                    "fdb",
                    "del",
                    "00:00:00:00:00:00",
                    "dev",
                    "weftv00044c",
                    "dst",
                    "10.0.0.11",
                    "vni",
                    "2001",
                    "self",
                ],
            )
        },
        restart: true,
        cells: &[("alpha", "beta")],
        checks: &["operators-isolated", "no-shared-vni"],
        foreign_flows: 0,
    },
    Fault {
        name: "linux: a foreign bridge joining alpha's and beta's ports",
        leaf: LINUX_LEAF,
        inject: |f| {
            on_linux(f, "ip", &["link", "add", "foebr0", "type", "bridge"]);
            for port in ["eth1", "eth2"] {
                on_linux(f, "ip", &["link", "set", port, "nomaster"]);
                on_linux(f, "ip", &["link", "set", port, "master", "foebr0"]);
            }
            on_linux(f, "ip", &["link", "set", "foebr0", "up"]);
        },
        revert: |f| on_linux(f, "ip", &["link", "del", "foebr0"]),
        restart: true,
        cells: &[("alpha", "beta"), ("beta", "alpha")],
        checks: &["operators-isolated"],
        foreign_flows: 0,
    },
    Fault {
        name: "linux: beta/db's access port passes tagged frames (its nftables chain deleted)",
        leaf: LINUX_LEAF,
        inject: |f| {
            on_linux(
                f,
                "nft",
                &["flush chain netdev weft dev_eth3; delete chain netdev weft dev_eth3"],
            )
        },
        revert: nothing,
        restart: true,
        cells: &[],
        checks: &["access-ports-drop-tagged", "double-tags-dropped"],
        foreign_flows: 0,
    },
    Fault {
        name: "linux: beta/db's access port passes tagged frames (its nftables chain emptied)",
        leaf: LINUX_LEAF,
        // An emptied chain reads as "no filter on this port" only: the
        // other ports' and the VXLAN devices' drops still count.
        inject: |f| on_linux(f, "nft", &["flush chain netdev weft dev_eth3"]),
        revert: nothing,
        restart: true,
        cells: &[],
        checks: &["access-ports-drop-tagged", "double-tags-dropped"],
        foreign_flows: 0,
    },
    Fault {
        name: "linux: beta/web's VNI unguarded, so any source is accepted",
        leaf: LINUX_LEAF,
        inject: |f| {
            on_linux(
                f,
                "nft",
                &["delete", "element", "inet", "weft", "vnis", "{ 2000 }"],
            )
        },
        revert: nothing,
        restart: true,
        cells: &[],
        checks: &["tunnel-ingress-known-vteps"],
        foreign_flows: 0,
    },
];

// ------------------------------------------------------------ setup

/// The clean report's payload as pretty JSON, with the two fields that
/// differ between runs of this test replaced: the controller makes a new
/// signing key in every fresh data directory, and the audit log's head
/// hashes records that carry wall-clock times and per-run request ids.
fn snapshot_json(payload: &[u8]) -> String {
    let mut v: serde_json::Value = serde_json::from_slice(payload).unwrap();
    v["fabric"]["signing_key"] = "[a fresh key per data directory]".into();
    if let Some(head) = v["audit_log"].get_mut("head") {
        *head = "[hash over wall-clock times]".into();
    }
    serde_json::to_string_pretty(&v).unwrap()
}

// ------------------------------------------------------------ the test

#[test]
fn reports_flag_exactly_the_faults_made_out_of_band_and_packets_confirm_them() {
    let Some(_serial) = begin() else {
        return;
    };
    let t_start = Instant::now();
    let mut weftd = WeftdProcess::new(&[]);
    weftd.env("SOURCE_DATE_EPOCH", EPOCH);
    let mut f = Fabric::start_with("a", weftd, AGENT_ARGS);
    f.unlease_rack1_eth4();
    let w = Wires::new();

    // A clean fabric: isolated, complete, nothing found; the same bytes
    // twice (the signature too: ed25519 is deterministic).
    let first = wait_clean(&f, "start");
    let r = &first.report;
    assert_eq!(
        r.isolation.operators,
        ["alpha", "beta", "gamma", "(unleased)"]
    );
    assert_eq!(r.isolation.cells.len(), 12);
    assert!(r.policy.iter().all(|c| c.verdict == CheckVerdict::Pass));
    assert!(r.policy.len() >= 6, "{:?}", r.policy);
    let evidence: Vec<_> = r
        .evidence
        .switches
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(evidence, [OVS_LEAF, LINUX_LEAF]);
    let second = fetch_report(&f);
    assert!(
        first.payload == second.payload,
        "two reports of unchanged state differ"
    );
    assert!(
        first.envelope == second.envelope,
        "same payload, other envelope"
    );
    insta::assert_snapshot!("clean_report", snapshot_json(&first.payload));
    println!("clean report: {} bytes", first.payload.len());

    let mut replayed = 0;
    for fault in FAULTS {
        let t0 = Instant::now();
        (fault.inject)(&f);
        let audit = fetch_report(&f);
        let r = &audit.report;
        let cells: BTreeSet<(String, String)> = fault
            .cells
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let checks: BTreeSet<String> = fault.checks.iter().map(|c| (*c).to_owned()).collect();
        let context = || {
            format!(
                "{}: findings {:#?}\ndrift {:#?}",
                fault.name, r.findings, r.drift
            )
        };
        assert_eq!(violated_cells(r), cells, "cells, {}", context());
        assert_eq!(failed_checks(r), checks, "checks, {}", context());
        assert!(!r.is_isolated(), "{}", context());
        assert!(r.is_complete(), "{}", context());
        assert_eq!(
            drifted_switches(r),
            BTreeSet::from([fault.leaf.to_owned()]),
            "drift, {}",
            context()
        );
        let foreign: usize = r.drift.switches.iter().map(|d| d.foreign.len()).sum();
        if fault.leaf == OVS_LEAF {
            assert_eq!(foreign, fault.foreign_flows, "foreign flows, {}", context());
        }
        // Every counterexample leaves a trace in the matrix or the checks.
        assert!(
            r.findings
                .iter()
                .all(|f| f.class == FindingClass::Drift || f.counterexample.egress.is_some()),
            "{}",
            context()
        );

        // Real frames: each counterexample happens on the data plane.
        let confirm = to_confirm(r);
        assert!(!confirm.is_empty(), "{}", context());
        for (why, cx) in &confirm {
            println!(
                "    {why}: {} {:?} -> {}",
                cx.ingress,
                cx.header.vlan_tags,
                cx.egress.as_ref().map_or("?", |e| e.at.as_str())
            );
            if let Err(e) = replay(&f, &w, cx, MUST_ARRIVE) {
                panic!(
                    "{} ({why}): the report's counterexample did not happen: {e}\n{cx:#?}",
                    fault.name
                );
            }
        }

        // Revert; the report is clean again and the frames are dropped.
        (fault.revert)(&f);
        if fault.restart {
            f.restart_agent(fault.leaf);
            f.wait_programmed();
        }
        wait_clean(&f, fault.name);
        for (why, cx) in &confirm {
            assert!(
                replay(&f, &w, cx, MUST_NOT_ARRIVE).is_err(),
                "{} ({why}): the frame still gets through after the revert\n{cx:#?}",
                fault.name
            );
        }
        replayed += confirm.len();
        println!(
            "{:<95} cells {:?} checks {:?}: {} counterexample(s) confirmed, {:.1?}",
            fault.name,
            fault.cells,
            fault.checks,
            confirm.len(),
            t0.elapsed()
        );
    }

    // Benign drift: one flood entry of beta/db missing on the Linux leaf.
    // Connectivity breaks (rack2 → rack1), isolation does not.
    on_linux(
        &f,
        "bridge",
        &[
            "fdb",
            "del",
            "00:00:00:00:00:00",
            "dev",
            "weftv0007d1",
            "dst",
            "10.0.0.11",
        ],
    );
    let drift = fetch_report(&f).report;
    assert!(drift.is_isolated(), "{:#?}", drift.findings);
    assert!(violated_cells(&drift).is_empty());
    assert!(failed_checks(&drift).is_empty());
    assert!(drift.summary.findings.drift >= 1, "{:#?}", drift.findings);
    assert_eq!(drift.summary.findings.leak, 0);
    assert_eq!(
        drifted_switches(&drift),
        BTreeSet::from([LINUX_LEAF.to_owned()])
    );
    let d = &drift.drift.switches[0];
    assert!(!d.missing.is_empty() && d.foreign.is_empty(), "{d:#?}");
    assert!(
        drift
            .findings
            .iter()
            .all(|x| x.class == FindingClass::Drift),
        "{:#?}",
        drift.findings
    );
    assert!(
        drift
            .findings
            .iter()
            .any(|x| x.kind == "unreachable" && x.counterexample.ingress == "rack2-leaf/eth3"),
        "{:#?}",
        drift.findings
    );
    // The same with frames: beta/db's broadcast from rack2 no longer
    // reaches its rack1 port (tag 300), and does again once the agent has
    // put the entry back.
    let db = Counterexample {
        ingress: "rack2-leaf/eth3".into(),
        class: "untagged".into(),
        header: weft_report::Frame {
            vlan_tags: vec![],
            eth_dst: "ff:ff:ff:ff:ff:ff".into(),
            tun_id: None,
            tun_src: None,
            tun_dst: None,
        },
        path: vec![],
        egress: Some(weft_report::Egress {
            at: "rack1-leaf/eth3".into(),
            frame: weft_report::Frame {
                vlan_tags: vec![300],
                eth_dst: "ff:ff:ff:ff:ff:ff".into(),
                tun_id: None,
                tun_src: None,
                tun_dst: None,
            },
        }),
    };
    assert!(
        replay(&f, &w, &db, MUST_NOT_ARRIVE).is_err(),
        "beta/db still floods to rack1"
    );
    f.restart_agent(LINUX_LEAF);
    f.wait_programmed();
    wait_clean(&f, "the flood entry's restoration");
    if let Err(e) = replay(&f, &w, &db, MUST_ARRIVE) {
        panic!("beta/db does not reach rack1 after the repair: {e}");
    }
    println!(
        "benign drift (one flood entry deleted): isolated, {} drift finding(s), frames dropped until repaired",
        drift.summary.findings.drift
    );

    println!(
        "{} faults, {replayed} counterexamples replayed as frames; {:.1?} in all",
        FAULTS.len(),
        t_start.elapsed()
    );

    // Usage from the data plane: the frames replayed above crossed beta's
    // networks, whose counters every read-back sampled.
    let ch = f.channel(Role::Auditor, "audit");
    let usage = f.rt.block_on(async {
        AuditServiceClient::new(ch)
            .get_usage(GetUsageRequest {
                operator: "beta".into(),
                since: 0,
            })
            .await
            .unwrap()
            .into_inner()
            .statement
            .unwrap()
    });
    println!("beta's usage: {:?}", usage.networks);
    assert!(
        usage
            .networks
            .iter()
            .any(|n| n.packets > 0 && n.bytes > n.packets),
        "no traffic counted for beta: {usage:?}"
    );
    f.finish();
}
