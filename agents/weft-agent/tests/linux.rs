//! The Linux backend against a real kernel, in fresh network namespaces.
//!
//! Needs root, `ip`, `bridge`, `nft` and `ping`; each test prints why and
//! returns when they are missing. Namespaces are `weft_lab::Netns` guards,
//! deleted even when an assertion fails.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use weft_agent::linux::{LinuxBackend, LinuxConfig};
use weft_agent::{ApplyStats, Backend, BackendError, SwitchContext};
use weft_lab::Netns;
use weft_model::{AttachMode, PortNo, VlanId, Vni};
use weft_pipeline::{PipelineEntry, lower_switch};
use weft_rules::{Action, OutPort};

fn skip_reason() -> Option<String> {
    if !weft_lab::is_root() {
        return Some("not root: network namespaces need CAP_SYS_ADMIN".into());
    }
    for tool in ["ip", "bridge", "nft", "ping"] {
        if !weft_lab::have(tool) {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

macro_rules! require_kernel {
    () => {
        if weft_lab::skip_for(skip_reason().as_deref()) {
            return;
        }
    };
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A namespace with a name no other test or run uses.
fn netns(role: &str) -> Netns {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    Netns::create(&format!("wl{}-{n}-{role}", std::process::id())).unwrap()
}

fn ctx(switch: &str) -> SwitchContext {
    let yaml = include_str!("../../../topologies/two-racks.yaml");
    let topology = weft_config::parse_topology("two-racks.yaml", yaml).unwrap();
    let switch = topology.switch_id(switch).unwrap();
    SwitchContext {
        topology: Arc::new(topology),
        switch,
        topology_digest: "test".into(),
    }
}

fn vni(n: u64) -> Vni {
    Vni::new(n).unwrap()
}

const VTEP1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const VTEP2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);

fn access(port: u64, v: u64) -> [PipelineEntry; 2] {
    let port = PortNo::new(port).unwrap();
    [
        PipelineEntry::PortIngress {
            port,
            mode: AttachMode::Access,
            vni: vni(v),
        },
        PipelineEntry::FloodPort {
            vni: vni(v),
            port,
            mode: AttachMode::Access,
        },
    ]
}

fn tunnel(v: u64, remote: Ipv4Addr) -> [PipelineEntry; 2] {
    [
        PipelineEntry::TunnelIngress {
            vni: vni(v),
            remote,
        },
        PipelineEntry::FloodTunnel {
            vni: vni(v),
            remote,
        },
    ]
}

fn sorted(parts: &[&[PipelineEntry]]) -> Vec<PipelineEntry> {
    let mut v: Vec<PipelineEntry> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    v.sort();
    v.dedup();
    v
}

/// rack2-leaf's state in most tests: network 1000 on eth1 and to
/// rack1-leaf's VTEP, network 2000 on eth3 only; eth2 and eth4 unattached.
fn leaf2_entries() -> Vec<PipelineEntry> {
    sorted(&[&access(1, 1000), &tunnel(1000, VTEP1), &access(3, 2000)])
}

/// A leaf namespace with the topology's interfaces as veths (peers named
/// `pN`, left unattached) and the VTEP address on `up1`.
fn leaf_with_ports() -> Netns {
    let ns = netns("leaf");
    for i in 1..=4 {
        ns.ip(&[
            "link",
            "add",
            &format!("eth{i}"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("p{i}"),
        ])
        .unwrap();
        ns.ip(&["link", "set", &format!("eth{i}"), "up"]).unwrap();
        ns.ip(&["link", "set", &format!("p{i}"), "up"]).unwrap();
    }
    ns.ip(&["link", "add", "up1", "type", "veth", "peer", "name", "u1"])
        .unwrap();
    ns.ip(&["addr", "add", "10.0.0.12/24", "dev", "up1"])
        .unwrap();
    ns.ip(&["link", "set", "up1", "up"]).unwrap();
    ns
}

fn backend(ns: &Netns) -> LinuxBackend {
    LinuxBackend::new(LinuxConfig {
        netns: Some(ns.name().to_string()),
        ..LinuxConfig::default()
    })
    .unwrap()
}

fn json(ns: &Netns, argv: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ns.exec(argv).unwrap()).unwrap()
}

/// `ip -d -j link show NAME`, or `None`.
fn link(ns: &Netns, name: &str) -> Option<serde_json::Value> {
    let out = ns
        .exec(&["ip", "-d", "-j", "link", "show", "dev", name])
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    v.as_array()?.first().cloned()
}

fn master(ns: &Netns, name: &str) -> Option<String> {
    link(ns, name)?
        .get("master")
        .and_then(|m| m.as_str())
        .map(str::to_string)
}

/// The VTEPs in the all-zeros entries of a VXLAN device, sorted.
fn flood_list(ns: &Netns, dev: &str) -> Vec<String> {
    let fdb = json(ns, &["bridge", "-j", "fdb", "show", "dev", dev]);
    let mut v: Vec<String> = fdb
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mac"] == "00:00:00:00:00:00")
        .filter_map(|e| e["dst"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

fn nft_text(ns: &Netns) -> String {
    ns.exec(&["nft", "list", "ruleset"]).unwrap()
}

fn stats(added: u64, removed: u64) -> ApplyStats {
    ApplyStats { added, removed }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_builds_exactly_the_lowering_then_does_nothing() {
    require_kernel!();
    let ns = leaf_with_ports();
    let c = ctx("rack2-leaf");
    let entries = leaf2_entries();
    let mut b = backend(&ns);

    let s = b.reconcile(&c, 1, &entries).await.unwrap();
    // 2 bridges and 1 VXLAN device (each created down, marked, brought up
    // once the drops exist), 1 FDB entry, 2 enslavements, the nft tables.
    assert_eq!(s, stats(13, 0));
    assert_eq!(b.installed_generation(), 1);

    let br = link(&ns, "weftb0003e8").unwrap();
    assert_eq!(br["ifalias"], "weft:bridge vni=1000");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert_eq!(br["linkinfo"]["info_data"]["stp_state"], 0);
    assert_eq!(br["linkinfo"]["info_data"]["mcast_snooping"], 0);
    assert!(br["flags"].as_array().unwrap().contains(&"UP".into()));
    assert_eq!(
        link(&ns, "weftb0007d0").unwrap()["ifalias"],
        "weft:bridge vni=2000"
    );
    let vx = link(&ns, "weftv0003e8").unwrap();
    assert_eq!(vx["ifalias"], "weft:vxlan vni=1000");
    let data = &vx["linkinfo"]["info_data"];
    assert_eq!(data["id"], 1000);
    assert_eq!(data["local"], "10.0.0.12");
    assert_eq!(data["port"], 4789);
    assert_eq!(data["learning"], false);
    assert!(data.get("group").is_none(), "no default remote");
    assert_eq!(vx["master"], "weftb0003e8");
    assert!(vx["flags"].as_array().unwrap().contains(&"UP".into()));
    assert!(
        link(&ns, "weftv0007d0").is_none(),
        "network 2000 has no tunnel"
    );
    assert_eq!(master(&ns, "eth1").as_deref(), Some("weftb0003e8"));
    assert_eq!(master(&ns, "eth3").as_deref(), Some("weftb0007d0"));
    assert_eq!(master(&ns, "eth2"), None);
    assert_eq!(master(&ns, "eth4"), None);
    assert_eq!(
        flood_list(&ns, "weftv0003e8"),
        vec!["10.0.0.11".to_string()]
    );
    // No IPv6 link-local address: the leaf says nothing into the networks.
    for dev in ["weftb0003e8", "weftb0007d0", "weftv0003e8"] {
        let addrs = ns.ip(&["-6", "addr", "show", "dev", dev]).unwrap();
        assert!(!addrs.contains("inet6"), "{dev}: {addrs}");
        assert_eq!(
            link(&ns, dev).unwrap()["inet6_addr_gen_mode"],
            "none",
            "{dev}"
        );
    }

    let rules = nft_text(&ns);
    for dev in ["eth2", "eth4"] {
        assert!(
            rules.contains(&format!(
                "chain dev_{dev} {{\n\t\ttype filter hook ingress device \"{dev}\" priority -500; policy accept;\n\t\tdrop\n"
            )),
            "{dev} drops everything:\n{rules}"
        );
    }
    for dev in ["eth1", "eth3", "weftv0003e8"] {
        assert!(
            rules.contains(&format!("device \"{dev}\" priority -500; policy accept;\n\t\tether type 8021q drop\n\t\tether type 8021ad drop\n")),
            "{dev} drops tagged frames:\n{rules}"
        );
    }
    assert!(!rules.contains("dev_up1"), "the underlay is not filtered");
    assert!(
        rules.contains("10.0.0.11 . 0x3e8") || rules.contains("10.0.0.11 . 1000"),
        "{rules}"
    );

    // The same state again: not one change, not one nft replace.
    let ops = b.operations();
    let s = b.reconcile(&c, 2, &entries).await.unwrap();
    assert_eq!(s, stats(0, 0));
    assert_eq!(b.operations(), ops);
    let started = std::time::Instant::now();
    for g in 0..10 {
        assert_eq!(
            b.reconcile(&c, 10 + g, &entries).await.unwrap(),
            stats(0, 0)
        );
    }
    println!(
        "steady-state reconcile (2 netlink dumps, 2 nft listings): {:?} each",
        started.elapsed() / 10
    );
    assert_eq!(b.operations(), ops);
    // A fresh agent (a restart) finds nothing to do either.
    let mut again = backend(&ns);
    assert_eq!(again.reconcile(&c, 2, &entries).await.unwrap(), stats(0, 0));

    // Read back, the kernel says exactly what the OpenFlow lowering says.
    let observed = b.observe(&c).await.unwrap();
    assert_eq!(
        observed.rules,
        lower_switch(&c.topology, c.switch, &entries)
    );
    assert_eq!(
        observed.counters.keys().copied().collect::<Vec<_>>(),
        vec![vni(1000), vni(2000)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_band_changes_are_repaired_by_the_next_reconcile() {
    require_kernel!();
    let ns = leaf_with_ports();
    let c = ctx("rack2-leaf");
    let entries = leaf2_entries();
    let mut b = backend(&ns);
    b.reconcile(&c, 1, &entries).await.unwrap();

    ns.exec(&[
        "bridge",
        "fdb",
        "del",
        "00:00:00:00:00:00",
        "dev",
        "weftv0003e8",
        "dst",
        "10.0.0.11",
    ])
    .unwrap();
    ns.ip(&["link", "set", "eth1", "nomaster"]).unwrap();
    ns.exec(&["nft", "delete", "chain", "netdev", "weft", "dev_eth2"])
        .unwrap();
    // Someone else's flood entry on Weft's device is Weft's to sweep.
    ns.exec(&[
        "bridge",
        "fdb",
        "append",
        "00:00:00:00:00:00",
        "dev",
        "weftv0003e8",
        "dst",
        "10.6.6.6",
    ])
    .unwrap();
    assert_eq!(flood_list(&ns, "weftv0003e8"), vec!["10.6.6.6".to_string()]);

    let s = b.reconcile(&c, 2, &entries).await.unwrap();
    // FDB entry + enslavement + nft replace; one FDB entry swept.
    assert_eq!(s, stats(3, 1));
    assert_eq!(
        flood_list(&ns, "weftv0003e8"),
        vec!["10.0.0.11".to_string()]
    );
    assert_eq!(master(&ns, "eth1").as_deref(), Some("weftb0003e8"));
    assert!(nft_text(&ns).contains("chain dev_eth2 {"));
    assert_eq!(b.reconcile(&c, 3, &entries).await.unwrap(), stats(0, 0));

    // A deleted bridge comes back with everything that hung on it.
    ns.ip(&["link", "del", "weftb0003e8"]).unwrap();
    let s = b.reconcile(&c, 4, &entries).await.unwrap();
    assert_eq!(
        s,
        stats(5, 0),
        "bridge (3), VXLAN re-enslaved, eth1 enslaved"
    );
    assert_eq!(master(&ns, "weftv0003e8").as_deref(), Some("weftb0003e8"));
    let observed = b.observe(&c).await.unwrap();
    assert_eq!(
        observed.rules,
        lower_switch(&c.topology, c.switch, &entries)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_state_is_left_alone_and_reported() {
    require_kernel!();
    let ns = leaf_with_ports();
    let c = ctx("rack2-leaf");
    let entries = leaf2_entries();
    // A foreign bridge named like Weft's but without the alias, holding an
    // unattached server port and a foreign VXLAN device with its own FDB.
    ns.ip(&["link", "add", "weftb0009ff", "type", "bridge"])
        .unwrap();
    ns.ip(&["link", "set", "eth4", "master", "weftb0009ff"])
        .unwrap();
    ns.ip(&[
        "link",
        "add",
        "vxf",
        "type",
        "vxlan",
        "id",
        "9",
        "local",
        "10.0.0.12",
        "dstport",
        "4789",
        "nolearning",
    ])
    .unwrap();
    ns.exec(&[
        "bridge",
        "fdb",
        "append",
        "00:00:00:00:00:00",
        "dev",
        "vxf",
        "dst",
        "10.9.9.9",
    ])
    .unwrap();
    ns.ip(&["link", "set", "vxf", "master", "weftb0009ff"])
        .unwrap();
    // A link that merely carries a weft-like alias in an unknown form.
    ns.ip(&["link", "add", "weftb0003e9", "type", "bridge"])
        .unwrap();
    ns.ip(&[
        "link",
        "set",
        "weftb0003e9",
        "alias",
        "weft:bridge vni=1001 x",
    ])
    .unwrap();

    let mut b = backend(&ns);
    b.reconcile(&c, 1, &entries).await.unwrap();
    assert_eq!(b.reconcile(&c, 2, &entries).await.unwrap(), stats(0, 0));
    assert_eq!(master(&ns, "eth4").as_deref(), Some("weftb0009ff"));
    assert_eq!(master(&ns, "vxf").as_deref(), Some("weftb0009ff"));
    assert_eq!(flood_list(&ns, "vxf"), vec!["10.9.9.9".to_string()]);
    assert!(link(&ns, "weftb0003e9").is_some());

    let observed = b.observe(&c).await.unwrap();
    let expected = lower_switch(&c.topology, c.switch, &entries);
    for r in expected.rules() {
        assert!(observed.rules.rules().contains(r), "missing {r:?}");
    }
    let foreign: Vec<_> = observed
        .rules
        .rules()
        .iter()
        .filter(|r| !expected.rules().contains(r))
        .collect();
    assert!(foreign.iter().all(|r| r.cookie == 0), "{foreign:#?}");
    // The foreign bridge floods to eth4 (port 4) and tunnels to 10.9.9.9.
    let flood = foreign
        .iter()
        .find(|r| r.table == 2 && r.matches.in_port.is_none())
        .expect("a flood rule for the foreign bridge");
    assert!(
        flood
            .actions
            .contains(&Action::Output(OutPort::Port(PortNo::new(4).unwrap())))
    );
    assert!(flood.actions.contains(&Action::SetTunnelId(9)));
    assert!(
        flood
            .actions
            .contains(&Action::SetTunnelDst(Ipv4Addr::new(10, 9, 9, 9)))
    );
    // VNI 9 is not Weft's: its tunnel ingress is unguarded (any source);
    // eth4 itself drops everything, so it classifies nothing.
    assert!(
        foreign
            .iter()
            .any(|r| r.table == 0 && r.matches.tun_id == Some(9) && r.matches.tun_src.is_none())
    );
    assert!(
        !foreign
            .iter()
            .any(|r| r.table == 0 && r.matches.in_port == PortNo::new(4).ok())
    );

    // Wanting Weft's name while a foreign link holds it: refused, untouched.
    ns.ip(&["link", "add", "weftb000bb8", "type", "bridge"])
        .unwrap();
    let mut more = entries.clone();
    more.extend(access(2, 3000));
    more.sort();
    let err = b.reconcile(&c, 3, &more).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m.contains("weftb000bb8 exists but is not Weft's")),
        "{err}"
    );
    assert_eq!(master(&ns, "eth2"), None);
    assert_eq!(b.installed_generation(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_networks_are_swept_after_their_ports_drop() {
    require_kernel!();
    let ns = leaf_with_ports();
    let c = ctx("rack2-leaf");
    let mut b = backend(&ns);
    b.reconcile(&c, 1, &leaf2_entries()).await.unwrap();

    let only_2000 = sorted(&[&access(3, 2000)]);
    let s = b.reconcile(&c, 2, &only_2000).await.unwrap();
    // Drops first (eth1 drops everything, the dying VXLAN device guarded),
    // then eth1 released, VXLAN device and bridge deleted, final drops.
    assert_eq!(s, stats(2, 3));
    assert!(link(&ns, "weftb0003e8").is_none());
    assert!(link(&ns, "weftv0003e8").is_none());
    assert_eq!(master(&ns, "eth1"), None);
    assert_eq!(master(&ns, "eth3").as_deref(), Some("weftb0007d0"));
    let rules = nft_text(&ns);
    assert!(
        rules.contains("device \"eth1\" priority -500; policy accept;\n\t\tdrop\n"),
        "{rules}"
    );
    assert!(!rules.contains("weftv0003e8"), "{rules}");
    assert_eq!(b.reconcile(&c, 3, &only_2000).await.unwrap(), stats(0, 0));

    // Nothing wanted: every network goes, every server port drops.
    let s = b.reconcile(&c, 4, &[]).await.unwrap();
    assert_eq!(s, stats(1, 2));
    assert!(link(&ns, "weftb0007d0").is_none());
    let observed = b.observe(&c).await.unwrap();
    assert_eq!(observed.rules, lower_switch(&c.topology, c.switch, &[]));
    assert!(observed.counters.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_apply_on_top_of_the_installed_entries() {
    require_kernel!();
    let ns = leaf_with_ports();
    let c = ctx("rack2-leaf");
    let mut b = backend(&ns);
    b.reconcile(&c, 1, &leaf2_entries()).await.unwrap();
    // Move eth3 from network 2000 to 1000.
    let delta = weft_pipeline::SwitchDelta {
        removed: access(3, 2000).into(),
        added: access(3, 1000).into(),
    };
    let s = b.apply_delta(&c, 2, &delta).await.unwrap();
    // eth3 moves (one enslavement), bridge 2000 goes.
    assert_eq!(s, stats(1, 1));
    assert_eq!(master(&ns, "eth3").as_deref(), Some("weftb0003e8"));
    let want = sorted(&[&access(1, 1000), &tunnel(1000, VTEP1), &access(3, 1000)]);
    assert_eq!(b.installed(), want);
    let observed = b.observe(&c).await.unwrap();
    assert_eq!(observed.rules, lower_switch(&c.topology, c.switch, &want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagged_entries_are_refused_without_8021q() {
    require_kernel!();
    let ns = leaf_with_ports();
    let c = ctx("rack2-leaf");
    let mut b = backend(&ns);
    let tag = VlanId::new(10).unwrap();
    let port = PortNo::new(2).unwrap();
    let mut entries = leaf2_entries();
    entries.push(PipelineEntry::PortIngress {
        port,
        mode: AttachMode::Tagged(tag),
        vni: vni(3000),
    });
    entries.push(PipelineEntry::FloodPort {
        vni: vni(3000),
        port,
        mode: AttachMode::Tagged(tag),
    });
    entries.sort();
    match b.missing_8021q().await.unwrap() {
        None => {
            println!("SKIP: this kernel has 802.1Q; the refusal does not apply");
            return;
        }
        Some(reason) => assert!(reason.contains("802.1Q"), "{reason}"),
    }
    let err = b.reconcile(&c, 1, &entries).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m.contains("no 802.1Q VLAN support")),
        "{err}"
    );
    // Refused before any change; the probe cleaned up after itself.
    for name in ["weftb0003e8", "weftb000bb8", "weftprobe", "weftprobe.1"] {
        assert!(link(&ns, name).is_none(), "{name} exists");
    }
    assert!(!nft_text(&ns).contains("weft"));
    // Access-only entries still install.
    b.reconcile(&c, 2, &leaf2_entries()).await.unwrap();
    assert_eq!(master(&ns, "eth1").as_deref(), Some("weftb0003e8"));
}

/// Pings from namespace `from` (3 tries); true when any reply came back.
fn pings(from: &Netns, to: &str) -> bool {
    from.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", to])
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_on_two_linux_leaves_talk_over_vxlan_and_nothing_else_does() {
    require_kernel!();
    // Underlay: one plain bridge joining both leaves and a rogue VTEP.
    let ul = netns("ul");
    let leaf1 = netns("l1");
    let leaf2 = netns("l2");
    let rogue = netns("rg");
    let h1 = netns("h1");
    let h2 = netns("h2");
    let hx = netns("hx");
    ul.ip(&["link", "add", "ul", "type", "bridge"]).unwrap();
    ul.ip(&["link", "set", "ul", "up"]).unwrap();
    for (i, (leaf, addr)) in [
        (&leaf1, "10.0.0.11/24"),
        (&leaf2, "10.0.0.12/24"),
        (&rogue, "10.0.0.99/24"),
    ]
    .into_iter()
    .enumerate()
    {
        let port = format!("p{i}");
        ul.ip(&[
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "up1",
            "netns",
            leaf.name(),
        ])
        .unwrap();
        ul.ip(&["link", "set", &port, "master", "ul", "up"])
            .unwrap();
        leaf.ip(&["addr", "add", addr, "dev", "up1"]).unwrap();
        leaf.ip(&["link", "set", "up1", "up"]).unwrap();
    }
    // Hosts: h1 on rack1-leaf eth1, h2 on rack2-leaf eth1, hx on rack2-leaf
    // eth2 (never attached).
    for (leaf, port, host, addrs) in [
        (&leaf1, "eth1", &h1, vec!["192.168.77.1/24"]),
        (&leaf2, "eth1", &h2, vec!["192.168.77.2/24"]),
        (
            &leaf2,
            "eth2",
            &hx,
            vec!["192.168.77.3/24", "192.168.78.2/24"],
        ),
    ] {
        leaf.ip(&[
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            host.name(),
        ])
        .unwrap();
        leaf.ip(&["link", "set", port, "up"]).unwrap();
        for a in addrs {
            host.ip(&["addr", "add", a, "dev", "eth0"]).unwrap();
        }
        host.ip(&["link", "set", "eth0", "up"]).unwrap();
    }
    // The leaf's own address on eth2: reachable from hx until Weft drops
    // everything arriving on the unattached port.
    leaf2
        .ip(&["addr", "add", "192.168.78.1/24", "dev", "eth2"])
        .unwrap();
    assert!(
        pings(&hx, "192.168.78.1"),
        "control: the unattached port forwards before Weft"
    );
    // The rogue VTEP: VNI 1000 straight at rack2-leaf, an address on it.
    rogue
        .ip(&[
            "link",
            "add",
            "vx",
            "type",
            "vxlan",
            "id",
            "1000",
            "local",
            "10.0.0.99",
            "dstport",
            "4789",
            "nolearning",
        ])
        .unwrap();
    rogue
        .exec(&[
            "bridge",
            "fdb",
            "append",
            "00:00:00:00:00:00",
            "dev",
            "vx",
            "dst",
            "10.0.0.12",
        ])
        .unwrap();
    rogue
        .ip(&["addr", "add", "192.168.77.9/24", "dev", "vx"])
        .unwrap();
    rogue.ip(&["link", "set", "vx", "up"]).unwrap();

    let c1 = ctx("rack1-leaf");
    let c2 = ctx("rack2-leaf");
    let e1 = sorted(&[&access(1, 1000), &tunnel(1000, VTEP2)]);
    let e2 = sorted(&[&access(1, 1000), &tunnel(1000, VTEP1)]);
    let mut b1 = backend(&leaf1);
    let mut b2 = backend(&leaf2);
    b1.reconcile(&c1, 1, &e1).await.unwrap();
    b2.reconcile(&c2, 1, &e2).await.unwrap();

    assert!(pings(&h1, "192.168.77.2"), "h1 reaches h2 over VXLAN");
    assert!(!pings(&h1, "192.168.77.3"), "hx is on no network");
    assert!(
        !pings(&hx, "192.168.78.1"),
        "the unattached port drops everything"
    );
    let counters = b2.observe(&c2).await.unwrap().counters;
    assert!(counters[&vni(1000)].0 > 0, "{counters:?}");
    for (b, c, e) in [(&mut b1, &c1, &e1), (&mut b2, &c2, &e2)] {
        let observed = b.observe(c).await.unwrap();
        assert_eq!(observed.rules, lower_switch(&c.topology, c.switch, e));
    }

    // A VTEP that is not a member of VNI 1000 gets nothing in: h2 never
    // even hears its ARP request. Control first: without the guard
    // (table removed out of band) it does.
    let heard = |h: &Netns| {
        h.ip(&["neigh", "show", "192.168.77.9"])
            .is_ok_and(|s| !s.trim().is_empty())
    };
    leaf2
        .exec(&["nft", "delete", "table", "inet", "weft"])
        .unwrap();
    let _ = pings(&rogue, "192.168.77.2");
    assert!(heard(&h2), "control: unguarded, the rogue VTEP reaches h2");
    let s = b2.reconcile(&c2, 2, &e2).await.unwrap();
    assert_eq!(s, stats(1, 0), "the guard is put back");
    h2.ip(&["neigh", "flush", "dev", "eth0"]).unwrap();
    let _ = pings(&rogue, "192.168.77.2");
    assert!(!heard(&h2), "guarded: the rogue VTEP's packets are dropped");
    assert!(pings(&h1, "192.168.77.2"), "members still talk");
}
