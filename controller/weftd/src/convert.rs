//! Domain → wire: resources as the API returns them. (Wire → domain happens
//! in each handler, next to the field paths its errors name.)

use weft_model::{AttachMode, Intent, Name, Network, Operator, PortKey, Topology};
use weft_proto::v1 as pb;

use crate::records::{attachment_name, lease_spec};

pub fn etag(rev: u64) -> String {
    format!("r{rev}")
}

pub fn operator(op: &Operator, rev: u64) -> pb::Operator {
    pb::Operator {
        name: format!("operators/{}", op.name),
        display_name: op.display_name.clone().unwrap_or_default(),
        etag: etag(rev),
    }
}

pub fn lease(topo: &Topology, intent: &Intent, op: &Name, rev: u64) -> Option<pb::Lease> {
    let spec = lease_spec(topo, intent, op)?;
    let l = intent.operator(op.as_str())?.lease.as_ref()?;
    Some(pb::Lease {
        name: format!("operators/{op}/lease"),
        ports: spec.ports,
        vni_range: spec.vni,
        vlan_range: spec.vlan.unwrap_or_default(),
        quotas: Some(pb::Quotas {
            networks: Some(l.quotas.networks),
            attachments: Some(l.quotas.attachments),
            entries_per_switch: Some(l.quotas.entries_per_switch),
        }),
        etag: etag(rev),
    })
}

pub fn network(op: &Name, net: &Network, rev: u64) -> pb::Network {
    pb::Network {
        name: format!("operators/{op}/networks/{}", net.name),
        vni: net.vni.get(),
        fabric_vlan: net.fabric_vlan.map_or(0, |v| u32::from(v.get())),
        etag: etag(rev),
    }
}

pub fn attachment(
    topo: &Topology,
    op: &Name,
    net: &Name,
    port: PortKey,
    mode: AttachMode,
    rev: u64,
) -> pb::Attachment {
    let (mode, vlan_id) = match mode {
        AttachMode::Access => (pb::AttachmentMode::Access, 0),
        AttachMode::Tagged(t) => (pb::AttachmentMode::Tagged, u32::from(t.get())),
    };
    pb::Attachment {
        name: attachment_name(topo, op, net, port),
        port: topo.port_ref(port),
        mode: mode.into(),
        vlan_id,
        etag: etag(rev),
    }
}
