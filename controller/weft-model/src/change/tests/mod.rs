use std::collections::BTreeSet;

mod lease;

use super::*;
use crate::ids::{Label, PortNo, VlanRange, VniRange};
use crate::intent::Quotas;
use crate::topology::Encapsulation;
use crate::topology::{Dataplane, Link, Port, PortRole, Switch, SwitchId, SwitchRole};
use crate::violation::ViolationKind;

/// Two leaves (`leaf1`, `leaf2`: ports 1-4 server, 5 fabric) and a spine
/// (ports 1-2 fabric), built directly so these tests do not depend on
/// `Topology::from_spec`.
fn topo(encapsulation: Encapsulation) -> Topology {
    let port = |n: u64, role| Port {
        name: Label::new(format!("p{n}")).unwrap(),
        number: PortNo::new(n).unwrap(),
        role,
        peer: None,
        nic: None,
    };
    let leaf = |name: &str, octet: u8| Switch {
        name: Label::new(name).unwrap(),
        rack: None,
        role: SwitchRole::Leaf,
        dataplane: Dataplane::Ovs,
        vtep: Some(std::net::Ipv4Addr::new(10, 0, 0, octet)),
        management: None,
        ports: (1..=4)
            .map(|n| port(n, PortRole::Server))
            .chain([port(5, PortRole::Fabric)])
            .collect(),
    };
    let spine = Switch {
        name: Label::new("spine").unwrap(),
        rack: None,
        role: SwitchRole::Spine,
        dataplane: Dataplane::Ovs,
        vtep: None,
        management: None,
        ports: vec![port(1, PortRole::Fabric), port(2, PortRole::Fabric)],
    };
    let switches = vec![leaf("leaf1", 1), leaf("leaf2", 2), spine];
    let switch_index = switches
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), SwitchId(u32::try_from(i).unwrap())))
        .collect();
    let pk = |s, p| PortKey {
        switch: SwitchId(s),
        port: PortNo::new(p).unwrap(),
    };
    Topology {
        name: Name::new("t").unwrap(),
        encapsulation,
        reserved_vni: vec![VniRange::new(vni(1), vni(99)).unwrap()],
        reserved_vlan: vec![VlanRange::new(vlan(1), vlan(9)).unwrap()],
        sites: vec![],
        switches,
        servers: vec![],
        links: vec![
            Link {
                a: pk(0, 5),
                b: pk(2, 1),
            },
            Link {
                a: pk(1, 5),
                b: pk(2, 2),
            },
        ],
        switch_index,
    }
}

fn vni(n: u64) -> Vni {
    Vni::new(n).unwrap()
}
fn vlan(n: u64) -> VlanId {
    VlanId::new(n).unwrap()
}
fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}
fn port(switch: u32, p: u64) -> PortKey {
    PortKey {
        switch: SwitchId(switch),
        port: PortNo::new(p).unwrap(),
    }
}

fn lease(ports: &[PortKey], vnis: (u64, u64), vlans: Option<(u64, u64)>) -> Lease {
    Lease {
        ports: ports.iter().copied().collect::<BTreeSet<_>>(),
        vni: VniRange::new(vni(vnis.0), vni(vnis.1)).unwrap(),
        vlan: vlans.map(|(a, b)| VlanRange::new(vlan(a), vlan(b)).unwrap()),
        quotas: Quotas::default(),
    }
}

/// Operators `a` (ports leaf1/1-2, leaf2/1; VNI 100-199) and `b` (leaf1/3,
/// leaf2/2; VNI 200-299), no networks yet.
fn setup(t: &Topology) -> Intent {
    let vlan = t.encapsulation == Encapsulation::Vlan;
    let mut i = Intent::default();
    for (op, ports, vnis, vlans) in [
        (
            "a",
            vec![port(0, 1), port(0, 2), port(1, 1)],
            (100, 199),
            (100, 199),
        ),
        ("b", vec![port(0, 3), port(1, 2)], (200, 299), (200, 299)),
    ] {
        i.apply(
            t,
            IntentChange::UpsertOperator {
                name: name(op),
                display_name: None,
            },
        )
        .unwrap();
        let l = lease(&ports, vnis, vlan.then_some(vlans));
        i.apply(
            t,
            IntentChange::SetLease {
                operator: name(op),
                lease: l,
            },
        )
        .unwrap();
    }
    i
}

fn create(
    i: &mut Intent,
    t: &Topology,
    op: &str,
    net: &str,
    v: Option<u64>,
) -> Result<Vec<Effect>, ChangeError> {
    i.apply(
        t,
        IntentChange::CreateNetwork {
            operator: name(op),
            name: name(net),
            vni: v.map(vni),
            fabric_vlan: None,
        },
    )
}

fn attach(
    i: &mut Intent,
    t: &Topology,
    op: &str,
    net: &str,
    p: PortKey,
    mode: AttachMode,
) -> Result<Vec<Effect>, ChangeError> {
    i.apply(
        t,
        IntentChange::Attach {
            operator: name(op),
            network: name(net),
            port: p,
            mode,
        },
    )
}

