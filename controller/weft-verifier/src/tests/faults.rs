//! Each fault injected into correct tables is caught, with a counterexample
//! of the right class; benign faults are not called leaks.

use std::net::Ipv4Addr;
use weft_model::VXLAN_TUNNEL_PORT;
use weft_model::spec::EncapsulationSpec;

use weft_rules::{Action, Cookie, Match, OutPort, VlanMatch};

use super::*;
use crate::{FindingClass, FindingKind, Hop};

fn vxlan() -> Fixture {
    fixture(EncapsulationSpec::Vxlan)
}

#[test]
fn a_port_mapped_to_another_operators_vni_leaks() {
    let mut fx = vxlan();
    fx.edit("leaf1", |rules| {
        for r in rules.iter_mut() {
            if r.matches.in_port == Some(port(S1)) {
                r.write_metadata = Some(2001);
            }
        }
    });
    let report = fx.verify();
    assert!(!report.is_isolated());
    let leak = first(&report, FindingKind::CrossOperatorDelivery);
    assert_eq!(leak.class, FindingClass::Leak);
    assert_eq!(leak.source_operator.as_ref().map(|n| n.as_str()), Some("a"));
    assert_eq!(
        leak.destination_operator.as_ref().map(|n| n.as_str()),
        Some("b")
    );
    let cx = &leak.counterexample;
    assert_eq!(cx.ingress, "leaf1/s1");
    assert!(cx.header.vlan_tags.is_empty());
    // The path names the misconfigured rule: table 0, its cookie.
    let Some(Hop::Rule {
        switch,
        table,
        priority,
        ..
    }) = cx.path.first()
    else {
        panic!("{leak}")
    };
    assert_eq!((switch.as_str(), *table, *priority), ("leaf1", 0, 1000));
    let egress = cx.egress.as_ref().unwrap();
    assert!(egress.at == "leaf1/s2" || egress.at == "leaf2/s2", "{leak}");
    // On the wire it travels under b's VNI.
    let wire = first(&report, FindingKind::ForeignIdOnWire);
    assert_eq!(
        wire.counterexample.egress.as_ref().unwrap().frame.tun_id,
        Some(2001)
    );
}

#[test]
fn a_flood_entry_tunnelling_into_another_operators_network_leaks() {
    let mut fx = vxlan();
    let leaf2 = fx.topo.switch(fx.id("leaf2")).vtep.unwrap();
    fx.edit("leaf1", |rules| {
        for r in rules.iter_mut() {
            if r.table == 2 && r.matches == meta(1001) {
                r.actions.extend([
                    Action::SetTunnelId(2001),
                    Action::SetTunnelDst(leaf2),
                    Action::Output(OutPort::Port(VXLAN_TUNNEL_PORT)),
                ]);
            }
        }
    });
    let report = fx.verify();
    let wire = first(&report, FindingKind::ForeignIdOnWire);
    assert_eq!(wire.class, FindingClass::Leak);
    let delivered = first(&report, FindingKind::CrossOperatorDelivery);
    let cx = &delivered.counterexample;
    assert_eq!(cx.egress.as_ref().unwrap().at, "leaf2/s2");
    assert!(
        cx.path
            .iter()
            .any(|h| matches!(h, Hop::Tunnel { vni: 2001, .. })),
        "{delivered}"
    );
}

#[test]
fn a_foreign_high_priority_rule_between_operators_leaks() {
    let mut fx = vxlan();
    fx.edit("leaf1", |r| {
        r.push(rule(0, 60000, on_port(S2, VlanMatch::Any), vec![out(S1)]))
    });
    let report = fx.verify();
    let leak = first(&report, FindingKind::CrossOperatorDelivery);
    assert_eq!(leak.source_operator.as_ref().unwrap().as_str(), "b");
    assert_eq!(leak.counterexample.ingress, "leaf1/s2");
    assert_eq!(leak.counterexample.egress.as_ref().unwrap().at, "leaf1/s1");
    let Some(Hop::Rule {
        priority, cookie, ..
    }) = leak.counterexample.path.first()
    else {
        panic!()
    };
    assert_eq!((*priority, *cookie), (60000, Cookie::for_vni(0)));
}

