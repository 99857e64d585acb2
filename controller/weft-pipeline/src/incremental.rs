//! Incremental compilation: effects in, per-switch deltas out, touching only
//! the networks and switches the effects involve.
//!
//! The [`Compiler`] keeps every switch's sorted entries and, per network
//! (VNI), its attachments, its member leaves with attachment counts and (in
//! `vlan` fabrics) its current trunk tree. An attachment adds or removes its
//! two port entries on its leaf; a leaf joining or leaving a network (its
//! count going 0 → 1 or 1 → 0) adds or removes the tunnel entries between
//! that leaf and each other member, or recomputes that one network's trunk
//! tree and applies the difference.
//!
//! Every real insertion or removal is logged; the delta returned by
//! [`Compiler::apply`] nets the log out per (switch, entry), so an entry
//! removed and re-added within one call (a port moved between two networks
//! on the same leaf keeps its leaf's tunnels) appears in neither list: the
//! delta is exactly the set difference of the states before and after.

use std::collections::{BTreeMap, HashMap};

use weft_model::{
    AttachMode, Effect, Encapsulation, Intent, PortKey, PortNo, SwitchId, Topology, VlanId, Vni,
};

use crate::compile::compile;
use crate::entry::PipelineEntry;
use crate::fabric::{CompiledFabric, FabricDelta, SwitchDelta};
use crate::tree::TreeBuilder;

/// What the compiler remembers of one network.
#[derive(Debug, Clone)]
struct NetState {
    fabric_vlan: Option<VlanId>,
    attachments: BTreeMap<PortKey, AttachMode>,
    /// Member leaves and how many attachments each has (always > 0).
    leaves: BTreeMap<SwitchId, u32>,
    /// Current trunk tree ports, sorted (`vlan` fabrics).
    tree: Vec<(SwitchId, PortNo)>,
}

/// Entries of every switch plus the log of changes made during one `apply`.
#[derive(Debug, Clone, Default)]
struct Entries {
    switches: Vec<Vec<PipelineEntry>>,
    /// (switch, entry, inserted?) for every effective change, in order.
    log: Vec<(SwitchId, PipelineEntry, bool)>,
}

impl Entries {
    fn insert(&mut self, s: SwitchId, e: PipelineEntry) {
        if let Some(list) = self.switches.get_mut(s.index())
            && let Err(i) = list.binary_search(&e)
        {
            list.insert(i, e);
            self.log.push((s, e, true));
        }
    }

    fn remove(&mut self, s: SwitchId, e: PipelineEntry) {
        if let Some(list) = self.switches.get_mut(s.index())
            && let Ok(i) = list.binary_search(&e)
        {
            list.remove(i);
            self.log.push((s, e, false));
        }
    }

    /// Nets the log out into per-switch set differences and clears it.
    fn take_delta(&mut self) -> FabricDelta {
        // Stable: keeps each (switch, entry)'s operations in order. They
        // alternate (only effective changes are logged), so the entry changed
        // iff the first and last operation agree.
        self.log.sort_by_key(|&(s, e, _)| (s, e));
        let mut delta = FabricDelta::default();
        for group in self.log.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            if first.2 != last.2 {
                continue;
            }
            let d: &mut SwitchDelta = delta.switches.entry(first.0).or_default();
            if first.2 {
                d.added.push(first.1)
            } else {
                d.removed.push(first.1)
            }
        }
        self.log.clear();
        delta
    }
}

/// The incremental compiler. Holds the compiled state of one fabric; feed it
/// the [`Effect`]s of every intent change, always with the same topology.
///
/// Only `Attached` and `Detached` change entries (`NetworkDeleted` also
/// drops anything left of the network, so effects from other sources than
/// `Intent::apply` cannot leave stale entries); the other effects carry
/// nothing the pipeline needs. Effects are idempotent: attaching an existing
/// attachment or detaching a missing one changes nothing.
///
/// ## Quotas
///
/// The compiler never rejects a change. The caller enforces the
/// entries-per-switch quota after `apply`: [`Compiler::check_entry_quotas`]
/// finds the first operator above its limit on a switch the delta grew;
/// to reject the change, call [`Compiler::revert`] with the same effects
/// and restore the previous intent.
#[derive(Debug, Clone)]
pub struct Compiler {
    encapsulation: Encapsulation,
    entries: Entries,
    nets: HashMap<Vni, NetState>,
    trees: TreeBuilder,
    /// Scratch buffers reused across calls.
    scratch_members: Vec<SwitchId>,
    scratch_tree: Vec<(SwitchId, PortNo)>,
}

