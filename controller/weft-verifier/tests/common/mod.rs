//! Shared by the integration tests: leaf-spine topologies built as
//! documents, random valid intents built through `Intent::apply`, and the
//! compiler + lowering of `weft-pipeline` (a dev-dependency only).

#![allow(dead_code)]

use std::collections::BTreeSet;

use weft_model::spec::EncapsulationSpec;
use weft_model::{
    AttachMode, Effect, Encapsulation, Intent, IntentChange, Lease, Name, PortKey, PortRole,
    Quotas, SwitchId, Topology, VlanId, VlanRange, Vni, VniRange,
};
use weft_rules::FabricRules;

/// `leaves` leaves (`leaf1`…: server ports `s1`…, uplinks `u1`… one per
/// spine) and `spines` spines (`spine1`…: `d1`… one per leaf).
pub fn leaf_spine(
    encap: EncapsulationSpec,
    leaves: usize,
    spines: usize,
    ports: usize,
) -> Topology {
    let spec = weft_fabricgen::small::leaf_spine(encap, leaves, spines, ports);
    Topology::from_spec(&spec).unwrap_or_else(|v| panic!("topology rejected: {v:?}"))
}

pub fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

pub fn op(k: usize) -> Name {
    name(&format!("op{k}"))
}

pub fn vlan(n: u64) -> VlanId {
    VlanId::new(n).unwrap()
}

pub fn server_ports(topo: &Topology) -> Vec<PortKey> {
    topo.leaves()
        .flat_map(|s| {
            topo.switch(s)
                .ports
                .iter()
                .filter(|p| p.role == PortRole::Server)
                .map(move |p| PortKey {
                    switch: s,
                    port: p.number,
                })
        })
        .collect()
}

/// A tiny deterministic generator, so a proptest seed is a whole scenario.
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Seeded {
        Seeded(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Applies a change; `None` if the model refuses it (a random script
/// proposes invalid changes too, e.g. a second access attachment).
pub fn try_apply(
    intent: &mut Intent,
    topo: &Topology,
    change: IntentChange,
) -> Option<Vec<Effect>> {
    intent.apply(topo, change).ok()
}

pub fn lease(topo: &Topology, k: usize, ports: BTreeSet<PortKey>) -> Lease {
    let k = u64::try_from(k).unwrap();
    let base = 1000 * (k + 1);
    Lease {
        ports,
        vni: VniRange::new(Vni::new(base).unwrap(), Vni::new(base + 99).unwrap()).unwrap(),
        vlan: (topo.encapsulation == Encapsulation::Vlan)
            .then(|| VlanRange::new(vlan(100 * (k + 1)), vlan(100 * (k + 1) + 99)).unwrap()),
        quotas: Quotas::default(),
    }
}

/// A random valid intent: `ops` operators sharing the server ports (some
/// left unleased), a few networks each, random access and tagged
/// attachments (operators reuse the same tags on purpose).
pub fn random_intent(topo: &Topology, rng: &mut Seeded, ops: usize) -> Intent {
    let mut intent = Intent::default();
    let ports = server_ports(topo);
    let mut leased: Vec<BTreeSet<PortKey>> = vec![BTreeSet::new(); ops];
    for p in &ports {
        let k = rng.below(ops + 1);
        if k < ops {
            leased[k].insert(*p);
        }
    }
    for (k, ps) in leased.iter().enumerate() {
        let up = IntentChange::UpsertOperator {
            name: op(k),
            display_name: None,
        };
        try_apply(&mut intent, topo, up).unwrap();
        let set = IntentChange::SetLease {
            operator: op(k),
            lease: lease(topo, k, ps.clone()),
        };
        try_apply(&mut intent, topo, set).unwrap();
        for n in 0..1 + rng.below(3) {
            let create = IntentChange::CreateNetwork {
                operator: op(k),
                name: name(&format!("net{n}")),
                vni: None,
                fabric_vlan: None,
            };
            try_apply(&mut intent, topo, create).unwrap();
        }
    }
    for _ in 0..ports.len() * 2 {
        random_attach(topo, &mut intent, rng);
    }
    intent
}

/// Proposes a random attachment (which the model may refuse).
pub fn random_attach(
    topo: &Topology,
    intent: &mut Intent,
    rng: &mut Seeded,
) -> Option<Vec<Effect>> {
    let (k, operator) = random_operator(intent, rng)?;
    let ports: Vec<PortKey> = operator.lease.as_ref()?.ports.iter().copied().collect();
    if ports.is_empty() || operator.networks.is_empty() {
        return None;
    }
    let port = ports[rng.below(ports.len())];
    let nets: Vec<&Name> = operator.networks.keys().collect();
    let network = nets[rng.below(nets.len())].clone();
    let mode = if rng.chance(50) {
        AttachMode::Access
    } else {
        AttachMode::Tagged(vlan(10 + rng.next() % 3))
    };
    try_apply(
        intent,
        topo,
        IntentChange::Attach {
            operator: k,
            network,
            port,
            mode,
        },
    )
}

fn random_operator<'a>(
    intent: &'a Intent,
    rng: &mut Seeded,
) -> Option<(Name, &'a weft_model::Operator)> {
    let ops: Vec<_> = intent.operators.iter().collect();
    if ops.is_empty() {
        return None;
    }
    let (n, o) = ops[rng.below(ops.len())];
    Some((n.clone(), o))
}

/// A random one-step change: attach, detach, create or delete a network.
pub fn random_change(
    topo: &Topology,
    intent: &mut Intent,
    rng: &mut Seeded,
) -> Option<Vec<Effect>> {
    match rng.below(5) {
        0 | 1 => random_attach(topo, intent, rng),
        2 => {
            let (k, o) = random_operator(intent, rng)?;
            let atts: Vec<(Name, PortKey)> = o
                .networks
                .iter()
                .flat_map(|(n, net)| net.attachments.keys().map(move |p| (n.clone(), *p)))
                .collect();
            if atts.is_empty() {
                return None;
            }
            let (network, port) = atts[rng.below(atts.len())].clone();
            try_apply(
                intent,
                topo,
                IntentChange::Detach {
                    operator: k,
                    network,
                    port,
                },
            )
        }
        3 => {
            let (k, _) = random_operator(intent, rng)?;
            let n = format!("new{}", rng.below(4));
            let create = IntentChange::CreateNetwork {
                operator: k,
                name: name(&n),
                vni: None,
                fabric_vlan: None,
            };
            try_apply(intent, topo, create)
        }
        _ => {
            let (k, o) = random_operator(intent, rng)?;
            let nets: Vec<&Name> = o.networks.keys().collect();
            if nets.is_empty() {
                return None;
            }
            let net = nets[rng.below(nets.len())].clone();
            try_apply(
                intent,
                topo,
                IntentChange::DeleteNetwork {
                    operator: k,
                    name: net,
                },
            )
        }
    }
}

/// What the compiler and lowering produce for an intent.
pub fn compiled_rules(topo: &Topology, intent: &Intent) -> FabricRules {
    let compiled = weft_pipeline::compile(topo, intent);
    weft_pipeline::lower_fabric(topo, &compiled)
}

pub fn switch(topo: &Topology, name: &str) -> SwitchId {
    topo.switch_id(name).unwrap()
}
