//! The compiler's tables verify, and every isolation-breaking mutation of
//! them is caught with a counterexample of the right class.

// Test support code outside #[test] functions unwraps too: a failure is a
// test failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use weft_model::spec::EncapsulationSpec;
use weft_model::{
    AttachMode, Intent, IntentChange, PortKey, SwitchId, Topology, VXLAN_TUNNEL_PORT,
};
use weft_rules::{Action, FabricRules, Match, OutPort, Rule, SwitchRules, VlanMatch};
use weft_verifier::{FindingClass, FindingKind, Hop, VerificationReport, verify};

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn compiled_tables_of_random_intents_verify_isolated(
        seed in any::<u64>(),
        vxlan in any::<bool>(),
        leaves in 2usize..5,
        spines in 1usize..3,
        ports in 3usize..6,
        ops in 1usize..4,
    ) {
        let encap = if vxlan { EncapsulationSpec::Vxlan } else { EncapsulationSpec::Vlan };
        let topo = leaf_spine(encap, leaves, spines, ports);
        let intent = random_intent(&topo, &mut Seeded::new(seed), ops);
        let report = verify(&topo, &intent, &compiled_rules(&topo, &intent));
        prop_assert!(report.findings.is_empty(), "{}", report);
        prop_assert!(report.is_isolated());
    }
}

struct Scenario {
    topo: Topology,
    intent: Intent,
    rules: FabricRules,
}

fn port_of(topo: &Topology, r: &str) -> PortKey {
    topo.resolve_port(r).unwrap()
}

/// Three leaves, one spine. op0: `web` on leaf1/s1 + leaf2/s1 (access),
/// `db` on leaf1/s3 + leaf3/s1 (tagged 10). op1: `web` on leaf1/s2,
/// leaf2/s2, leaf3/s2 (access), and `db` on leaf3/s3 tagged 10 (the same
/// tag as op0's). leaf2/s4 is leased to nobody.
fn scenario(encap: EncapsulationSpec) -> Scenario {
    let topo = leaf_spine(encap, 3, 1, 4);
    let mut intent = Intent::default();
    let leases = [
        vec!["leaf1/s1", "leaf2/s1", "leaf1/s3", "leaf3/s1"],
        vec!["leaf1/s2", "leaf2/s2", "leaf3/s2", "leaf3/s3"],
    ];
    for (k, ports) in leases.iter().enumerate() {
        let set: std::collections::BTreeSet<PortKey> =
            ports.iter().map(|p| port_of(&topo, p)).collect();
        try_apply(
            &mut intent,
            &topo,
            IntentChange::UpsertOperator {
                name: op(k),
                display_name: None,
            },
        )
        .unwrap();
        try_apply(
            &mut intent,
            &topo,
            IntentChange::SetLease {
                operator: op(k),
                lease: lease(&topo, k, set),
            },
        )
        .unwrap();
        for net in ["web", "db"] {
            let c = IntentChange::CreateNetwork {
                operator: op(k),
                name: name(net),
                vni: None,
                fabric_vlan: None,
            };
            try_apply(&mut intent, &topo, c).unwrap();
        }
    }
    let atts = [
        (0, "web", "leaf1/s1", AttachMode::Access),
        (0, "web", "leaf2/s1", AttachMode::Access),
        (0, "db", "leaf1/s3", AttachMode::Tagged(vlan(10))),
        (0, "db", "leaf3/s1", AttachMode::Tagged(vlan(10))),
        (1, "web", "leaf1/s2", AttachMode::Access),
        (1, "web", "leaf2/s2", AttachMode::Access),
        (1, "web", "leaf3/s2", AttachMode::Access),
        (1, "db", "leaf3/s3", AttachMode::Tagged(vlan(10))),
    ];
    for (k, net, p, mode) in atts {
        let c = IntentChange::Attach {
            operator: op(k),
            network: name(net),
            port: port_of(&topo, p),
            mode,
        };
        try_apply(&mut intent, &topo, c).unwrap();
    }
    let rules = compiled_rules(&topo, &intent);
    Scenario {
        topo,
        intent,
        rules,
    }
}

impl Scenario {
    fn vni(&self, k: usize, net: &str) -> u64 {
        u64::from(self.intent.operators[&op(k)].networks[&name(net)].vni.get())
    }

    fn fabric_vlan(&self, k: usize, net: &str) -> weft_model::VlanId {
        self.intent.operators[&op(k)].networks[&name(net)]
            .fabric_vlan
            .unwrap()
    }

    fn edit(&mut self, sw: &str, f: impl FnOnce(&mut Vec<Rule>)) {
        let id: SwitchId = switch(&self.topo, sw);
        let mut rules = self
            .rules
            .switches
            .get(&id)
            .map(|r| r.rules().to_vec())
            .unwrap_or_default();
        f(&mut rules);
        self.rules.switches.insert(id, SwitchRules::new(rules));
    }

