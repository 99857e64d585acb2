//! Tests of `Intent::from_spec` / `to_spec`: one per rule, allocation, and
//! the round trip.

use super::tests_topology::base;
use crate::ids::{VlanId, Vni};
use crate::intent::{AttachMode, Intent};
use crate::spec::*;
use crate::topology::Topology;

fn topo() -> Topology {
    Topology::from_spec(&base()).unwrap()
}

fn vlan_topo() -> Topology {
    let mut spec = base();
    spec.fabric.encapsulation = EncapsulationSpec::Vlan;
    spec.fabric.reserved.vlan = vec!["1-9".to_owned()];
    for sw in &mut spec.switches {
        sw.vtep = None;
    }
    Topology::from_spec(&spec).unwrap()
}

fn att(port: &str, mode: AttachModeSpec) -> AttachmentSpec {
    AttachmentSpec {
        port: port.to_owned(),
        mode,
    }
}

fn net(name: &str, vni: Option<u64>, attachments: Vec<AttachmentSpec>) -> NetworkSpec {
    NetworkSpec {
        name: name.to_owned(),
        vni,
        fabric_vlan: None,
        attachments,
    }
}

fn lease(ports: &[&str], vni: &str) -> LeaseSpec {
    LeaseSpec {
        ports: ports.iter().map(|p| (*p).to_owned()).collect(),
        vni: vni.to_owned(),
        vlan: None,
        quotas: QuotasSpec::default(),
    }
}

/// `alpha` leases leaf1/eth1, leaf1/eth2, leaf2/eth1 with VNIs 1000-1099;
/// `beta` leases leaf1/eth3, leaf2/eth2 with VNIs 2000-2099. Both use tag
/// 100 on leaf1.
fn spec() -> IntentSpec {
    use AttachModeSpec::{Access, Tagged};
    IntentSpec {
        operators: vec![
            OperatorSpec {
                name: "alpha".to_owned(),
                display_name: Some("Alpha Cloud".to_owned()),
                lease: Some(lease(
                    &["leaf1/eth1", "leaf1/eth2", "leaf2/eth1"],
                    "1000-1099",
                )),
                networks: vec![
                    net(
                        "prod",
                        None,
                        vec![att("leaf1/eth1", Access), att("leaf2/eth1", Access)],
                    ),
                    net("dev", Some(1000), vec![att("leaf1/eth1", Tagged(100))]),
                    net(
                        "ops",
                        None,
                        vec![
                            att("leaf1/eth2", Tagged(100)),
                            att("leaf1/eth1", Tagged(200)),
                        ],
                    ),
                ],
            },
            OperatorSpec {
                name: "beta".to_owned(),
                display_name: None,
                lease: Some(lease(&["leaf1/eth3", "leaf2/eth2"], "2000-2099")),
                networks: vec![net(
                    "web",
                    None,
                    vec![att("leaf1/eth3", Tagged(100)), att("leaf2/eth2", Access)],
                )],
            },
        ],
    }
}

fn errors_in(topo: &Topology, edit: impl FnOnce(&mut IntentSpec)) -> Vec<(String, &'static str)> {
    let mut s = spec();
    edit(&mut s);
    match Intent::from_spec(topo, &s) {
        Ok(_) => Vec::new(),
        Err(v) => v
            .iter()
            .map(|v| (v.path.to_string(), v.kind.code()))
            .collect(),
    }
}

fn errors(edit: impl FnOnce(&mut IntentSpec)) -> Vec<(String, &'static str)> {
    errors_in(&topo(), edit)
}

fn one(path: &str, code: &'static str) -> Vec<(String, &'static str)> {
    vec![(path.to_owned(), code)]
}

fn vni(n: u64) -> Vni {
    Vni::new(n).unwrap()
}

