//! Building reports: reproducible bytes, the pinned JSON of a clean
//! fabric, and what an injected fault, a silent switch and drift do to
//! the verdicts.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::collections::BTreeSet;

use common::{fabric, input, intended, key, with_rule};
use weft_model::PortNo;
use weft_report::{
    CellVerdict, CheckVerdict, EvidenceKind, Report, UNLEASED, build_report, recheck, sign,
};
use weft_rules::{Action, Match, OutPort, Rule};

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

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

/// A flow someone added by hand: everything from `from` goes out of `to`.
fn foreign_forward(from: u16, to: u16) -> Rule {
    Rule {
        table: 0,
        priority: 60_000,
        matches: Match {
            in_port: Some(PortNo::new(u64::from(from)).unwrap()),
            ..Match::default()
        },
        actions: vec![Action::Output(OutPort::Port(
            PortNo::new(u64::from(to)).unwrap(),
        ))],
        write_metadata: None,
        goto: None,
        cookie: 0xdead_beef,
    }
}

#[test]
fn same_state_gives_the_same_bytes() {
    let (topo, intent) = fabric();
    let a = build_report(&input(&topo, &intent, intended(&topo, &intent)));
    // A second, independent build (fresh topology and intent values).
    let (topo2, intent2) = fabric();
    let b = build_report(&input(&topo2, &intent2, intended(&topo2, &intent2)));
    assert_eq!(a.canonical_json(), b.canonical_json());
    assert_eq!(sign(&a, &key()), sign(&b, &key()));
    // The canonical form has no insignificant whitespace.
    let bytes = a.canonical_json();
    assert!(!bytes.contains(&b'\n'));
    // The same value as serde_json's own route, with keys in sorted order.
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed, serde_json::to_value(&a).unwrap());
    assert_eq!(serde_json::to_vec(&parsed).unwrap(), bytes);
    assert!(bytes.starts_with(b"{\"audit_log\":"));
}

#[test]
fn clean_fabric_is_isolated_and_complete() {
    let (topo, intent) = fabric();
    let r = build_report(&input(&topo, &intent, intended(&topo, &intent)));
    assert!(r.is_isolated());
    assert!(r.is_complete());
    assert_eq!(r.finding_count(), 0);
    assert_eq!(r.isolation.operators, ["alpha", "beta", "gamma", UNLEASED]);
    // Every ordered pair of distinct entries: 4 × 3.
    assert_eq!(r.isolation.cells.len(), 12);
    assert!(violated_cells(&r).is_empty());
    assert!(failed_checks(&r).is_empty());
    let checks: Vec<&str> = r.policy.iter().map(|c| c.check.as_str()).collect();
    for required in [
        "access-ports-drop-tagged",
        "unleased-ports-drop-all",
        "double-tags-dropped",
        "tunnel-ingress-known-vteps",
        "no-shared-vni",
        "other",
    ] {
        assert!(checks.contains(&required), "{required} missing");
    }
    assert!(r.drift.switches.is_empty());
    // VXLAN fabric: only the two leaves are programmed.
    let switches: Vec<(&str, EvidenceKind)> = r
        .fabric
        .switches
        .iter()
        .map(|s| (s.name.as_str(), s.evidence))
        .collect();
    assert_eq!(
        switches,
        [
            ("rack1-leaf", EvidenceKind::ReadBack),
            ("rack2-leaf", EvidenceKind::ReadBack)
        ]
    );
    assert_eq!(r.fabric.generated_at, "2024-05-01T12:00:00Z");
    let summary = recheck(&r).unwrap();
    assert!(summary.isolated && summary.complete);
    assert_eq!(summary.switches, 2);
    assert_eq!(summary.cells, 12);
}

#[test]
fn clean_report_json_is_pinned() {
    let (topo, intent) = fabric();
    let r = build_report(&input(&topo, &intent, intended(&topo, &intent)));
    let value: serde_json::Value = serde_json::from_slice(&r.canonical_json()).unwrap();
    insta::assert_snapshot!(serde_json::to_string_pretty(&value).unwrap());
}

#[test]
fn foreign_flow_joining_two_operators_violates_exactly_that_cell() {
    let (topo, intent) = fabric();
    // rack1-leaf: eth1 (port 1) is alpha's, eth3 (port 3) beta's.
    let installed = with_rule(
        intended(&topo, &intent),
        "rack1-leaf",
        foreign_forward(1, 3),
    );
    let r = build_report(&input(&topo, &intent, installed));
    assert!(!r.is_isolated());
    assert!(r.is_complete());
    assert_eq!(violated_cells(&r), BTreeSet::from([pair("alpha", "beta")]));
    assert_eq!(
        failed_checks(&r),
        BTreeSet::from(["operators-isolated".to_owned()])
    );
    let cell = r
        .isolation
        .cells
        .iter()
        .find(|c| c.from == "alpha" && c.to == "beta")
        .unwrap();
    assert!(!cell.counterexamples.is_empty());
    for cx in &cell.counterexamples {
        assert_eq!(cx.ingress, "rack1-leaf/eth1");
        assert_eq!(cx.egress.as_ref().unwrap().at, "rack1-leaf/eth3");
    }
    // Reported as foreign state, nothing missing.
    assert_eq!(r.drift.switches.len(), 1);
    let d = &r.drift.switches[0];
    assert_eq!(d.switch, "rack1-leaf");
    assert_eq!(d.foreign, [foreign_forward(1, 3)]);
    assert!(d.missing.is_empty() && d.unexpected.is_empty());
    // The evidence supports the verdict.
    recheck(&r).unwrap();
}