    fn verify(&self) -> VerificationReport {
        verify(&self.topo, &self.intent, &self.rules)
    }
}

fn is_flood_of(r: &Rule, vni: u64) -> bool {
    r.table == 2 && r.matches.metadata == Some(vni) && r.matches.in_port.is_none()
}

fn first(r: &VerificationReport, kind: FindingKind) -> &weft_verifier::Finding {
    r.findings
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in\n{r}"))
}

#[test]
fn the_scenario_is_isolated_in_both_modes() {
    for encap in [EncapsulationSpec::Vxlan, EncapsulationSpec::Vlan] {
        let report = scenario(encap).verify();
        assert!(report.findings.is_empty(), "{encap:?}\n{report}");
    }
}

#[test]
fn a_port_mapped_to_another_operators_vni() {
    let mut s = scenario(EncapsulationSpec::Vxlan);
    let (a_web, b_web) = (s.vni(0, "web"), s.vni(1, "web"));
    let p = port_of(&s.topo, "leaf1/s1").port;
    s.edit("leaf1", |rules| {
        for r in rules
            .iter_mut()
            .filter(|r| r.table == 0 && r.matches.in_port == Some(p))
        {
            assert_eq!(r.write_metadata, Some(a_web));
            r.write_metadata = Some(b_web);
        }
    });
    let report = s.verify();
    let leak = first(&report, FindingKind::CrossOperatorDelivery);
    assert_eq!(leak.class, FindingClass::Leak);
    assert_eq!(leak.counterexample.ingress, "leaf1/s1");
    assert_eq!(leak.source_operator, Some(op(0)));
    assert_eq!(leak.destination_operator, Some(op(1)));
    assert!(!leak.counterexample.path.is_empty());
}

#[test]
fn a_flood_entry_to_a_vtep_of_another_operators_network() {
    let mut s = scenario(EncapsulationSpec::Vxlan);
    let (a_web, b_web) = (s.vni(0, "web"), s.vni(1, "web"));
    let leaf3 = s.topo.switch(switch(&s.topo, "leaf3")).vtep.unwrap();
    s.edit("leaf1", |rules| {
        for r in rules.iter_mut().filter(|r| is_flood_of(r, a_web)) {
            r.actions.extend([
                Action::SetTunnelId(b_web),
                Action::SetTunnelDst(leaf3),
                Action::Output(OutPort::Port(VXLAN_TUNNEL_PORT)),
            ]);
        }
    });
    let report = s.verify();
    let wire = first(&report, FindingKind::ForeignIdOnWire);
    assert_eq!(wire.class, FindingClass::Leak);
    assert_eq!(wire.destination_operator, Some(op(1)));
    // leaf3 accepts b/web from leaf1, so it is delivered to b's port too.
    let leak = first(&report, FindingKind::CrossOperatorDelivery);
    assert_eq!(leak.counterexample.egress.as_ref().unwrap().at, "leaf3/s2");
    assert!(
        leak.counterexample
            .path
            .iter()
            .any(|h| matches!(h, Hop::Tunnel { to, .. } if to == "leaf3"))
    );
}

#[test]
fn a_foreign_high_priority_rule_between_two_operators_ports() {
    let mut s = scenario(EncapsulationSpec::Vxlan);
    let (a, b) = (
        port_of(&s.topo, "leaf2/s1").port,
        port_of(&s.topo, "leaf2/s2").port,
    );
    s.edit("leaf2", |rules| {
        rules.push(Rule {
            table: 0,
            priority: 65535,
            matches: Match {
                in_port: Some(a),
                ..Match::default()
            },
            actions: vec![Action::Output(OutPort::Port(b))],
            write_metadata: None,
            goto: None,
            cookie: 0xdead_beef,
        });
    });
    let report = s.verify();
    let leak = first(&report, FindingKind::CrossOperatorDelivery);
    assert_eq!(
        (
            leak.counterexample.ingress.as_str(),
            leak.counterexample.egress.as_ref().unwrap().at.as_str()
        ),
        ("leaf2/s1", "leaf2/s2")
    );
    let Some(Hop::Rule {
        cookie, priority, ..
    }) = leak.counterexample.path.first()
    else {
        panic!("{leak}")
    };
    assert_eq!((*cookie, *priority), (0xdead_beef, 65535));
}

