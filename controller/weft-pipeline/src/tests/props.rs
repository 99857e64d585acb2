//! Property tests: for random valid intents and random change sequences,
//! the incremental compiler equals a full recompile after every step, every
//! delta is the set difference of the two states, and the rule delta equals
//! re-lowering.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use weft_model::spec::EncapsulationSpec;
use weft_model::{AttachMode, Intent, IntentChange, PortKey, Topology};

use crate::testkit::*;
use crate::{CompiledFabric, Compiler, FabricDelta, compile, lower_delta, lower_switch};

const OPERATORS: u8 = 3;
const NETWORKS: u8 = 3;

/// A change in terms of small indexes, resolved against the topology.
#[derive(Debug, Clone)]
enum Step {
    Attach {
        op: u8,
        net: u8,
        port: usize,
        mode: u8,
    },
    Detach {
        op: u8,
        net: u8,
        port: usize,
    },
    Create {
        op: u8,
        net: u8,
    },
    Delete {
        op: u8,
        net: u8,
    },
    /// A new lease: port `i` of the candidates is included iff bit
    /// `i % 64` of `mask` is set; `foreign` also offers other operators' ports.
    Lease {
        op: u8,
        mask: u64,
        foreign: bool,
    },
    Remove {
        op: u8,
    },
    /// Upsert the operator, give it a lease of free ports (`mask`) and a
    /// network `n0`.
    Onboard {
        op: u8,
        mask: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let op = 0..OPERATORS;
    let net = 0..NETWORKS;
    prop_oneof![
        12 => (op.clone(), net.clone(), 0usize..512, 0u8..4)
            .prop_map(|(op, net, port, mode)| Step::Attach { op, net, port, mode }),
        3 => (op.clone(), net.clone(), 0usize..512)
            .prop_map(|(op, net, port)| Step::Detach { op, net, port }),
        3 => (op.clone(), net.clone()).prop_map(|(op, net)| Step::Create { op, net }),
        1 => (op.clone(), net.clone()).prop_map(|(op, net)| Step::Delete { op, net }),
        2 => (op.clone(), any::<u64>(), prop::bool::weighted(0.2))
            .prop_map(|(op, mask, foreign)| Step::Lease { op, mask, foreign }),
        1 => (op.clone(), prop::bool::weighted(0.5)).prop_map(|(op, really)| if really { Step::Remove { op } } else { Step::Onboard { op, mask: u64::MAX } }),
        6 => (op, any::<u64>()).prop_map(|(op, mask)| Step::Onboard { op, mask }),
    ]
}

/// Resolves a step against the current intent. Attach mostly picks one of
/// the operator's leased ports and Detach one of the network's attached
/// ports, so that most steps succeed; every eighth index picks any server
/// port, which exercises the rejections too.
fn to_changes(topo: &Topology, intent: &Intent, step: &Step) -> Vec<IntentChange> {
    let ports = server_ports(topo);
    let opn = |op: u8| name(&format!("op{op}"));
    let netn = |net: u8| name(&format!("n{net}"));
    let leased = |op: u8| -> Vec<PortKey> {
        intent
            .operator(&format!("op{op}"))
            .and_then(|o| o.lease.as_ref())
            .map(|l| l.ports.iter().copied().collect())
            .unwrap_or_default()
    };
    let attached = |op: u8, net: u8| -> Vec<PortKey> {
        intent
            .operator(&format!("op{op}"))
            .and_then(|o| o.networks.get(format!("n{net}").as_str()))
            .map(|n| n.attachments.keys().copied().collect())
            .unwrap_or_default()
    };
    // One of the operator's networks, or (every eighth index) any name.
    let existing = |op: u8, net: u8, i: usize| {
        let names: Vec<_> = intent
            .operator(&format!("op{op}"))
            .map(|o| o.networks.keys().cloned().collect())
            .unwrap_or_default();
        if i % 8 == 7 || names.is_empty() {
            netn(net)
        } else {
            names[usize::from(net) % names.len()].clone()
        }
    };
    let pick = |candidates: Vec<PortKey>, i: usize| {
        if i % 8 == 7 || candidates.is_empty() {
            ports[(i / 8) % ports.len()]
        } else {
            candidates[(i / 8) % candidates.len()]
        }
    };
    let change = match *step {
        Step::Attach {
            op,
            net,
            port,
            mode,
        } => IntentChange::Attach {
            operator: opn(op),
            network: existing(op, net, port),
            port: pick(leased(op), port),
            mode: if mode == 0 {
                AttachMode::Access
            } else {
                AttachMode::Tagged(vlan(u64::from(mode)))
            },
        },
        Step::Detach { op, net, port } => IntentChange::Detach {
            operator: opn(op),
            network: netn(net),
            port: pick(attached(op, net), port),
        },
        Step::Create { op, net } => IntentChange::CreateNetwork {
            operator: opn(op),
            name: netn(net),
            vni: None,
            fabric_vlan: None,
        },
        Step::Delete { op, net } => IntentChange::DeleteNetwork {
            operator: opn(op),
            name: netn(net),
        },
        Step::Onboard { op, mask } => {
            if intent.operator(&format!("op{op}")).is_some() {
                return Vec::new();
            }
            let lease = Step::Lease {
                op,
                mask,
                foreign: false,
            };
            let mut changes = vec![IntentChange::UpsertOperator {
                name: opn(op),
                display_name: None,
            }];
            changes.extend(to_changes(topo, intent, &lease));
            changes.push(IntentChange::CreateNetwork {
                operator: opn(op),
                name: netn(0),
                vni: None,
                fabric_vlan: None,
            });
            return changes;
        }
        Step::Lease { op, mask, foreign } => {
            // Keeps about three quarters of the current ports and adds the
            // free ports `mask` picks, so leases change without emptying
            // the fabric; `foreign` also offers other operators' ports,
            // which must be rejected.
            let mine = |p: &PortKey| intent.lessee(*p).is_some_and(|o| o.name == opn(op));
            let chosen: BTreeSet<_> = ports
                .iter()
                .enumerate()
                .filter(|&(i, p)| {
                    let bit = |shift: usize| mask >> ((i + shift) % 64) & 1 == 1;
                    if mine(p) {
                        !(bit(0) && bit(17))
                    } else {
                        bit(0) && (foreign || intent.lessee(*p).is_none())
                    }
                })
                .map(|(_, p)| *p)
                .collect();
            IntentChange::SetLease {
                operator: opn(op),
                lease: lease_for(topo, u64::from(op), chosen),
            }
        }
        Step::Remove { op } => IntentChange::RemoveOperator { name: opn(op) },
    };
    vec![change]
}

/// The starting intent: every operator exists, server ports are dealt out
/// round-robin (every fourth one unleased), each operator has one network.
fn initial(topo: &Topology) -> Intent {
    let mut intent = Intent::default();
    let ports = server_ports(topo);
    for k in 0..OPERATORS {
        let mine: Vec<_> = ports
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 == usize::from(k))
            .map(|(_, p)| *p)
            .collect();
        operator(&mut intent, topo, u64::from(k), &mine);
        network(&mut intent, topo, u64::from(k), "n0");
        network(&mut intent, topo, u64::from(k), "n1");
    }
    intent
}