#[test]
fn valid_intent_allocates_lowest_free_in_file_order() {
    let t = topo();
    let intent = Intent::from_spec(&t, &spec()).unwrap();
    let alpha = &intent.operators["alpha"];
    // `dev` holds 1000, so `prod` (first without a VNI) gets 1001, `ops` 1002.
    assert_eq!(alpha.networks["prod"].vni, vni(1001));
    assert_eq!(alpha.networks["dev"].vni, vni(1000));
    assert_eq!(alpha.networks["ops"].vni, vni(1002));
    assert_eq!(intent.operators["beta"].networks["web"].vni, vni(2000));
    let eth1 = t.resolve_port("leaf1/eth1").unwrap();
    assert_eq!(
        alpha.networks["dev"].attachments[&eth1],
        AttachMode::Tagged(VlanId::new(100).unwrap())
    );
    assert_eq!(intent.lessee(eth1).map(|o| o.name.as_str()), Some("alpha"));
    assert_eq!(alpha.lease.as_ref().unwrap().ports.len(), 3);
    assert_eq!(alpha.display_name.as_deref(), Some("Alpha Cloud"));
}

#[test]
fn round_trip_through_spec() {
    let t = topo();
    let intent = Intent::from_spec(&t, &spec()).unwrap();
    let written = intent.to_spec(&t);
    assert!(
        written
            .operators
            .iter()
            .flat_map(|o| &o.networks)
            .all(|n| n.vni.is_some())
    );
    assert_eq!(Intent::from_spec(&t, &written).unwrap(), intent);

    let vt = vlan_topo();
    let mut s = spec();
    s.operators[0].lease.as_mut().unwrap().vlan = Some("100-199".into());
    s.operators[1].lease.as_mut().unwrap().vlan = Some("200-299".into());
    s.operators[0].lease.as_mut().unwrap().quotas.networks = Some(5);
    let intent = Intent::from_spec(&vt, &s).unwrap();
    assert_eq!(
        intent.operators["alpha"].networks["prod"].fabric_vlan,
        VlanId::new(100).ok()
    );
    let written = intent.to_spec(&vt);
    assert_eq!(
        written.operators[0].lease.as_ref().unwrap().quotas.networks,
        Some(5)
    );
    assert_eq!(
        written.operators[0]
            .lease
            .as_ref()
            .unwrap()
            .quotas
            .attachments,
        None
    );
    assert_eq!(Intent::from_spec(&vt, &written).unwrap(), intent);
}

#[test]
fn operators_and_networks() {
    assert_eq!(
        errors(|s| s.operators[1].name = "alpha".into()),
        one("operators[1].name", "duplicate-name")
    );
    assert_eq!(
        errors(|s| s.operators[1].name = "Beta".into()),
        one("operators[1].name", "invalid-value")
    );
    assert_eq!(
        errors(|s| s.operators[0].networks[2].name = "dev".into()),
        one("operators[0].networks[2].name", "duplicate-name")
    );
    assert_eq!(
        errors(|s| s.operators[1].lease = None),
        one("operators[1].networks", "no-lease")
    );
}

#[test]
fn lease_ports() {
    let ports =
        |s: &mut IntentSpec, p: &str| s.operators[1].lease.as_mut().unwrap().ports.push(p.into());
    assert_eq!(
        errors(|s| ports(s, "leaf1/up1")),
        one("operators[1].lease.ports[2]", "port-not-leasable")
    );
    assert_eq!(
        errors(|s| ports(s, "spine/d1")),
        one("operators[1].lease.ports[2]", "port-not-leasable")
    );
    assert_eq!(
        errors(|s| ports(s, "leaf1/eth9")),
        one("operators[1].lease.ports[2]", "unknown-reference")
    );
    assert_eq!(
        errors(|s| ports(s, "leaf7/eth1")),
        one("operators[1].lease.ports[2]", "unknown-reference")
    );
    assert_eq!(
        errors(|s| ports(s, "leaf1")),
        one("operators[1].lease.ports[2]", "invalid-value")
    );
    assert_eq!(
        errors(|s| ports(s, "leaf1/eth1")),
        one("operators[1].lease.ports[2]", "port-leased-twice")
    );
    assert_eq!(
        errors(|s| ports(s, "leaf1/eth3")),
        one("operators[1].lease.ports[2]", "duplicate-entry")
    );
}

