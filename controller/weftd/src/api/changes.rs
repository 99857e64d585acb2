//! Mutation requests → intent changes: the one place wire fields become
//! typed values, each error naming its request field. Used by the mutation
//! RPCs and by `Plan`.

use weft_model::spec::{IntentSpec, LeaseSpec, OperatorSpec, QuotasSpec};
use weft_model::{AttachMode, Intent, IntentChange, Name, PortKey, Topology, VlanId, Vni};
use weft_proto::v1 as pb;

use crate::errors::{bad_field, bad_fields};
use crate::names::{Expect, ResourceName};
use tonic::Status;

/// A request made typed: whose resources it touches, what it changes, and
/// the resource name for the audit log.
#[derive(Debug)]
pub struct Change {
    pub operator: Name,
    pub change: IntentChange,
    pub resource: String,
    /// The resource whose etag the request carried, and the etag.
    pub etag: Option<(String, String)>,
    /// Admin-only kinds (operator records and leases) vs. slice kinds.
    pub tenant_level: bool,
    /// The digest of the topology ports were resolved against, for changes
    /// that name ports: applied only if the topology is still that one.
    pub topology_digest: Option<String>,
    /// What the request expects of `resource` before the change.
    pub existence: Existence,
}

/// Whether a request's resource must already exist. Most changes say so
/// through `Intent::apply`'s own errors; `UpsertOperator` serves both
/// CreateOperator and UpdateOperator, so those two say it here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existence {
    Any,
    /// ALREADY_EXISTS if it does.
    New,
    /// NOT_FOUND if it does not.
    Existing,
}

impl Change {
    /// Checks the change's expectations against the current state: the
    /// topology its ports were resolved on, the etag it carries, and
    /// whether its resource exists.
    pub fn check(&self, core: &crate::core::Core) -> Result<(), Status> {
        if self
            .topology_digest
            .as_ref()
            .is_some_and(|d| *d != core.topology.digest)
        {
            return Err(Status::aborted(
                "the topology changed while the request was prepared: retry",
            ));
        }
        if let Some((name, tag)) = &self.etag {
            super::check_etag(name, tag, core.revs.get(name).copied())?;
        }
        let exists = core.revs.contains_key(&self.resource);
        match self.existence {
            Existence::New if exists => Err(Status::already_exists(format!(
                "{} already exists",
                self.resource
            ))),
            Existence::Existing if !exists => {
                Err(Status::not_found(format!("{} not found", self.resource)))
            }
            _ => Ok(()),
        }
    }
}

fn name_id(field: &str, raw: &str) -> Result<Name, Status> {
    raw.parse::<Name>()
        .map_err(|e| bad_field(field, format!("{raw:?} is not a valid id: {e}")))
}

fn display_name(field: &str, raw: &str) -> Result<Option<String>, Status> {
    if raw.len() > 200 || raw.chars().any(char::is_control) {
        return Err(bad_field(field, "at most 200 printable characters"));
    }
    Ok((!raw.is_empty()).then(|| raw.to_owned()))
}

fn etag(name: &str, etag: &str) -> Option<(String, String)> {
    (!etag.is_empty()).then(|| (name.to_owned(), etag.to_owned()))
}

pub fn create_operator(r: &pb::CreateOperatorRequest) -> Result<Change, Status> {
    let name = name_id("operator_id", &r.operator_id)?;
    let display = display_name(
        "operator.display_name",
        r.operator.as_ref().map_or("", |o| o.display_name.as_str()),
    )?;
    Ok(Change {
        resource: format!("operators/{name}"),
        operator: name.clone(),
        change: IntentChange::UpsertOperator {
            name,
            display_name: display,
        },
        etag: None,
        tenant_level: true,
        topology_digest: None,
        existence: Existence::New,
    })
}

pub fn update_operator(r: &pb::UpdateOperatorRequest) -> Result<Change, Status> {
    let op = r
        .operator
        .as_ref()
        .ok_or_else(|| bad_field("operator", "required"))?;
    let ResourceName::Operator(name) =
        ResourceName::parse("operator.name", &op.name, Expect::Operator)?
    else {
        return Err(bad_field("operator.name", "not an operator name"));
    };
    Ok(Change {
        resource: op.name.clone(),
        operator: name.clone(),
        change: IntentChange::UpsertOperator {
            name,
            display_name: display_name("operator.display_name", &op.display_name)?,
        },
        etag: etag(&op.name, &op.etag),
        tenant_level: true,
        topology_digest: None,
        existence: Existence::Existing,
    })
}

