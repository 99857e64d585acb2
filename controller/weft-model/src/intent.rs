//! Validated intent: operators, leases, networks, attachments.
//!
//! Built by [`Intent::from_spec`] (see `validate`) or changed one step at a
//! time by `Intent::apply` (see `change`); both keep every invariant:
//! a port is leased to at most one operator, delegated ranges never overlap,
//! every network VNI (and fabric VLAN) is inside its operator's lease and
//! used once fabric-wide, every attached port is leased to the network's
//! operator, each port has at most one access attachment and distinct tags.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::{Name, VlanId, VlanRange, Vni, VniRange};
use crate::topology::PortKey;

/// How a server port carries a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// Untagged frames only; any tagged frame is dropped.
    Access,
    /// Frames carrying exactly this (operator-chosen) tag.
    Tagged(VlanId),
}

/// Limits on what an operator may create. Counted per operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quotas {
    pub networks: u32,
    pub attachments: u32,
    /// Pipeline entries the operator's networks may use on any one switch.
    pub entries_per_switch: u32,
}

impl Quotas {
    pub const DEFAULT_NETWORKS: u32 = 64;
    pub const DEFAULT_ATTACHMENTS: u32 = 512;
    pub const DEFAULT_ENTRIES_PER_SWITCH: u32 = 4096;
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            networks: Self::DEFAULT_NETWORKS,
            attachments: Self::DEFAULT_ATTACHMENTS,
            entries_per_switch: Self::DEFAULT_ENTRIES_PER_SWITCH,
        }
    }
}

/// What the facility rents to an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub ports: BTreeSet<PortKey>,
    pub vni: VniRange,
    /// Present exactly when the fabric uses `vlan` encapsulation.
    pub vlan: Option<VlanRange>,
    pub quotas: Quotas,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    pub name: Name,
    pub vni: Vni,
    /// The fabric-wide VLAN carrying this network on trunks (`vlan` fabrics only).
    pub fabric_vlan: Option<VlanId>,
    /// Attached ports and how each carries this network.
    pub attachments: BTreeMap<PortKey, AttachMode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    pub name: Name,
    pub display_name: Option<String>,
    pub lease: Option<Lease>,
    pub networks: BTreeMap<Name, Network>,
}

/// All operators' intent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Intent {
    pub operators: BTreeMap<Name, Operator>,
}

impl Intent {
    /// Every attachment, as (operator, network, port, mode), in a stable order.
    pub fn attachments(&self) -> impl Iterator<Item = (&Operator, &Network, PortKey, AttachMode)> {
        self.operators.values().flat_map(|op| {
            op.networks.values().flat_map(move |net| {
                net.attachments
                    .iter()
                    .map(move |(port, mode)| (op, net, *port, *mode))
            })
        })
    }

    /// The operator holding a lease on `port`.
    pub fn lessee(&self, port: PortKey) -> Option<&Operator> {
        self.operators
            .values()
            .find(|op| op.lease.as_ref().is_some_and(|l| l.ports.contains(&port)))
    }

    /// The operator and network using `vni`.
    pub fn network_by_vni(&self, vni: Vni) -> Option<(&Operator, &Network)> {
        self.operators
            .values()
            .flat_map(|op| op.networks.values().map(move |n| (op, n)))
            .find(|(_, n)| n.vni == vni)
    }
}
