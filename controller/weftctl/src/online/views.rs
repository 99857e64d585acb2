//! What the online commands print, as small serializable views built from
//! the wire messages in one place. Scripts read these (as JSON or YAML), so
//! their fields are named and stable even when the proto grows; prost types
//! are never serialized directly.

use serde::Serialize;
use weft_proto::v1::{
    Attachment, AttachmentMode, GetFabricStatusResponse, GetNetworkStatusResponse,
    GetTopologyResponse, Lease, Network, NetworkCounters, Operator, PlanResult, SwitchProgramming,
    WatchEventType, WatchResponse, watch_response,
};

/// The last segment of a resource name: the id.
fn id_of(name: &str) -> String {
    name.rsplit('/').next().unwrap_or(name).to_owned()
}

/// `operators/{op}/…` → `op`.
fn operator_of(name: &str) -> String {
    name.strip_prefix("operators/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorView {
    pub name: String,
    pub id: String,
    pub display_name: String,
    pub etag: String,
}

impl From<&Operator> for OperatorView {
    fn from(o: &Operator) -> Self {
        OperatorView {
            name: o.name.clone(),
            id: id_of(&o.name),
            display_name: o.display_name.clone(),
            etag: o.etag.clone(),
        }
    }
}

/// `None`: the controller's default applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotasView {
    pub networks: Option<u32>,
    pub attachments: Option<u32>,
    pub entries_per_switch: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseView {
    pub name: String,
    pub operator: String,
    pub ports: Vec<String>,
    pub vni_range: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan_range: Option<String>,
    pub quotas: QuotasView,
    pub etag: String,
}

impl From<&Lease> for LeaseView {
    fn from(l: &Lease) -> Self {
        let q = l.quotas.unwrap_or_default();
        LeaseView {
            name: l.name.clone(),
            operator: operator_of(&l.name),
            ports: l.ports.clone(),
            vni_range: l.vni_range.clone(),
            vlan_range: non_empty(&l.vlan_range),
            quotas: QuotasView {
                networks: q.networks,
                attachments: q.attachments,
                entries_per_switch: q.entries_per_switch,
            },
            etag: l.etag.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkView {
    pub name: String,
    pub operator: String,
    pub id: String,
    pub vni: u32,
    /// Only in `vlan` fabrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fabric_vlan: Option<u32>,
    pub etag: String,
}

impl From<&Network> for NetworkView {
    fn from(n: &Network) -> Self {
        NetworkView {
            name: n.name.clone(),
            operator: operator_of(&n.name),
            id: id_of(&n.name),
            vni: n.vni,
            fabric_vlan: (n.fabric_vlan != 0).then_some(n.fabric_vlan),
            etag: n.etag.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentView {
    pub name: String,
    pub port: String,
    /// `access` or `tagged`.
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<u32>,
    pub etag: String,
}

impl From<&Attachment> for AttachmentView {
    fn from(a: &Attachment) -> Self {
        let mode = match AttachmentMode::try_from(a.mode) {
            Ok(AttachmentMode::Access) => "access",
            Ok(AttachmentMode::Tagged) => "tagged",
            Ok(AttachmentMode::Unspecified) | Err(_) => "unspecified",
        };
        AttachmentView {
            name: a.name.clone(),
            port: a.port.clone(),
            mode,
            vlan_id: (a.vlan_id != 0).then_some(a.vlan_id),
            etag: a.etag.clone(),
        }
    }
}

/// `network get`: the network and its attachments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkDetailView {
    #[serde(flatten)]
    pub network: NetworkView,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchView {
    pub switch: String,
    pub desired_generation: u64,
    pub acked_generation: u64,
    pub connected: bool,
    pub backend: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl From<&SwitchProgramming> for SwitchView {
    fn from(s: &SwitchProgramming) -> Self {
        SwitchView {
            switch: s.switch.clone(),
            desired_generation: s.desired_generation,
            acked_generation: s.acked_generation,
            connected: s.connected,
            backend: s.backend.clone(),
            last_error: non_empty(&s.last_error),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FabricStatusView {
    pub revision: u64,
    pub programmed_revision: u64,
    pub epoch: u64,
    pub isolated: bool,
    pub topology_digest: String,
    pub switches: Vec<SwitchView>,
}

impl From<&GetFabricStatusResponse> for FabricStatusView {
    fn from(s: &GetFabricStatusResponse) -> Self {
        FabricStatusView {
            revision: s.revision,
            programmed_revision: s.programmed_revision,
            epoch: s.epoch,
            isolated: s.isolated,
            topology_digest: s.topology_digest.clone(),
            switches: s.switches.iter().map(SwitchView::from).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountersView {
    pub switch: String,
    pub packets: u64,
    pub bytes: u64,
}

impl From<&NetworkCounters> for CountersView {
    fn from(c: &NetworkCounters) -> Self {
        CountersView {
            switch: c.switch.clone(),
            packets: c.packets,
            bytes: c.bytes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkStatusView {
    pub network: String,
    pub programmed: bool,
    pub switches: Vec<SwitchView>,
    pub counters: Vec<CountersView>,
}

impl From<&GetNetworkStatusResponse> for NetworkStatusView {
    fn from(s: &GetNetworkStatusResponse) -> Self {
        NetworkStatusView {
            network: s.network.clone(),
            programmed: s.programmed,
            switches: s.switches.iter().map(SwitchView::from).collect(),
            counters: s.counters.iter().map(CountersView::from).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchDeltaView {
    pub switch: String,
    pub added: usize,
    pub removed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingView {
    pub class: String,
    pub code: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanView {
    pub base_revision: u64,
    pub isolated: bool,
    pub entries_added: u64,
    pub entries_removed: u64,
    pub switches: Vec<SwitchDeltaView>,
    pub findings: Vec<FindingView>,
}

impl From<&PlanResult> for PlanView {
    fn from(p: &PlanResult) -> Self {
        PlanView {
            base_revision: p.base_revision,
            isolated: p.isolated,
            entries_added: p.entries_added,
            entries_removed: p.entries_removed,
            switches: p
                .switches
                .iter()
                .map(|s| SwitchDeltaView {
                    switch: s.switch.clone(),
                    added: s.added.len(),
                    removed: s.removed.len(),
                })
                .collect(),
            findings: p
                .findings
                .iter()
                .map(|f| FindingView {
                    class: f.class.clone(),
                    code: f.code.clone(),
                    detail: f.detail.clone(),
                })
                .collect(),
        }
    }
}

/// `topology apply`: the plan, and the revision that stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyView {
    pub plan: PlanView,
    /// 0 with `--validate-only`.
    pub revision: u64,
    pub validate_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopologyView {
    pub fabric_name: String,
    pub encapsulation: String,
    pub digest: String,
    pub programmed_switches: Vec<String>,
    pub yaml: String,
}

impl From<&GetTopologyResponse> for TopologyView {
    fn from(t: &GetTopologyResponse) -> Self {
        TopologyView {
            fabric_name: t.fabric_name.clone(),
            encapsulation: t.encapsulation.clone(),
            digest: t.digest.clone(),
            programmed_switches: t.programmed_switches.clone(),
            yaml: t.yaml.clone(),
        }
    }
}

/// Any resource, tagged with its kind: `{"network": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceView {
    Operator(OperatorView),
    Lease(LeaseView),
    Network(NetworkView),
    Attachment(AttachmentView),
}

/// What a create, update or delete did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MutationView {
    /// `created`, `updated`, `set`, `deleted`, `attached` or `detached`.
    pub action: &'static str,
    pub name: String,
    /// The store revision of the change; 0 with `--validate-only`.
    pub revision: u64,
    pub validate_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchEventView {
    pub revision: u64,
    /// `existing`, `bookmark`, `created`, `updated` or `deleted`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceView>,
}

impl From<&WatchResponse> for WatchEventView {
    fn from(w: &WatchResponse) -> Self {
        let kind = match WatchEventType::try_from(w.r#type) {
            Ok(WatchEventType::Existing) => "existing",
            Ok(WatchEventType::Bookmark) => "bookmark",
            Ok(WatchEventType::Created) => "created",
            Ok(WatchEventType::Updated) => "updated",
            Ok(WatchEventType::Deleted) => "deleted",
            Ok(WatchEventType::Unspecified) | Err(_) => "unknown",
        };
        let resource = w.resource.as_ref().map(|r| match r {
            watch_response::Resource::Operator(o) => ResourceView::Operator(o.into()),
            watch_response::Resource::Lease(l) => ResourceView::Lease(l.into()),
            watch_response::Resource::Network(n) => ResourceView::Network(n.into()),
            watch_response::Resource::Attachment(a) => ResourceView::Attachment(a.into()),
        });
        WatchEventView {
            revision: w.revision,
            kind,
            name: w.name.clone(),
            resource,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_operator_and_id() {
        let n = NetworkView::from(&Network {
            name: "operators/alpha/networks/web".into(),
            vni: 1001,
            fabric_vlan: 0,
            etag: "e1".into(),
        });
        assert_eq!((n.operator.as_str(), n.id.as_str()), ("alpha", "web"));
        assert_eq!(n.fabric_vlan, None);
        let l = LeaseView::from(&Lease {
            name: "operators/alpha/lease".into(),
            ..Lease::default()
        });
        assert_eq!(l.operator, "alpha");
        assert_eq!(l.vlan_range, None);
    }

    #[test]
    fn attachment_modes_are_words() {
        let a = AttachmentView::from(&Attachment {
            name: "operators/a/networks/w/attachments/leaf:eth1".into(),
            port: "leaf/eth1".into(),
            mode: AttachmentMode::Tagged as i32,
            vlan_id: 100,
            etag: String::new(),
        });
        assert_eq!((a.mode, a.vlan_id), ("tagged", Some(100)));
    }
}