/// One change: applied to intent, compiler and rules, and every property
/// checked. Returns whether the change was accepted.
fn check_change(
    topo: &Topology,
    intent: &mut Intent,
    compiler: &mut Compiler,
    full: &mut CompiledFabric,
    change: IntentChange,
) -> Result<bool, TestCaseError> {
    let before_intent = intent.clone();
    let Ok(effects) = intent.apply(topo, change.clone()) else {
        prop_assert_eq!(&*intent, &before_intent, "rejected change left traces");
        return Ok(false);
    };
    let old_rules: Vec<_> = topo
        .switch_ids()
        .map(|s| lower_switch(topo, s, full.entries(s)))
        .collect();
    let delta = compiler.apply(topo, &effects);
    let next = compile(topo, intent);
    for s in topo.switch_ids() {
        let e = compiler.entries(s);
        prop_assert!(
            e.windows(2).all(|w| w[0] < w[1]),
            "switch {:?} not strictly sorted",
            s
        );
    }
    prop_assert_eq!(
        &compiler.snapshot(),
        &next,
        "incremental != full after {:?}",
        change
    );
    prop_assert_eq!(
        &delta,
        &FabricDelta::between(full, &next),
        "delta != set difference"
    );
    for (s, d) in &delta.switches {
        prop_assert!(!d.is_empty());
        let rd = lower_delta(topo, *s, compiler.entries(*s), d);
        let mut rules = old_rules[s.index()].clone();
        rd.apply_to(&mut rules);
        prop_assert_eq!(rules, lower_switch(topo, *s, next.entries(*s)));
    }
    *full = next;
    // What one-step changes build, file validation accepts as is.
    let spec = intent.to_spec(topo);
    let reparsed = Intent::from_spec(topo, &spec);
    prop_assert_eq!(reparsed.as_ref(), Ok(&*intent), "{:#?}", spec);
    Ok(true)
}

