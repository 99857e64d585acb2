//! Shared fixtures of Weft's benchmarks (`benches/fabric.rs`).
//!
//! The workload is `weft_fabricgen::FabricParams::bench()`: the DESIGN.md
//! fabric of 1,000 leaves × 48 server ports with 4,000 networks. Fixtures go
//! through the same validation as files do, so the benches measure the
//! values the controller would hold. `README.md` records the figures.

use weft_fabricgen::moves::{NetworkChurn, PortMove};
use weft_fabricgen::{FabricParams, FabricStats};
use weft_model::{Effect, Intent, IntentChange, SwitchId, Topology};
use weft_pipeline::lower::lower_fabric_delta;
use weft_pipeline::{Compiler, FabricDelta, RuleDelta, compile, lower_fabric};
use weft_rules::FabricRules;
use weft_verifier::{IncrementalVerifier, VerificationReport};

/// A validated generated fabric.
#[derive(Debug, Clone)]
pub struct Fabric {
    pub topology: Topology,
    pub intent: Intent,
    pub stats: FabricStats,
}

impl Fabric {
    /// Generates and validates. Panics if the generator made an invalid
    /// fabric: that is a bug in `weft-fabricgen`, not a bench outcome.
    pub fn generate(params: &FabricParams) -> Fabric {
        let generated = weft_fabricgen::generate(params).expect("generator parameters");
        let topology = Topology::from_spec(&generated.topology)
            .unwrap_or_else(|v| panic!("generated topology invalid: {:?}", &v[..v.len().min(5)]));
        let intent = Intent::from_spec(&topology, &generated.intent)
            .unwrap_or_else(|v| panic!("generated intent invalid: {:?}", &v[..v.len().min(5)]));
        Fabric {
            topology,
            intent,
            stats: generated.stats,
        }
    }

    /// The DESIGN.md benchmark fabric.
    pub fn bench() -> Fabric {
        Self::generate(&FabricParams::bench())
    }

    /// The fabric's rule tables: compiled and lowered.
    pub fn rules(&self) -> FabricRules {
        lower_fabric(&self.topology, &compile(&self.topology, &self.intent))
    }
}

/// Applies intent changes in order, collecting their effects. Panics on a
/// rejected change: the fixtures only make valid ones.
pub fn apply_all(
    topology: &Topology,
    intent: &mut Intent,
    changes: impl IntoIterator<Item = IntentChange>,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    for change in changes {
        match intent.apply(topology, change.clone()) {
            Ok(e) => effects.extend(e),
            Err(e) => panic!("fixture change {change:?} rejected: {e}"),
        }
    }
    effects
}

/// One port moved back and forth between two networks, through the
/// controller's path: `Intent::apply`, then the incremental compiler.
#[derive(Debug)]
pub struct MoveLoop {
    pub intent: Intent,
    pub compiler: Compiler,
    pub port_move: PortMove,
    forward: bool,
}

impl MoveLoop {
    pub fn new(fabric: &Fabric, pick: usize) -> MoveLoop {
        let port_move = PortMove::find(&fabric.intent, pick).expect("a movable attachment");
        MoveLoop {
            intent: fabric.intent.clone(),
            compiler: Compiler::new(&fabric.topology, &fabric.intent),
            port_move,
            forward: true,
        }
    }

    /// The next move (alternately there and back): intent changes applied,
    /// then compiled into the per-switch delta.
    pub fn step(&mut self, topology: &Topology) -> FabricDelta {
        self.step_effects(topology).1
    }

    /// [`step`](Self::step), also returning the intent effects.
    pub fn step_effects(&mut self, topology: &Topology) -> (Vec<Effect>, FabricDelta) {
        let changes = if self.forward {
            self.port_move.forward()
        } else {
            self.port_move.backward()
        };
        self.forward = !self.forward;
        let effects = apply_all(topology, &mut self.intent, changes);
        let delta = self.compiler.apply(topology, &effects);
        (effects, delta)
    }

    /// [`step`](Self::step), then the rule deltas of the changed switches.
    pub fn step_lowered(&mut self, topology: &Topology) -> LoweredChange {
        let (effects, delta) = self.step_effects(topology);
        let rules = lower_fabric_delta(topology, &delta, |s| self.compiler.entries(s));
        LoweredChange {
            effects,
            delta,
            rules,
        }
    }
}

