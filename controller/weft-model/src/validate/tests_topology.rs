//! Tests of `Topology::from_spec` / `to_spec`: one per rule, plus
//! "every violation at once" and the round trip.

use crate::ids::PortNo;
use crate::spec::*;
use crate::topology::{PortKey, PortRole, SwitchRole, Topology};
use crate::violation::Violation;

pub(super) fn port(name: &str, role: PortRoleSpec) -> PortSpec {
    PortSpec {
        name: name.to_owned(),
        number: None,
        role,
    }
}

pub(super) fn leaf(name: &str, vtep: &str) -> SwitchSpec {
    SwitchSpec {
        name: name.to_owned(),
        rack: None,
        role: SwitchRoleSpec::Leaf,
        dataplane: DataplaneSpec::Ovs,
        vtep: Some(vtep.to_owned()),
        management: None,
        ports: vec![
            port("eth1", PortRoleSpec::Server),
            port("eth2", PortRoleSpec::Server),
            port("eth3", PortRoleSpec::Server),
            port("up1", PortRoleSpec::Fabric),
        ],
    }
}

pub(super) fn link(a: &str, b: &str) -> LinkSpec {
    LinkSpec {
        a: a.to_owned(),
        b: b.to_owned(),
    }
}

/// Two leaves (`leaf1`, `leaf2`: eth1-3 server, up1 fabric) on one spine
/// (`spine`: d1, d2), a server on `leaf1/eth1`, racks `r1`, `r2`.
pub(super) fn base() -> TopologySpec {
    TopologySpec {
        fabric: FabricSpec {
            name: "lab".to_owned(),
            encapsulation: EncapsulationSpec::Vxlan,
            reserved: ReservedSpec {
                vni: vec!["1-999".to_owned()],
                vlan: vec![],
            },
        },
        sites: vec![SiteSpec {
            name: "dc1".to_owned(),
            racks: vec![
                RackSpec {
                    name: "r2".to_owned(),
                },
                RackSpec {
                    name: "r1".to_owned(),
                },
            ],
        }],
        switches: vec![
            SwitchSpec {
                rack: Some("r2".to_owned()),
                ..leaf("leaf2", "10.0.0.2")
            },
            SwitchSpec {
                rack: Some("r1".to_owned()),
                ..leaf("leaf1", "10.0.0.1")
            },
            SwitchSpec {
                name: "spine".to_owned(),
                rack: None,
                role: SwitchRoleSpec::Spine,
                dataplane: DataplaneSpec::Linux,
                vtep: None,
                management: Some("tcp:192.0.2.1:6653".to_owned()),
                ports: vec![
                    port("d1", PortRoleSpec::Fabric),
                    port("d2", PortRoleSpec::Fabric),
                ],
            },
        ],
        servers: vec![ServerSpec {
            name: "web-1".to_owned(),
            rack: Some("r1".to_owned()),
            nics: vec![NicSpec {
                name: "eth0".to_owned(),
                port: "leaf1/eth1".to_owned(),
            }],
        }],
        links: vec![link("spine/d2", "leaf2/up1"), link("leaf1/up1", "spine/d1")],
    }
}

fn codes(v: &[Violation]) -> Vec<(String, &'static str)> {
    v.iter()
        .map(|v| (v.path.to_string(), v.kind.code()))
        .collect()
}

/// The violations of a spec modified by `edit`, as (path, code).
fn errors(edit: impl FnOnce(&mut TopologySpec)) -> Vec<(String, &'static str)> {
    let mut spec = base();
    edit(&mut spec);
    match Topology::from_spec(&spec) {
        Ok(_) => Vec::new(),
        Err(v) => codes(&v),
    }
}

fn one(path: &str, code: &'static str) -> Vec<(String, &'static str)> {
    vec![(path.to_owned(), code)]
}

#[test]
fn valid_topology_is_canonical() {
    let t = Topology::from_spec(&base()).unwrap();
    let names: Vec<_> = t.switches.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["leaf1", "leaf2", "spine"]);
    let leaf1 = t.switch_id("leaf1").unwrap();
    let spine = t.switch_id("spine").unwrap();
    assert_eq!(t.switch(spine).role, SwitchRole::Spine);
    let up1 = t.resolve_port("leaf1/up1").unwrap();
    assert_eq!(
        up1,
        PortKey {
            switch: leaf1,
            port: PortNo::new(4).unwrap()
        }
    );
    assert_eq!(t.port(up1).unwrap().peer, t.resolve_port("spine/d1"));
    let eth1 = t.port(t.resolve_port("leaf1/eth1").unwrap()).unwrap();
    assert_eq!(eth1.role, PortRole::Server);
    assert_eq!(
        eth1.nic.as_ref().map(|(s, n)| (s.as_str(), n.as_str())),
        Some(("web-1", "eth0"))
    );
    assert_eq!(t.links.len(), 2);
    assert!(t.links.iter().all(|l| l.a < l.b));
    assert!(t.links.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        t.sites[0]
            .racks
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>(),
        ["r1", "r2"]
    );
    assert_eq!(t.reserved_vni.len(), 1);
}