pub fn delete_operator(r: &pb::DeleteOperatorRequest) -> Result<Change, Status> {
    let ResourceName::Operator(name) = ResourceName::parse("name", &r.name, Expect::Operator)?
    else {
        return Err(bad_field("name", "not an operator name"));
    };
    Ok(Change {
        resource: r.name.clone(),
        operator: name.clone(),
        change: IntentChange::RemoveOperator { name },
        etag: etag(&r.name, &r.etag),
        tenant_level: true,
        topology_digest: None,
        existence: Existence::Any,
    })
}

/// A wire lease, checked by the same rules as a lease in an intent file
/// (ports exist and are server ports, ranges parse and avoid reserved
/// ones, quotas in range); conflicts with other operators are checked when
/// the change applies.
pub fn set_lease(topo: &Topology, r: &pb::SetLeaseRequest) -> Result<Change, Status> {
    let lease = r
        .lease
        .as_ref()
        .ok_or_else(|| bad_field("lease", "required"))?;
    let ResourceName::Lease(op) = ResourceName::parse("lease.name", &lease.name, Expect::Lease)?
    else {
        return Err(bad_field("lease.name", "not a lease name"));
    };
    if lease.ports.len() > 4096 {
        return Err(bad_field("lease.ports", "at most 4096 ports"));
    }
    let q = lease.quotas.unwrap_or_default();
    let spec = LeaseSpec {
        ports: lease.ports.clone(),
        vni: lease.vni_range.clone(),
        vlan: (!lease.vlan_range.is_empty()).then(|| lease.vlan_range.clone()),
        quotas: QuotasSpec {
            networks: q.networks.map(u64::from),
            attachments: q.attachments.map(u64::from),
            entries_per_switch: q.entries_per_switch.map(u64::from),
        },
    };
    let one = IntentSpec {
        operators: vec![OperatorSpec {
            name: op.to_string(),
            lease: Some(spec),
            ..Default::default()
        }],
    };
    let typed = Intent::from_spec(topo, &one).map_err(|violations| {
        bad_fields(
            violations
                .iter()
                .map(|v| {
                    let path = v.path.to_string();
                    let field = crate::errors::wire_lease_field(
                        path.strip_prefix("operators[0].").unwrap_or(&path),
                    );
                    (field, v.to_string())
                })
                .collect(),
        )
    })?;
    let lease_typed = typed
        .operators
        .into_values()
        .next()
        .and_then(|o| o.lease)
        .ok_or_else(|| bad_field("lease", "not a lease"))?;
    Ok(Change {
        resource: lease.name.clone(),
        operator: op.clone(),
        change: IntentChange::SetLease {
            operator: op,
            lease: lease_typed,
        },
        etag: etag(&lease.name, &lease.etag),
        tenant_level: true,
        topology_digest: None,
        existence: Existence::Any,
    })
}

pub fn delete_lease(r: &pb::DeleteLeaseRequest) -> Result<Change, Status> {
    let ResourceName::Lease(op) = ResourceName::parse("name", &r.name, Expect::Lease)? else {
        return Err(bad_field("name", "not a lease name"));
    };
    Ok(Change {
        resource: r.name.clone(),
        operator: op.clone(),
        change: IntentChange::RemoveLease { operator: op },
        etag: etag(&r.name, &r.etag),
        tenant_level: true,
        topology_digest: None,
        existence: Existence::Any,
    })
}

pub fn create_network(r: &pb::CreateNetworkRequest) -> Result<Change, Status> {
    let ResourceName::Operator(op) = ResourceName::parse("parent", &r.parent, Expect::Operator)?
    else {
        return Err(bad_field("parent", "not an operator name"));
    };
    let name = name_id("network_id", &r.network_id)?;
    let net = r.network.clone().unwrap_or_default();
    let vni = match net.vni {
        0 => None,
        v => Some(Vni::new(u64::from(v)).map_err(|e| bad_field("network.vni", e.to_string()))?),
    };
    let fabric_vlan = match net.fabric_vlan {
        0 => None,
        v => Some(
            VlanId::new(u64::from(v))
                .map_err(|e| bad_field("network.fabric_vlan", e.to_string()))?,
        ),
    };
    Ok(Change {
        resource: format!("operators/{op}/networks/{name}"),
        operator: op.clone(),
        change: IntentChange::CreateNetwork {
            operator: op,
            name,
            vni,
            fabric_vlan,
        },
        etag: None,
        tenant_level: false,
        topology_digest: None,
        existence: Existence::Any,
    })
}

