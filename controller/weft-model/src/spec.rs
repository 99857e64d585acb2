//! Documents as written: the shape of topology and intent files, and of the
//! matching gRPC requests, before validation.
//!
//! Fields hold raw strings and numbers on purpose: deserialization only
//! fails on structure (an unknown key, a list where a map belongs), so that
//! validation can then report *every* semantic problem at once, each at its
//! `FieldPath`. `Topology::from_spec` and `Intent::from_spec` turn these into
//! validated values.

use serde::{Deserialize, Serialize};

/// A topology file: the physical fabric, written by network engineers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    pub fabric: FabricSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<SiteSpec>,
    pub switches: Vec<SwitchSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FabricSpec {
    pub name: String,
    #[serde(default)]
    pub encapsulation: EncapsulationSpec,
    #[serde(default, skip_serializing_if = "ReservedSpec::is_empty")]
    pub reserved: ReservedSpec,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncapsulationSpec {
    #[default]
    Vxlan,
    Vlan,
}

/// Identifier ranges the facility keeps for itself: never delegated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservedSpec {
    /// VNI ranges, each `FIRST-LAST` or a single number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vni: Vec<String>,
    /// VLAN ranges, each `FIRST-LAST` or a single number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlan: Vec<String>,
}

impl ReservedSpec {
    pub fn is_empty(&self) -> bool {
        self.vni.is_empty() && self.vlan.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub racks: Vec<RackSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RackSpec {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchSpec {
    pub name: String,
    /// Rack name (unique across the fabric's sites).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
    pub role: SwitchRoleSpec,
    pub dataplane: DataplaneSpec,
    /// Underlay (VTEP) IPv4 address; required for leaves in `vxlan` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vtep: Option<String>,
    /// Where the switch agent reaches the data plane (e.g. `unix:/run/openvswitch/br0.mgmt`,
    /// `tcp:192.0.2.10:6653`), informational for the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management: Option<String>,
    pub ports: Vec<PortSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchRoleSpec {
    Leaf,
    Spine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataplaneSpec {
    Ovs,
    Linux,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    pub name: String,
    /// OpenFlow port number; defaults to the port's position in the list, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    pub role: PortRoleSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortRoleSpec {
    Server,
    Fabric,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
    pub nics: Vec<NicSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicSpec {
    pub name: String,
    /// The leaf port the NIC is cabled to, `SWITCH/PORT`.
    pub port: String,
}

/// A cable between two fabric ports, each `SWITCH/PORT`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub a: String,
    pub b: String,
}

/// An intent file: operators, their leases, networks and attachments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentSpec {
    #[serde(default)]
    pub operators: Vec<OperatorSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseSpec {
    /// Leased server ports, each `SWITCH/PORT`.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Delegated VNI range, `FIRST-LAST`.
    pub vni: String,
    /// Delegated fabric VLAN range (`vlan` fabrics only), `FIRST-LAST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<String>,
    #[serde(default)]
    pub quotas: QuotasSpec,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_per_switch: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub name: String,
    /// Fixed VNI inside the lease's range; allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u64>,
    /// Fixed fabric VLAN (`vlan` fabrics); allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric_vlan: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSpec {
    /// The leased server port, `SWITCH/PORT`.
    pub port: String,
    #[serde(default)]
    pub mode: AttachModeSpec,
}

/// `access` (untagged frames only) or `{tagged: VLAN}` (the operator's own tag).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachModeSpec {
    #[default]
    Access,
    Tagged(u64),
}
