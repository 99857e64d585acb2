//! Pipeline entries: the compiler's output, one small plain value per fact.
//!
//! A switch's desired state is a sorted set of entries; a delta between two
//! states is a set difference. Entries name ports by OpenFlow number and
//! remote VTEPs by address, so they mean the same thing to the controller,
//! the agent and the verifier's expected-state path.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use weft_model::{AttachMode, PortNo, VlanId, Vni};

/// One fact of a switch's pipeline. See `docs/pipeline.md` for the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineEntry {
    /// port-ingress: frames on a server `port` matching `mode` belong to `vni`.
    PortIngress {
        port: PortNo,
        mode: AttachMode,
        vni: Vni,
    },
    /// tunnel-ingress: VXLAN packets with `vni` from `remote` are accepted.
    TunnelIngress { vni: Vni, remote: Ipv4Addr },
    /// trunk-ingress (`vlan` fabrics): frames on fabric `port` tagged
    /// `fabric_vlan` belong to `vni`.
    TrunkIngress {
        port: PortNo,
        fabric_vlan: VlanId,
        vni: Vni,
    },
    /// flood: frames of `vni` go out of server `port`, tagged per `mode`.
    FloodPort {
        vni: Vni,
        port: PortNo,
        mode: AttachMode,
    },
    /// flood: frames of `vni` from local ports are tunnelled to `remote`.
    FloodTunnel { vni: Vni, remote: Ipv4Addr },
    /// flood (`vlan` fabrics): frames of `vni` go out of trunk `port` tagged `fabric_vlan`.
    FloodTrunk {
        vni: Vni,
        port: PortNo,
        fabric_vlan: VlanId,
    },
}

impl PipelineEntry {
    /// The network this entry serves.
    pub fn vni(&self) -> Vni {
        match *self {
            PipelineEntry::PortIngress { vni, .. }
            | PipelineEntry::TunnelIngress { vni, .. }
            | PipelineEntry::TrunkIngress { vni, .. }
            | PipelineEntry::FloodPort { vni, .. }
            | PipelineEntry::FloodTunnel { vni, .. }
            | PipelineEntry::FloodTrunk { vni, .. } => vni,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_small() {
        // Hundreds of thousands of these are compiled and diffed; keep them
        // register-sized.
        assert!(size_of::<PipelineEntry>() <= 16);
    }
}
