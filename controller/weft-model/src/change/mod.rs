//! One-step changes of intent, and the effects they have.
//!
//! The controller mutates intent one [`IntentChange`] at a time through
//! [`Intent::apply`]. A change is checked against everything file validation
//! checks for the same thing (a port leased to the operator, a VNI inside the
//! lease and unused, quotas, one access attachment per port, distinct tags,
//! ranges that overlap nobody), then applied **atomically**: on error the
//! intent is untouched. Cascades are resolved here, not by callers:
//!
//! | change | cascade |
//! |---|---|
//! | `DeleteNetwork` | detaches every attachment of the network first |
//! | `RemoveOperator` | deletes every network (with its attachments), then the lease |
//! | `SetLease` dropping ports | detaches the attachments on the dropped ports |
//! | `SetLease` excluding an existing network's VNI or fabric VLAN | rejected |
//! | `RemoveLease` while networks exist | rejected (their VNIs would leave every lease) |
//!
//! Quotas on networks and attachments are checked here. The
//! entries-per-switch quota depends on compilation: the caller checks it
//! with `weft_pipeline::Compiler::check_entry_quotas` after compiling the
//! effects, and undoes the change if it is exceeded.
//!
//! The result is a list of primitive [`Effect`]s in the order they happened.
//! The compiler (`weft-pipeline`) consumes `Attached`/`Detached`; the other
//! effects are for observers (watch streams, audit log).
//!
//! ## Why there is no index
//!
//! Every check is bounded by one operator's own resources or by the number
//! of operators: a port is leased to the operator iff its own lease holds it
//! (leases never share ports), a VNI inside the operator's range can only be
//! used by that operator's networks (delegated ranges never overlap), per-port
//! attachment conflicts only involve the operator's networks (the port is its
//! own). Those sets are quota-limited, so lookups stay in the microseconds
//! without a secondary index that every mutation path of the public
//! [`Intent`] fields would have to keep in sync.

mod lease;
mod network;
#[cfg(test)]
mod tests;

use std::fmt;

use self::network::push_network_teardown;
use crate::alloc::{AllocError, QuotaExceeded, QuotaKind};
use crate::ids::{Name, VlanId, Vni};
use crate::intent::{AttachMode, Intent, Lease, Operator};
use crate::topology::{PortKey, Topology};
use crate::violation::Violation;

/// One mutation of intent, as requested by an admin or an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentChange {
    /// Creates an operator, or updates its display name.
    UpsertOperator {
        name: Name,
        display_name: Option<String>,
    },
    /// Removes an operator with its networks and lease.
    RemoveOperator { name: Name },
    /// Creates or replaces an operator's lease. The lease's identifiers are
    /// already typed; `apply` checks it against the topology and the other
    /// operators.
    SetLease { operator: Name, lease: Lease },
    /// Removes an operator's lease; rejected while it has networks.
    RemoveLease { operator: Name },
    /// Creates a network; a missing VNI (or fabric VLAN, in `vlan` fabrics)
    /// is allocated: the lowest free one in the lease's range.
    CreateNetwork {
        operator: Name,
        name: Name,
        vni: Option<Vni>,
        fabric_vlan: Option<VlanId>,
    },
    /// Deletes a network with its attachments.
    DeleteNetwork { operator: Name, name: Name },
    /// Attaches a leased port to a network.
    Attach {
        operator: Name,
        network: Name,
        port: PortKey,
        mode: AttachMode,
    },
    /// Detaches a port from a network.
    Detach {
        operator: Name,
        network: Name,
        port: PortKey,
    },
}

/// Something that happened to intent. `apply` returns them in order: a
/// cascade lists its `Detached` effects before the `NetworkDeleted` that
/// caused them, and so on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Effect {
    OperatorCreated {
        operator: Name,
    },
    /// The display name changed.
    OperatorUpdated {
        operator: Name,
    },
    OperatorRemoved {
        operator: Name,
    },
    /// A lease was created or replaced.
    LeaseSet {
        operator: Name,
    },
    LeaseRemoved {
        operator: Name,
    },
    NetworkCreated {
        operator: Name,
        network: Name,
        vni: Vni,
        fabric_vlan: Option<VlanId>,
    },
    NetworkDeleted {
        operator: Name,
        network: Name,
        vni: Vni,
        fabric_vlan: Option<VlanId>,
    },
    Attached {
        operator: Name,
        network: Name,
        vni: Vni,
        fabric_vlan: Option<VlanId>,
        port: PortKey,
        mode: AttachMode,
    },
    Detached {
        operator: Name,
        network: Name,
        vni: Vni,
        fabric_vlan: Option<VlanId>,
        port: PortKey,
        mode: AttachMode,
    },
}

