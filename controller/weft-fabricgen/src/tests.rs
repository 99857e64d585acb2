use std::collections::{BTreeMap, BTreeSet};

use weft_model::VniRange;
use weft_model::spec::AttachModeSpec;

use super::*;

fn leases(fabric: &GeneratedFabric) -> BTreeMap<&str, (&str, BTreeSet<&str>)> {
    fabric
        .intent
        .operators
        .iter()
        .map(|op| {
            let lease = op
                .lease
                .as_ref()
                .expect("every generated operator has a lease");
            (
                op.name.as_str(),
                (
                    lease.vni.as_str(),
                    lease.ports.iter().map(String::as_str).collect(),
                ),
            )
        })
        .collect()
}

#[test]
fn same_seed_same_fabric_other_seed_other_tags() {
    let a = generate(&FabricParams::small()).unwrap();
    let b = generate(&FabricParams::small()).unwrap();
    assert_eq!(a, b);
    let c = generate(&FabricParams {
        seed: 2,
        ..FabricParams::small()
    })
    .unwrap();
    assert_eq!(a.topology, c.topology);
    assert_ne!(
        a.intent, c.intent,
        "the seed picks which attachments are tagged"
    );
}

#[test]
fn every_server_port_attached_once_and_leased_to_its_operator() {
    let fabric = generate(&FabricParams::small()).unwrap();
    let leases = leases(&fabric);
    let mut seen = BTreeSet::new();
    for op in &fabric.intent.operators {
        let (_, ports) = &leases[op.name.as_str()];
        for net in &op.networks {
            for att in &net.attachments {
                assert!(
                    ports.contains(att.port.as_str()),
                    "{} not leased to {}",
                    att.port,
                    op.name
                );
                assert!(seen.insert(att.port.clone()), "{} attached twice", att.port);
            }
        }
    }
    assert_eq!(seen.len(), 64);
    assert_eq!(fabric.stats.attachments, 64);
    // Leases partition the server ports.
    let leased: usize = leases.values().map(|(_, p)| p.len()).sum();
    assert_eq!(leased, 64);
}

#[test]
fn vni_ranges_are_disjoint_and_hold_their_networks() {
    let fabric = generate(&FabricParams {
        operators: 5,
        networks: 40,
        ..FabricParams::small()
    })
    .unwrap();
    let ranges: Vec<VniRange> = leases(&fabric)
        .values()
        .map(|(vni, _)| vni.parse().unwrap())
        .collect();
    for (i, a) in ranges.iter().enumerate() {
        assert!(
            a.first().get() > RESERVED_VNI_END,
            "{a} overlaps the reserved range"
        );
        for b in &ranges[i + 1..] {
            assert!(!a.overlaps(b), "{a} overlaps {b}");
        }
    }
    for op in &fabric.intent.operators {
        let range: VniRange = op.lease.as_ref().unwrap().vni.parse().unwrap();
        assert!(range.len() >= u64::try_from(op.networks.len() + NETWORK_HEADROOM).unwrap());
        for net in &op.networks {
            let vni = weft_model::Vni::new(net.vni.unwrap()).unwrap();
            assert!(
                range.contains(vni),
                "{} of {} outside {range}",
                vni,
                op.name
            );
        }
    }
}

/// The leaves a network's attachments sit on.
fn spans(fabric: &GeneratedFabric) -> Vec<usize> {
    fabric
        .intent
        .operators
        .iter()
        .flat_map(|op| &op.networks)
        .map(|net| {
            net.attachments
                .iter()
                .map(|a| a.port.split_once('/').unwrap().0)
                .collect::<BTreeSet<_>>()
                .len()
        })
        .collect()
}

#[test]
fn networks_span_the_requested_leaves() {
    // 4 operators × 2 leaves × 8 ports; 8 networks of 4 ports over 2 leaves.
    let params = FabricParams {
        operators: 4,
        networks: 8,
        span: 2,
        ..FabricParams::small()
    };
    let fabric = generate(&params).unwrap();
    assert!(
        spans(&fabric).iter().all(|&s| s == 2),
        "{:?}",
        spans(&fabric)
    );
    let one = FabricParams { span: 1, ..params };
    assert!(spans(&generate(&one).unwrap()).iter().all(|&s| s == 1));
}