/// An operator above its entries-per-switch quota on a switch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "operator {operator} would use {entries} pipeline entries on switch {switch_name}, quota {limit}"
)]
pub struct EntryQuotaExceeded {
    pub operator: weft_model::Name,
    pub switch: SwitchId,
    pub switch_name: String,
    pub entries: u64,
    pub limit: u32,
}

impl Compiler {
    /// Compiles `intent` in full and indexes it for incremental changes.
    pub fn new(topo: &Topology, intent: &Intent) -> Self {
        let compiled = compile(topo, intent);
        let switches = compiled.switches().map(|(_, e)| e.to_vec()).collect();
        let mut nets = HashMap::new();
        let mut trees = TreeBuilder::default();
        let mut members = Vec::new();
        let n = topo.switches.len();
        for net in intent
            .operators
            .values()
            .flat_map(|op| op.networks.values())
        {
            let attachments: BTreeMap<PortKey, AttachMode> = net
                .attachments
                .iter()
                .filter(|(p, _)| p.switch.index() < n)
                .map(|(p, m)| (*p, *m))
                .collect();
            let mut leaves = BTreeMap::new();
            for p in attachments.keys() {
                *leaves.entry(p.switch).or_insert(0u32) += 1;
            }
            let mut tree = Vec::new();
            if topo.encapsulation == Encapsulation::Vlan && net.fabric_vlan.is_some() {
                members.clear();
                members.extend(leaves.keys().copied());
                trees.build(topo, &members, &mut tree);
            }
            if !attachments.is_empty() {
                nets.insert(
                    net.vni,
                    NetState {
                        fabric_vlan: net.fabric_vlan,
                        attachments,
                        leaves,
                        tree,
                    },
                );
            }
        }
        Compiler {
            encapsulation: topo.encapsulation,
            entries: Entries {
                switches,
                log: Vec::new(),
            },
            nets,
            trees,
            scratch_members: Vec::new(),
            scratch_tree: Vec::new(),
        }
    }

    /// The current entries of a switch, sorted.
    pub fn entries(&self, switch: SwitchId) -> &[PipelineEntry] {
        self.entries
            .switches
            .get(switch.index())
            .map_or(&[], Vec::as_slice)
    }

    /// The current state of the whole fabric, as [`compile`] would give it.
    pub fn snapshot(&self) -> CompiledFabric {
        CompiledFabric::from_switches(self.entries.switches.clone())
    }

    /// Applies effects in order and returns the per-switch delta from the
    /// state before the call to the state after.
    pub fn apply(&mut self, topo: &Topology, effects: &[Effect]) -> FabricDelta {
        for effect in effects {
            match *effect {
                Effect::Attached {
                    vni,
                    fabric_vlan,
                    port,
                    mode,
                    ..
                } => {
                    self.attach(topo, vni, fabric_vlan, port, mode);
                }
                Effect::Detached { vni, port, .. } => self.detach(topo, vni, port),
                Effect::NetworkDeleted { vni, .. } => self.drop_network(topo, vni),
                _ => {}
            }
        }
        self.entries.take_delta()
    }

    /// Undoes `effects` (as previously given to [`apply`](Self::apply)):
    /// applies their inverses in reverse order.
    pub fn revert(&mut self, topo: &Topology, effects: &[Effect]) -> FabricDelta {
        let inverse: Vec<Effect> = effects.iter().rev().filter_map(Effect::inverse).collect();
        self.apply(topo, &inverse)
    }