#[test]
fn forwarding_from_an_unleased_port_violates_the_unleased_row() {
    let (topo, intent) = fabric();
    // rack1-leaf/eth2 is leased to nobody; eth4 is gamma's.
    let installed = with_rule(
        intended(&topo, &intent),
        "rack1-leaf",
        foreign_forward(2, 4),
    );
    let r = build_report(&input(&topo, &intent, installed));
    assert_eq!(
        violated_cells(&r),
        BTreeSet::from([pair(UNLEASED, "gamma")])
    );
    assert_eq!(
        failed_checks(&r),
        BTreeSet::from(["unleased-ports-drop-all".to_owned()])
    );
    recheck(&r).unwrap();
}

#[test]
fn a_silent_switch_makes_the_report_incomplete_not_wrong() {
    let (topo, intent) = fabric();
    let mut installed = intended(&topo, &intent);
    installed.insert("rack2-leaf".to_owned(), None);
    let r = build_report(&input(&topo, &intent, installed));
    assert!(!r.is_complete());
    assert!(r.is_isolated());
    let sw = &r.fabric.switches[1];
    assert_eq!(sw.name, "rack2-leaf");
    assert_eq!(sw.evidence, EvidenceKind::Missing);
    assert_eq!((sw.generation, sw.state_digest.as_deref()), (None, None));
    assert!(r.evidence.switches[1].rules.is_none());
    let summary = recheck(&r).unwrap();
    assert_eq!(summary.missing, 1);
    assert!(!summary.complete);
}

#[test]
fn a_missing_flood_rule_is_drift_not_a_leak() {
    let (topo, intent) = fabric();
    let mut installed = intended(&topo, &intent);
    let leaf = installed.get_mut("rack2-leaf").unwrap().as_mut().unwrap();
    // Drop one output (a flood towards a remote VTEP) from a flood rule.
    let mut rules = leaf.rules.rules().to_vec();
    let victim = rules
        .iter()
        .position(|r| {
            r.actions
                .iter()
                .any(|a| matches!(a, Action::SetTunnelDst(_)))
        })
        .unwrap();
    let removed = rules.remove(victim);
    leaf.rules = weft_rules::SwitchRules::new(rules);
    let r = build_report(&input(&topo, &intent, installed));
    assert!(r.is_isolated(), "{:#?}", r.findings);
    assert!(violated_cells(&r).is_empty());
    assert_eq!(r.drift.switches.len(), 1);
    assert_eq!(r.drift.switches[0].missing, [removed]);
    assert!(r.summary.findings.drift > 0);
    assert_eq!(
        r.drift.unreachable.len(),
        usize::try_from(r.summary.findings.drift).unwrap()
    );
    recheck(&r).unwrap();
}

#[test]
fn usage_in_the_report_matches_the_usage_statement() {
    let (topo, intent) = fabric();
    let inp = input(&topo, &intent, intended(&topo, &intent));
    let r = build_report(&inp);
    for op in intent.operators.keys() {
        let alone =
            weft_report::usage_statement(&topo, &intent, op, &inp.traffic, inp.usage_period)
                .unwrap();
        let in_report = r
            .usage
            .statements
            .iter()
            .find(|s| s.operator == op.as_str())
            .unwrap();
        assert_eq!(&alone, in_report);
    }
    let alpha = &r.usage.statements[0];
    assert_eq!(alpha.networks[0].packets, 1200);
    assert_eq!(r.operators[0].entries, alpha.entries);
}

#[test]
fn vlan_fabric_reports_spines_too() {
    let dir = common::topologies_dir();
    let topo = weft_config::load_topology(format!("{dir}vlan-fabric.yaml")).unwrap();
    let intent = weft_config::load_intent(format!("{dir}vlan-fabric.intent.yaml"), &topo).unwrap();
    let r = build_report(&input(&topo, &intent, intended(&topo, &intent)));
    assert_eq!(r.fabric.encapsulation, "vlan");
    assert_eq!(r.fabric.switches.len(), topo.switches.len());
    assert!(r.is_isolated() && r.is_complete(), "{:#?}", r.findings);
    recheck(&r).unwrap();
}
