//! Every example in `topologies/` parses and validates, with the values the
//! comments promise.

// Test helpers panic on broken fixtures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use weft_model::{AttachMode, Encapsulation, Vni};

fn topologies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies")
}

fn must<T>(r: Result<T, weft_config::Diagnostics>) -> T {
    r.unwrap_or_else(|d| panic!("{}", d.render()))
}

#[test]
fn every_example_validates() {
    let mut checked = 0;
    for entry in std::fs::read_dir(topologies()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(stem) = name.strip_suffix(".yaml") else {
            continue;
        };
        if stem.ends_with(".intent") {
            continue;
        }
        let topology = must(weft_config::load_topology(&path));
        // Written back as a document, the topology reads the same.
        assert_eq!(
            weft_model::Topology::from_spec(&topology.to_spec()).as_ref(),
            Ok(&topology)
        );
        let intent_path = path.with_file_name(format!("{stem}.intent.yaml"));
        if intent_path.exists() {
            let intent = must(weft_config::load_intent(&intent_path, &topology));
            assert!(!intent.operators.is_empty(), "{name}: no operators");
            let again = weft_model::Intent::from_spec(&topology, &intent.to_spec(&topology));
            assert_eq!(again.as_ref(), Ok(&intent), "{name}");
        }
        checked += 1;
    }
    assert!(checked >= 2, "examples missing: {checked}");
}

#[test]
fn two_racks_is_what_its_comments_say() {
    let t = must(weft_config::load_topology(
        topologies().join("two-racks.yaml"),
    ));
    assert_eq!(t.encapsulation, Encapsulation::Vxlan);
    assert_eq!(t.leaves().count(), 2);
    assert_eq!(t.switches.len(), 4);
    let i = must(weft_config::load_intent(
        topologies().join("two-racks.intent.yaml"),
        &t,
    ));
    let names: Vec<_> = i.operators.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    let vni = |op: &str, net: &str| i.operators[op].networks[net].vni;
    assert_eq!(vni("alpha", "prod"), Vni::new(1100).unwrap());
    assert_eq!(vni("alpha", "backup"), Vni::new(1000).unwrap());
    assert_eq!(vni("beta", "web"), Vni::new(2000).unwrap());
    assert_eq!(vni("beta", "db"), Vni::new(2001).unwrap());
    // Same tag 100 for two operators on the ovs leaf.
    let ovs = t.switch_id("rack1-leaf").unwrap();
    let tag100: Vec<_> = i
        .attachments()
        .filter(|(_, _, p, m)| {
            p.switch == ovs && *m == AttachMode::Tagged(weft_model::VlanId::new(100).unwrap())
        })
        .map(|(op, _, _, _)| op.name.as_str())
        .collect();
    assert_eq!(tag100, ["alpha", "beta"]);
    // Every operator has a network spanning both leaves.
    for op in i.operators.values() {
        assert!(
            op.networks.values().any(|n| {
                let leaves: std::collections::BTreeSet<_> =
                    n.attachments.keys().map(|p| p.switch).collect();
                leaves.len() == 2
            }),
            "{}",
            op.name
        );
    }
    // Tagged attachments only on the ovs leaf (the lab kernel has no 802.1Q).
    assert!(
        i.attachments()
            .all(|(_, _, p, m)| p.switch == ovs || m == AttachMode::Access)
    );
}

#[test]
fn vlan_fabric_allocates_fabric_vlans() {
    let t = must(weft_config::load_topology(
        topologies().join("vlan-fabric.yaml"),
    ));
    assert_eq!(t.encapsulation, Encapsulation::Vlan);
    assert_eq!((t.leaves().count(), t.switches.len()), (4, 6));
    let i = must(weft_config::load_intent(
        topologies().join("vlan-fabric.intent.yaml"),
        &t,
    ));
    let net = |op: &str, n: &str| {
        let n = &i.operators[op].networks[n];
        (n.vni.get(), n.fabric_vlan.map(|v| v.get()))
    };
    assert_eq!(net("alpha", "db-replication"), (1000, Some(150)));
    assert_eq!(net("alpha", "app"), (1001, Some(100)));
    assert_eq!(net("beta", "front"), (2000, Some(200)));
    assert_eq!(net("beta", "back"), (2001, Some(201)));
}
