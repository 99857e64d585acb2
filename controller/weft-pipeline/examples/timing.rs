//! Rough timings of the compiler on the benchmark-sized fabric (1,000
//! leaves × 48 server ports, 4,000 networks, ~336k entries). Not a
//! benchmark (those are criterion benches in `benches/`): a quick check
//! while developing.
//!
//! ```text
//! cargo run --release -p weft-pipeline --example timing
//! ```

// A development tool: printing and panicking on a broken setup are its job.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use weft_model::spec::{
    DataplaneSpec, EncapsulationSpec, FabricSpec, LinkSpec, PortRoleSpec, PortSpec, SwitchRoleSpec,
    SwitchSpec, TopologySpec,
};
use weft_model::{
    AttachMode, Intent, IntentChange, Lease, Name, PortKey, Quotas, Topology, Vni, VniRange,
};
use weft_pipeline::lower::lower_fabric_delta;
use weft_pipeline::{Compiler, compile, lower_switch};

const LEAVES: usize = 1000;
const PORTS: usize = 48;
const SPINES: usize = 2;
const OPERATORS: usize = 40;
const LEAVES_PER_OPERATOR: usize = LEAVES / OPERATORS;
const NETWORKS_PER_OPERATOR: usize = 100;
const LEAVES_PER_NETWORK: usize = 6;

fn name(s: String) -> Name {
    Name::new(s).expect("generated names are valid")
}

fn topology() -> Topology {
    let mut switches = Vec::new();
    let mut links = Vec::new();
    for l in 0..LEAVES {
        let mut ports: Vec<PortSpec> = (0..PORTS)
            .map(|p| PortSpec {
                name: format!("s{p}"),
                number: None,
                role: PortRoleSpec::Server,
            })
            .collect();
        for s in 0..SPINES {
            ports.push(PortSpec {
                name: format!("u{s}"),
                number: None,
                role: PortRoleSpec::Fabric,
            });
            links.push(LinkSpec {
                a: format!("leaf{l:04}/u{s}"),
                b: format!("spine{s}/d{l}"),
            });
        }
        switches.push(SwitchSpec {
            name: format!("leaf{l:04}"),
            rack: None,
            role: SwitchRoleSpec::Leaf,
            dataplane: DataplaneSpec::Ovs,
            vtep: Some(format!("10.1.{}.{}", l / 250, l % 250 + 1)),
            management: None,
            ports,
        });
    }
    for s in 0..SPINES {
        switches.push(SwitchSpec {
            name: format!("spine{s}"),
            rack: None,
            role: SwitchRoleSpec::Spine,
            dataplane: DataplaneSpec::Ovs,
            vtep: None,
            management: None,
            ports: (0..LEAVES)
                .map(|l| PortSpec {
                    name: format!("d{l}"),
                    number: None,
                    role: PortRoleSpec::Fabric,
                })
                .collect(),
        });
    }
    let spec = TopologySpec {
        fabric: FabricSpec {
            name: "bench".to_owned(),
            encapsulation: EncapsulationSpec::Vxlan,
            reserved: Default::default(),
        },
        sites: Vec::new(),
        switches,
        servers: Vec::new(),
        links,
    };
    Topology::from_spec(&spec).expect("valid generated topology")
}

