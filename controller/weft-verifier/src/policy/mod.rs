//! The policy the rules are judged against, derived from topology and
//! intent alone (never from the compiler): who leases which port, which
//! network each (port, tag) and each (VNI, source VTEP) belongs to, and
//! the ingress classes that partition every frame that can enter.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use weft_model::{AttachMode, Intent, Name, PortKey, SwitchId, VlanId};

mod classes;

pub(crate) use classes::{ClassDesc, Ctx, DropReason, Point, TunnelSub};

use crate::fabric::Fabric;
use crate::memo::FxMap;

pub(crate) type OpIdx = u32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetPolicy {
    pub op: OpIdx,
    pub name: Name,
    pub fabric_vlan: Option<VlanId>,
    /// Sorted by port.
    pub attachments: Vec<(PortKey, AttachMode)>,
    /// Switches with a member port, sorted.
    pub members: Vec<SwitchId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PortPolicy {
    pub lessee: Option<OpIdx>,
    /// (VNI, mode), sorted.
    pub attachments: Vec<(u32, AttachMode)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub vxlan: bool,
    /// Operator names; an [`OpIdx`] indexes this list.
    pub ops: Vec<Name>,
    pub nets: FxMap<u32, NetPolicy>,
    pub by_vlan: FxMap<u16, u32>,
    pub ports: FxMap<PortKey, PortPolicy>,
    /// Per switch: the VNIs with a member port there, sorted.
    pub switch_vnis: Vec<Vec<u32>>,
}

impl Policy {
    pub(crate) fn new(fabric: &Fabric, intent: &Intent) -> Policy {
        let ops: Vec<Name> = intent.operators.keys().cloned().collect();
        let mut nets = FxMap::default();
        let mut by_vlan = FxMap::default();
        let mut ports: FxMap<PortKey, PortPolicy> = FxMap::default();
        let mut switch_vnis: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); fabric.switches.len()];
        for (i, op) in intent.operators.values().enumerate() {
            let idx = OpIdx::try_from(i).unwrap_or(OpIdx::MAX);
            for port in op.lease.iter().flat_map(|l| l.ports.iter()) {
                ports.entry(*port).or_default().lessee = Some(idx);
            }
            for net in op.networks.values() {
                let vni = net.vni.get();
                let attachments: Vec<(PortKey, AttachMode)> =
                    net.attachments.iter().map(|(p, m)| (*p, *m)).collect();
                let members: BTreeSet<SwitchId> =
                    attachments.iter().map(|(p, _)| p.switch).collect();
                for (p, m) in &attachments {
                    ports.entry(*p).or_default().attachments.push((vni, *m));
                    if let Some(set) = switch_vnis.get_mut(p.switch.index()) {
                        set.insert(vni);
                    }
                }
                if let Some(fv) = net.fabric_vlan {
                    by_vlan.entry(fv.get()).or_insert(vni);
                }
                // A validated intent never reuses a VNI; if it did, the
                // first network keeps it and the rules are judged by it.
                nets.entry(vni).or_insert(NetPolicy {
                    op: idx,
                    name: net.name.clone(),
                    fabric_vlan: net.fabric_vlan,
                    attachments,
                    members: members.into_iter().collect(),
                });
            }
        }
        for p in ports.values_mut() {
            p.attachments.sort();
        }
        Policy {
            vxlan: fabric.vxlan,
            ops,
            nets,
            by_vlan,
            ports,
            switch_vnis: switch_vnis
                .into_iter()
                .map(|s| s.into_iter().collect())
                .collect(),
        }
    }

    /// Brings the policy up to date with `intent` for the listed ports and
    /// VNIs only, relying on the rest being unchanged. Equal to
    /// [`Policy::new`] under that assumption and the intent invariants (a
    /// port carries only its lessee's networks; delegated VNI ranges do not
    /// overlap). A change of the operator set rebuilds everything.
    pub(crate) fn refresh(
        &mut self,
        fabric: &Fabric,
        intent: &Intent,
        ports: &[PortKey],
        vnis: &[u32],
    ) -> PolicyDiff {
        if !intent.operators.keys().eq(self.ops.iter()) {
            let old = std::mem::replace(self, Policy::new(fabric, intent));
            return diff(&old, self);
        }
        let mut d = PolicyDiff::default();
        let mut leaves: BTreeSet<SwitchId> = BTreeSet::new();
        let mut vlans: BTreeSet<u16> = BTreeSet::new();
        for &vni in vnis {
            let old = self.nets.remove(&vni);
            if let Some(old) = &old {
                if let Some(fv) = old.fabric_vlan
                    && self.by_vlan.get(&fv.get()) == Some(&vni)
                {
                    self.by_vlan.remove(&fv.get());
                }
                for m in &old.members {
                    if let Some(list) = self.switch_vnis.get_mut(m.index())
                        && let Ok(i) = list.binary_search(&vni)
                    {
                        list.remove(i);
                    }
                }
            }
            let found = intent.operators.values().enumerate().find_map(|(i, op)| {
                let lease = op.lease.as_ref()?;
                let v = weft_model::Vni::new(u64::from(vni)).ok()?;
                if !lease.vni.contains(v) {
                    return None;
                }
                let net = op.networks.values().find(|n| n.vni == v)?;
                Some((OpIdx::try_from(i).unwrap_or(OpIdx::MAX), net))
            });
            let Some((op, net)) = found else {
                if let Some(old) = old {
                    d.vnis.push(vni);
                    d.attachments.push(vni);
                    d.vni_set = true;
                    leaves.extend(old.members.iter().copied());
                    vlans.extend(old.fabric_vlan.map(VlanId::get));
                }
                continue;
            };
            let attachments: Vec<(PortKey, AttachMode)> =
                net.attachments.iter().map(|(p, m)| (*p, *m)).collect();
            let members: BTreeSet<SwitchId> = attachments.iter().map(|(p, _)| p.switch).collect();
            for m in &members {
                if let Some(list) = self.switch_vnis.get_mut(m.index())
                    && let Err(i) = list.binary_search(&vni)
                {
                    list.insert(i, vni);
                }
            }
            if let Some(fv) = net.fabric_vlan {
                self.by_vlan.entry(fv.get()).or_insert(vni);
            }
            let new = NetPolicy {
                op,
                name: net.name.clone(),
                fabric_vlan: net.fabric_vlan,
                attachments,
                members: members.into_iter().collect(),
            };
            match &old {
                None => {
                    d.vnis.push(vni);
                    d.attachments.push(vni);
                    d.vni_set = true;
                    leaves.extend(new.members.iter().copied());
                    vlans.extend(new.fabric_vlan.map(VlanId::get));
                }
                Some(old) => {
                    let core = old.op == new.op
                        && old.name == new.name
                        && old.fabric_vlan == new.fabric_vlan
                        && old.members == new.members;
                    if !core {
                        d.vnis.push(vni);
                        leaves.extend(old.members.iter().chain(&new.members).copied());
                        vlans.extend(
                            old.fabric_vlan
                                .iter()
                                .chain(&new.fabric_vlan)
                                .map(|v| v.get()),
                        );
                    }
                    if old.attachments != new.attachments {
                        d.attachments.push(vni);
                    }
                }
            }
            self.nets.insert(vni, new);
        }
        for &port in ports {
            let mut pp = PortPolicy::default();
            for (i, op) in intent.operators.values().enumerate() {
                if !op.lease.as_ref().is_some_and(|l| l.ports.contains(&port)) {
                    continue;
                }
                pp.lessee = Some(OpIdx::try_from(i).unwrap_or(OpIdx::MAX));
                for net in op.networks.values() {
                    if let Some(m) = net.attachments.get(&port) {
                        pp.attachments.push((net.vni.get(), *m));
                    }
                }
            }
            pp.attachments.sort();
            let old = if pp == PortPolicy::default() {
                self.ports.remove(&port)
            } else {
                self.ports.insert(port, pp.clone())
            };
            if old.unwrap_or_default() != pp {
                d.ports.push(port);
            }
        }
        d.ports.sort_unstable();
        d.ports.dedup();
        d.vnis.sort_unstable();
        d.vnis.dedup();
        d.attachments.sort_unstable();
        d.attachments.dedup();
        d.vlans = vlans.into_iter().collect();
        d.leaves = leaves.into_iter().collect();
        d
    }

    pub(crate) fn port(&self, key: PortKey) -> Option<&PortPolicy> {
        self.ports.get(&key)
    }

    pub(crate) fn lessee(&self, key: PortKey) -> Option<OpIdx> {
        self.ports.get(&key).and_then(|p| p.lessee)
    }

    pub(crate) fn op_name(&self, op: OpIdx) -> Name {
        self.ops[op as usize].clone()
    }
}

