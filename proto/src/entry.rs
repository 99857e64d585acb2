//! Wire ⇄ domain conversion of pipeline entries.
//!
//! The one place where a `weft.v1.PipelineEntry` from an agent session (or a
//! plan) becomes a typed [`PipelineEntry`]: every number is range-checked
//! into `Vni`/`VlanId`/`PortNo`, every address parsed, so a malformed entry
//! is a typed error here and never a bad flow later.

use std::net::Ipv4Addr;

use weft_model::{AttachMode, IdError, PortNo, VlanId, Vni};
use weft_pipeline::PipelineEntry;

use crate::v1::PipelineEntry as WireEntry;
use crate::v1::pipeline_entry::{
    Entry, FloodPort, FloodTrunk, FloodTunnel, PortIngress, TrunkIngress, TunnelIngress,
};

/// Why a wire entry is not a pipeline entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("pipeline entry has no variant set")]
    Empty,
    #[error("{field}: {source}")]
    Id {
        field: &'static str,
        #[source]
        source: IdError,
    },
    #[error("{field}: {value:?} is not an IPv4 address")]
    Address { field: &'static str, value: String },
}

fn id<T: TryFrom<u64, Error = IdError>>(field: &'static str, raw: u32) -> Result<T, EntryError> {
    T::try_from(u64::from(raw)).map_err(|source| EntryError::Id { field, source })
}

fn mode(field: &'static str, vlan_id: u32) -> Result<AttachMode, EntryError> {
    if vlan_id == 0 {
        Ok(AttachMode::Access)
    } else {
        id::<VlanId>(field, vlan_id).map(AttachMode::Tagged)
    }
}

fn address(field: &'static str, value: &str) -> Result<Ipv4Addr, EntryError> {
    value.parse().map_err(|_| EntryError::Address {
        field,
        value: value.to_owned(),
    })
}

fn mode_to_wire(mode: AttachMode) -> u32 {
    match mode {
        AttachMode::Access => 0,
        AttachMode::Tagged(tag) => u32::from(tag.get()),
    }
}

/// The wire form of an entry.
pub fn entry_to_wire(entry: &PipelineEntry) -> WireEntry {
    let e = match *entry {
        PipelineEntry::PortIngress { port, mode, vni } => Entry::PortIngress(PortIngress {
            port: port.get(),
            vlan_id: mode_to_wire(mode),
            vni: vni.get(),
        }),
        PipelineEntry::TunnelIngress { vni, remote } => Entry::TunnelIngress(TunnelIngress {
            vni: vni.get(),
            remote: remote.to_string(),
        }),
        PipelineEntry::TrunkIngress {
            port,
            fabric_vlan,
            vni,
        } => Entry::TrunkIngress(TrunkIngress {
            port: port.get(),
            fabric_vlan: u32::from(fabric_vlan.get()),
            vni: vni.get(),
        }),
        PipelineEntry::FloodPort { vni, port, mode } => Entry::FloodPort(FloodPort {
            vni: vni.get(),
            port: port.get(),
            vlan_id: mode_to_wire(mode),
        }),
        PipelineEntry::FloodTunnel { vni, remote } => Entry::FloodTunnel(FloodTunnel {
            vni: vni.get(),
            remote: remote.to_string(),
        }),
        PipelineEntry::FloodTrunk {
            vni,
            port,
            fabric_vlan,
        } => Entry::FloodTrunk(FloodTrunk {
            vni: vni.get(),
            port: port.get(),
            fabric_vlan: u32::from(fabric_vlan.get()),
        }),
    };
    WireEntry { entry: Some(e) }
}

