//! Network and attachment changes: create, delete, attach, detach.

use std::fmt;

use super::{
    ChangeError, Effect, ResourceKind, describe_mode, len_u64, network_name, topo_port_ref,
};
use crate::alloc::{IdPool, QuotaKind};
use crate::ids::{IdRange, Name, VlanId, Vni};
use crate::intent::{AttachMode, Intent, Network, Operator};
use crate::topology::{Encapsulation, PortKey, Topology};

impl Intent {
    pub(super) fn create_network(
        &mut self,
        topo: &Topology,
        operator: Name,
        name: Name,
        vni: Option<Vni>,
        fabric_vlan: Option<VlanId>,
    ) -> Result<Vec<Effect>, ChangeError> {
        let op = self.operator_or_err(&operator)?;
        let lease = op.lease.as_ref().ok_or_else(|| ChangeError::NoLease {
            operator: operator.clone(),
        })?;
        if op.networks.contains_key(&name) {
            return Err(ChangeError::AlreadyExists {
                kind: ResourceKind::Network,
                name: network_name(&operator, &name),
            });
        }
        lease
            .quotas
            .check(QuotaKind::Networks, len_u64(op.networks.len()) + 1)?;

        // Delegated ranges of different operators never overlap, so only this
        // operator's own networks can hold an identifier of its range.
        let vni = pick(&operator, op, lease.vni, vni, |n| Some(n.vni))?;
        let fabric_vlan = match (topo.encapsulation, lease.vlan) {
            (Encapsulation::Vxlan, _) => {
                if fabric_vlan.is_some() {
                    return Err(ChangeError::FabricVlanNotApplicable);
                }
                None
            }
            (Encapsulation::Vlan, Some(range)) => {
                Some(pick(&operator, op, range, fabric_vlan, |n| n.fabric_vlan)?)
            }
            // A validated lease in a vlan fabric always has a VLAN range.
            (Encapsulation::Vlan, None) => {
                return Err(ChangeError::NoLease {
                    operator: operator.clone(),
                });
            }
        };

        let network = Network {
            name: name.clone(),
            vni,
            fabric_vlan,
            attachments: Default::default(),
        };
        if let Some(op) = self.operators.get_mut(&operator) {
            op.networks.insert(name.clone(), network);
        }
        Ok(vec![Effect::NetworkCreated {
            operator,
            network: name,
            vni,
            fabric_vlan,
        }])
    }

    pub(super) fn delete_network(
        &mut self,
        operator: &Name,
        name: &Name,
    ) -> Result<Vec<Effect>, ChangeError> {
        let op = self.operator_or_err(operator)?;
        let net = op.networks.get(name).ok_or_else(|| ChangeError::NotFound {
            kind: ResourceKind::Network,
            name: network_name(operator, name),
        })?;
        let mut effects = Vec::new();
        push_network_teardown(&mut effects, operator, net);
        if let Some(op) = self.operators.get_mut(operator) {
            op.networks.remove(name);
        }
        Ok(effects)
    }

    pub(super) fn attach(
        &mut self,
        topo: &Topology,
        operator: Name,
        network: Name,
        port: PortKey,
        mode: AttachMode,
    ) -> Result<Vec<Effect>, ChangeError> {
        let op = self.operator_or_err(&operator)?;
        let net = op
            .networks
            .get(&network)
            .ok_or_else(|| ChangeError::NotFound {
                kind: ResourceKind::Network,
                name: network_name(&operator, &network),
            })?;
        if topo.port(port).is_none() {
            return Err(ChangeError::NotFound {
                kind: ResourceKind::Port,
                name: topo_port_ref(topo, port),
            });
        }
        let lease = op.lease.as_ref().ok_or_else(|| ChangeError::NoLease {
            operator: operator.clone(),
        })?;
        if !lease.ports.contains(&port) {
            return Err(ChangeError::PortNotLeased {
                operator: operator.clone(),
                port: topo_port_ref(topo, port),
            });
        }
        if net.attachments.contains_key(&port) {
            return Err(ChangeError::AlreadyExists {
                kind: ResourceKind::Attachment,
                name: format!(
                    "{}/attachments/{}",
                    network_name(&operator, &network),
                    topo_port_ref(topo, port)
                ),
            });
        }
        // The port is this operator's, so only its networks can use it.
        for other in op.networks.values() {
            if let Some(&held) = other.attachments.get(&port) {
                let clash = match (held, mode) {
                    (AttachMode::Access, AttachMode::Access) => true,
                    (AttachMode::Tagged(a), AttachMode::Tagged(b)) => a == b,
                    _ => false,
                };
                if clash {
                    return Err(ChangeError::AttachmentConflict {
                        port: topo_port_ref(topo, port),
                        mode: describe_mode(held),
                        network: network_name(&operator, &other.name),
                    });
                }
            }
        }
        let attachments: usize = op.networks.values().map(|n| n.attachments.len()).sum();
        lease
            .quotas
            .check(QuotaKind::Attachments, len_u64(attachments) + 1)?;

        let (vni, fabric_vlan) = (net.vni, net.fabric_vlan);
        if let Some(net) = self
            .operators
            .get_mut(&operator)
            .and_then(|op| op.networks.get_mut(&network))
        {
            net.attachments.insert(port, mode);
        }
        Ok(vec![Effect::Attached {
            operator,
            network,
            vni,
            fabric_vlan,
            port,
            mode,
        }])
    }