#[test]
fn create_allocates_lowest_free_vni_and_vlan() {
    let t = topo(Encapsulation::Vlan);
    let mut i = setup(&t);
    create(&mut i, &t, "a", "x", Some(100)).unwrap();
    let fx = create(&mut i, &t, "a", "y", None).unwrap();
    assert_eq!(
        fx,
        vec![Effect::NetworkCreated {
            operator: name("a"),
            network: name("y"),
            vni: vni(101),
            fabric_vlan: Some(vlan(101)),
        }]
    );
    assert_eq!(i.operators["a"].networks["x"].fabric_vlan, Some(vlan(100)));
}

#[test]
fn create_rejects_bad_vni_and_duplicates() {
    let t = topo(Encapsulation::Vxlan);
    let mut i = setup(&t);
    let before = i.clone();
    assert!(matches!(
        create(&mut i, &t, "a", "x", Some(250)),
        Err(ChangeError::OutsideLease {
            kind: "VNI",
            value: 250,
            ..
        })
    ));
    create(&mut i, &t, "a", "x", Some(150)).unwrap();
    assert!(matches!(
        create(&mut i, &t, "a", "y", Some(150)),
        Err(ChangeError::IdInUse { value: 150, .. })
    ));
    assert!(matches!(
        create(&mut i, &t, "a", "x", None),
        Err(ChangeError::AlreadyExists {
            kind: ResourceKind::Network,
            ..
        })
    ));
    assert!(matches!(
        create(&mut i, &t, "nobody", "x", None),
        Err(ChangeError::NotFound {
            kind: ResourceKind::Operator,
            ..
        })
    ));
    assert_eq!(
        i.apply(
            &t,
            IntentChange::CreateNetwork {
                operator: name("a"),
                name: name("z"),
                vni: None,
                fabric_vlan: Some(vlan(100)),
            }
        ),
        Err(ChangeError::FabricVlanNotApplicable)
    );
    assert_eq!(i.operators["a"].networks.len(), 1);
    assert_ne!(i, before);
}

#[test]
fn network_quota_and_pool_exhaustion() {
    let t = topo(Encapsulation::Vxlan);
    let mut i = setup(&t);
    let mut l = lease(&[port(0, 1)], (100, 101), None);
    l.quotas.networks = 5;
    i.apply(
        &t,
        IntentChange::SetLease {
            operator: name("a"),
            lease: l.clone(),
        },
    )
    .unwrap();
    create(&mut i, &t, "a", "n1", None).unwrap();
    create(&mut i, &t, "a", "n2", None).unwrap();
    assert!(matches!(
        create(&mut i, &t, "a", "n3", None),
        Err(ChangeError::PoolExhausted(_))
    ));
    l.quotas.networks = 2;
    l.vni = VniRange::new(vni(100), vni(110)).unwrap();
    i.apply(
        &t,
        IntentChange::SetLease {
            operator: name("a"),
            lease: l,
        },
    )
    .unwrap();
    assert_eq!(
        create(&mut i, &t, "a", "n3", None),
        Err(ChangeError::QuotaExceeded {
            quota: QuotaKind::Networks,
            limit: 2,
            requested: 3
        })
    );
}

#[test]
fn attach_checks_lease_modes_and_quota() {
    let t = topo(Encapsulation::Vxlan);
    let mut i = setup(&t);
    create(&mut i, &t, "a", "x", None).unwrap();
    create(&mut i, &t, "a", "y", None).unwrap();
    let fx = attach(&mut i, &t, "a", "x", port(0, 1), AttachMode::Access).unwrap();
    assert_eq!(
        fx,
        vec![Effect::Attached {
            operator: name("a"),
            network: name("x"),
            vni: vni(100),
            fabric_vlan: None,
            port: port(0, 1),
            mode: AttachMode::Access,
        }]
    );
    // b's port, an unknown port.
    assert!(matches!(
        attach(&mut i, &t, "a", "x", port(0, 3), AttachMode::Access),
        Err(ChangeError::PortNotLeased { .. })
    ));
    assert!(matches!(
        attach(&mut i, &t, "a", "x", port(0, 9), AttachMode::Access),
        Err(ChangeError::NotFound {
            kind: ResourceKind::Port,
            ..
        })
    ));
    // One access attachment per port; tags distinct per port.
    assert!(matches!(
        attach(&mut i, &t, "a", "y", port(0, 1), AttachMode::Access),
        Err(ChangeError::AttachmentConflict { .. })
    ));
    attach(
        &mut i,
        &t,
        "a",
        "y",
        port(0, 1),
        AttachMode::Tagged(vlan(7)),
    )
    .unwrap();
    create(&mut i, &t, "a", "z", None).unwrap();
    assert!(matches!(
        attach(
            &mut i,
            &t,
            "a",
            "z",
            port(0, 1),
            AttachMode::Tagged(vlan(7))
        ),
        Err(ChangeError::AttachmentConflict { .. })
    ));
    assert!(matches!(
        attach(
            &mut i,
            &t,
            "a",
            "x",
            port(0, 1),
            AttachMode::Tagged(vlan(8))
        ),
        Err(ChangeError::AlreadyExists {
            kind: ResourceKind::Attachment,
            ..
        })
    ));
    // Quota: 2 attachments exist.
    let mut l = i.operators["a"].lease.clone().unwrap();
    l.quotas.attachments = 2;
    i.apply(
        &t,
        IntentChange::SetLease {
            operator: name("a"),
            lease: l,
        },
    )
    .unwrap();
    assert!(matches!(
        attach(&mut i, &t, "a", "z", port(0, 2), AttachMode::Access),
        Err(ChangeError::QuotaExceeded {
            quota: QuotaKind::Attachments,
            limit: 2,
            requested: 3
        })
    ));
}

