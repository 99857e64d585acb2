//! Validation findings: what is wrong, where (a [`FieldPath`]), and what to do.
//!
//! Every rule that a topology or intent document (or a gRPC request) can
//! break has its own [`ViolationKind`] variant with a stable
//! [`code`](ViolationKind::code): codes appear in diagnostics, snapshots,
//! gRPC error details and `docs/topology-format.md`, so they never change
//! meaning. A few generic kinds (`invalid-value`, `duplicate-name`,
//! `unknown-reference`, `missing-field`, `field-not-allowed`) cover one rule
//! applied to many fields; their hint depends on the field.

use crate::alloc::QuotaKind;
use crate::ids::IdError;
use crate::path::FieldPath;

/// One problem found in a document or request. Validation collects all of
/// them rather than stopping at the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: FieldPath,
    pub kind: ViolationKind,
    /// Other places involved (e.g. the first definition of a duplicate).
    pub related: Vec<(FieldPath, String)>,
}

impl Violation {
    pub fn new(path: FieldPath, kind: ViolationKind) -> Self {
        Violation {
            path,
            kind,
            related: Vec::new(),
        }
    }

    #[must_use]
    pub fn with_related(mut self, path: FieldPath, label: impl Into<String>) -> Self {
        self.related.push((path, label.into()));
        self
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}

/// What is wrong. Each kind has a stable [`code`](ViolationKind::code) (for
/// snapshots, gRPC error details and documentation) and a
/// [`hint`](ViolationKind::hint) saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ViolationKind {
    // ---- generic rules, applied to many fields ----
    /// A value that is not a valid identifier (the message says which rule).
    #[error("{0}")]
    InvalidValue(#[from] IdError),
    #[error("duplicate {what} name {name:?}")]
    DuplicateName { what: &'static str, name: String },
    /// The same value listed twice where a list is a set (lease ports, a
    /// network's attachments).
    #[error("{what} {value} is listed twice")]
    DuplicateEntry { what: &'static str, value: String },
    #[error("unknown {what} {name:?}")]
    UnknownReference { what: &'static str, name: String },
    /// A field that this fabric requires.
    #[error("{field} is required: {why}")]
    MissingField {
        field: &'static str,
        why: &'static str,
    },
    /// A field that this fabric does not allow.
    #[error("{field} is not allowed: {why}")]
    FieldNotAllowed {
        field: &'static str,
        why: &'static str,
    },
    /// A number that does not fit where it goes (e.g. a quota above 2^32-1).
    #[error("{value} is too large for {what}: the maximum is {max}")]
    NumberTooLarge {
        what: &'static str,
        value: u64,
        max: u64,
    },

    // ---- topology rules ----
    /// Two ports of one switch with the same OpenFlow port number.
    #[error("port number {number} is used twice on switch {switch}")]
    DuplicatePortNumber { switch: String, number: u64 },
    /// A physical port numbered like the VXLAN tunnel port.
    #[error("port number {number} is reserved for the leaf's VXLAN tunnel port")]
    ReservedPortNumber { number: u64 },
    /// A link end naming a switch or port that is not declared.
    #[error("link end {end:?} does not exist: {missing}")]
    DanglingLink { end: String, missing: String },
    /// A link end on a port whose role is `server`.
    #[error("link end {port} is a server port")]
    LinkOnServerPort { port: String },
    /// A link whose two ends are on the same switch.
    #[error("link {a} <-> {b} joins switch {switch} to itself")]
    SelfLink {
        a: String,
        b: String,
        switch: String,
    },
    /// A port that takes two cables (two links, a link and a NIC, two NICs).
    #[error("port {port} is already used by {first}")]
    PortUsedTwice { port: String, first: String },
    /// A server NIC cabled to a fabric port.
    #[error("server NIC cabled to {port}, which is a fabric port")]
    NicOnFabricPort { port: String },
    /// A server NIC cabled to a spine.
    #[error("server NIC cabled to {port}, which is on spine {switch}")]
    NicOnSpine { port: String, switch: String },
    /// A spine port with role `server`.
    #[error("spine port {port} has role server")]
    ServerPortOnSpine { port: String },
    /// A leaf none of whose fabric ports is linked.
    #[error("leaf {switch} has no uplink: none of its fabric ports is linked")]
    LeafWithoutUplink { switch: String },
    /// In a `vlan` fabric, a leaf that no chain of links joins to the others.
    #[error("leaf {switch} is not connected to leaf {other} by any chain of links")]
    FabricPartitioned { switch: String, other: String },
    /// A leaf of a `vxlan` fabric without an underlay address.
    #[error("leaf {switch} has no VTEP address")]
    MissingVtep { switch: String },
    /// Two switches with the same VTEP address.
    #[error("VTEP address {addr} is already used by switch {other}")]
    DuplicateVtep { addr: String, other: String },
    /// Not a usable unicast IPv4 address.
    #[error("invalid IPv4 address {value:?}: {reason}")]
    InvalidAddress { value: String, reason: &'static str },

    // ---- intent rules ----
    /// A lease naming a port that cannot be rented (a fabric port, a spine port).
    #[error("port {port} cannot be leased: {reason}")]
    PortNotLeasable { port: String, reason: &'static str },
    /// A port in two operators' leases.
    #[error("port {port} is already leased to operator {operator}")]
    PortAlreadyLeased { port: String, operator: String },
    /// A delegated range overlapping another operator's.
    #[error("{what} range {range} overlaps {other}")]
    RangeOverlap {
        what: &'static str,
        range: String,
        other: String,
    },
    /// A delegated range overlapping a range the facility reserved.
    #[error("{what} range {range} overlaps the reserved range {reserved}")]
    RangeReserved {
        what: &'static str,
        range: String,
        reserved: String,
    },
    /// An identifier outside the range it must lie in (e.g. a network's VNI
    /// outside its operator's lease).
    #[error("{what} {value} is outside the delegated range {range}")]
    OutsideRange {
        what: &'static str,
        value: u64,
        range: String,
    },
    /// An operator with networks but no lease.
    #[error("operator {operator} has networks but no lease")]
    NoLease { operator: String },
    /// An attachment on a port outside the operator's lease.
    #[error("port {port} is not leased to operator {operator}{}", lessee_note(.lessee.as_deref()))]
    PortNotLeased {
        port: String,
        operator: String,
        /// The operator holding the port, if any.
        lessee: Option<String>,
    },
    /// A VNI or fabric VLAN given to two networks.
    #[error("{what} {value} is already used by network {network}")]
    IdInUse {
        what: &'static str,
        value: u64,
        network: String,
    },
    /// A second untagged (access) attachment on one port.
    #[error("port {port} already carries network {network} untagged (access)")]
    AccessConflict { port: String, network: String },
    /// The same operator tag for two networks on one port.
    #[error("port {port} already carries tag {tag} for network {network}")]
    TagConflict {
        port: String,
        tag: u64,
        network: String,
    },
    /// More networks or attachments than the lease's quota allows.
    #[error("quota {quota} exceeded: {requested} used, limit {limit}")]
    QuotaExceeded {
        quota: QuotaKind,
        limit: u32,
        requested: u64,
    },
    /// No free identifier left when allocating a missing VNI or fabric VLAN.
    #[error("no free {what} left in the delegated range {range}")]
    PoolExhausted { what: &'static str, range: String },
}

fn lessee_note(lessee: Option<&str>) -> String {
    match lessee {
        Some(op) => format!(" (it is leased to operator {op})"),
        None => " (no operator leases it)".to_owned(),
    }
}

impl ViolationKind {
    /// Every code [`code`](Self::code) can return, for documentation and for
    /// tests that check each rule has a fixture and a documented fix.
    pub const CODES: &'static [&'static str] = &[
        "invalid-value",
        "duplicate-name",
        "duplicate-entry",
        "unknown-reference",
        "missing-field",
        "field-not-allowed",
        "number-too-large",
        "duplicate-port-number",
        "reserved-port-number",
        "dangling-link",
        "link-on-server-port",
        "self-link",
        "port-used-twice",
        "nic-on-fabric-port",
        "nic-on-spine",
        "server-port-on-spine",
        "leaf-without-uplink",
        "fabric-partitioned",
        "missing-vtep",
        "duplicate-vtep",
        "invalid-address",
        "port-not-leasable",
        "port-leased-twice",
        "range-overlap",
        "range-reserved",
        "outside-range",
        "no-lease",
        "port-not-leased",
        "id-in-use",
        "access-conflict",
        "tag-conflict",
        "quota-exceeded",
        "pool-exhausted",
    ];

    /// A stable, kebab-case identifier of the rule that was broken.
    pub fn code(&self) -> &'static str {
        use ViolationKind as K;
        match self {
            K::InvalidValue(_) => "invalid-value",
            K::DuplicateName { .. } => "duplicate-name",
            K::DuplicateEntry { .. } => "duplicate-entry",
            K::UnknownReference { .. } => "unknown-reference",
            K::MissingField { .. } => "missing-field",
            K::FieldNotAllowed { .. } => "field-not-allowed",
            K::NumberTooLarge { .. } => "number-too-large",
            K::DuplicatePortNumber { .. } => "duplicate-port-number",
            K::ReservedPortNumber { .. } => "reserved-port-number",
            K::DanglingLink { .. } => "dangling-link",
            K::LinkOnServerPort { .. } => "link-on-server-port",
            K::SelfLink { .. } => "self-link",
            K::PortUsedTwice { .. } => "port-used-twice",
            K::NicOnFabricPort { .. } => "nic-on-fabric-port",
            K::NicOnSpine { .. } => "nic-on-spine",
            K::ServerPortOnSpine { .. } => "server-port-on-spine",
            K::LeafWithoutUplink { .. } => "leaf-without-uplink",
            K::FabricPartitioned { .. } => "fabric-partitioned",
            K::MissingVtep { .. } => "missing-vtep",
            K::DuplicateVtep { .. } => "duplicate-vtep",
            K::InvalidAddress { .. } => "invalid-address",
            K::PortNotLeasable { .. } => "port-not-leasable",
            K::PortAlreadyLeased { .. } => "port-leased-twice",
            K::RangeOverlap { .. } => "range-overlap",
            K::RangeReserved { .. } => "range-reserved",
            K::OutsideRange { .. } => "outside-range",
            K::NoLease { .. } => "no-lease",
            K::PortNotLeased { .. } => "port-not-leased",
            K::IdInUse { .. } => "id-in-use",
            K::AccessConflict { .. } => "access-conflict",
            K::TagConflict { .. } => "tag-conflict",
            K::QuotaExceeded { .. } => "quota-exceeded",
            K::PoolExhausted { .. } => "pool-exhausted",
        }
    }

    /// What the author should do about it. Always `Some` today; `Option` so
    /// that a future kind without useful advice need not invent one.
    pub fn hint(&self) -> Option<&'static str> {
        use ViolationKind as K;
        Some(match self {
            K::InvalidValue(e) => invalid_value_hint(e),
            K::DuplicateName { what, .. } => duplicate_name_hint(what),
            K::DuplicateEntry { .. } => "remove the repeated entry",
            K::UnknownReference { what, .. } => unknown_reference_hint(what),
            K::MissingField { field, .. } => missing_field_hint(field),
            K::FieldNotAllowed { .. } => "remove the field",
            K::NumberTooLarge { .. } => "use a smaller number",
            K::DuplicatePortNumber { .. } => {
                "OpenFlow port numbers are unique per switch: pick a free `number`, or omit it to \
                 use the port's position in the list (1, 2, ...)"
            }
            K::ReservedPortNumber { .. } => {
                "Weft creates each leaf's VXLAN tunnel port as OpenFlow port 65000: give this \
                 port another number"
            }
            K::DanglingLink { .. } => {
                "a link joins two declared ports, each written SWITCH/PORT: fix the spelling or \
                 declare the switch and port"
            }
            K::LinkOnServerPort { .. } => {
                "links join fabric ports: give the port `role: fabric`, or cable a server NIC to \
                 it instead"
            }
            K::SelfLink { .. } => "a link joins two different switches: check both ends",
            K::PortUsedTwice { .. } => {
                "a port takes one cable: one link or one server NIC; use a free port for one of them"
            }
            K::NicOnFabricPort { .. } => {
                "server NICs are cabled to server ports: give the port `role: server`, or cable \
                 the NIC to another port"
            }
            K::NicOnSpine { .. } => "servers are cabled to leaf switches; spines carry only links",
            K::ServerPortOnSpine { .. } => {
                "spines carry only fabric links: give the port `role: fabric`"
            }
            K::LeafWithoutUplink { .. } => {
                "add a link from one of the leaf's fabric ports to a spine (under `links`)"
            }
            K::FabricPartitioned { .. } => {
                "vlan fabrics carry networks on trunks between switches: link this leaf to the \
                 rest of the fabric"
            }
            K::MissingVtep { .. } => {
                "in a vxlan fabric every leaf is a VTEP: add `vtep: <underlay IPv4 address>`"
            }
            K::DuplicateVtep { .. } => "each leaf needs its own underlay (VTEP) address",
            K::InvalidAddress { .. } => "write a unicast IPv4 address such as 192.0.2.11",
            K::PortNotLeasable { .. } => "lease only server ports of leaf switches",
            K::PortAlreadyLeased { .. } => {
                "a port has one lessee: remove it from the other lease first"
            }
            K::RangeOverlap { .. } => "ranges must be disjoint: shrink or move one of them",
            K::RangeReserved { .. } => "pick a range outside the facility's reserved ranges",
            K::OutsideRange { .. } => {
                "pick a value inside the operator's delegated range, widen the lease, or leave \
                 the value out to have one allocated"
            }
            K::NoLease { .. } => {
                "give the operator a lease (server ports and a VNI range) before its networks"
            }
            K::PortNotLeased { .. } => {
                "an operator attaches only ports of its own lease: add the port to `lease.ports` \
                 or attach another port"
            }
            K::IdInUse { .. } => {
                "each network needs its own VNI (and fabric VLAN): pick another value, or leave \
                 it out to have one allocated"
            }
            K::AccessConflict { .. } => {
                "a port carries at most one untagged network: attach the others `tagged: <VLAN>`"
            }
            K::TagConflict { .. } => "use a different tag for each network on one port",
            K::QuotaExceeded { .. } => "raise the quota under `lease.quotas`, or remove some",
            K::PoolExhausted { .. } => "widen the operator's delegated range, or remove networks",
        })
    }
}

fn invalid_value_hint(e: &IdError) -> &'static str {
    match e {
        IdError::VlanOutOfRange(_) => "802.1Q VLAN ids are 1 to 4094",
        IdError::VniOutOfRange(_) => "VNIs are 1 to 16777215",
        IdError::PortNoOutOfRange(_) => {
            "OpenFlow physical port numbers are 1 to 65279; omit `number` to use the position"
        }
        IdError::InvalidName(_) => "names are DNS labels, e.g. `rack-1`, `alpha`, `prod-2`",
        IdError::InvalidLabel(_) => "labels look like `leaf-1`, `swp49` or `eth1.100`",
        IdError::InvalidRange(_) | IdError::EmptyRange { .. } => {
            "write a range as FIRST-LAST with FIRST <= LAST, e.g. 1000-1999"
        }
        IdError::InvalidPortRef(_) => "write a port reference as SWITCH/PORT, e.g. leaf-1/eth3",
        IdError::NotANumber(_) => "write a decimal number",
    }
}

fn duplicate_name_hint(what: &str) -> &'static str {
    match what {
        "switch" => "switch names are unique across the fabric: rename one of them",
        "port" => "port names are unique within a switch: rename one of them",
        "server" => "server names are unique across the fabric: rename one of them",
        "NIC" => "NIC names are unique within a server: rename one of them",
        "site" => "site names are unique: rename one of them",
        "rack" => "rack names are unique across all sites: rename one of them",
        "operator" => "operator names are unique: merge the two entries or rename one",
        "network" => "network names are unique within an operator: rename one of them",
        _ => "give each one a unique name",
    }
}

fn unknown_reference_hint(what: &str) -> &'static str {
    match what {
        "rack" => "declare the rack under `sites[].racks`, or fix the spelling",
        "switch" => "declare the switch under `switches`, or fix the spelling (SWITCH/PORT)",
        "port" => "declare the port in its switch's `ports`, or fix the spelling (SWITCH/PORT)",
        _ => "check the spelling, or declare it first",
    }
}

fn missing_field_hint(field: &str) -> &'static str {
    match field {
        "lease.vlan" => {
            "vlan fabrics carry each network on a fabric VLAN: delegate a range, e.g. \
             `vlan: 100-199`"
        }
        _ => "add the field",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_and_hints_present() {
        let kinds = [
            ViolationKind::InvalidValue(IdError::VlanOutOfRange(0)),
            ViolationKind::ReservedPortNumber { number: 65000 },
            ViolationKind::PortNotLeased {
                port: "l/p".into(),
                operator: "a".into(),
                lessee: Some("b".into()),
            },
            ViolationKind::QuotaExceeded {
                quota: QuotaKind::Networks,
                limit: 1,
                requested: 2,
            },
        ];
        for k in kinds {
            let code = k.code();
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{code}"
            );
            assert!(k.hint().is_some_and(|h| !h.is_empty()));
        }
    }

    #[test]
    fn port_not_leased_names_the_lessee() {
        let k = ViolationKind::PortNotLeased {
            port: "leaf1/eth1".into(),
            operator: "alpha".into(),
            lessee: Some("beta".into()),
        };
        assert_eq!(
            k.to_string(),
            "port leaf1/eth1 is not leased to operator alpha (it is leased to operator beta)"
        );
    }
}