    fn attach(
        &mut self,
        topo: &Topology,
        vni: Vni,
        fabric_vlan: Option<VlanId>,
        port: PortKey,
        mode: AttachMode,
    ) {
        if port.switch.index() >= topo.switches.len() {
            return;
        }
        if let Some(net) = self.nets.get(&vni) {
            if net.fabric_vlan != fabric_vlan {
                // Another network under the same VNI: start from scratch.
                self.drop_network(topo, vni);
            } else if let Some(&held) = net.attachments.get(&port) {
                if held == mode {
                    return;
                }
                self.detach(topo, vni, port);
            }
        }
        let net = self.nets.entry(vni).or_insert_with(|| NetState {
            fabric_vlan,
            attachments: BTreeMap::new(),
            leaves: BTreeMap::new(),
            tree: Vec::new(),
        });
        net.attachments.insert(port, mode);
        let count = net.leaves.entry(port.switch).or_insert(0);
        *count += 1;
        let joined = *count == 1;
        self.entries.insert(
            port.switch,
            PipelineEntry::PortIngress {
                port: port.port,
                mode,
                vni,
            },
        );
        self.entries.insert(
            port.switch,
            PipelineEntry::FloodPort {
                vni,
                port: port.port,
                mode,
            },
        );
        if joined {
            self.membership_changed(topo, vni, port.switch, true);
        }
    }

    fn detach(&mut self, topo: &Topology, vni: Vni, port: PortKey) {
        let Some(net) = self.nets.get_mut(&vni) else {
            return;
        };
        let Some(mode) = net.attachments.remove(&port) else {
            return;
        };
        let left = match net.leaves.get_mut(&port.switch) {
            Some(c) if *c > 1 => {
                *c -= 1;
                false
            }
            _ => {
                net.leaves.remove(&port.switch);
                true
            }
        };
        self.entries.remove(
            port.switch,
            PipelineEntry::PortIngress {
                port: port.port,
                mode,
                vni,
            },
        );
        self.entries.remove(
            port.switch,
            PipelineEntry::FloodPort {
                vni,
                port: port.port,
                mode,
            },
        );
        if left {
            self.membership_changed(topo, vni, port.switch, false);
        }
        if self
            .nets
            .get(&vni)
            .is_some_and(|n| n.attachments.is_empty())
        {
            self.nets.remove(&vni);
        }
    }

    /// Detaches whatever is left of a network.
    fn drop_network(&mut self, topo: &Topology, vni: Vni) {
        let ports: Vec<PortKey> = self
            .nets
            .get(&vni)
            .map(|n| n.attachments.keys().copied().collect())
            .unwrap_or_default();
        for port in ports {
            self.detach(topo, vni, port);
        }
        self.nets.remove(&vni);
    }

    /// `leaf` just joined (or left) network `vni`: fix the fabric-facing
    /// entries.
    fn membership_changed(&mut self, topo: &Topology, vni: Vni, leaf: SwitchId, joined: bool) {
        match self.encapsulation {
            Encapsulation::Vxlan => self.update_tunnels(topo, vni, leaf, joined),
            Encapsulation::Vlan => self.update_tree(topo, vni),
        }
    }

    fn update_tunnels(&mut self, topo: &Topology, vni: Vni, leaf: SwitchId, joined: bool) {
        let Some(here) = vtep_of(topo, leaf) else {
            return;
        };
        let Some(net) = self.nets.get(&vni) else {
            return;
        };
        for &other in net.leaves.keys().filter(|&&s| s != leaf) {
            let Some(there) = vtep_of(topo, other) else {
                continue;
            };
            let pairs = [
                (leaf, PipelineEntry::TunnelIngress { vni, remote: there }),
                (leaf, PipelineEntry::FloodTunnel { vni, remote: there }),
                (other, PipelineEntry::TunnelIngress { vni, remote: here }),
                (other, PipelineEntry::FloodTunnel { vni, remote: here }),
            ];
            for (s, e) in pairs {
                if joined {
                    self.entries.insert(s, e)
                } else {
                    self.entries.remove(s, e)
                }
            }
        }
    }

