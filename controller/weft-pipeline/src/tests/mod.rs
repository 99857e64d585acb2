//! Scenario tests of the compiler and the lowering; `props` holds the
//! property tests.

mod lowering;
mod props;

use std::net::Ipv4Addr;

use weft_model::spec::EncapsulationSpec;
use weft_model::{AttachMode, Intent, IntentChange, PortKey, PortNo, SwitchId, Topology};

use crate::entry::PipelineEntry as E;
use crate::testkit::*;
use crate::{Compiler, FabricDelta, SwitchDelta, compile};

fn pn(n: u64) -> PortNo {
    PortNo::new(n).unwrap()
}

fn key(topo: &Topology, reference: &str) -> PortKey {
    topo.resolve_port(reference).unwrap()
}

fn sw(topo: &Topology, name: &str) -> SwitchId {
    topo.switch_id(name).unwrap()
}

fn vtep(topo: &Topology, name: &str) -> Ipv4Addr {
    topo.switch(sw(topo, name)).vtep.unwrap()
}

/// vxlan, 3 leaves × 4 server ports, 1 spine. op0 leases leaf1/s1-s2 and
/// leaf2/s1; op1 leases leaf1/s3 and leaf3/s1.
fn vxlan_fixture() -> (Topology, Intent) {
    let t = topology(EncapsulationSpec::Vxlan, 3, 1, 4);
    let mut i = Intent::default();
    let p = |r: &str| key(&t, r);
    operator(
        &mut i,
        &t,
        0,
        &[p("leaf1/s1"), p("leaf1/s2"), p("leaf2/s1")],
    );
    operator(&mut i, &t, 1, &[p("leaf1/s3"), p("leaf3/s1")]);
    (t, i)
}

#[test]
fn vxlan_full_compile_entries() {
    let (t, mut i) = vxlan_fixture();
    network(&mut i, &t, 0, "a");
    attach(&mut i, &t, 0, "a", key(&t, "leaf1/s1"), AttachMode::Access);
    attach(
        &mut i,
        &t,
        0,
        "a",
        key(&t, "leaf2/s1"),
        AttachMode::Tagged(vlan(10)),
    );
    network(&mut i, &t, 1, "b");
    attach(
        &mut i,
        &t,
        1,
        "b",
        key(&t, "leaf1/s3"),
        AttachMode::Tagged(vlan(10)),
    );

    let f = compile(&t, &i);
    let (a, b) = (vni(1000), vni(2000));
    assert_eq!(
        f.entries(sw(&t, "leaf1")),
        &[
            E::PortIngress {
                port: pn(1),
                mode: AttachMode::Access,
                vni: a
            },
            E::PortIngress {
                port: pn(3),
                mode: AttachMode::Tagged(vlan(10)),
                vni: b
            },
            E::TunnelIngress {
                vni: a,
                remote: vtep(&t, "leaf2")
            },
            E::FloodPort {
                vni: a,
                port: pn(1),
                mode: AttachMode::Access
            },
            E::FloodPort {
                vni: b,
                port: pn(3),
                mode: AttachMode::Tagged(vlan(10))
            },
            E::FloodTunnel {
                vni: a,
                remote: vtep(&t, "leaf2")
            },
        ]
    );
    assert_eq!(
        f.entries(sw(&t, "leaf2")),
        &[
            E::PortIngress {
                port: pn(1),
                mode: AttachMode::Tagged(vlan(10)),
                vni: a
            },
            E::TunnelIngress {
                vni: a,
                remote: vtep(&t, "leaf1")
            },
            E::FloodPort {
                vni: a,
                port: pn(1),
                mode: AttachMode::Tagged(vlan(10))
            },
            E::FloodTunnel {
                vni: a,
                remote: vtep(&t, "leaf1")
            },
        ]
    );
    assert!(f.entries(sw(&t, "leaf3")).is_empty());
    assert!(
        f.entries(sw(&t, "spine1")).is_empty(),
        "vxlan spines are not programmed"
    );
    assert_eq!(f.len(), 10);
}