/// Operator k leases every port of leaves 25k..25k+24 and has 100 networks;
/// network j spans 6 of those leaves with 2 access ports each, so every
/// server port carries exactly one attachment.
fn intent(topo: &Topology) -> Intent {
    let mut intent = Intent::default();
    let leaves: Vec<_> = topo.leaves().collect();
    for k in 0..OPERATORS {
        let op = name(format!("op{k}"));
        let mine = &leaves[k * LEAVES_PER_OPERATOR..(k + 1) * LEAVES_PER_OPERATOR];
        let ports = mine
            .iter()
            .flat_map(|&s| {
                topo.switch(s).ports[..PORTS].iter().map(move |p| PortKey {
                    switch: s,
                    port: p.number,
                })
            })
            .collect();
        let base = 10_000 * (k as u64 + 1);
        let lease = Lease {
            ports,
            vni: VniRange::new(Vni::new(base).unwrap(), Vni::new(base + 999).unwrap()).unwrap(),
            vlan: None,
            quotas: Quotas {
                networks: 1000,
                attachments: 10_000,
                entries_per_switch: 100_000,
            },
        };
        let changes = [
            IntentChange::UpsertOperator {
                name: op.clone(),
                display_name: None,
            },
            IntentChange::SetLease {
                operator: op.clone(),
                lease,
            },
        ];
        for c in changes {
            intent.apply(topo, c).expect("setup");
        }
        let mut used = [0usize; LEAVES_PER_OPERATOR];
        for j in 0..NETWORKS_PER_OPERATOR {
            let net = name(format!("n{j}"));
            let create = IntentChange::CreateNetwork {
                operator: op.clone(),
                name: net.clone(),
                vni: None,
                fabric_vlan: None,
            };
            intent.apply(topo, create).expect("create");
            for i in 0..LEAVES_PER_NETWORK {
                let l = (j * LEAVES_PER_NETWORK + i) % LEAVES_PER_OPERATOR;
                for _ in 0..2 {
                    let port = topo.switch(mine[l]).ports[used[l]].number;
                    used[l] += 1;
                    let attach = IntentChange::Attach {
                        operator: op.clone(),
                        network: net.clone(),
                        port: PortKey {
                            switch: mine[l],
                            port,
                        },
                        mode: AttachMode::Access,
                    };
                    intent.apply(topo, attach).expect("attach");
                }
            }
        }
    }
    intent
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let t0 = Instant::now();
    let topo = topology();
    let mut intent = intent(&topo);
    println!("setup: {:?}", t0.elapsed());

    let mut runs = Vec::new();
    let mut entries = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let f = compile(&topo, &intent);
        runs.push(t.elapsed());
        entries = f.len();
    }
    println!(
        "full compile: {entries} entries, median {:?}, min {:?}",
        median(runs.clone()),
        runs.iter().min().unwrap()
    );

    let t = Instant::now();
    let mut compiler = Compiler::new(&topo, &intent);
    println!("Compiler::new: {:?}", t.elapsed());

    // One-port move: detach a port from its network, attach it to another
    // network of the same operator on other leaves; then back.
    let op = name("op0".to_owned());
    let leaf = topo.leaves().next().unwrap();
    let port = PortKey {
        switch: leaf,
        port: topo.switch(leaf).ports[0].number,
    };
    let home = intent.operators["op0"]
        .networks
        .values()
        .find(|n| n.attachments.contains_key(&port))
        .map(|n| n.name.clone())
        .unwrap();
    let away = intent.operators["op0"]
        .networks
        .values()
        .find(|n| n.attachments.keys().all(|p| p.switch != leaf))
        .map(|n| n.name.clone())
        .unwrap();
    let mut moves = Vec::new();
    let mut intent_times = Vec::new();
    let mut lowering = Vec::new();
    let mut sizes = (0, 0);
    for i in 0..2000 {
        let (from, to) = if i % 2 == 0 {
            (&home, &away)
        } else {
            (&away, &home)
        };
        let t = Instant::now();
        let mut effects = intent
            .apply(
                &topo,
                IntentChange::Detach {
                    operator: op.clone(),
                    network: from.clone(),
                    port,
                },
            )
            .unwrap();
        effects.extend(
            intent
                .apply(
                    &topo,
                    IntentChange::Attach {
                        operator: op.clone(),
                        network: to.clone(),
                        port,
                        mode: AttachMode::Access,
                    },
                )
                .unwrap(),
        );
        intent_times.push(t.elapsed());
        let t = Instant::now();
        let delta = compiler.apply(&topo, &effects);
        moves.push(t.elapsed());
        sizes = delta.counts();
        let t = Instant::now();
        let rule_deltas = lower_fabric_delta(&topo, &delta, |s| compiler.entries(s));
        lowering.push(t.elapsed());
        assert!(!rule_deltas.is_empty());
    }
    println!(
        "one-port move (Compiler::apply): median {:?}, delta (removed, added) = {sizes:?}",
        median(moves)
    );
    println!(
        "one-port move (2 × Intent::apply): median {:?}",
        median(intent_times)
    );
    println!(
        "one-port move (lower_fabric_delta): median {:?}",
        median(lowering)
    );

    let t = Instant::now();
    let rules: usize = topo
        .switch_ids()
        .map(|s| lower_switch(&topo, s, compiler.entries(s)).len())
        .sum();
    println!("lower every switch: {rules} rules in {:?}", t.elapsed());
}