pub fn delete_network(r: &pb::DeleteNetworkRequest) -> Result<Change, Status> {
    let ResourceName::Network(op, net) = ResourceName::parse("name", &r.name, Expect::Network)?
    else {
        return Err(bad_field("name", "not a network name"));
    };
    Ok(Change {
        resource: r.name.clone(),
        operator: op.clone(),
        change: IntentChange::DeleteNetwork {
            operator: op,
            name: net,
        },
        etag: etag(&r.name, &r.etag),
        tenant_level: false,
        topology_digest: None,
        existence: Existence::Any,
    })
}

/// `SWITCH/PORT` → a port of the topology.
pub fn port(topo: &Topology, field: &str, raw: &str) -> Result<PortKey, Status> {
    if !raw.contains('/') {
        return Err(bad_field(
            field,
            format!("{raw:?}: write SWITCH/PORT, e.g. rack1-leaf/eth1"),
        ));
    }
    topo.resolve_port(raw)
        .ok_or_else(|| bad_field(field, format!("{raw:?} is not a port of the topology")))
}

pub fn create_attachment(
    topo: &Topology,
    r: &pb::CreateAttachmentRequest,
) -> Result<Change, Status> {
    let ResourceName::Network(op, net) = ResourceName::parse("parent", &r.parent, Expect::Network)?
    else {
        return Err(bad_field("parent", "not a network name"));
    };
    let a = r
        .attachment
        .as_ref()
        .ok_or_else(|| bad_field("attachment", "required"))?;
    let port = port(topo, "attachment.port", &a.port)?;
    let mode = match (pb::AttachmentMode::try_from(a.mode), a.vlan_id) {
        (Ok(pb::AttachmentMode::Access), 0) => AttachMode::Access,
        (Ok(pb::AttachmentMode::Access), _) => {
            return Err(bad_field(
                "attachment.vlan_id",
                "must be 0 for an access attachment",
            ));
        }
        (Ok(pb::AttachmentMode::Tagged), v) => AttachMode::Tagged(
            VlanId::new(u64::from(v))
                .map_err(|e| bad_field("attachment.vlan_id", e.to_string()))?,
        ),
        _ => {
            return Err(bad_field(
                "attachment.mode",
                "ATTACHMENT_MODE_ACCESS or ATTACHMENT_MODE_TAGGED",
            ));
        }
    };
    Ok(Change {
        resource: crate::records::attachment_name(topo, &op, &net, port),
        operator: op.clone(),
        change: IntentChange::Attach {
            operator: op,
            network: net,
            port,
            mode,
        },
        etag: None,
        tenant_level: false,
        topology_digest: None,
        existence: Existence::Any,
    })
}

/// An attachment name → (operator, network, port).
pub fn attachment_ref(
    topo: &Topology,
    field: &str,
    raw: &str,
) -> Result<(Name, Name, PortKey), Status> {
    let ResourceName::Attachment {
        operator,
        network,
        switch,
        port: p,
    } = ResourceName::parse(field, raw, Expect::Attachment)?
    else {
        return Err(bad_field(field, "not an attachment name"));
    };
    let port = topo
        .resolve_port(&format!("{switch}/{p}"))
        .ok_or_else(|| bad_field(field, format!("{switch}/{p} is not a port of the topology")))?;
    Ok((operator, network, port))
}

pub fn delete_attachment(
    topo: &Topology,
    r: &pb::DeleteAttachmentRequest,
) -> Result<Change, Status> {
    // Parse the operator first so a foreign name is denied before the
    // port is looked up.
    let (operator, network, port) = attachment_ref(topo, "name", &r.name)?;
    Ok(Change {
        resource: r.name.clone(),
        operator: operator.clone(),
        change: IntentChange::Detach {
            operator,
            network,
            port,
        },
        etag: etag(&r.name, &r.etag),
        tenant_level: false,
        topology_digest: None,
        existence: Existence::Any,
    })
}

/// The operator a resource name belongs to, for authorizing before any
/// lookup (so a foreign name is denied whether or not it exists).
pub fn owner(field: &str, raw: &str) -> Result<Name, Status> {
    // Checked before authorization (and so before a denial is logged): a
    // hostile name must not be able to grow the audit log.
    if raw.len() > crate::names::MAX_NAME_BYTES {
        return Err(bad_field(
            field,
            format!("longer than {} bytes", crate::names::MAX_NAME_BYTES),
        ));
    }
    let first = raw
        .strip_prefix("operators/")
        .and_then(|r| r.split('/').next())
        .ok_or_else(|| {
            bad_field(
                field,
                format!("{raw:?} is not a resource name (operators/...)"),
            )
        })?;
    name_id(field, first)
}