#[test]
fn vlan_tree_spans_member_leaves_through_one_spine() {
    // 3 leaves, 2 spines: leaf ports s1-s2, u1 (3) → spine1, u2 (4) → spine2.
    let t = topology(EncapsulationSpec::Vlan, 3, 2, 2);
    let mut i = Intent::default();
    let ports = server_ports(&t);
    operator(&mut i, &t, 0, &ports);
    network(&mut i, &t, 0, "a");
    attach(&mut i, &t, 0, "a", key(&t, "leaf1/s1"), AttachMode::Access);
    attach(&mut i, &t, 0, "a", key(&t, "leaf3/s2"), AttachMode::Access);
    let net = &i.operators["op0"].networks["a"];
    let (v, fv) = (net.vni, net.fabric_vlan.unwrap());
    assert_eq!(fv, vlan(100));

    let f = compile(&t, &i);
    let trunk = |port| {
        [
            E::TrunkIngress {
                port: pn(port),
                fabric_vlan: fv,
                vni: v,
            },
            E::FloodTrunk {
                vni: v,
                port: pn(port),
                fabric_vlan: fv,
            },
        ]
    };
    // Root leaf1 reaches spine1 first (u1), spine1 reaches leaf3 on d3.
    let leaf1 = f.entries(sw(&t, "leaf1"));
    assert!(leaf1.contains(&trunk(3)[0]) && leaf1.contains(&trunk(3)[1]));
    assert!(!leaf1.contains(&trunk(4)[0]), "one uplink only: no loop");
    assert_eq!(
        f.entries(sw(&t, "spine1")),
        &{
            let mut e = [trunk(1), trunk(3)].concat();
            e.sort();
            e
        }[..]
    );
    assert!(f.entries(sw(&t, "spine2")).is_empty(), "pruned");
    assert!(
        f.entries(sw(&t, "leaf2")).is_empty(),
        "non-member leaves never carry the VLAN"
    );
    let leaf3 = f.entries(sw(&t, "leaf3"));
    assert!(leaf3.contains(&trunk(3)[0]));
    assert_eq!(leaf3.len(), 4);

    // A single member: no trunk at all.
    let mut c = Compiler::new(&t, &i);
    let fx = must(
        &mut i,
        &t,
        IntentChange::Detach {
            operator: name("op0"),
            network: name("a"),
            port: key(&t, "leaf3/s2"),
        },
    );
    let d = c.apply(&t, &fx);
    assert_eq!(d, FabricDelta::between(&f, &compile(&t, &i)));
    assert!(c.entries(sw(&t, "spine1")).is_empty());
    assert_eq!(c.entries(sw(&t, "leaf1")).len(), 2);
}

#[test]
fn port_move_delta_is_minimal_and_nets_out() {
    let (t, mut i) = vxlan_fixture();
    network(&mut i, &t, 0, "a");
    network(&mut i, &t, 0, "b");
    attach(&mut i, &t, 0, "a", key(&t, "leaf1/s1"), AttachMode::Access);
    attach(&mut i, &t, 0, "a", key(&t, "leaf1/s2"), AttachMode::Access);
    attach(&mut i, &t, 0, "a", key(&t, "leaf2/s1"), AttachMode::Access);
    attach(
        &mut i,
        &t,
        0,
        "b",
        key(&t, "leaf2/s1"),
        AttachMode::Tagged(vlan(5)),
    );
    let before = compile(&t, &i);
    let mut c = Compiler::new(&t, &i);
    assert_eq!(c.snapshot(), before);

    // Move leaf1/s2 from a to b: leaf1 stays in a (s1), joins b.
    let op = name("op0");
    let p = key(&t, "leaf1/s2");
    let mut fx = must(
        &mut i,
        &t,
        IntentChange::Detach {
            operator: op.clone(),
            network: name("a"),
            port: p,
        },
    );
    fx.extend(must(
        &mut i,
        &t,
        IntentChange::Attach {
            operator: op,
            network: name("b"),
            port: p,
            mode: AttachMode::Access,
        },
    ));
    let d = c.apply(&t, &fx);
    let after = compile(&t, &i);
    assert_eq!(c.snapshot(), after);
    assert_eq!(d, FabricDelta::between(&before, &after));
    let a = vni(1000);
    let leaf1 = &d.switches[&sw(&t, "leaf1")];
    assert_eq!(
        leaf1.removed,
        vec![
            E::PortIngress {
                port: pn(2),
                mode: AttachMode::Access,
                vni: a
            },
            E::FloodPort {
                vni: a,
                port: pn(2),
                mode: AttachMode::Access
            },
        ]
    );
    assert_eq!(
        leaf1.added.len(),
        4,
        "port entries + tunnel to leaf2 for b: {:?}",
        leaf1.added
    );
    assert_eq!(d.switches[&sw(&t, "leaf2")].added.len(), 2);
    assert_eq!(d.counts(), (2, 6));

    // Detach and re-attach in one batch: nothing changes, not even no-op pairs.
    let p1 = key(&t, "leaf1/s1");
    let mut fx = must(
        &mut i,
        &t,
        IntentChange::Detach {
            operator: name("op0"),
            network: name("a"),
            port: p1,
        },
    );
    fx.extend(attach(&mut i, &t, 0, "a", p1, AttachMode::Access));
    assert!(c.apply(&t, &fx).is_empty());
    assert_eq!(c.snapshot(), after);
}