#[test]
fn lease_ranges() {
    assert_eq!(
        errors(|s| s.operators[1].lease.as_mut().unwrap().vni = "1050-2050".into()),
        vec![
            ("operators[1].lease.vni".to_owned(), "range-overlap"),
            // web's allocated VNI is still 2000 (lowest free of the new range
            // that no explicit VNI takes), so no further error.
        ]
    );
    assert_eq!(
        errors(|s| s.operators[0].lease.as_mut().unwrap().vni = "900-1099".into()),
        one("operators[0].lease.vni", "range-reserved")
    );
    assert_eq!(
        errors(|s| s.operators[0].lease.as_mut().unwrap().vni = "1099-1000".into()),
        vec![("operators[0].lease.vni".to_owned(), "invalid-value"),]
    );
    assert_eq!(
        errors(|s| s.operators[0].lease.as_mut().unwrap().vlan = Some("100-199".into())),
        one("operators[0].lease.vlan", "field-not-allowed")
    );
}

#[test]
fn vlan_fabric_leases() {
    let vt = vlan_topo();
    let with_vlans = |s: &mut IntentSpec| {
        s.operators[0].lease.as_mut().unwrap().vlan = Some("100-199".into());
        s.operators[1].lease.as_mut().unwrap().vlan = Some("200-299".into());
    };
    assert_eq!(errors_in(&vt, with_vlans), vec![]);
    assert_eq!(
        errors_in(&vt, |_| {}).len(),
        2,
        "both leases lack a VLAN range"
    );
    assert_eq!(
        errors_in(&vt, |s| {
            with_vlans(s);
            s.operators[1].lease.as_mut().unwrap().vlan = Some("150-250".into());
        }),
        one("operators[1].lease.vlan", "range-overlap")
    );
    assert_eq!(
        errors_in(&vt, |s| {
            with_vlans(s);
            s.operators[0].lease.as_mut().unwrap().vlan = Some("5-20".into());
        }),
        one("operators[0].lease.vlan", "range-reserved")
    );
    assert_eq!(
        errors_in(&vt, |s| {
            with_vlans(s);
            s.operators[0].networks[0].fabric_vlan = Some(300);
            s.operators[0].networks[1].fabric_vlan = Some(150);
            s.operators[0].networks[2].fabric_vlan = Some(150);
        }),
        vec![
            (
                "operators[0].networks[0].fabric_vlan".to_owned(),
                "outside-range"
            ),
            (
                "operators[0].networks[2].fabric_vlan".to_owned(),
                "id-in-use"
            ),
        ]
    );
    assert_eq!(
        errors_in(&vt, |s| {
            with_vlans(s);
            s.operators[1].lease.as_mut().unwrap().vlan = Some("200".into());
            s.operators[1].networks.push(net("db", None, vec![]));
        }),
        one("operators[1].networks[1].name", "pool-exhausted")
    );
}

#[test]
fn network_identifiers() {
    assert_eq!(
        errors(|s| s.operators[0].networks[0].vni = Some(2000)),
        one("operators[0].networks[0].vni", "outside-range")
    );
    assert_eq!(
        errors(|s| s.operators[0].networks[0].vni = Some(1000)),
        // Reported at the later network in the file.
        one("operators[0].networks[1].vni", "id-in-use")
    );
    assert_eq!(
        errors(|s| s.operators[0].networks[0].vni = Some(1 << 24)),
        one("operators[0].networks[0].vni", "invalid-value")
    );
    assert_eq!(
        errors(|s| s.operators[0].networks[0].fabric_vlan = Some(10)),
        one("operators[0].networks[0].fabric_vlan", "field-not-allowed")
    );
    assert_eq!(
        errors(|s| {
            s.operators[1].lease.as_mut().unwrap().vni = "2000-2001".into();
            s.operators[1].networks.push(net("db", Some(2000), vec![]));
            s.operators[1].networks.push(net("cache", None, vec![]));
        }),
        one("operators[1].networks[2].name", "pool-exhausted")
    );
}