#[test]
fn round_trip_through_spec() {
    let mut spec = base();
    spec.switches[1].ports[2].number = Some(30);
    let t = Topology::from_spec(&spec).unwrap();
    let again = Topology::from_spec(&t.to_spec()).unwrap();
    assert_eq!(t, again);
    assert_eq!(again.to_spec(), t.to_spec());
    // Ports are listed by number; numbers equal to the position are left out.
    let leaf1 = &t.to_spec().switches[0];
    assert_eq!(
        leaf1.ports.iter().map(|p| p.number).collect::<Vec<_>>(),
        [None, None, Some(4), Some(30)]
    );
}

#[test]
fn names_and_values() {
    assert_eq!(
        errors(|s| s.fabric.name = "Lab!".into()),
        one("fabric.name", "invalid-value")
    );
    assert_eq!(errors(|s| s.switches[0].name = "leaf 2".into()), {
        // The bad name is reported, and links to it no longer resolve.
        vec![
            ("switches[0].name".to_owned(), "invalid-value"),
            ("links[0].b".to_owned(), "dangling-link"),
        ]
    });
    assert_eq!(
        errors(|s| s.switches[1].ports[0].number = Some(0)),
        one("switches[1].ports[0].number", "invalid-value")
    );
}

#[test]
fn duplicate_names_everywhere() {
    let got = errors(|s| {
        s.switches[0].name = "leaf1".into();
        s.switches[2].ports[1].name = "d1".into();
        s.sites.push(SiteSpec {
            name: "dc1".into(),
            racks: vec![RackSpec { name: "r1".into() }],
        });
        s.servers.push(s.servers[0].clone());
        s.servers[0].nics.push(NicSpec {
            name: "eth0".into(),
            port: "leaf1/eth2".into(),
        });
    });
    let dup: Vec<_> = got
        .iter()
        .filter(|(_, c)| *c == "duplicate-name")
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(
        dup,
        [
            "sites[1].name",
            "sites[1].racks[0].name",
            "switches[1].name",
            "switches[2].ports[1].name",
            "servers[0].nics[1].name",
            "servers[1].name"
        ]
    );
}

#[test]
fn port_numbers() {
    assert_eq!(
        errors(|s| s.switches[1].ports[2].number = Some(1)),
        one("switches[1].ports[2].number", "duplicate-port-number")
    );
    assert_eq!(
        errors(|s| s.switches[1].ports[2].number = Some(65000)),
        one("switches[1].ports[2].number", "reserved-port-number")
    );
}

#[test]
fn racks_must_be_declared() {
    assert_eq!(
        errors(|s| s.servers[0].rack = Some("r9".into())),
        one("servers[0].rack", "unknown-reference")
    );
}

#[test]
fn links() {
    assert_eq!(
        errors(|s| s.links[0].a = "spine/d9".into()),
        one("links[0].a", "dangling-link")
    );
    assert_eq!(
        errors(|s| s.links[0].a = "spline/d2".into()),
        one("links[0].a", "dangling-link")
    );
    assert_eq!(
        errors(|s| s.links[0].a = "spine-d2".into()),
        one("links[0].a", "invalid-value")
    );
    assert_eq!(
        errors(|s| s.links[0].b = "leaf2/eth2".into()),
        one("links[0].b", "link-on-server-port")
    );
    assert_eq!(
        errors(|s| s.links.push(link("spine/d1", "spine/d2"))),
        one("links[2]", "self-link")
    );
    assert_eq!(
        errors(|s| s.links.push(link("leaf2/up1", "spine/d1"))),
        vec![
            ("links[2].a".to_owned(), "port-used-twice"),
            ("links[2].b".to_owned(), "port-used-twice")
        ]
    );
}

#[test]
fn nics() {
    let nic = |s: &mut TopologySpec, port: &str| {
        s.servers[0].nics.push(NicSpec {
            name: "eth1".into(),
            port: port.into(),
        });
    };
    assert_eq!(
        errors(|s| nic(s, "leaf1/eth1")),
        one("servers[0].nics[1].port", "port-used-twice")
    );
    assert_eq!(
        errors(|s| nic(s, "leaf1/up1")),
        one("servers[0].nics[1].port", "nic-on-fabric-port")
    );
    assert_eq!(
        errors(|s| nic(s, "spine/d1")),
        one("servers[0].nics[1].port", "nic-on-spine")
    );
    assert_eq!(
        errors(|s| nic(s, "leaf1/eth9")),
        one("servers[0].nics[1].port", "unknown-reference")
    );
    // A link onto a port that a NIC already uses.
    assert_eq!(
        errors(|s| {
            s.switches[1].ports[0].role = PortRoleSpec::Fabric;
            s.servers[0].nics[0].port = "leaf1/eth2".into();
            s.links.push(link("leaf1/eth1", "spine/d1"));
        }),
        vec![("links[2].b".to_owned(), "port-used-twice")]
    );
}

