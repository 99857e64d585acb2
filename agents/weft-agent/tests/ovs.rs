//! The Open vSwitch backend against a real, private `ovs-vswitchd` (dummy
//! datapath): what it installs is exactly the lowering, it sends nothing
//! when nothing differs, it repairs out-of-band changes, leaves foreign
//! flows alone, reports OpenFlow refusals, reconnects, and the installed
//! tables forward (`ofproto/trace`) as the isolation invariant says.
//!
//! Skips with a printed reason when not root or Open vSwitch is missing.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::Ipv4Addr;
use std::sync::Arc;

use weft_agent::ovs::{Connection, OfError, OvsBackend, OvsTarget};
use weft_agent::{ApplyStats, Backend, BackendError, SwitchContext};
use weft_lab::{Datapath, OvsInstance};
use weft_model::{AttachMode, PortNo, VlanId, Vni};
use weft_openflow::{
    FlowMod, FlowModCommand, FlowStatsRequest, Instruction, Message, MultipartRequest, OfMatch,
    OfpError,
};
use weft_pipeline::{PipelineEntry, SwitchDelta, lower_switch};
use weft_rules::{Cookie, Rule, SwitchRules};

const BRIDGE: &str = "br0";
const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);

/// A private Open vSwitch with bridge `br0`: server ports p1..p4 at
/// OpenFlow ports 1..4, the VXLAN port `vx` at 65000. Stopped (by pid)
/// and removed when dropped.
struct Switch {
    ovs: OvsInstance,
    _dir: tempfile::TempDir,
}

impl Switch {
    fn start() -> Option<Switch> {
        let why = if !weft_lab::is_root() {
            Some("Open vSwitch tests need root")
        } else if !weft_lab::have("ovs-vswitchd") || !weft_lab::have("ovs-ofctl") {
            Some("Open vSwitch (openvswitch-switch) is not installed")
        } else {
            None
        };
        if weft_lab::skip_for(why) {
            return None;
        }
        // Short path: unix socket names are limited.
        let dir = tempfile::Builder::new()
            .prefix("wovs")
            .tempdir_in("/tmp")
            .unwrap();
        let ovs = OvsInstance::start(dir.path(), None, Datapath::Dummy).unwrap();
        ovs.add_bridge(BRIDGE).unwrap();
        for p in 1..=4u32 {
            ovs.add_port(BRIDGE, &format!("p{p}"), p, &[]).unwrap();
        }
        ovs.add_port(
            BRIDGE,
            "vx",
            65000,
            &["type=vxlan", "options:remote_ip=flow", "options:key=flow"],
        )
        .unwrap();
        Some(Switch { ovs, _dir: dir })
    }

    fn target(&self) -> OvsTarget {
        OvsTarget::Unix(self.ovs.mgmt_socket(BRIDGE))
    }

    async fn backend(&self) -> OvsBackend {
        OvsBackend::connect(self.target()).await.unwrap()
    }

    fn ofctl(&self, cmd: &str, args: &[&str]) -> String {
        self.ovs.ofctl(cmd, BRIDGE, args).unwrap()
    }

    /// Flow lines of `ovs-ofctl dump-flows`.
    fn flow_lines(&self) -> Vec<String> {
        self.ofctl("dump-flows", &[])
            .lines()
            .filter(|l| l.contains("priority="))
            .map(str::to_owned)
            .collect()
    }

    /// The OpenFlow ports a frame leaves by, with the datapath actions, or
    /// `None` when it is dropped. `packet` is hex.
    fn trace(&self, in_port: u32, packet: &str) -> Option<String> {
        let out = self
            .ovs
            .appctl(&[
                "ofproto/trace",
                BRIDGE,
                &format!("in_port={in_port}"),
                packet,
            ])
            .unwrap();
        let actions = out
            .lines()
            .find_map(|l| l.strip_prefix("Datapath actions: "))
            .unwrap()
            .trim()
            .to_owned();
        (actions != "drop").then_some(actions)
    }