/// The typed entry a wire entry stands for.
pub fn entry_from_wire(wire: &WireEntry) -> Result<PipelineEntry, EntryError> {
    Ok(match wire.entry.as_ref().ok_or(EntryError::Empty)? {
        Entry::PortIngress(e) => PipelineEntry::PortIngress {
            port: id::<PortNo>("port_ingress.port", e.port)?,
            mode: mode("port_ingress.vlan_id", e.vlan_id)?,
            vni: id::<Vni>("port_ingress.vni", e.vni)?,
        },
        Entry::TunnelIngress(e) => PipelineEntry::TunnelIngress {
            vni: id::<Vni>("tunnel_ingress.vni", e.vni)?,
            remote: address("tunnel_ingress.remote", &e.remote)?,
        },
        Entry::TrunkIngress(e) => PipelineEntry::TrunkIngress {
            port: id::<PortNo>("trunk_ingress.port", e.port)?,
            fabric_vlan: id::<VlanId>("trunk_ingress.fabric_vlan", e.fabric_vlan)?,
            vni: id::<Vni>("trunk_ingress.vni", e.vni)?,
        },
        Entry::FloodPort(e) => PipelineEntry::FloodPort {
            vni: id::<Vni>("flood_port.vni", e.vni)?,
            port: id::<PortNo>("flood_port.port", e.port)?,
            mode: mode("flood_port.vlan_id", e.vlan_id)?,
        },
        Entry::FloodTunnel(e) => PipelineEntry::FloodTunnel {
            vni: id::<Vni>("flood_tunnel.vni", e.vni)?,
            remote: address("flood_tunnel.remote", &e.remote)?,
        },
        Entry::FloodTrunk(e) => PipelineEntry::FloodTrunk {
            vni: id::<Vni>("flood_trunk.vni", e.vni)?,
            port: id::<PortNo>("flood_trunk.port", e.port)?,
            fabric_vlan: id::<VlanId>("flood_trunk.fabric_vlan", e.fabric_vlan)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vni(n: u64) -> Vni {
        Vni::new(n).unwrap()
    }

    #[test]
    fn every_variant_round_trips() {
        let port = PortNo::new(3).unwrap();
        let tag = VlanId::new(100).unwrap();
        let remote = Ipv4Addr::new(10, 0, 0, 12);
        let entries = [
            PipelineEntry::PortIngress {
                port,
                mode: AttachMode::Access,
                vni: vni(1000),
            },
            PipelineEntry::PortIngress {
                port,
                mode: AttachMode::Tagged(tag),
                vni: vni(1001),
            },
            PipelineEntry::TunnelIngress {
                vni: vni(7),
                remote,
            },
            PipelineEntry::TrunkIngress {
                port,
                fabric_vlan: tag,
                vni: vni(8),
            },
            PipelineEntry::FloodPort {
                vni: vni(9),
                port,
                mode: AttachMode::Tagged(tag),
            },
            PipelineEntry::FloodTunnel {
                vni: vni(10),
                remote,
            },
            PipelineEntry::FloodTrunk {
                vni: vni(11),
                port,
                fabric_vlan: tag,
            },
        ];
        for e in entries {
            assert_eq!(entry_from_wire(&entry_to_wire(&e)), Ok(e));
        }
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let wire = WireEntry {
            entry: Some(Entry::PortIngress(PortIngress {
                port: 1,
                vlan_id: 4095,
                vni: 5,
            })),
        };
        let err = entry_from_wire(&wire).unwrap_err();
        assert!(
            matches!(
                err,
                EntryError::Id {
                    field: "port_ingress.vlan_id",
                    ..
                }
            ),
            "{err}"
        );
        let wire = WireEntry {
            entry: Some(Entry::FloodTunnel(FloodTunnel {
                vni: 5,
                remote: "10.0.0".into(),
            })),
        };
        assert!(matches!(
            entry_from_wire(&wire),
            Err(EntryError::Address { .. })
        ));
        assert_eq!(
            entry_from_wire(&WireEntry { entry: None }),
            Err(EntryError::Empty)
        );
        let wire = WireEntry {
            entry: Some(Entry::TrunkIngress(TrunkIngress {
                port: 0,
                fabric_vlan: 10,
                vni: 5,
            })),
        };
        assert!(matches!(
            entry_from_wire(&wire),
            Err(EntryError::Id {
                field: "trunk_ingress.port",
                ..
            })
        ));
    }
}