#[test]
fn bench_profile_has_the_design_workload() {
    let fabric = generate(&FabricParams::bench()).unwrap();
    let s = fabric.stats;
    assert_eq!(s.switches, 1002);
    assert_eq!(s.server_ports, 48_000);
    assert_eq!(s.networks, 4000);
    assert_eq!(s.attachments, 48_000);
    let entries = s.expected_entries.unwrap();
    assert!((300_000..=350_000).contains(&entries), "{entries} entries");
    // Most networks span the six leaves asked for; a few are cut by an
    // operator's last, partial group of leaves.
    let spans = spans(&fabric);
    let six = spans.iter().filter(|&&s| s == 6).count();
    assert!(
        six * 10 >= spans.len() * 8,
        "only {six} of {} networks span 6 leaves",
        spans.len()
    );
    // Roughly the requested share of tagged attachments.
    assert!((4000..6000).contains(&s.tagged), "{} tagged", s.tagged);
}

#[test]
fn partial_networks_stride_over_their_leaves() {
    let params = FabricParams {
        operators: 1,
        networks: 2,
        attachments_per_network: Some(4),
        span: 4,
        ..FabricParams::small()
    };
    let fabric = generate(&params).unwrap();
    assert_eq!(fabric.stats.attachments, 8);
    assert!(
        spans(&fabric).iter().all(|&s| s == 4),
        "{:?}",
        spans(&fabric)
    );
}

#[test]
fn tags_stay_in_the_generated_range() {
    let fabric = generate(&FabricParams {
        tagged_percent: 100,
        ..FabricParams::small()
    })
    .unwrap();
    assert_eq!(fabric.stats.tagged, 64);
    for net in fabric.intent.operators.iter().flat_map(|op| &op.networks) {
        for att in &net.attachments {
            let AttachModeSpec::Tagged(tag) = att.mode else {
                panic!("{} untagged", att.port)
            };
            assert!((u64::from(TAGS.0)..=u64::from(TAGS.1)).contains(&tag));
        }
    }
}

#[test]
fn vlan_fabrics_get_disjoint_fabric_vlans() {
    let params = FabricParams {
        encapsulation: EncapsulationSpec::Vlan,
        operators: 4,
        networks: 4000,
        leaves: 100,
        ..FabricParams::small()
    };
    let fabric = generate(&params).unwrap();
    assert_eq!(fabric.stats.expected_entries, None);
    let mut vlans = BTreeSet::new();
    for op in &fabric.intent.operators {
        let range: weft_model::VlanRange = op
            .lease
            .as_ref()
            .unwrap()
            .vlan
            .as_ref()
            .unwrap()
            .parse()
            .unwrap();
        for net in &op.networks {
            let vlan = net.fabric_vlan.unwrap();
            assert!(range.contains(weft_model::VlanId::new(vlan).unwrap()));
            assert!(vlans.insert(vlan), "fabric VLAN {vlan} used twice");
        }
    }
    assert!(fabric.topology.switches.iter().all(|s| s.vtep.is_none()));
    let too_many = FabricParams {
        networks: 4093,
        ..params
    };
    assert!(matches!(
        generate(&too_many),
        Err(GenError::TooMany {
            what: "networks",
            ..
        })
    ));
}

#[test]
fn impossible_parameters_are_rejected() {
    let small = FabricParams::small;
    assert!(matches!(
        generate(&FabricParams {
            spines: 0,
            ..small()
        }),
        Err(GenError::TooFew { what: "spines", .. })
    ));
    assert!(matches!(
        generate(&FabricParams {
            operators: 65,
            ..small()
        }),
        Err(GenError::TooMany {
            what: "operators",
            ..
        })
    ));
    assert!(matches!(
        generate(&FabricParams {
            server_ports: 64_999,
            ..small()
        }),
        Err(GenError::TooMany { .. })
    ));
    assert!(matches!(
        generate(&FabricParams {
            name: "Big".into(),
            ..small()
        }),
        Err(GenError::InvalidName(_))
    ));
    assert!(matches!(
        generate(&FabricParams {
            tagged_percent: 101,
            ..small()
        }),
        Err(GenError::TooMany { .. })
    ));
}