#[test]
fn an_access_port_accepting_tagged_frames_is_a_breach() {
    let mut fx = vxlan();
    fx.edit("leaf1", |rules| {
        for r in rules.iter_mut() {
            if r.matches.in_port == Some(port(S1)) {
                r.matches.vlan = VlanMatch::Any;
                r.actions = vec![Action::PopVlan];
            }
        }
    });
    let report = fx.verify();
    let f = first(&report, FindingKind::TagNotAttached);
    assert_eq!(f.class, FindingClass::PolicyBreach);
    assert_eq!(f.counterexample.header.vlan_tags.len(), 1, "{f}");
    // Still single-tagged frames only: the tag guard drops what is left of
    // a double-tagged one, and untagged frames are fine.
    assert!(
        !kinds(&report).contains(&FindingKind::DoubleTagged),
        "{report}"
    );
    assert_eq!(report.count(FindingClass::Leak), 0, "{report}");
}

#[test]
fn without_the_tag_guard_double_tagged_frames_get_through() {
    let mut fx = vxlan();
    fx.edit("leaf1", |rules| {
        rules.retain(|r| !(r.table == 1 && r.priority == 1000))
    });
    let report = fx.verify();
    // a/db is tagged 10 on leaf1/s3: a frame tagged 10 then anything loses
    // its outer tag and is tunnelled to leaf2 with the inner one.
    let f = first(&report, FindingKind::DoubleTagged);
    assert_eq!(f.counterexample.ingress, "leaf1/s3");
    assert_eq!(f.counterexample.header.vlan_tags, vec![10, 1], "{f}");
    // On the wire: the inner tag, under a/db's VNI.
    let egress = &f.counterexample.egress.as_ref().unwrap().frame;
    assert_eq!(
        (egress.vlan_tags.as_slice(), egress.tun_id),
        (&[1][..], Some(1002)),
        "{f}"
    );
}

#[test]
fn a_vni_reused_by_two_operators_is_caught() {
    // b's network is given a's VNI on the wire (ingress and flood), so a's
    // and b's frames share it.
    let mut fx = vxlan();
    for leaf in ["leaf1", "leaf2"] {
        fx.edit(leaf, |rules| {
            for r in rules.iter_mut() {
                if r.write_metadata == Some(2001) && r.matches.in_port == Some(VXLAN_TUNNEL_PORT) {
                    r.matches.tun_id = Some(1001);
                }
                for a in &mut r.actions {
                    if *a == Action::SetTunnelId(2001) {
                        *a = Action::SetTunnelId(1001);
                    }
                }
            }
        });
    }
    let report = fx.verify();
    let wire = first(&report, FindingKind::ForeignIdOnWire);
    assert_eq!(wire.source_operator.as_ref().unwrap().as_str(), "b");
    assert_eq!(wire.destination_operator.as_ref().unwrap().as_str(), "a");
    assert!(report.count(FindingClass::Leak) >= 2, "{report}");
}

#[test]
fn a_missing_flood_entry_is_drift_not_a_leak() {
    let mut fx = vxlan();
    fx.edit("leaf1", |rules| {
        for r in rules.iter_mut() {
            if r.table == 2 && r.matches == meta(1001) {
                r.actions
                    .retain(|a| matches!(a, Action::Output(OutPort::Port(p)) if p.get() == 1));
            }
        }
    });
    let report = fx.verify();
    assert!(report.is_isolated(), "{report}");
    assert_eq!(kinds(&report), vec![FindingKind::Unreachable]);
    let d = first(&report, FindingKind::Unreachable);
    assert_eq!(d.class, FindingClass::Drift);
    assert_eq!(d.counterexample.ingress, "leaf1/s1");
    assert!(d.summary.contains("leaf2/s1"), "{d}");
}

#[test]
fn an_unleased_port_that_forwards_is_a_breach() {
    let mut fx = vxlan();
    fx.edit("leaf2", |r| {
        r.push(classify(on_port(S3, VlanMatch::Untagged), false, 1001))
    });
    let report = fx.verify();
    let f = first(&report, FindingKind::UnleasedPortForwards);
    assert_eq!(f.counterexample.ingress, "leaf2/s3");
    assert_eq!(f.source_operator, None);
}