impl Effect {
    /// The effect that undoes this one, where the effect alone says enough
    /// (`Attached` ↔ `Detached`, `NetworkCreated` ↔ `NetworkDeleted`).
    /// Operator and lease effects return `None`: undoing them needs the old
    /// values, which the caller keeps (e.g. a clone of the intent).
    pub fn inverse(&self) -> Option<Effect> {
        Some(match self.clone() {
            Effect::Attached {
                operator,
                network,
                vni,
                fabric_vlan,
                port,
                mode,
            } => Effect::Detached {
                operator,
                network,
                vni,
                fabric_vlan,
                port,
                mode,
            },
            Effect::Detached {
                operator,
                network,
                vni,
                fabric_vlan,
                port,
                mode,
            } => Effect::Attached {
                operator,
                network,
                vni,
                fabric_vlan,
                port,
                mode,
            },
            Effect::NetworkCreated {
                operator,
                network,
                vni,
                fabric_vlan,
            } => Effect::NetworkDeleted {
                operator,
                network,
                vni,
                fabric_vlan,
            },
            Effect::NetworkDeleted {
                operator,
                network,
                vni,
                fabric_vlan,
            } => Effect::NetworkCreated {
                operator,
                network,
                vni,
                fabric_vlan,
            },
            _ => return None,
        })
    }
}

/// What kind of resource an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    Operator,
    Lease,
    Network,
    Attachment,
    Port,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Operator => "operator",
            ResourceKind::Lease => "lease",
            ResourceKind::Network => "network",
            ResourceKind::Attachment => "attachment",
            ResourceKind::Port => "port",
        })
    }
}

/// Why a change was rejected. The intent is unchanged in every case.
///
/// Names are AIP-style resource names (`operators/gandi/networks/prod`) and
/// ports are `SWITCH/PORT`, ready for messages. The gRPC layer maps variants
/// to status codes in one place (`NotFound` → NOT_FOUND, `AlreadyExists`,
/// `IdInUse`, `AttachmentConflict`, `PortNotLeased`… → ALREADY_EXISTS /
/// FAILED_PRECONDITION, `QuotaExceeded`/`PoolExhausted` → RESOURCE_EXHAUSTED,
/// `Invalid` → INVALID_ARGUMENT with one field violation each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    #[error("{kind} {name} not found")]
    NotFound { kind: ResourceKind, name: String },
    #[error("{kind} {name} already exists")]
    AlreadyExists { kind: ResourceKind, name: String },
    #[error("quota {quota} exceeded: {requested} requested, limit {limit}")]
    QuotaExceeded {
        quota: QuotaKind,
        limit: u32,
        requested: u64,
    },
    /// No free identifier left in the operator's delegated range.
    #[error("{0}")]
    PoolExhausted(AllocError),
    #[error("operator {operator} has no lease: lease ports and a VNI range to it first")]
    NoLease { operator: Name },
    #[error("operator {operator} still has {networks} network(s): delete them before its lease")]
    LeaseInUse { operator: Name, networks: usize },
    #[error("port {port} is not leased to operator {operator}")]
    PortNotLeased { operator: Name, port: String },
    /// A requested VNI or fabric VLAN outside the operator's delegated range.
    #[error("{kind} {value} is outside the delegated range {range} of operator {operator}")]
    OutsideLease {
        operator: Name,
        kind: &'static str,
        value: u64,
        range: String,
    },
    /// A requested VNI or fabric VLAN already used by another network.
    #[error("{kind} {value} is already used by {network}")]
    IdInUse {
        kind: &'static str,
        value: u64,
        network: String,
    },
    /// A fabric VLAN given in a `vxlan` fabric, where networks have none.
    #[error("fabric VLANs only exist in vlan fabrics; this fabric uses vxlan")]
    FabricVlanNotApplicable,
    /// The port already carries an access attachment (only one per port) or
    /// the same tag (tags must be distinct per port).
    #[error("port {port} already carries {mode} for {network}")]
    AttachmentConflict {
        port: String,
        mode: String,
        network: String,
    },
    /// Several field-level problems, each at its path in the request.
    #[error("invalid request: {}", join_violations(.0))]
    Invalid(Vec<Violation>),
}

