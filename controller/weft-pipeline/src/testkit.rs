//! Test support: small leaf-spine topologies built as documents, and intents
//! built through `Intent::apply` (so every intent a test sees is valid by
//! construction).

use std::collections::BTreeSet;

use weft_model::spec::EncapsulationSpec;
use weft_model::{
    AttachMode, Effect, Intent, IntentChange, Lease, Name, PortKey, Quotas, Topology, VlanId,
    VlanRange, Vni, VniRange,
};

pub fn topology(
    encapsulation: EncapsulationSpec,
    leaves: usize,
    spines: usize,
    server_ports: usize,
) -> Topology {
    let spec = weft_fabricgen::small::leaf_spine(encapsulation, leaves, spines, server_ports);
    match Topology::from_spec(&spec) {
        Ok(t) => t,
        Err(v) => panic!("test topology rejected: {v:?}"),
    }
}

pub fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

pub fn vni(n: u64) -> Vni {
    Vni::new(n).unwrap()
}

pub fn vlan(n: u64) -> VlanId {
    VlanId::new(n).unwrap()
}

/// All server ports of the topology, in order.
pub fn server_ports(topo: &Topology) -> Vec<PortKey> {
    topo.leaves()
        .flat_map(|s| {
            topo.switch(s)
                .ports
                .iter()
                .filter(|p| p.role == weft_model::PortRole::Server)
                .map(move |p| PortKey {
                    switch: s,
                    port: p.number,
                })
        })
        .collect()
}

/// Operator `opK` (K from 0) has VNIs 1000K+1000..+99 and VLANs 100K+100..+99.
pub fn lease_for(topo: &Topology, k: u64, ports: BTreeSet<PortKey>) -> Lease {
    let base = 1000 * (k + 1);
    Lease {
        ports,
        vni: VniRange::new(vni(base), vni(base + 99)).unwrap(),
        vlan: (topo.encapsulation == weft_model::Encapsulation::Vlan)
            .then(|| VlanRange::new(vlan(100 * (k + 1)), vlan(100 * (k + 1) + 99)).unwrap()),
        quotas: Quotas::default(),
    }
}

/// Applies a change that must succeed.
pub fn must(intent: &mut Intent, topo: &Topology, change: IntentChange) -> Vec<Effect> {
    match intent.apply(topo, change.clone()) {
        Ok(fx) => fx,
        Err(e) => panic!("{change:?} rejected: {e}"),
    }
}

/// Creates operator `opK` with a lease on `ports`.
pub fn operator(intent: &mut Intent, topo: &Topology, k: u64, ports: &[PortKey]) -> Vec<Effect> {
    let op = name(&format!("op{k}"));
    let mut fx = must(
        intent,
        topo,
        IntentChange::UpsertOperator {
            name: op.clone(),
            display_name: None,
        },
    );
    let lease = lease_for(topo, k, ports.iter().copied().collect());
    fx.extend(must(
        intent,
        topo,
        IntentChange::SetLease {
            operator: op,
            lease,
        },
    ));
    fx
}

pub fn network(intent: &mut Intent, topo: &Topology, k: u64, net: &str) -> Vec<Effect> {
    let change = IntentChange::CreateNetwork {
        operator: name(&format!("op{k}")),
        name: name(net),
        vni: None,
        fabric_vlan: None,
    };
    must(intent, topo, change)
}

pub fn attach(
    intent: &mut Intent,
    topo: &Topology,
    k: u64,
    net: &str,
    port: PortKey,
    mode: AttachMode,
) -> Vec<Effect> {
    let change = IntentChange::Attach {
        operator: name(&format!("op{k}")),
        network: name(net),
        port,
        mode,
    };
    must(intent, topo, change)
}