#[test]
fn detach_and_delete_cascade() {
    let t = topo(Encapsulation::Vxlan);
    let mut i = setup(&t);
    create(&mut i, &t, "a", "x", None).unwrap();
    attach(&mut i, &t, "a", "x", port(0, 1), AttachMode::Access).unwrap();
    attach(
        &mut i,
        &t,
        "a",
        "x",
        port(1, 1),
        AttachMode::Tagged(vlan(5)),
    )
    .unwrap();
    let d = IntentChange::Detach {
        operator: name("a"),
        network: name("x"),
        port: port(0, 2),
    };
    assert!(matches!(
        i.apply(&t, d),
        Err(ChangeError::NotFound {
            kind: ResourceKind::Attachment,
            ..
        })
    ));
    let fx = i
        .apply(
            &t,
            IntentChange::DeleteNetwork {
                operator: name("a"),
                name: name("x"),
            },
        )
        .unwrap();
    let kinds: Vec<_> = fx.iter().map(std::mem::discriminant).collect();
    assert_eq!(fx.len(), 3);
    assert!(matches!(fx[0], Effect::Detached { port: p, .. } if p == port(0, 1)));
    assert!(matches!(
        fx[1],
        Effect::Detached {
            mode: AttachMode::Tagged(_),
            ..
        }
    ));
    assert!(matches!(fx[2], Effect::NetworkDeleted { .. }));
    assert_eq!(kinds[0], kinds[1]);
    assert!(i.operators["a"].networks.is_empty());
}

#[test]
fn remove_operator_cascades_in_order() {
    let t = topo(Encapsulation::Vxlan);
    let mut i = setup(&t);
    create(&mut i, &t, "a", "x", None).unwrap();
    attach(&mut i, &t, "a", "x", port(0, 1), AttachMode::Access).unwrap();
    let fx = i
        .apply(&t, IntentChange::RemoveOperator { name: name("a") })
        .unwrap();
    assert!(matches!(fx[0], Effect::Detached { .. }));
    assert!(matches!(fx[1], Effect::NetworkDeleted { .. }));
    assert_eq!(
        fx[2],
        Effect::LeaseRemoved {
            operator: name("a")
        }
    );
    assert_eq!(
        fx[3],
        Effect::OperatorRemoved {
            operator: name("a")
        }
    );
    assert!(i.operator("a").is_none());
    // a's ports and range are now free for b.
    let l = lease(&[port(0, 1), port(0, 3)], (100, 299), None);
    i.apply(
        &t,
        IntentChange::SetLease {
            operator: name("b"),
            lease: l,
        },
    )
    .unwrap();
}

#[test]
fn upsert_operator_reports_only_real_changes() {
    let t = topo(Encapsulation::Vxlan);
    let mut i = Intent::default();
    let up = |d: Option<&str>| IntentChange::UpsertOperator {
        name: name("a"),
        display_name: d.map(str::to_owned),
    };
    assert_eq!(
        i.apply(&t, up(None)),
        Ok(vec![Effect::OperatorCreated {
            operator: name("a")
        }])
    );
    assert_eq!(i.apply(&t, up(None)), Ok(vec![]));
    assert_eq!(
        i.apply(&t, up(Some("A corp"))),
        Ok(vec![Effect::OperatorUpdated {
            operator: name("a")
        }])
    );
    assert_eq!(i.operators["a"].display_name.as_deref(), Some("A corp"));
}

#[test]
fn inverse_round_trips() {
    let e = Effect::Attached {
        operator: name("a"),
        network: name("x"),
        vni: vni(100),
        fabric_vlan: None,
        port: port(0, 1),
        mode: AttachMode::Access,
    };
    let inv = e.inverse().unwrap();
    assert!(matches!(inv, Effect::Detached { .. }));
    assert_eq!(inv.inverse(), Some(e));
    assert_eq!(
        Effect::LeaseSet {
            operator: name("a")
        }
        .inverse(),
        None
    );
}