#[test]
fn attachments() {
    use AttachModeSpec::{Access, Tagged};
    let add = |s: &mut IntentSpec, op: usize, n: usize, a: AttachmentSpec| {
        s.operators[op].networks[n].attachments.push(a)
    };
    assert_eq!(
        errors(|s| add(s, 0, 1, att("leaf1/eth3", Access))),
        one(
            "operators[0].networks[1].attachments[1].port",
            "port-not-leased"
        )
    );
    assert_eq!(
        errors(|s| add(s, 0, 1, att("leaf2/eth3", Access))),
        one(
            "operators[0].networks[1].attachments[1].port",
            "port-not-leased"
        )
    );
    assert_eq!(errors(|s| add(s, 0, 1, att("leaf1/eth2", Access))), vec![]);
    assert_eq!(
        errors(|s| add(s, 0, 1, att("leaf2/eth1", Access))),
        one(
            "operators[0].networks[1].attachments[1].port",
            "access-conflict"
        )
    );
    assert_eq!(
        errors(|s| add(s, 0, 2, att("leaf1/eth1", Tagged(100)))),
        one(
            "operators[0].networks[2].attachments[2].port",
            "duplicate-entry"
        )
    );
    assert_eq!(
        errors(|s| add(s, 0, 0, att("leaf1/eth2", Tagged(100)))),
        // `prod` comes first in the file, so `ops`'s tag is the conflict.
        one(
            "operators[0].networks[2].attachments[0].mode.tagged",
            "tag-conflict"
        )
    );
    assert_eq!(
        errors(|s| add(s, 0, 0, att("leaf1/eth2", Tagged(4095)))),
        one(
            "operators[0].networks[0].attachments[2].mode.tagged",
            "invalid-value"
        )
    );
    assert_eq!(
        errors(|s| add(s, 0, 0, att("leaf1/nope", Access))),
        one(
            "operators[0].networks[0].attachments[2].port",
            "unknown-reference"
        )
    );
}

#[test]
fn quotas() {
    assert_eq!(
        errors(|s| s.operators[0].lease.as_mut().unwrap().quotas.networks = Some(2)),
        one("operators[0].networks[2].name", "quota-exceeded")
    );
    assert_eq!(
        errors(|s| s.operators[0].lease.as_mut().unwrap().quotas.attachments = Some(3)),
        one("operators[0].networks[2].attachments[0]", "quota-exceeded")
    );
    assert_eq!(
        errors(|s| s.operators[0]
            .lease
            .as_mut()
            .unwrap()
            .quotas
            .entries_per_switch = Some(1 << 40)),
        one(
            "operators[0].lease.quotas.entries_per_switch",
            "number-too-large"
        )
    );
    let v = {
        let mut s = spec();
        s.operators[0].lease.as_mut().unwrap().quotas.networks = Some(1);
        Intent::from_spec(&topo(), &s).unwrap_err()
    };
    assert_eq!(
        v[0].related[0].0.to_string(),
        "operators[0].lease.quotas.networks"
    );
    assert_eq!(
        v[0].kind.to_string(),
        "quota networks exceeded: 3 used, limit 1"
    );
}

#[test]
fn every_violation_at_once() {
    let v = errors(|s| {
        s.operators[0].networks[0].vni = Some(5);
        s.operators[1]
            .lease
            .as_mut()
            .unwrap()
            .ports
            .push("leaf1/eth1".into());
        s.operators[1].networks[0].attachments[0].port = "leaf1/eth1".into();
    });
    assert_eq!(
        v,
        vec![
            (
                "operators[1].lease.ports[2]".to_owned(),
                "port-leased-twice"
            ),
            ("operators[0].networks[0].vni".to_owned(), "outside-range"),
            (
                "operators[1].networks[0].attachments[0].port".to_owned(),
                "port-not-leased"
            ),
        ]
    );
}
