//! The DESIGN.md workload (1,000 leaves × 48 ports, 4,000 networks),
//! compiled, lowered and verified; then one-port moves re-verified
//! incrementally. Ignored by default (it needs a release build to be quick):
//! `cargo test -p weft-verifier --release --test big -- --ignored --nocapture`.
//! Timings are printed for information; the benches in `benches/` are the
//! measured figures.

// Test support code outside #[test] functions unwraps too: a failure is a
// test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use weft_fabricgen::{FabricParams, generate, moves::PortMove};
use weft_model::{Intent, Topology};
use weft_pipeline::Compiler;
use weft_pipeline::lower::lower_fabric_delta;
use weft_rules::Rule;
use weft_verifier::{IncrementalVerifier, verify};

#[test]
#[ignore = "large; run in release"]
fn the_benchmark_fabric_verifies_isolated_and_moves_recheck_fast() {
    let generated = generate(&FabricParams::bench()).unwrap();
    let topo = Topology::from_spec(&generated.topology).unwrap();
    let mut intent = Intent::from_spec(&topo, &generated.intent).unwrap();
    let rules = common::compiled_rules(&topo, &intent);
    let count: usize = rules.switches.values().map(|r| r.len()).sum();

    let t = Instant::now();
    let report = verify(&topo, &intent, &rules);
    let full = t.elapsed();
    assert!(report.findings.is_empty(), "{report}");
    println!(
        "full verification: {full:?} ({count} rules, {:?})",
        report.stats
    );

    let t = Instant::now();
    let mut inc = IncrementalVerifier::new(&topo, &intent, &rules);
    println!("incremental verifier setup: {:?}", t.elapsed());
    assert_eq!(inc.report(), &report);

    let mut compiler = Compiler::new(&topo, &intent);
    let mut times = Vec::new();
    for pick in 0..200 {
        let Some(m) = PortMove::find(&intent, pick * 7919) else {
            continue;
        };
        for change in m.forward() {
            let effects = intent.apply(&topo, change).unwrap();
            let delta = compiler.apply(&topo, &effects);
            let rule_deltas = lower_fabric_delta(&topo, &delta, |s| compiler.entries(s));
            let slices: Vec<(weft_model::SwitchId, &[Rule], &[Rule])> = rule_deltas
                .iter()
                .map(|(s, d)| (*s, d.removed.as_slice(), d.added.as_slice()))
                .collect();
            let t = Instant::now();
            let clean = inc
                .apply_effects(&intent, &effects, &slices)
                .findings
                .is_empty();
            times.push((t.elapsed(), inc.last_rechecked()));
            assert!(clean, "{}", inc.report());
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    println!(
        "incremental after one change: median {:?} ({} classes), p90 {:?} ({} classes), {} changes",
        median.0,
        median.1,
        p90.0,
        p90.1,
        times.len()
    );
}