    /// Datapath port number → OpenFlow port number, from `dpif/show`
    /// (`    p1 1/3: (dummy)`).
    fn odp_to_ofport(&self) -> Vec<(String, u32)> {
        self.ovs
            .appctl(&["dpif/show"])
            .unwrap()
            .lines()
            .filter_map(|l| {
                let (_, nums) = l.trim().split_once(' ')?;
                let (of, rest) = nums.split_once('/')?;
                let odp = rest.split(':').next()?;
                Some((odp.to_owned(), of.parse().ok()?))
            })
            .collect()
    }

    /// The OpenFlow ports named in datapath actions, in order, with the
    /// VLAN pushes as `push:VID`.
    fn trace_ports(&self, in_port: u32, packet: &str) -> Option<Vec<String>> {
        let actions = self.trace(in_port, packet)?;
        let map = self.odp_to_ofport();
        Some(
            split_actions(&actions)
                .into_iter()
                .filter_map(|a| {
                    if let Some(v) = a.strip_prefix("push_vlan(vid=") {
                        return Some(format!("push:{}", v.split(',').next()?));
                    }
                    if a == "pop_vlan" {
                        return Some("pop".into());
                    }
                    map.iter()
                        .find(|(odp, _)| *odp == a)
                        .map(|(_, of)| of.to_string())
                })
                .collect(),
        )
    }
}