#[test]
fn revert_restores_state_and_effects_are_idempotent() {
    let (t, mut i) = vxlan_fixture();
    network(&mut i, &t, 0, "a");
    attach(&mut i, &t, 0, "a", key(&t, "leaf1/s1"), AttachMode::Access);
    let mut c = Compiler::new(&t, &i);
    let before = c.snapshot();
    let fx = attach(&mut i, &t, 0, "a", key(&t, "leaf2/s1"), AttachMode::Access);
    let d = c.apply(&t, &fx);
    assert!(!d.is_empty());
    assert!(
        c.apply(&t, &fx).is_empty(),
        "attaching twice changes nothing"
    );
    let back = c.revert(&t, &fx);
    assert_eq!(c.snapshot(), before);
    for (s, sd) in &d.switches {
        assert_eq!(
            back.switches[s],
            SwitchDelta {
                removed: sd.added.clone(),
                added: sd.removed.clone()
            }
        );
    }
}

#[test]
fn cascades_reach_the_compiler() {
    let (t, mut i) = vxlan_fixture();
    network(&mut i, &t, 0, "a");
    attach(&mut i, &t, 0, "a", key(&t, "leaf1/s1"), AttachMode::Access);
    attach(&mut i, &t, 0, "a", key(&t, "leaf2/s1"), AttachMode::Access);
    network(&mut i, &t, 1, "b");
    attach(&mut i, &t, 1, "b", key(&t, "leaf3/s1"), AttachMode::Access);
    let mut c = Compiler::new(&t, &i);

    // Shrinking op0's lease to leaf1 only detaches leaf2/s1: tunnels go too.
    let lease = lease_for(&t, 0, [key(&t, "leaf1/s1")].into());
    let fx = must(
        &mut i,
        &t,
        IntentChange::SetLease {
            operator: name("op0"),
            lease,
        },
    );
    c.apply(&t, &fx);
    assert_eq!(c.snapshot(), compile(&t, &i));
    assert_eq!(c.entries(sw(&t, "leaf1")).len(), 2);

    let fx = must(
        &mut i,
        &t,
        IntentChange::RemoveOperator { name: name("op0") },
    );
    c.apply(&t, &fx);
    assert_eq!(c.snapshot(), compile(&t, &i));
    assert!(c.entries(sw(&t, "leaf1")).is_empty());
    assert_eq!(c.entries(sw(&t, "leaf3")).len(), 2);
}

#[test]
fn entry_quota_is_counted_and_checked() {
    let (t, mut i) = vxlan_fixture();
    let mut lease = lease_for(
        &t,
        0,
        [
            key(&t, "leaf1/s1"),
            key(&t, "leaf1/s2"),
            key(&t, "leaf2/s1"),
        ]
        .into(),
    );
    lease.quotas.entries_per_switch = 4;
    must(
        &mut i,
        &t,
        IntentChange::SetLease {
            operator: name("op0"),
            lease,
        },
    );
    network(&mut i, &t, 0, "a");
    let mut c = Compiler::new(&t, &i);
    let fx = attach(&mut i, &t, 0, "a", key(&t, "leaf1/s1"), AttachMode::Access);
    let d = c.apply(&t, &fx);
    assert!(c.check_entry_quotas(&t, &i, &d).is_ok());
    let fx = attach(&mut i, &t, 0, "a", key(&t, "leaf2/s1"), AttachMode::Access);
    let d = c.apply(&t, &fx);
    // leaf1: 2 port + 2 tunnel entries = 4, at the limit.
    assert_eq!(c.vni_entries_on_switch(&t, sw(&t, "leaf1"), vni(1000)), 4);
    assert!(c.check_entry_quotas(&t, &i, &d).is_ok());
    let fx = attach(&mut i, &t, 0, "a", key(&t, "leaf1/s2"), AttachMode::Access);
    let d = c.apply(&t, &fx);
    let err = c.check_entry_quotas(&t, &i, &d).unwrap_err();
    assert_eq!(
        (err.entries, err.limit, err.switch),
        (6, 4, sw(&t, "leaf1"))
    );
    // The caller rejects: revert the compiler (and its intent copy).
    c.revert(&t, &fx);
    assert_eq!(c.vni_entries_on_switch(&t, sw(&t, "leaf1"), vni(1000)), 4);
    for s in t.switch_ids() {
        let op = &i.operators["op0"];
        let counted = c.operator_entries_on_switch(&t, s, op);
        let actual = c.entries(s).iter().filter(|e| e.vni() == vni(1000)).count();
        assert_eq!(counted, actual as u64, "switch {s:?}");
    }
}
