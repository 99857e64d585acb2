//! After any sequence of intent changes and rule changes, the incremental
//! verifier's report equals a full verification of the same state.

// Test support code outside #[test] functions unwraps too: a failure is a
// test failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use weft_model::spec::EncapsulationSpec;
use weft_model::{SwitchId, Topology};
use weft_pipeline::Compiler;
use weft_pipeline::lower::lower_fabric_delta;
use weft_rules::{Action, FabricRules, Match, OutPort, Rule, SwitchRules, VlanMatch};
use weft_verifier::{IncrementalVerifier, verify};

/// A random fault or repair of one switch's rules.
fn mutate(topo: &Topology, rules: &mut FabricRules, rng: &mut Seeded) -> SwitchId {
    let ids: Vec<SwitchId> = topo.switch_ids().collect();
    let sw = ids[rng.below(ids.len())];
    let mut list = rules
        .switches
        .get(&sw)
        .map(|r| r.rules().to_vec())
        .unwrap_or_default();
    let ports: Vec<_> = topo.switch(sw).ports.iter().map(|p| p.number).collect();
    match rng.below(4) {
        0 if !list.is_empty() => {
            list.remove(rng.below(list.len()));
        }
        1 if !list.is_empty() => {
            // Re-point a classification at another network.
            let i = rng.below(list.len());
            if let Some(m) = list[i].write_metadata.as_mut() {
                *m = 1000 + rng.next() % 3 * 1000;
            }
        }
        _ => {
            let p = ports[rng.below(ports.len())];
            let q = ports[rng.below(ports.len())];
            list.push(Rule {
                table: u8::try_from(rng.below(3)).unwrap(),
                priority: 1000 + u16::try_from(rng.below(3)).unwrap() * 1000,
                matches: Match {
                    in_port: Some(p),
                    vlan: VlanMatch::Any,
                    ..Match::default()
                },
                actions: vec![Action::Output(OutPort::Port(q))],
                write_metadata: None,
                goto: None,
                cookie: 1,
            });
        }
    }
    rules.switches.insert(sw, SwitchRules::new(list));
    sw
}

fn topology(vxlan: bool, leaves: usize) -> Topology {
    let encap = if vxlan {
        EncapsulationSpec::Vxlan
    } else {
        EncapsulationSpec::Vlan
    };
    leaf_spine(encap, leaves, 2, 4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Intent changes flow through the compiler's deltas (the fast path)
    /// and through whole-switch replacement (the agreed API); both agree
    /// with a full check after every step.
    #[test]
    fn incremental_equals_full_after_intent_changes(
        seed in any::<u64>(),
        vxlan in any::<bool>(),
        leaves in 2usize..5,
        steps in 1usize..12,
    ) {
        let topo = topology(vxlan, leaves);
        let mut rng = Seeded::new(seed);
        let mut intent = random_intent(&topo, &mut rng, 2);
        let mut compiler = Compiler::new(&topo, &intent);
        let mut rules = compiled_rules(&topo, &intent);
        let mut by_delta = IncrementalVerifier::new(&topo, &intent, &rules);
        let mut by_switch = IncrementalVerifier::new(&topo, &intent, &rules);
        prop_assert_eq!(by_delta.report(), &verify(&topo, &intent, &rules));
        for _ in 0..steps {
            let Some(effects) = random_change(&topo, &mut intent, &mut rng) else { continue };
            let delta = compiler.apply(&topo, &effects);
            let rule_deltas = lower_fabric_delta(&topo, &delta, |s| compiler.entries(s));
            for (sw, d) in &rule_deltas {
                let slot = rules.switches.entry(*sw).or_default();
                d.apply_to(slot);
            }
            prop_assert_eq!(&rules, &compiled_rules(&topo, &intent));
            let slices: Vec<(SwitchId, &[Rule], &[Rule])> =
                rule_deltas.iter().map(|(s, d)| (*s, d.removed.as_slice(), d.added.as_slice())).collect();
            let full = verify(&topo, &intent, &rules);
            prop_assert!(full.findings.is_empty(), "{}", full);
            prop_assert_eq!(by_delta.apply_effects(&intent, &effects, &slices), &full);
            let changed: Vec<(SwitchId, SwitchRules)> =
                rule_deltas.iter().map(|(s, _)| (*s, rules.switches[s].clone())).collect();
            prop_assert_eq!(by_switch.update(&intent, &changed), &full);
        }
    }

    /// Faulty and repaired rules, with intent changes in between: reports
    /// with findings must agree too, counterexamples included.
    #[test]
    fn incremental_equals_full_after_rule_faults(
        seed in any::<u64>(),
        vxlan in any::<bool>(),
        steps in 1usize..16,
    ) {
        let topo = topology(vxlan, 3);
        let mut rng = Seeded::new(seed);
        let mut intent = random_intent(&topo, &mut rng, 3);
        let mut rules = compiled_rules(&topo, &intent);
        let mut inc = IncrementalVerifier::new(&topo, &intent, &rules);
        for _ in 0..steps {
            let mut changed = Vec::new();
            if rng.chance(30) {
                if random_change(&topo, &mut intent, &mut rng).is_some() {
                    let fresh = compiled_rules(&topo, &intent);
                    for sw in topo.switch_ids() {
                        if fresh.switches.get(&sw) != rules.switches.get(&sw) {
                            let r = fresh.switches.get(&sw).cloned().unwrap_or_default();
                            rules.switches.insert(sw, r.clone());
                            changed.push((sw, r));
                        }
                    }
                }
            } else {
                let sw = mutate(&topo, &mut rules, &mut rng);
                changed.push((sw, rules.switches[&sw].clone()));
            }
            let full = verify(&topo, &intent, &rules);
            prop_assert_eq!(inc.update(&intent, &changed), &full);
        }
    }
}