/// One intent change carried down to rule deltas: what the incremental
/// verifier takes.
#[derive(Debug)]
pub struct LoweredChange {
    pub effects: Vec<Effect>,
    pub delta: FabricDelta,
    pub rules: Vec<(SwitchId, RuleDelta)>,
}

/// A [`MoveLoop`] with an [`IncrementalVerifier`] following it: the
/// controller's whole path for one change.
#[derive(Debug)]
pub struct VerifiedMoveLoop {
    pub moves: MoveLoop,
    pub verifier: IncrementalVerifier,
}

impl VerifiedMoveLoop {
    /// Verifies the whole fabric once (seconds on the bench fabric).
    pub fn new(fabric: &Fabric, pick: usize) -> VerifiedMoveLoop {
        let verifier = IncrementalVerifier::new(&fabric.topology, &fabric.intent, &fabric.rules());
        VerifiedMoveLoop {
            moves: MoveLoop::new(fabric, pick),
            verifier,
        }
    }

    /// The next move, compiled and lowered, not yet verified.
    pub fn prepare(&mut self, topology: &Topology) -> LoweredChange {
        self.moves.step_lowered(topology)
    }

    /// Re-verifies after a prepared change.
    pub fn verify(&mut self, change: &LoweredChange) -> &VerificationReport {
        let deltas: Vec<(SwitchId, &[weft_rules::Rule], &[weft_rules::Rule])> = change
            .rules
            .iter()
            .map(|(s, d)| (*s, d.removed.as_slice(), d.added.as_slice()))
            .collect();
        self.verifier
            .apply_effects(&self.moves.intent, &change.effects, &deltas)
    }
}

/// A network created with its attachments and deleted again, through
/// `Intent::apply` and the incremental compiler.
#[derive(Debug)]
pub struct ChurnLoop {
    pub intent: Intent,
    pub compiler: Compiler,
    pub churn: NetworkChurn,
}

impl ChurnLoop {
    /// 12 tagged attachments over 6 leaves: the shape of the bench fabric's
    /// own networks.
    pub fn new(fabric: &Fabric, pick: usize) -> ChurnLoop {
        let churn = NetworkChurn::find(&fabric.intent, pick, 12, 6).expect("a leased operator");
        ChurnLoop {
            intent: fabric.intent.clone(),
            compiler: Compiler::new(&fabric.topology, &fabric.intent),
            churn,
        }
    }

    /// Creates the network with its attachments; returns the delta.
    pub fn create(&mut self, topology: &Topology) -> FabricDelta {
        let effects = apply_all(topology, &mut self.intent, self.churn.create());
        self.compiler.apply(topology, &effects)
    }

    /// Deletes it again; returns the delta.
    pub fn delete(&mut self, topology: &Topology) -> FabricDelta {
        let effects = apply_all(topology, &mut self.intent, [self.churn.delete()]);
        self.compiler.apply(topology, &effects)
    }
}

#[cfg(test)]
mod tests;

/// A one-leaf vxlan topology (YAML) for the agent benches: leaf `leaf1`
/// with `dataplane`, VTEP `vtep`, server ports `swp1..=swpN`, and one uplink
/// to a spine.
pub fn one_leaf_topology_yaml(
    name: &str,
    dataplane: &str,
    vtep: &str,
    server_ports: u32,
) -> String {
    let mut y = format!(
        "fabric:\n  name: {name}\n  encapsulation: vxlan\n\
         sites:\n  - name: site1\n    racks:\n      - name: rack1\n\
         switches:\n  - name: leaf1\n    rack: rack1\n    role: leaf\n    dataplane: {dataplane}\n    vtep: {vtep}\n    ports:\n",
    );
    for p in 1..=server_ports {
        y.push_str(&format!("      - {{name: swp{p}, role: server}}\n"));
    }
    y.push_str(
        "      - {name: up1, role: fabric}\n\
         \x20 - name: spine1\n    role: spine\n    dataplane: ovs\n    ports:\n      - {name: down1, role: fabric}\n\
         links:\n  - {a: leaf1/up1, b: spine1/down1}\n",
    );
    y
}