#[test]
fn spines_have_no_server_ports() {
    assert_eq!(
        errors(|s| s.switches[2].ports.push(port("d3", PortRoleSpec::Server))),
        one("switches[2].ports[2].role", "server-port-on-spine")
    );
}

#[test]
fn leaf_without_uplink() {
    assert_eq!(
        errors(|s| {
            s.links.remove(1);
        }),
        one("switches[1].name", "leaf-without-uplink")
    );
    // One mistake, one report: a link with a dangling or wrong end is not
    // reported again as a missing uplink.
    assert_eq!(
        errors(|s| s.links[1].b = "spine/d7".into()),
        one("links[1].b", "dangling-link")
    );
    assert_eq!(
        errors(|s| s.links[1].a = "leaf9/up1".into()),
        one("links[1].a", "dangling-link")
    );
}

#[test]
fn vteps() {
    assert_eq!(
        errors(|s| s.switches[0].vtep = None),
        one("switches[0].vtep", "missing-vtep")
    );
    assert_eq!(
        errors(|s| s.switches[0].vtep = Some("10.0.0.1".into())),
        one("switches[1].vtep", "duplicate-vtep")
    );
    for bad in [
        "10.0.0",
        "10.0.0.256",
        "0.0.0.0",
        "224.0.0.5",
        "255.255.255.255",
        " 10.0.0.9",
    ] {
        assert_eq!(
            errors(|s| s.switches[0].vtep = Some(bad.into())),
            one("switches[0].vtep", "invalid-address"),
            "{bad}"
        );
    }
    assert_eq!(
        errors(|s| s.switches[2].vtep = Some("10.0.0.9".into())),
        one("switches[2].vtep", "field-not-allowed")
    );
}

#[test]
fn vlan_fabric_rules() {
    let vlan = |s: &mut TopologySpec| {
        s.fabric.encapsulation = EncapsulationSpec::Vlan;
        for sw in &mut s.switches {
            sw.vtep = None;
        }
    };
    assert_eq!(errors(vlan), vec![]);
    assert_eq!(
        errors(|s| {
            vlan(s);
            s.switches[0].vtep = Some("10.0.0.2".into());
        }),
        one("switches[0].vtep", "field-not-allowed")
    );
    // leaf2 (the first leaf in the file) hangs off a second spine that
    // nothing joins to the first: leaf1 is reported as cut off from it.
    assert_eq!(
        errors(|s| {
            vlan(s);
            let mut spine2 = s.switches[2].clone();
            spine2.name = "spine2".into();
            s.switches.push(spine2);
            s.links[0].a = "spine2/d2".into();
        }),
        one("switches[1].name", "fabric-partitioned")
    );
}

#[test]
fn reserved_ranges() {
    let got = errors(|s| {
        s.fabric.reserved.vni = vec![
            "1-999".into(),
            "500-600".into(),
            "0-5".into(),
            "20000000".into(),
        ];
        s.fabric.reserved.vlan = vec![
            "10-20".into(),
            "4000-4095".into(),
            "15".into(),
            "30-2".into(),
        ];
    });
    assert_eq!(
        got,
        vec![
            ("fabric.reserved.vni[2]".to_owned(), "invalid-value"),
            ("fabric.reserved.vni[3]".to_owned(), "invalid-value"),
            ("fabric.reserved.vni[1]".to_owned(), "range-overlap"),
            ("fabric.reserved.vlan[1]".to_owned(), "invalid-value"),
            ("fabric.reserved.vlan[3]".to_owned(), "invalid-value"),
            ("fabric.reserved.vlan[2]".to_owned(), "range-overlap"),
        ]
    );
}

#[test]
fn every_violation_at_once() {
    let mut spec = base();
    spec.switches[0].vtep = None;
    spec.switches[1].ports[1].number = Some(65000);
    spec.links[0].a = "spine/nope".into();
    spec.servers[0].rack = Some("nowhere".into());
    let v = Topology::from_spec(&spec).unwrap_err();
    assert_eq!(v.len(), 4, "{v:#?}");
    let dup = v.iter().find(|v| v.kind.code() == "dangling-link").unwrap();
    assert!(
        dup.kind.to_string().contains("spine has no port"),
        "{}",
        dup.kind
    );
}

#[test]
fn overlap_check_is_bounded_on_hostile_lists() {
    let mut spec = base();
    spec.fabric.reserved.vni = vec!["100-200".to_owned(); 50_000];
    let v = Topology::from_spec(&spec).unwrap_err();
    // Every copy but the first is reported once, against an earlier one.
    assert_eq!(v.len(), 49_999);
    assert!(v.iter().all(|v| v.related.len() == 1));
}