/// Splits datapath actions at top-level commas.
fn split_actions(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn ctx() -> SwitchContext {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../topologies/two-racks.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let topology = weft_config::parse_topology("two-racks.yaml", &text).unwrap();
    let switch = topology.switch_id("rack1-leaf").unwrap();
    SwitchContext {
        topology: Arc::new(topology),
        switch,
        topology_digest: "test".into(),
    }
}

fn port(n: u32) -> PortNo {
    PortNo::new(u64::from(n)).unwrap()
}

fn vni(n: u64) -> Vni {
    Vni::new(n).unwrap()
}

fn tagged(v: u16) -> AttachMode {
    AttachMode::Tagged(VlanId::new(u64::from(v)).unwrap())
}

/// Network A (VNI 5000): port 1 access, port 2 tagged 100, rack2-leaf's
/// VTEP. Network B (VNI 5001): port 3 access, rack2-leaf's VTEP. Port 4 is
/// not leased.
fn entries() -> Vec<PipelineEntry> {
    let (a, b) = (vni(5000), vni(5001));
    let mut e = vec![
        PipelineEntry::PortIngress {
            port: port(1),
            mode: AttachMode::Access,
            vni: a,
        },
        PipelineEntry::PortIngress {
            port: port(2),
            mode: tagged(100),
            vni: a,
        },
        PipelineEntry::PortIngress {
            port: port(3),
            mode: AttachMode::Access,
            vni: b,
        },
    ];
    for v in [a, b] {
        e.push(PipelineEntry::TunnelIngress {
            vni: v,
            remote: REMOTE,
        });
        e.push(PipelineEntry::FloodTunnel {
            vni: v,
            remote: REMOTE,
        });
    }
    e.push(PipelineEntry::FloodPort {
        vni: a,
        port: port(1),
        mode: AttachMode::Access,
    });
    e.push(PipelineEntry::FloodPort {
        vni: a,
        port: port(2),
        mode: tagged(100),
    });
    e.push(PipelineEntry::FloodPort {
        vni: b,
        port: port(3),
        mode: AttachMode::Access,
    });
    e.sort();
    e
}

fn weft_rules_of(b: &weft_agent::Observed) -> Vec<Rule> {
    b.rules
        .rules()
        .iter()
        .filter(|r| Cookie::is_weft(r.cookie))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_installs_exactly_the_lowering_and_then_sends_nothing() {
    let Some(sw) = Switch::start() else { return };
    let c = ctx();
    let want = lower_switch(&c.topology, c.switch, &entries());
    let mut b = sw.backend().await;

    let s = b.reconcile(&c, 1, &entries()).await.unwrap();
    assert_eq!(
        s,
        ApplyStats {
            added: want.len() as u64,
            removed: 0
        }
    );
    assert_eq!(b.installed_generation(), 1);
    let seen = b.observe(&c).await.unwrap();
    assert_eq!(seen.rules, want, "read back equals the lowering");
    assert_eq!(sw.flow_lines().len(), want.len());
    let sent = b.flow_mods_sent();
    assert_eq!(sent, want.len() as u64);

    // Same state: no flow-mod at all.
    let s = b.reconcile(&c, 2, &entries()).await.unwrap();
    assert_eq!(s, ApplyStats::default());
    assert_eq!(b.flow_mods_sent(), sent);

    // Agent restart: a new backend finds everything in place.
    drop(b);
    let before = sw.flow_lines();
    let mut fresh = sw.backend().await;
    let s = fresh.reconcile(&c, 2, &entries()).await.unwrap();
    assert_eq!(s, ApplyStats::default());
    assert_eq!(
        fresh.flow_mods_sent(),
        0,
        "restart removes or re-adds nothing"
    );
    // The flows were not re-added: same set, and their ages only grew.
    let strip_age = |l: &String| {
        l.split(", ")
            .filter(|f| !f.starts_with("duration=") && !f.contains("age="))
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert_eq!(
        sw.flow_lines().iter().map(strip_age).collect::<Vec<_>>(),
        before.iter().map(strip_age).collect::<Vec<_>>()
    );
    // Counters exist for both networks (zero: nothing was sent yet).
    let seen = fresh.observe(&c).await.unwrap();
    assert_eq!(
        seen.counters.keys().copied().collect::<Vec<_>>(),
        vec![vni(5000), vni(5001)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_band_changes_are_repaired_and_foreign_flows_kept() {
    let Some(sw) = Switch::start() else { return };
    let c = ctx();
    let want = lower_switch(&c.topology, c.switch, &entries());
    let mut b = sw.backend().await;
    b.reconcile(&c, 1, &entries()).await.unwrap();

    // Someone deletes one of Weft's flows.
    sw.ofctl(
        "del-flows",
        &["--strict", "table=2,priority=1000,metadata=5000"],
    );
    assert_eq!(sw.flow_lines().len(), want.len() - 1);
    // Someone modifies another in place (same match, other actions).
    sw.ofctl(
        "mod-flows",
        &[
            "--strict",
            "table=2,priority=1000,metadata=5001,actions=output:4",
        ],
    );
    // Someone adds a flow of their own, and a stale flow with Weft's
    // cookie (one with a match the model cannot express).
    sw.ofctl(
        "add-flow",
        &["table=0,priority=5,ip,nw_src=10.1.2.3,actions=output:4"],
    );
    sw.ofctl(
        "add-flow",
        &["table=0,priority=1000,cookie=0x5745465400000309,in_port=4,actions=write_metadata:0x309,goto_table:1"],
    );
    sw.ofctl(
        "add-flow",
        &["table=0,priority=1000,cookie=0x5745465400000309,ip,nw_dst=10.9.9.9,actions=drop"],
    );

    let s = b.reconcile(&c, 2, &entries()).await.unwrap();
    // The deleted flow added back, the modified one replaced (added and
    // removed), the two stale Weft flows removed.
    assert_eq!(
        s,
        ApplyStats {
            added: 2,
            removed: 3
        }
    );
    let seen = b.observe(&c).await.unwrap();
    assert_eq!(SwitchRules::new(weft_rules_of(&seen)), want);
    let foreign: Vec<&Rule> = seen
        .rules
        .rules()
        .iter()
        .filter(|r| !Cookie::is_weft(r.cookie))
        .collect();
    assert_eq!(foreign.len(), 1, "the foreign flow is left in place");
    assert_eq!(foreign[0].cookie, 0);
    assert_eq!(foreign[0].matches.eth_type, Some(0x0800));
    assert_eq!(foreign[0].matches.opaque, vec!["ipv4_src=0x0a010203"]);
    assert!(
        sw.flow_lines()
            .iter()
            .any(|l| l.contains("nw_src=10.1.2.3"))
    );

    // Repaired: the next periodic reconcile has nothing to do.
    let sent = b.flow_mods_sent();
    assert_eq!(
        b.reconcile(&c, 3, &entries()).await.unwrap(),
        ApplyStats::default()
    );
    assert_eq!(b.flow_mods_sent(), sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_apply_in_one_bundle_and_match_a_full_lowering() {
    let Some(sw) = Switch::start() else { return };
    let c = ctx();
    let mut b = sw.backend().await;
    b.reconcile(&c, 1, &entries()).await.unwrap();

    // Lease port 4 to network B, and move port 2 from A to B (tag 100).
    let (a, bb) = (vni(5000), vni(5001));
    let delta = SwitchDelta {
        added: vec![
            PipelineEntry::PortIngress {
                port: port(4),
                mode: AttachMode::Access,
                vni: bb,
            },
            PipelineEntry::PortIngress {
                port: port(2),
                mode: tagged(100),
                vni: bb,
            },
            PipelineEntry::FloodPort {
                vni: bb,
                port: port(2),
                mode: tagged(100),
            },
            PipelineEntry::FloodPort {
                vni: bb,
                port: port(4),
                mode: AttachMode::Access,
            },
        ],
        removed: vec![
            PipelineEntry::PortIngress {
                port: port(2),
                mode: tagged(100),
                vni: a,
            },
            PipelineEntry::FloodPort {
                vni: a,
                port: port(2),
                mode: tagged(100),
            },
        ],
    };
    let before_sent = b.flow_mods_sent();
    let s = b.apply_delta(&c, 2, &delta).await.unwrap();
    assert_eq!(b.installed_generation(), 2);
    let mut after = entries();
    after.retain(|e| !delta.removed.contains(e));
    after.extend(delta.added.iter().copied());
    after.sort();
    assert_eq!(b.installed_entries(), after);
    let want = lower_switch(&c.topology, c.switch, &after);
    let seen = b.observe(&c).await.unwrap();
    assert_eq!(seen.rules, want, "delta result equals a full lowering");
    // Classify: port 2's rule and its two inner-tag guards replaced in
    // place (same match, the other network's cookie), port 4's added;
    // flood: both networks' two table-2 rules changed.
    assert_eq!(s.added, 2 + 2 + 4);
    assert_eq!(s.removed, 1 + 2 + 4);
    // Replacements are not also deleted: 8 adds, 0 strict deletes.
    assert_eq!(b.flow_mods_sent() - before_sent, 8);

    // A reconcile to the same entries finds nothing to do.
    assert_eq!(
        b.reconcile(&c, 3, &after).await.unwrap(),
        ApplyStats::default()
    );

    // Reconcile back to the first state removes what the delta added.
    let s = b.reconcile(&c, 4, &entries()).await.unwrap();
    assert_eq!(s.removed, s.added + 1, "{s:?}");
    let seen = b.observe(&c).await.unwrap();
    assert_eq!(seen.rules, lower_switch(&c.topology, c.switch, &entries()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_reported_decoded_and_nothing_is_half_applied() {
    let Some(sw) = Switch::start() else { return };
    let c = ctx();
    // Table 0 holds at most 2 flows; the lowering needs 6 there.
    sw.ovs
        .vsctl(&[
            "--",
            "--id=@ft",
            "create",
            "Flow_Table",
            "flow_limit=2",
            "overflow_policy=refuse",
            "--",
            "set",
            "Bridge",
            BRIDGE,
            "flow_tables:0=@ft",
        ])
        .unwrap();
    let mut b = sw.backend().await;
    let err = b.reconcile(&c, 1, &entries()).await.unwrap_err();
    let BackendError::Refused(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("OFPET_FLOW_MOD_FAILED/TABLE_FULL"), "{msg}");
    assert_eq!(b.installed_generation(), 0);
    assert!(
        sw.flow_lines().is_empty(),
        "the bundle is atomic: {:?}",
        sw.flow_lines()
    );
    // The connection survives a refusal.
    assert!(b.observe(&c).await.unwrap().rules.is_empty());

    // A refused request straight on the connection: a backwards goto.
    let conn = Connection::connect(&sw.target(), std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let mut bad = FlowMod::new(FlowModCommand::Add, 2, 7, OfMatch::default());
    bad.instructions = vec![Instruction::GotoTable(1)];
    let err = conn.bundle(vec![bad.clone()]).await.unwrap_err();
    assert!(
        matches!(&err, OfError::Refused(e) if e.error == OfpError::BadInstruction(2)),
        "{err:?}"
    );
    let err = conn
        .exchange(&[Message::FlowMod(bad), Message::BarrierRequest], &[])
        .await
        .unwrap();
    assert!(matches!(&err[0].1, Message::Error(e) if e.error == OfpError::BadInstruction(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_connection_is_reestablished_within_the_next_call() {
    let Some(sw) = Switch::start() else { return };
    let c = ctx();
    let mut b = sw.backend().await;
    b.reconcile(&c, 1, &entries()).await.unwrap();
    // Re-creating the bridge closes every OpenFlow connection to it (and
    // empties it).
    sw.ovs.vsctl(&["del-br", BRIDGE]).unwrap();
    sw.ovs.add_bridge(BRIDGE).unwrap();
    for p in 1..=4u32 {
        sw.ovs.add_port(BRIDGE, &format!("p{p}"), p, &[]).unwrap();
    }
    sw.ovs
        .add_port(
            BRIDGE,
            "vx",
            65000,
            &["type=vxlan", "options:remote_ip=flow", "options:key=flow"],
        )
        .unwrap();
    let want = lower_switch(&c.topology, c.switch, &entries());
    let s = b.reconcile(&c, 2, &entries()).await.unwrap();
    assert_eq!(s.added, want.len() as u64);
    assert_eq!(b.observe(&c).await.unwrap().rules, want);

    // No switch at all: unavailable, not refused.
    let err = OvsBackend::connect(OvsTarget::Unix("/nonexistent/br.mgmt".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Unavailable(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_tables_forward_as_the_isolation_invariant_says() {
    let Some(sw) = Switch::start() else { return };
    let c = ctx();
    let mut b = sw.backend().await;
    b.reconcile(&c, 1, &entries()).await.unwrap();

    // Ethernet broadcast, then an optional tag stack, then IPv4/UDP.
    let frame = |tags: &[u16]| {
        let mut s = String::from("ffffffffffff020000000001");
        for t in tags {
            s.push_str(&format!("8100{t:04x}"));
        }
        // IPv4 (20 bytes) + UDP (8 bytes): 42 bytes untagged in all.
        s.push_str("0800");
        s.push_str("4500001c000100004011000001010101020202020001000200080000");
        s
    };
    // Untagged on access port 1 (network A): port 2 tagged 100, and the
    // tunnel; never port 3 (network B) or 4 (unleased).
    assert_eq!(
        sw.trace_ports(1, &frame(&[])),
        Some(vec![
            "push:100".into(),
            "2".into(),
            "pop".into(),
            "65000".into()
        ])
    );
    // Tagged 100 on port 2: untagged out of port 1, and the tunnel.
    assert_eq!(
        sw.trace_ports(2, &frame(&[100])),
        Some(vec!["pop".into(), "1".into(), "65000".into()])
    );
    // Network B's only local port is port 3: the tunnel alone.
    assert_eq!(sw.trace_ports(3, &frame(&[])), Some(vec!["65000".into()]));
    // Dropped: a tagged frame on an access port, a wrong tag on a tagged
    // port, a double-tagged frame, anything from an unleased port.
    assert_eq!(sw.trace(1, &frame(&[5])), None);
    assert_eq!(sw.trace(2, &frame(&[101])), None);
    assert_eq!(sw.trace(2, &frame(&[100, 200])), None, "double-tagged");
    assert_eq!(sw.trace(4, &frame(&[])), None, "unleased port");
    assert_eq!(sw.trace(4, &frame(&[100])), None, "unleased port");

    // The inner-tag guard works on the EtherType after the outer tag, which
    // is what Open vSwitch's default vlan-limit of 1 (pinned by weft-lab)
    // shows. With vlan-limit=2 the table-1 guard drops the frame instead.
    sw.ovs
        .vsctl(&["set", "Open_vSwitch", ".", "other_config:vlan-limit=2"])
        .unwrap();
    assert_eq!(sw.trace(2, &frame(&[100, 200])), None, "vlan-limit=2");
    sw.ovs
        .vsctl(&["set", "Open_vSwitch", ".", "other_config:vlan-limit=1"])
        .unwrap();
    assert_eq!(sw.trace(2, &frame(&[100, 200])), None);

    // Frames really received on port 1 show up in network A's counters.
    for _ in 0..3 {
        sw.ovs
            .appctl(&["netdev-dummy/receive", "p1", &frame(&[])])
            .unwrap();
    }
    let mut counters = Default::default();
    for _ in 0..50 {
        counters = b.observe(&c).await.unwrap().counters;
        if counters.get(&vni(5000)).is_some_and(|c| c.0 >= 3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let a = counters[&vni(5000)];
    assert_eq!(a.0, 3, "{counters:?}");
    assert_eq!(a.1, 3 * 42, "{counters:?}");
    assert_eq!(counters[&vni(5001)], (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_flows_use_multipart_replies_and_one_bundle() {
    let Some(sw) = Switch::start() else { return };
    let c = ctx();
    // 4 ports × 800 tags → 3,200 classify flows plus flood rules: a
    // flow-stats reply far beyond one 64 KiB message.
    let mut many = Vec::new();
    for p in 1..=4u32 {
        for t in 1..=800u16 {
            let v = vni(100_000 + u64::from(p) * 1000 + u64::from(t));
            many.push(PipelineEntry::PortIngress {
                port: port(p),
                mode: tagged(t),
                vni: v,
            });
            many.push(PipelineEntry::FloodPort {
                vni: v,
                port: port(p),
                mode: tagged(t),
            });
        }
    }
    many.sort();
    let want = lower_switch(&c.topology, c.switch, &many);
    let mut b = sw.backend().await;
    let s = b.reconcile(&c, 1, &many).await.unwrap();
    assert_eq!(s.added, want.len() as u64);
    // The switch really answered in several parts.
    let conn = Connection::connect(&sw.target(), std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let parts = conn
        .exchange(
            &[Message::MultipartRequest(MultipartRequest::Flow(
                FlowStatsRequest::all(),
            ))],
            &[],
        )
        .await
        .unwrap();
    assert!(parts.len() > 1, "{} parts", parts.len());
    assert!(
        parts[..parts.len() - 1]
            .iter()
            .all(|(_, m)| matches!(m, Message::MultipartReply(r) if r.more))
    );
    let seen = b.observe(&c).await.unwrap();
    assert_eq!(seen.rules.len(), want.len());
    assert_eq!(seen.rules, want);
    assert_eq!(seen.counters.len(), 3200);
    let sent = b.flow_mods_sent();
    assert_eq!(
        b.reconcile(&c, 2, &many).await.unwrap(),
        ApplyStats::default()
    );
    assert_eq!(b.flow_mods_sent(), sent);
    // Everything back to the small state: one bundle of deletes and adds.
    let s = b.reconcile(&c, 3, &entries()).await.unwrap();
    let small = lower_switch(&c.topology, c.switch, &entries());
    assert_eq!(b.observe(&c).await.unwrap().rules, small);
    assert_eq!(s.removed, want.len() as u64 - 4);
}