/// What a sequence exercised.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    changes: usize,
    accepted: usize,
    /// Largest number of entries the fabric held along the way.
    peak_entries: usize,
}

fn check_sequence(topo: &Topology, steps: &[Step]) -> Result<Coverage, TestCaseError> {
    let mut intent = initial(topo);
    let mut compiler = Compiler::new(topo, &intent);
    let mut full = compile(topo, &intent);
    prop_assert_eq!(&compiler.snapshot(), &full);
    let mut cov = Coverage::default();
    for step in steps {
        for change in to_changes(topo, &intent, step) {
            cov.changes += 1;
            cov.accepted += usize::from(check_change(
                topo,
                &mut intent,
                &mut compiler,
                &mut full,
                change,
            )?);
            cov.peak_entries = cov.peak_entries.max(full.len());
        }
    }
    // The quota counters agree with the entries actually present.
    for s in topo.switch_ids() {
        for op in intent.operators.values() {
            let actual = op
                .networks
                .values()
                .map(|n| {
                    compiler
                        .entries(s)
                        .iter()
                        .filter(|e| e.vni() == n.vni)
                        .count()
                })
                .sum::<usize>();
            prop_assert_eq!(
                compiler.operator_entries_on_switch(topo, s, op),
                actual as u64
            );
        }
    }
    Ok(cov)
}

fn case() -> impl Strategy<Value = (Topology, Vec<Step>)> {
    (
        any::<bool>(),
        1usize..5,
        1usize..3,
        1usize..6,
        proptest::collection::vec(step(), 1..120),
    )
        .prop_map(|(vlan_mode, leaves, spines, ports, steps)| {
            let encapsulation = if vlan_mode {
                EncapsulationSpec::Vlan
            } else {
                EncapsulationSpec::Vxlan
            };
            (topology(encapsulation, leaves, spines, ports), steps)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_full_recompile((topo, steps) in case()) {
        check_sequence(&topo, &steps)?;
    }
}

/// The property above is only as good as its generator: a good share of
/// the changes must be accepted (rejections are exercised too) and fabrics
/// must grow beyond a handful of entries.
#[test]
fn generator_is_not_vacuous() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut total = Coverage::default();
    let mut big = 0;
    for _ in 0..64 {
        let (topo, steps) = case().new_tree(&mut runner).unwrap().current();
        let cov = check_sequence(&topo, &steps).unwrap();
        total.changes += cov.changes;
        total.accepted += cov.accepted;
        big += usize::from(cov.peak_entries >= 20);
    }
    assert!(total.accepted * 3 > total.changes, "{total:?}");
    assert!(big >= 16, "only {big} of 64 sequences reached 20 entries");
}