impl From<QuotaExceeded> for ChangeError {
    fn from(q: QuotaExceeded) -> Self {
        ChangeError::QuotaExceeded {
            quota: q.quota,
            limit: q.limit,
            requested: q.requested,
        }
    }
}

fn join_violations(v: &[Violation]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `access` or `tagged 100`, for messages.
pub fn describe_mode(mode: AttachMode) -> String {
    match mode {
        AttachMode::Access => "access".to_owned(),
        AttachMode::Tagged(tag) => format!("tagged {tag}"),
    }
}

fn operator_name(op: &Name) -> String {
    format!("operators/{op}")
}

fn network_name(op: &Name, net: &Name) -> String {
    format!("operators/{op}/networks/{net}")
}

impl Intent {
    /// The operator called `name`.
    pub fn operator(&self, name: &str) -> Option<&Operator> {
        self.operators.get(name)
    }

    /// Applies one change atomically; see the module docs.
    pub fn apply(
        &mut self,
        topo: &Topology,
        change: IntentChange,
    ) -> Result<Vec<Effect>, ChangeError> {
        match change {
            IntentChange::UpsertOperator { name, display_name } => {
                Ok(self.upsert_operator(name, display_name))
            }
            IntentChange::RemoveOperator { name } => self.remove_operator(&name),
            IntentChange::SetLease { operator, lease } => self.set_lease(topo, operator, lease),
            IntentChange::RemoveLease { operator } => self.remove_lease(&operator),
            IntentChange::CreateNetwork {
                operator,
                name,
                vni,
                fabric_vlan,
            } => self.create_network(topo, operator, name, vni, fabric_vlan),
            IntentChange::DeleteNetwork { operator, name } => self.delete_network(&operator, &name),
            IntentChange::Attach {
                operator,
                network,
                port,
                mode,
            } => self.attach(topo, operator, network, port, mode),
            IntentChange::Detach {
                operator,
                network,
                port,
            } => self.detach(topo, &operator, &network, port),
        }
    }

    fn operator_or_err(&self, name: &Name) -> Result<&Operator, ChangeError> {
        self.operators
            .get(name)
            .ok_or_else(|| ChangeError::NotFound {
                kind: ResourceKind::Operator,
                name: operator_name(name),
            })
    }

    fn upsert_operator(&mut self, name: Name, display_name: Option<String>) -> Vec<Effect> {
        match self.operators.get_mut(&name) {
            Some(op) if op.display_name == display_name => Vec::new(),
            Some(op) => {
                op.display_name = display_name;
                vec![Effect::OperatorUpdated { operator: name }]
            }
            None => {
                let op = Operator {
                    name: name.clone(),
                    display_name,
                    lease: None,
                    networks: Default::default(),
                };
                self.operators.insert(name.clone(), op);
                vec![Effect::OperatorCreated { operator: name }]
            }
        }
    }

    fn remove_operator(&mut self, name: &Name) -> Result<Vec<Effect>, ChangeError> {
        let op = self.operator_or_err(name)?;
        let mut effects = Vec::new();
        for net in op.networks.values() {
            push_network_teardown(&mut effects, &op.name, net);
        }
        if op.lease.is_some() {
            effects.push(Effect::LeaseRemoved {
                operator: name.clone(),
            });
        }
        effects.push(Effect::OperatorRemoved {
            operator: name.clone(),
        });
        self.operators.remove(name);
        Ok(effects)
    }

    fn remove_lease(&mut self, operator: &Name) -> Result<Vec<Effect>, ChangeError> {
        let op = self.operator_or_err(operator)?;
        if op.lease.is_none() {
            return Err(ChangeError::NotFound {
                kind: ResourceKind::Lease,
                name: format!("{}/lease", operator_name(operator)),
            });
        }
        if !op.networks.is_empty() {
            return Err(ChangeError::LeaseInUse {
                operator: operator.clone(),
                networks: op.networks.len(),
            });
        }
        if let Some(op) = self.operators.get_mut(operator) {
            op.lease = None;
        }
        Ok(vec![Effect::LeaseRemoved {
            operator: operator.clone(),
        }])
    }
}

/// `SWITCH/PORT` when the port exists, a readable placeholder otherwise.
fn topo_port_ref(topo: &Topology, port: PortKey) -> String {
    match topo.switches.get(port.switch.index()) {
        Some(_) => topo.port_ref(port),
        None => format!("#{}/#{}", port.switch.0, port.port),
    }
}

fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