    fn update_tree(&mut self, topo: &Topology, vni: Vni) {
        let Some(net) = self.nets.get_mut(&vni) else {
            return;
        };
        let Some(fabric_vlan) = net.fabric_vlan else {
            return;
        };
        self.scratch_members.clear();
        self.scratch_members.extend(net.leaves.keys().copied());
        self.scratch_tree.clear();
        self.trees
            .build(topo, &self.scratch_members, &mut self.scratch_tree);
        let old = std::mem::take(&mut net.tree);
        let new = &self.scratch_tree;
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let (s, port, add) = match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) if a == b => {
                    i += 1;
                    j += 1;
                    continue;
                }
                (Some(a), Some(b)) if a < b => {
                    i += 1;
                    (a.0, a.1, false)
                }
                (Some(a), None) => {
                    i += 1;
                    (a.0, a.1, false)
                }
                (_, Some(b)) => {
                    j += 1;
                    (b.0, b.1, true)
                }
                (None, None) => break,
            };
            let entries = [
                PipelineEntry::TrunkIngress {
                    port,
                    fabric_vlan,
                    vni,
                },
                PipelineEntry::FloodTrunk {
                    vni,
                    port,
                    fabric_vlan,
                },
            ];
            for e in entries {
                if add {
                    self.entries.insert(s, e)
                } else {
                    self.entries.remove(s, e)
                }
            }
        }
        net.tree.clone_from(new);
    }

    /// How many entries network `vni` uses on `switch`.
    pub fn vni_entries_on_switch(&self, topo: &Topology, switch: SwitchId, vni: Vni) -> u64 {
        let Some(net) = self.nets.get(&vni) else {
            return 0;
        };
        let local = u64::from(net.leaves.get(&switch).copied().unwrap_or(0));
        let fabric = match self.encapsulation {
            Encapsulation::Vxlan if local > 0 && has_vtep(topo, switch) => net
                .leaves
                .keys()
                .filter(|&&s| s != switch && has_vtep(topo, s))
                .count(),
            Encapsulation::Vxlan => 0,
            Encapsulation::Vlan => {
                let start = net.tree.partition_point(|&(s, _)| s < switch);
                let end = net.tree.partition_point(|&(s, _)| s <= switch);
                end - start
            }
        };
        2 * (local + u64::try_from(fabric).unwrap_or(u64::MAX))
    }

    /// How many entries the networks of `operator` use on `switch`: what the
    /// `entries_per_switch` quota limits.
    pub fn operator_entries_on_switch(
        &self,
        topo: &Topology,
        switch: SwitchId,
        operator: &weft_model::Operator,
    ) -> u64 {
        operator
            .networks
            .values()
            .map(|n| self.vni_entries_on_switch(topo, switch, n.vni))
            .sum()
    }

    /// Checks the entries-per-switch quota of every operator whose networks
    /// gained entries in `delta` (as just returned by [`apply`](Self::apply)),
    /// on the switches that gained them. `intent` is the intent after the
    /// change. Returns the first excess, in switch then operator order.
    pub fn check_entry_quotas(
        &self,
        topo: &Topology,
        intent: &Intent,
        delta: &FabricDelta,
    ) -> Result<(), EntryQuotaExceeded> {
        let mut vnis: Vec<Vni> = Vec::new();
        for (&switch, d) in &delta.switches {
            vnis.clear();
            vnis.extend(d.added.iter().map(PipelineEntry::vni));
            vnis.sort_unstable();
            vnis.dedup();
            // Delegated VNI ranges are disjoint: a VNI names its operator.
            for op in intent.operators.values() {
                let Some(lease) = &op.lease else { continue };
                if !vnis.iter().any(|&v| lease.vni.contains(v)) {
                    continue;
                }
                let entries = self.operator_entries_on_switch(topo, switch, op);
                if entries > u64::from(lease.quotas.entries_per_switch) {
                    return Err(EntryQuotaExceeded {
                        operator: op.name.clone(),
                        switch,
                        switch_name: topo
                            .switches
                            .get(switch.index())
                            .map_or_else(String::new, |sw| sw.name.to_string()),
                        entries,
                        limit: lease.quotas.entries_per_switch,
                    });
                }
            }
        }
        Ok(())
    }
}

fn has_vtep(topo: &Topology, s: SwitchId) -> bool {
    vtep_of(topo, s).is_some()
}

fn vtep_of(topo: &Topology, s: SwitchId) -> Option<std::net::Ipv4Addr> {
    topo.switches.get(s.index()).and_then(|sw| sw.vtep)
}