#[test]
fn tunnels_from_non_member_sources_must_be_dropped() {
    let mut fx = vxlan();
    fx.edit("leaf1", |rules| {
        for r in rules.iter_mut() {
            if r.matches.tun_id == Some(1001) {
                r.matches.tun_src = None;
            }
        }
    });
    let report = fx.verify();
    let f = first(&report, FindingKind::TunnelFromNonMember);
    assert_eq!(f.counterexample.ingress, "leaf1/vxlan");
    // The witness source is no member VTEP.
    assert_ne!(f.counterexample.header.tun_src, Some(vtep(2)));
    assert_eq!(f.counterexample.header.tun_id, Some(1001));
}

#[test]
fn a_tunnel_to_an_unknown_vtep_leaves_the_fabric() {
    let mut fx = vxlan();
    fx.edit("leaf1", |rules| {
        for r in rules.iter_mut() {
            for a in &mut r.actions {
                if *a == Action::SetTunnelDst(vtep(2)) {
                    *a = Action::SetTunnelDst(Ipv4Addr::new(192, 0, 2, 99));
                }
            }
        }
    });
    let report = fx.verify();
    let f = first(&report, FindingKind::LeavesFabric);
    assert!(
        f.counterexample
            .egress
            .as_ref()
            .unwrap()
            .at
            .contains("192.0.2.99"),
        "{f}"
    );
}

#[test]
fn ambiguous_opaque_and_controller_rules_are_reported_once() {
    let mut fx = vxlan();
    fx.edit("leaf1", |r| {
        // Same priority, overlapping: in_port=s1 vs vlan=none.
        r.push(rule(
            0,
            1000,
            Match {
                vlan: VlanMatch::Untagged,
                ..Match::default()
            },
            vec![],
        ));
        r.push(rule(
            2,
            3000,
            Match {
                opaque: vec!["nw_proto=1".to_owned()],
                ..meta(1001)
            },
            vec![
                Action::Opaque("learn(table=9)".to_owned()),
                Action::Output(OutPort::Controller),
            ],
        ));
    });
    let report = fx.verify();
    let amb: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Ambiguous)
        .collect();
    assert!(!amb.is_empty());
    // One finding per ambiguous rule pair, not per frame class.
    let mut summaries: Vec<_> = amb.iter().map(|f| &f.summary).collect();
    summaries.dedup();
    assert_eq!(summaries.len(), amb.len());
    let u = first(&report, FindingKind::Uninterpretable);
    assert!(u.summary.contains("learn(table=9)"), "{u}");
    let c = first(&report, FindingKind::LeavesDataPlane);
    let assumed = c
        .counterexample
        .path
        .iter()
        .any(|h| matches!(h, Hop::Rule { assumes: Some(a), .. } if a == "nw_proto=1"));
    assert!(assumed, "{c}");
}

#[test]
fn frames_sent_back_into_the_tunnel_they_came_from_loop_forever() {
    let mut fx = vxlan();
    for (leaf, other) in [("leaf1", 2), ("leaf2", 1)] {
        fx.edit(leaf, |rules| {
            for r in rules.iter_mut() {
                if r.priority == 2000 && r.matches.metadata == Some(1001) {
                    r.actions.extend([
                        Action::SetTunnelDst(vtep(other)),
                        Action::Output(OutPort::InPort),
                    ]);
                }
            }
        });
    }
    let report = fx.verify();
    let f = first(&report, FindingKind::Loop);
    let tunnels = f
        .counterexample
        .path
        .iter()
        .filter(|h| matches!(h, Hop::Tunnel { .. }))
        .count();
    assert!(tunnels >= 2, "{f}");
}

#[test]
fn output_to_the_ingress_tunnel_port_is_suppressed() {
    // Without split horizon the flood rule still lists the tunnel, but
    // OpenFlow never sends a frame back out of its ingress port.
    let mut fx = vxlan();
    for leaf in ["leaf1", "leaf2"] {
        fx.edit(leaf, |rules| rules.retain(|r| r.priority != 2000));
    }
    let report = fx.verify();
    assert!(report.findings.is_empty(), "{report}");
}