pub(crate) fn addr(v: u64) -> Ipv4Addr {
    Ipv4Addr::from(u32::try_from(v).unwrap_or(0))
}

/// What changed between two policies, in terms the incremental verifier
/// can map to ingress classes.
#[derive(Debug, Default)]
pub(crate) struct PolicyDiff {
    pub ports: Vec<PortKey>,
    /// Networks whose owner, name, fabric VLAN or member switches changed.
    pub vnis: Vec<u32>,
    /// Networks whose attachments changed (a superset of nothing else).
    pub attachments: Vec<u32>,
    pub vlans: Vec<u16>,
    /// The set of VNIs in use changed.
    pub vni_set: bool,
    /// Switches with a member (before or after) of a network in `vnis`.
    pub leaves: Vec<SwitchId>,
}

pub(crate) fn diff(old: &Policy, new: &Policy) -> PolicyDiff {
    let mut d = PolicyDiff::default();
    let op_eq = |a: Option<OpIdx>, b: Option<OpIdx>| match (a, b) {
        (Some(a), Some(b)) => old.ops[a as usize] == new.ops[b as usize],
        (None, None) => true,
        _ => false,
    };
    let mut ports: BTreeSet<PortKey> = BTreeSet::new();
    for (k, p) in &old.ports {
        match new.ports.get(k) {
            Some(q) if op_eq(p.lessee, q.lessee) && p.attachments == q.attachments => {}
            _ => {
                ports.insert(*k);
            }
        }
    }
    ports.extend(new.ports.keys().filter(|k| !old.ports.contains_key(k)));
    d.ports = ports.into_iter().collect();
    let mut vnis: BTreeSet<u32> = BTreeSet::new();
    let mut attachments: BTreeSet<u32> = BTreeSet::new();
    let mut vlans: BTreeSet<u16> = BTreeSet::new();
    let mut leaves: BTreeSet<SwitchId> = BTreeSet::new();
    for (v, n) in &old.nets {
        let Some(m) = new.nets.get(v) else {
            vnis.insert(*v);
            attachments.insert(*v);
            continue;
        };
        let core = op_eq(Some(n.op), Some(m.op))
            && n.name == m.name
            && n.fabric_vlan == m.fabric_vlan
            && n.members == m.members;
        if !core {
            vnis.insert(*v);
        }
        if n.attachments != m.attachments {
            attachments.insert(*v);
        }
    }
    for v in new.nets.keys() {
        if !old.nets.contains_key(v) {
            vnis.insert(*v);
            attachments.insert(*v);
            d.vni_set = true;
        }
    }
    d.vni_set |= old.nets.keys().any(|v| !new.nets.contains_key(v));
    for v in &vnis {
        for p in [old.nets.get(v), new.nets.get(v)].into_iter().flatten() {
            vlans.extend(p.fabric_vlan.map(VlanId::get));
            leaves.extend(p.members.iter().copied());
        }
    }
    d.leaves = leaves.into_iter().collect();
    d.vnis = vnis.into_iter().collect();
    d.attachments = attachments.into_iter().collect();
    d.vlans = vlans.into_iter().collect();
    d
}
