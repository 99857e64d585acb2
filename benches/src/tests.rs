use weft_fabricgen::FabricParams;
use weft_pipeline::{FabricDelta, compile, lower_fabric};

use super::*;

fn small() -> Fabric {
    Fabric::generate(&FabricParams::small())
}

#[test]
fn a_move_yields_the_recompile_difference_and_comes_back() {
    let fabric = small();
    let before = compile(&fabric.topology, &fabric.intent);
    let mut moves = MoveLoop::new(&fabric, 3);
    let there = moves.step(&fabric.topology);
    let after = compile(&fabric.topology, &moves.intent);
    assert_eq!(there, FabricDelta::between(&before, &after));
    assert!(!there.is_empty());
    let back = moves.step(&fabric.topology);
    assert_eq!(back, FabricDelta::between(&after, &before));
    assert_eq!(moves.intent, fabric.intent);
}

#[test]
fn churn_creates_then_deletes_exactly() {
    let fabric = small();
    let before = compile(&fabric.topology, &fabric.intent);
    let mut churn = ChurnLoop::new(&fabric, 1);
    let created = churn.create(&fabric.topology);
    let during = compile(&fabric.topology, &churn.intent);
    assert_eq!(created, FabricDelta::between(&before, &during));
    let (_, added) = created.counts();
    assert!(added > 0);
    let deleted = churn.delete(&fabric.topology);
    assert_eq!(deleted, FabricDelta::between(&during, &before));
    assert_eq!(churn.intent, fabric.intent);
}

#[test]
fn incremental_verification_follows_moves_and_matches_a_full_check() {
    let fabric = small();
    let mut v = VerifiedMoveLoop::new(&fabric, 5);
    assert!(v.verifier.report().is_isolated());
    for _ in 0..3 {
        let change = v.prepare(&fabric.topology);
        assert!(!change.rules.is_empty());
        let report = v.verify(&change).clone();
        let rules = lower_fabric(
            &fabric.topology,
            &compile(&fabric.topology, &v.moves.intent),
        );
        let full = weft_verifier::verify(&fabric.topology, &v.moves.intent, &rules);
        // Findings must agree; the statistics are the verifier's business
        // (and may count the classes it re-walked differently).
        assert_eq!(report.findings, full.findings);
        assert!(report.is_isolated());
    }
}