    pub(super) fn detach(
        &mut self,
        topo: &Topology,
        operator: &Name,
        network: &Name,
        port: PortKey,
    ) -> Result<Vec<Effect>, ChangeError> {
        let op = self.operator_or_err(operator)?;
        let net = op
            .networks
            .get(network)
            .ok_or_else(|| ChangeError::NotFound {
                kind: ResourceKind::Network,
                name: network_name(operator, network),
            })?;
        let Some(&mode) = net.attachments.get(&port) else {
            return Err(ChangeError::NotFound {
                kind: ResourceKind::Attachment,
                name: format!(
                    "{}/attachments/{}",
                    network_name(operator, network),
                    topo_port_ref(topo, port)
                ),
            });
        };
        let effect = Effect::Detached {
            operator: operator.clone(),
            network: network.clone(),
            vni: net.vni,
            fabric_vlan: net.fabric_vlan,
            port,
            mode,
        };
        if let Some(net) = self
            .operators
            .get_mut(operator)
            .and_then(|op| op.networks.get_mut(network))
        {
            net.attachments.remove(&port);
        }
        Ok(vec![effect])
    }
}

/// `Detached` for each attachment of `net`, then `NetworkDeleted`.
pub(super) fn push_network_teardown(effects: &mut Vec<Effect>, operator: &Name, net: &Network) {
    for (&port, &mode) in &net.attachments {
        effects.push(Effect::Detached {
            operator: operator.clone(),
            network: net.name.clone(),
            vni: net.vni,
            fabric_vlan: net.fabric_vlan,
            port,
            mode,
        });
    }
    effects.push(Effect::NetworkDeleted {
        operator: operator.clone(),
        network: net.name.clone(),
        vni: net.vni,
        fabric_vlan: net.fabric_vlan,
    });
}

/// Checks a requested identifier, or allocates the lowest free one, inside
/// `range`, against the identifiers the operator's networks already use.
fn pick<T: crate::alloc::PoolId + fmt::Display>(
    operator: &Name,
    op: &Operator,
    range: IdRange<T>,
    requested: Option<T>,
    used_by: impl Fn(&Network) -> Option<T>,
) -> Result<T, ChangeError> {
    match requested {
        Some(v) => {
            if !range.contains(v) {
                return Err(ChangeError::OutsideLease {
                    operator: operator.clone(),
                    kind: T::KIND,
                    value: v.into(),
                    range: range.to_string(),
                });
            }
            if let Some(n) = op.networks.values().find(|n| used_by(n) == Some(v)) {
                return Err(ChangeError::IdInUse {
                    kind: T::KIND,
                    value: v.into(),
                    network: network_name(operator, &n.name),
                });
            }
            Ok(v)
        }
        None => {
            // Identifiers outside the range cannot occur in a valid intent;
            // skip them rather than fail the allocation.
            let held = op
                .networks
                .values()
                .filter_map(&used_by)
                .filter(|v| range.contains(*v));
            let mut pool = IdPool::with_held(range, held).map_err(ChangeError::PoolExhausted)?;
            pool.allocate().map_err(ChangeError::PoolExhausted)
        }
    }
}
