//! What the store holds: one record per resource, keyed by its name.
//!
//! Records are the intent file's own pieces (`LeaseSpec`, VNIs,
//! `SWITCH/PORT` references), so that a store is rebuilt into an
//! [`IntentSpec`] and validated by exactly the code that validates intent
//! files: a corrupt or hand-edited store is caught at start, never served.
//! `rev` is the store revision that last wrote the record (the etag).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weft_model::spec::{
    AttachModeSpec, AttachmentSpec, IntentSpec, LeaseSpec, NetworkSpec, OperatorSpec,
};
use weft_model::{AttachMode, Effect, Intent, Name, PortKey, Topology};

use crate::names::{Expect, ResourceName};

/// One stored resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    Operator {
        rev: u64,
        display_name: Option<String>,
    },
    Lease {
        rev: u64,
        spec: LeaseSpec,
    },
    Network {
        rev: u64,
        vni: u64,
        fabric_vlan: Option<u64>,
    },
    Attachment {
        rev: u64,
        port: String,
        mode: AttachModeSpec,
    },
}

impl Record {
    pub fn rev(&self) -> u64 {
        match self {
            Record::Operator { rev, .. }
            | Record::Lease { rev, .. }
            | Record::Network { rev, .. }
            | Record::Attachment { rev, .. } => *rev,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A store that does not rebuild into valid intent.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("stored record {key:?} is unreadable: {reason}")]
    Unreadable { key: String, reason: String },
    #[error("stored record {key:?} has no parent {parent:?}")]
    Orphan { key: String, parent: String },
}

fn parse_key(key: &str) -> Option<ResourceName> {
    [
        Expect::Operator,
        Expect::Lease,
        Expect::Network,
        Expect::Attachment,
    ]
    .into_iter()
    .find_map(|e| ResourceName::parse("key", key, e).ok())
}

/// Rebuilds the intent spec from stored records, and every resource's etag
/// revision.
pub fn intent_spec(
    resources: &BTreeMap<String, Vec<u8>>,
) -> Result<(IntentSpec, BTreeMap<String, u64>), RecordError> {
    let mut ops: BTreeMap<Name, OperatorSpec> = BTreeMap::new();
    let mut nets: BTreeMap<(Name, Name), NetworkSpec> = BTreeMap::new();
    let mut revs = BTreeMap::new();
    let mut rest = Vec::new();
    for (key, bytes) in resources {
        let unreadable = |reason: String| RecordError::Unreadable {
            key: key.clone(),
            reason,
        };
        let name = parse_key(key).ok_or_else(|| unreadable("not a resource name".into()))?;
        let record: Record =
            serde_json::from_slice(bytes).map_err(|e| unreadable(e.to_string()))?;
        revs.insert(key.clone(), record.rev());
        match (name, record) {
            (ResourceName::Operator(op), Record::Operator { display_name, .. }) => {
                ops.insert(
                    op.clone(),
                    OperatorSpec {
                        name: op.to_string(),
                        display_name,
                        ..Default::default()
                    },
                );
            }
            (name, record) => rest.push((key.clone(), name, record)),
        }
    }
    // Keys sort parents before children (a prefix sorts first), but leases
    // and networks are attached to operators read above, attachments to
    // networks, so do it in two passes.
    for (key, name, record) in &rest {
        let orphan = |parent: String| RecordError::Orphan {
            key: key.clone(),
            parent,
        };
        match (name, record) {
            (ResourceName::Lease(op), Record::Lease { spec, .. }) => {
                ops.get_mut(op)
                    .ok_or_else(|| orphan(format!("operators/{op}")))?
                    .lease = Some(spec.clone());
            }
            (
                ResourceName::Network(op, net),
                Record::Network {
                    vni, fabric_vlan, ..
                },
            ) => {
                if !ops.contains_key(op) {
                    return Err(orphan(format!("operators/{op}")));
                }
                nets.insert(
                    (op.clone(), net.clone()),
                    NetworkSpec {
                        name: net.to_string(),
                        vni: Some(*vni),
                        fabric_vlan: *fabric_vlan,
                        attachments: Vec::new(),
                    },
                );
            }
            (ResourceName::Attachment { .. }, Record::Attachment { .. }) => {}
            _ => {
                return Err(RecordError::Unreadable {
                    key: key.clone(),
                    reason: "record kind does not match its name".into(),
                });
            }
        }
    }
    for (key, name, record) in &rest {
        if let (
            ResourceName::Attachment {
                operator, network, ..
            },
            Record::Attachment { port, mode, .. },
        ) = (name, record)
        {
            nets.get_mut(&(operator.clone(), network.clone()))
                .ok_or_else(|| RecordError::Orphan {
                    key: key.clone(),
                    parent: format!("operators/{operator}/networks/{network}"),
                })?
                .attachments
                .push(AttachmentSpec {
                    port: port.clone(),
                    mode: *mode,
                });
        }
    }
    for ((op, _), net) in nets {
        if let Some(o) = ops.get_mut(&op) {
            o.networks.push(net);
        }
    }
    Ok((
        IntentSpec {
            operators: ops.into_values().collect(),
        },
        revs,
    ))
}

/// The name of an attachment resource.
pub fn attachment_name(topo: &Topology, op: &Name, net: &Name, port: PortKey) -> String {
    let sw = &topo.switch(port.switch).name;
    let p = topo
        .port(port)
        .map(|p| p.name.to_string())
        .unwrap_or_else(|| port.port.to_string());
    format!("operators/{op}/networks/{net}/attachments/{sw}:{p}")
}

pub fn mode_spec(mode: AttachMode) -> AttachModeSpec {
    match mode {
        AttachMode::Access => AttachModeSpec::Access,
        AttachMode::Tagged(t) => AttachModeSpec::Tagged(u64::from(t.get())),
    }
}

/// A store write: a put (`Some`) or a delete (`None`) of one key.
pub type Write = (String, Option<Record>);

/// The store writes that persist `effects` (intent is the intent after
/// them), each record stamped with revision `rev`.
pub fn writes_for(topo: &Topology, intent: &Intent, effects: &[Effect], rev: u64) -> Vec<Write> {
    let mut out = Vec::new();
    for e in effects {
        match e {
            Effect::OperatorCreated { operator } | Effect::OperatorUpdated { operator } => {
                let display_name = intent
                    .operator(operator.as_str())
                    .and_then(|o| o.display_name.clone());
                out.push((
                    format!("operators/{operator}"),
                    Some(Record::Operator { rev, display_name }),
                ));
            }
            Effect::OperatorRemoved { operator } => {
                out.push((format!("operators/{operator}"), None));
            }
            Effect::LeaseSet { operator } => {
                if let Some(spec) = lease_spec(topo, intent, operator) {
                    out.push((
                        format!("operators/{operator}/lease"),
                        Some(Record::Lease { rev, spec }),
                    ));
                }
            }
            Effect::LeaseRemoved { operator } => {
                out.push((format!("operators/{operator}/lease"), None));
            }
            Effect::NetworkCreated {
                operator,
                network,
                vni,
                fabric_vlan,
            } => out.push((
                format!("operators/{operator}/networks/{network}"),
                Some(Record::Network {
                    rev,
                    vni: u64::from(*vni),
                    fabric_vlan: fabric_vlan.map(u64::from),
                }),
            )),
            Effect::NetworkDeleted {
                operator, network, ..
            } => out.push((format!("operators/{operator}/networks/{network}"), None)),
            Effect::Attached {
                operator,
                network,
                port,
                mode,
                ..
            } => out.push((
                attachment_name(topo, operator, network, *port),
                Some(Record::Attachment {
                    rev,
                    port: topo.port_ref(*port),
                    mode: mode_spec(*mode),
                }),
            )),
            Effect::Detached {
                operator,
                network,
                port,
                ..
            } => out.push((attachment_name(topo, operator, network, *port), None)),
        }
    }
    out
}

/// The operator's lease as written in an intent file.
pub fn lease_spec(topo: &Topology, intent: &Intent, operator: &Name) -> Option<LeaseSpec> {
    let op = intent.operator(operator.as_str())?;
    let lease = op.lease.as_ref()?;
    let defaults = weft_model::Quotas::default();
    let non_default = |v: u32, d: u32| (v != d).then_some(u64::from(v));
    Some(LeaseSpec {
        ports: lease.ports.iter().map(|p| topo.port_ref(*p)).collect(),
        vni: lease.vni.to_string(),
        vlan: lease.vlan.map(|r| r.to_string()),
        quotas: weft_model::spec::QuotasSpec {
            networks: non_default(lease.quotas.networks, defaults.networks),
            attachments: non_default(lease.quotas.attachments, defaults.attachments),
            entries_per_switch: non_default(
                lease.quotas.entries_per_switch,
                defaults.entries_per_switch,
            ),
        },
    })
}