#[test]
fn topology_links_every_leaf_to_every_spine() {
    let fabric = generate(&FabricParams::small()).unwrap();
    let t = &fabric.topology;
    assert_eq!(t.links.len(), 16);
    let leaf = &t.switches[0];
    assert_eq!(leaf.name, "leaf01");
    assert_eq!(leaf.ports.len(), 10);
    assert_eq!(t.links[0].a, "leaf01/swp9");
    assert_eq!(t.links[0].b, "spine1/swp1");
    assert_eq!(t.servers.len(), 32);
    assert_eq!(t.servers[0].nics[1].port, "leaf01/swp2");
    let vteps: BTreeSet<_> = t
        .switches
        .iter()
        .filter_map(|s| s.vtep.as_deref())
        .collect();
    assert_eq!(vteps.len(), 8);
}

mod validation {
    use weft_model::{Intent, Topology};

    use super::*;
    use crate::moves::{NetworkChurn, PortMove};

    fn validate(fabric: &GeneratedFabric) -> (Topology, Intent) {
        let topology = Topology::from_spec(&fabric.topology)
            .unwrap_or_else(|v| panic!("topology invalid: {:#?}", &v[..v.len().min(5)]));
        let intent = Intent::from_spec(&topology, &fabric.intent)
            .unwrap_or_else(|v| panic!("intent invalid: {:#?}", &v[..v.len().min(5)]));
        (topology, intent)
    }

    #[test]
    fn generated_fabrics_validate() {
        for params in [
            FabricParams::small(),
            FabricParams {
                encapsulation: EncapsulationSpec::Vlan,
                ..FabricParams::small()
            },
            FabricParams {
                operators: 5,
                networks: 7,
                tagged_percent: 100,
                ..FabricParams::small()
            },
            FabricParams {
                attachments_per_network: Some(3),
                servers: false,
                ..FabricParams::small()
            },
        ] {
            let (topology, intent) = validate(&generate(&params).unwrap());
            assert_eq!(
                intent.attachments().count(),
                generate(&params).unwrap().stats.attachments
            );
            assert_eq!(topology.switches.len(), params.leaves + params.spines);
        }
    }

    #[test]
    fn bench_fabric_validates() {
        let (topology, intent) = validate(&generate(&FabricParams::bench()).unwrap());
        assert_eq!(topology.switches.len(), 1002);
        assert_eq!(intent.attachments().count(), 48_000);
    }

    #[test]
    fn moves_and_churn_apply_and_undo() {
        let (topology, intent) = validate(&generate(&FabricParams::small()).unwrap());
        for pick in 0..10 {
            let m = PortMove::find(&intent, pick).expect("a movable port");
            assert_ne!(m.from, m.to);
            let mut moved = intent.clone();
            for change in m.forward() {
                moved
                    .apply(&topology, change)
                    .expect("forward move applies");
            }
            assert_ne!(moved, intent);
            for change in m.backward() {
                moved
                    .apply(&topology, change)
                    .expect("backward move applies");
            }
            assert_eq!(moved, intent);
        }
        let churn = NetworkChurn::find(&intent, 2, 4, 2).expect("a churn network");
        assert_eq!(churn.attachments.len(), 4);
        let leaves: BTreeSet<_> = churn.attachments.iter().map(|(p, _)| p.switch).collect();
        assert_eq!(leaves.len(), 2);
        let mut with = intent.clone();
        for change in churn.create() {
            with.apply(&topology, change)
                .expect("churn creation applies");
        }
        with.apply(&topology, churn.delete())
            .expect("churn deletion applies");
        assert_eq!(with, intent);
    }
}
