//! The incremental verifier agrees with a full check after each change.

use weft_model::spec::EncapsulationSpec;
use weft_rules::{Action, OutPort, VlanMatch};

use super::*;
use crate::IncrementalVerifier;

#[test]
fn rule_changes_recheck_only_what_they_touch() {
    let mut fx = fixture(EncapsulationSpec::Vxlan);
    let mut inc = IncrementalVerifier::new(&fx.topo, &fx.intent, &fx.rules);
    assert_eq!(inc.report(), &fx.verify());
    let all = inc.last_rechecked();
    fx.edit("leaf1", |r| {
        r.push(rule(0, 60000, on_port(S2, VlanMatch::Any), vec![out(S1)]))
    });
    let leaf1 = fx.id("leaf1");
    let changed = vec![(leaf1, fx.rules.switches[&leaf1].clone())];
    let report = inc.update(&fx.intent, &changed).clone();
    assert_eq!(report, fx.verify());
    assert!(!report.is_isolated());
    // Only leaf1/s2's classes can see an in_port=s2 rule.
    assert!(
        inc.last_rechecked() < all / 4,
        "{} of {all}",
        inc.last_rechecked()
    );
    // And back.
    let good = good_rules(&fx.topo, &fx.intent);
    let report = inc
        .update(&fx.intent, &[(leaf1, good.switches[&leaf1].clone())])
        .clone();
    assert!(report.findings.is_empty(), "{report}");
}

#[test]
fn intent_changes_without_rule_changes_are_seen() {
    let mut fx = fixture(EncapsulationSpec::Vxlan);
    let mut inc = IncrementalVerifier::new(&fx.topo, &fx.intent, &fx.rules);
    // The intent moves leaf2/s1 from a to nobody; the rules still deliver.
    let leaf2s1 = fx.topo.resolve_port("leaf2/s1").unwrap();
    let a = fx.intent.operators.values_mut().next().unwrap();
    a.networks.values_mut().for_each(|n| {
        n.attachments.remove(&leaf2s1);
    });
    a.lease.as_mut().unwrap().ports.remove(&leaf2s1);
    let report = inc.update(&fx.intent, &[]).clone();
    assert_eq!(report, fx.verify());
    assert_eq!(
        first(&report, FindingKind::CrossOperatorDelivery)
            .counterexample
            .egress
            .as_ref()
            .unwrap()
            .at,
        "leaf2/s1"
    );
    assert!(kinds(&report).contains(&FindingKind::UnleasedPortForwards));
}

#[test]
fn deltas_and_effects_match_full_checks() {
    let mut fx = fixture(EncapsulationSpec::Vxlan);
    let mut inc = IncrementalVerifier::new(&fx.topo, &fx.intent, &fx.rules);
    let leaf1 = fx.id("leaf1");
    let bad = rule(2, 5000, meta(1002), vec![Action::Output(OutPort::Flood)]);
    fx.edit("leaf1", |r| r.push(bad.clone()));
    let report = inc
        .apply_delta(
            &fx.intent,
            &crate::Touched::default(),
            &[(leaf1, &[], std::slice::from_ref(&bad))],
        )
        .clone();
    assert_eq!(report, fx.verify());
    assert!(!report.is_isolated());
    fx.edit("leaf1", |r| r.retain(|x| *x != bad));
    let report = inc
        .apply_delta(
            &fx.intent,
            &crate::Touched::default(),
            &[(leaf1, std::slice::from_ref(&bad), &[])],
        )
        .clone();
    assert_eq!(report, fx.verify());
    assert!(report.findings.is_empty());
}

#[test]
fn rules_shadowed_for_every_frame_of_a_lookup_recheck_nothing() {
    let mut fx = fixture(EncapsulationSpec::Vxlan);
    let mut inc = IncrementalVerifier::new(&fx.topo, &fx.intent, &fx.rules);
    let leaf1 = fx.id("leaf1");
    // Below leaf1's flood rule for 1002, which every frame of 1002 there
    // matches: no lookup can come out differently.
    let low = rule(2, 500, meta(1002), vec![Action::Output(OutPort::Flood)]);
    fx.edit("leaf1", |r| r.push(low.clone()));
    let report = inc
        .apply_delta(
            &fx.intent,
            &crate::Touched::default(),
            &[(leaf1, &[], std::slice::from_ref(&low))],
        )
        .clone();
    assert_eq!(report, fx.verify());
    assert!(report.findings.is_empty(), "{report}");
    assert_eq!(inc.last_rechecked(), 0);
    // At the flood rule's own priority it is ambiguous: re-checked, found.
    let tie = rule(2, 1000, meta(1002), vec![Action::Output(OutPort::Flood)]);
    fx.edit("leaf1", |r| r.push(tie.clone()));
    let report = inc
        .apply_delta(
            &fx.intent,
            &crate::Touched::default(),
            &[(leaf1, &[], std::slice::from_ref(&tie))],
        )
        .clone();
    assert_eq!(report, fx.verify());
    assert!(kinds(&report).contains(&FindingKind::Ambiguous), "{report}");
    assert!(inc.last_rechecked() > 0);
}