#[test]
fn an_access_port_that_accepts_tagged_frames() {
    let mut s = scenario(EncapsulationSpec::Vxlan);
    let p = port_of(&s.topo, "leaf1/s1").port;
    s.edit("leaf1", |rules| {
        for r in rules
            .iter_mut()
            .filter(|r| r.table == 0 && r.matches.in_port == Some(p))
        {
            r.matches.vlan = VlanMatch::Any;
            r.actions = vec![Action::PopVlan];
        }
    });
    let report = s.verify();
    let f = first(&report, FindingKind::TagNotAttached);
    assert_eq!(f.class, FindingClass::PolicyBreach);
    assert_eq!(f.counterexample.ingress, "leaf1/s1");
    assert_eq!(f.counterexample.header.vlan_tags.len(), 1);
}

#[test]
fn a_vni_reused_by_two_operators() {
    let mut s = scenario(EncapsulationSpec::Vxlan);
    let (a_db, b_web) = (s.vni(0, "db"), s.vni(1, "web"));
    // op1's web is carried on the wire as op0's db VNI everywhere.
    for leaf in ["leaf1", "leaf2", "leaf3"] {
        s.edit(leaf, |rules| {
            for r in rules.iter_mut() {
                if r.matches.tun_id == Some(b_web) {
                    r.matches.tun_id = Some(a_db);
                }
                for a in &mut r.actions {
                    if *a == Action::SetTunnelId(b_web) {
                        *a = Action::SetTunnelId(a_db);
                    }
                }
            }
            // Two tunnel-ingress rules now claim (a_db, leaf1) on leaf3.
        });
    }
    let report = s.verify();
    let wire = first(&report, FindingKind::ForeignIdOnWire);
    assert_eq!(
        (
            wire.source_operator.clone(),
            wire.destination_operator.clone()
        ),
        (Some(op(1)), Some(op(0)))
    );
    assert!(report.count(FindingClass::Leak) > 0);
}

#[test]
fn a_trunk_carrying_a_vlan_to_a_switch_of_another_operator() {
    let mut s = scenario(EncapsulationSpec::Vlan);
    let a_web = s.vni(0, "web");
    let fv = s.fabric_vlan(0, "web");
    // op0/web lives on leaf1 and leaf2; the spine also sends it to leaf3,
    // where only op1 (and op0/db) have ports.
    let to_leaf3 = port_of(&s.topo, "spine1/d3").port;
    s.edit("spine1", |rules| {
        for r in rules.iter_mut().filter(|r| is_flood_of(r, a_web)) {
            r.actions.extend([
                Action::PushVlan(fv),
                Action::Output(OutPort::Port(to_leaf3)),
                Action::PopVlan,
            ]);
        }
    });
    let report = s.verify();
    let f = first(&report, FindingKind::ExcessReach);
    assert_eq!(f.class, FindingClass::PolicyBreach);
    assert!(f.summary.contains("leaf3"), "{f}");
    assert!(
        f.counterexample
            .path
            .iter()
            .any(|h| matches!(h, Hop::Link { to, .. } if to == "spine1/d1" || to == "spine1/d2"))
    );
    // If leaf3 also accepted that VLAN into op1's network, it would leak.
    let b_web = s.vni(1, "web");
    let uplink = port_of(&s.topo, "leaf3/u1").port;
    s.edit("leaf3", |rules| {
        rules.push(Rule {
            table: 0,
            priority: 1000,
            matches: Match {
                in_port: Some(uplink),
                vlan: VlanMatch::Vid(fv),
                ..Match::default()
            },
            actions: vec![Action::PopVlan],
            write_metadata: Some(b_web),
            goto: Some(1),
            cookie: 0,
        });
    });
    let report = s.verify();
    let leak = first(&report, FindingKind::CrossOperatorDelivery);
    assert_eq!(leak.counterexample.egress.as_ref().unwrap().at, "leaf3/s2");
}

#[test]
fn a_missing_flood_entry_is_drift_not_a_leak() {
    let mut s = scenario(EncapsulationSpec::Vxlan);
    let b_web = s.vni(1, "web");
    let leaf3 = s.topo.switch(switch(&s.topo, "leaf3")).vtep.unwrap();
    s.edit("leaf1", |rules| {
        for r in rules.iter_mut().filter(|r| is_flood_of(r, b_web)) {
            let i = r
                .actions
                .iter()
                .position(|a| *a == Action::SetTunnelDst(leaf3))
                .unwrap();
            r.actions.drain(i..i + 2);
        }
    });
    let report = s.verify();
    assert!(report.is_isolated(), "{report}");
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.kind == FindingKind::Unreachable),
        "{report}"
    );
    let d = first(&report, FindingKind::Unreachable);
    assert_eq!(d.class, FindingClass::Drift);
    assert_eq!(d.counterexample.ingress, "leaf1/s2");
    assert!(d.summary.contains("leaf3/s2"), "{d}");
}