#[test]
fn a_trunk_carrying_a_vlan_to_a_switch_without_members_is_a_breach() {
    let mut fx = fixture(EncapsulationSpec::Vlan);
    // Make a/db (fabric vlan 102) live on leaf1 only; then leaf1 starts
    // trunking it to the spine and the spine on to leaf2.
    let leaf2s1 = fx.topo.resolve_port("leaf2/s1").unwrap();
    for op in fx.intent.operators.values_mut() {
        for net in op.networks.values_mut().filter(|n| n.vni.get() == 1002) {
            net.attachments.remove(&leaf2s1);
        }
    }
    fx.rules = good_rules(&fx.topo, &fx.intent);
    assert!(fx.verify().findings.is_empty());
    fx.edit("leaf1", |rules| {
        for r in rules.iter_mut() {
            if r.table == 2 && r.matches == meta(1002) {
                r.actions.extend(tagged_out(UPLINK, vlan(102)));
            }
        }
    });
    fx.edit("spine1", |r| {
        r.push(classify(on_port(1, VlanMatch::Vid(vlan(102))), true, 1002));
        r.push(rule(2, 1000, meta(1002), tagged_out(2, vlan(102)).to_vec()));
    });
    let report = fx.verify();
    let f = first(&report, FindingKind::ExcessReach);
    assert_eq!(f.class, FindingClass::PolicyBreach);
    assert!(f.summary.contains("leaf2"), "{f}");
    assert_eq!(
        f.counterexample.egress.as_ref().unwrap().frame.vlan_tags,
        vec![102]
    );
    assert_eq!(report.count(FindingClass::Leak), 0, "{report}");
}

#[test]
fn a_trunk_vlan_of_another_operator_leaks_in_vlan_mode() {
    let mut fx = fixture(EncapsulationSpec::Vlan);
    // leaf1 sends a/web out on the trunk under b/web's fabric vlan 201.
    fx.edit("leaf1", |rules| {
        for r in rules.iter_mut() {
            if r.table == 2 && r.matches == meta(1001) {
                for a in &mut r.actions {
                    if *a == Action::PushVlan(vlan(101)) {
                        *a = Action::PushVlan(vlan(201));
                    }
                }
            }
        }
    });
    let report = fx.verify();
    let wire = first(&report, FindingKind::ForeignIdOnWire);
    assert_eq!(wire.destination_operator.as_ref().unwrap().as_str(), "b");
    let leak = first(&report, FindingKind::CrossOperatorDelivery);
    assert_eq!(leak.counterexample.egress.as_ref().unwrap().at, "leaf2/s2");
    assert!(
        leak.counterexample
            .path
            .iter()
            .any(|h| matches!(h, Hop::Link { .. }))
    );
}

#[test]
fn a_wrong_egress_tag_is_a_misdelivery() {
    let mut fx = vxlan();
    // leaf2 delivers a/db to leaf2/s1 tagged 21 where the attachment says 20.
    fx.edit("leaf2", |rules| {
        for r in rules.iter_mut() {
            for a in &mut r.actions {
                if *a == Action::PushVlan(vlan(20)) {
                    *a = Action::PushVlan(vlan(21));
                }
            }
        }
    });
    let report = fx.verify();
    assert!(!report.is_isolated());
    let f = first(&report, FindingKind::WrongTag);
    assert_eq!(f.class, FindingClass::Misdelivery);
    assert_eq!(f.counterexample.ingress, "leaf1/s3");
    assert_eq!(
        f.counterexample.egress.as_ref().unwrap().frame.vlan_tags,
        vec![21]
    );
    assert_eq!(report.count(FindingClass::Leak), 0, "{report}");
}

#[test]
fn delivery_to_another_network_of_the_same_operator_is_a_misdelivery() {
    let mut fx = vxlan();
    // a/db's flood on leaf1 also outputs untagged to leaf1/s1 (a/web).
    fx.edit("leaf1", |rules| {
        for r in rules.iter_mut() {
            if r.table == 2 && r.matches == meta(1002) {
                r.actions.insert(0, out(S1));
            }
        }
    });
    let report = fx.verify();
    let f = first(&report, FindingKind::WrongNetwork);
    assert_eq!(f.class, FindingClass::Misdelivery);
    assert_eq!(f.counterexample.egress.as_ref().unwrap().at, "leaf1/s1");
    assert_eq!(f.source_operator, f.destination_operator);
}
