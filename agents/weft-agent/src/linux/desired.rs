//! Pipeline entries → the Linux objects that realise them (pure).
//!
//! Entries are grouped per network (one bridge each); ports are resolved to
//! interface names through the topology. Entry sets a Linux bridge cannot
//! express exactly are refused here, before anything is changed, so that
//! whatever is installed reads back as exactly the OpenFlow lowering of the
//! entries: a port's ingress and flood entries come in pairs (a bridge port
//! both receives and floods), a port has at most one untagged network, and
//! tags need 802.1Q.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use weft_model::topology::{Encapsulation, PortRole, Switch};
use weft_model::{AttachMode, PortNo, VlanId, Vni};
use weft_pipeline::PipelineEntry;

use super::names::is_plain_ifname;
use super::nft::PortFilter;
use crate::backend::{BackendError, SwitchContext};

/// An 802.1Q sub-interface: a tagged attachment of a server port, or a
/// trunk of a fabric port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SubIf {
    pub port: PortNo,
    /// The interface it sits on.
    pub parent: String,
    pub tag: VlanId,
}

/// The VXLAN side of a network on this leaf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tunnel {
    /// Remote VTEPs flooded to (`FloodTunnel`): the all-zeros FDB entries.
    pub flood: BTreeSet<Ipv4Addr>,
    /// Remote VTEPs accepted from (`TunnelIngress`): the nftables set.
    pub accept: BTreeSet<Ipv4Addr>,
}

/// One network's objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// Access ports enslaved directly, by interface name.
    pub ports: BTreeSet<String>,
    pub subifs: BTreeSet<SubIf>,
    /// Present when the network has any tunnel entry on this leaf.
    pub tunnel: Option<Tunnel>,
}

/// Everything a switch's entries call for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub networks: BTreeMap<Vni, Network>,
    /// The leaf's VTEP, when some network uses tunnels.
    pub local: Option<Ipv4Addr>,
    /// Ingress filters of the leaf's physical ports (every server port;
    /// fabric ports too in `vlan` fabrics, where they carry trunks).
    pub port_filters: BTreeMap<String, PortFilter>,
}

impl Desired {
    /// Interface names that must exist before anything is changed.
    pub fn required_interfaces(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        for net in self.networks.values() {
            out.extend(net.ports.iter().map(String::as_str));
            out.extend(net.subifs.iter().map(|s| s.parent.as_str()));
        }
        out
    }
}

/// True when entries need 802.1Q (tagged attachments or trunks).
pub fn needs_8021q(entries: &[PipelineEntry]) -> bool {
    entries.iter().any(|e| {
        matches!(
            e,
            PipelineEntry::PortIngress {
                mode: AttachMode::Tagged(_),
                ..
            } | PipelineEntry::FloodPort {
                mode: AttachMode::Tagged(_),
                ..
            } | PipelineEntry::TrunkIngress { .. }
                | PipelineEntry::FloodTrunk { .. }
        )
    })
}

fn refused(msg: impl Into<String>) -> BackendError {
    BackendError::Refused(msg.into())
}

fn port_name(sw: &Switch, port: PortNo, role: PortRole) -> Result<String, BackendError> {
    let p = sw
        .port(port)
        .ok_or_else(|| refused(format!("{} has no port {port}", sw.name)))?;
    if p.role != role {
        return Err(refused(format!(
            "port {} ({port}) of {} is a {:?} port, not a {role:?} port",
            p.name, sw.name, p.role
        )));
    }
    let name = p.name.as_str();
    if !is_plain_ifname(name) {
        return Err(refused(format!(
            "port name {name:?} of {} is not an interface name Weft can filter (1-15 of A-Z a-z 0-9 _ - .)",
            sw.name
        )));
    }
    Ok(name.to_string())
}

/// Builds the desired objects, or refuses what Linux cannot hold.
pub fn build(ctx: &SwitchContext, entries: &[PipelineEntry]) -> Result<Desired, BackendError> {
    let topo = &ctx.topology;
    let sw = topo
        .switches
        .get(ctx.switch.index())
        .ok_or_else(|| refused(format!("switch {:?} is not in the topology", ctx.switch)))?;
    let all: BTreeSet<PipelineEntry> = entries.iter().copied().collect();
    let mut d = Desired::default();
    // Per port: its untagged network and its tags (to refuse overlaps).
    let mut untagged: BTreeMap<PortNo, Vni> = BTreeMap::new();
    let mut tags: BTreeMap<(PortNo, VlanId), Vni> = BTreeMap::new();
    let unpaired = |e: &PipelineEntry, other: PipelineEntry| {
        refused(format!(
            "{e:?} without {other:?}: a Linux bridge port receives and floods together, so these entries come in pairs"
        ))
    };
    for e in &all {
        match *e {
            PipelineEntry::PortIngress { port, mode, vni } => {
                let pair = PipelineEntry::FloodPort { vni, port, mode };
                if !all.contains(&pair) {
                    return Err(unpaired(e, pair));
                }
                let name = port_name(sw, port, PortRole::Server)?;
                let net = d.networks.entry(vni).or_default();
                match mode {
                    AttachMode::Access => {
                        if let Some(other) = untagged.insert(port, vni) {
                            return Err(refused(format!(
                                "port {name} has untagged attachments to networks {other} and {vni}"
                            )));
                        }
                        net.ports.insert(name);
                    }
                    AttachMode::Tagged(tag) => {
                        if let Some(other) = tags.insert((port, tag), vni) {
                            return Err(refused(format!(
                                "port {name} tag {tag} is attached to networks {other} and {vni}"
                            )));
                        }
                        net.subifs.insert(SubIf {
                            port,
                            parent: name,
                            tag,
                        });
                    }
                }
            }
            PipelineEntry::FloodPort { vni, port, mode } => {
                let pair = PipelineEntry::PortIngress { port, mode, vni };
                if !all.contains(&pair) {
                    return Err(unpaired(e, pair));
                }
            }
            PipelineEntry::TrunkIngress {
                port,
                fabric_vlan,
                vni,
            } => {
                let pair = PipelineEntry::FloodTrunk {
                    vni,
                    port,
                    fabric_vlan,
                };
                if !all.contains(&pair) {
                    return Err(unpaired(e, pair));
                }
                let name = port_name(sw, port, PortRole::Fabric)?;
                if let Some(other) = tags.insert((port, fabric_vlan), vni) {
                    return Err(refused(format!(
                        "trunk {name} VLAN {fabric_vlan} carries networks {other} and {vni}"
                    )));
                }
                d.networks.entry(vni).or_default().subifs.insert(SubIf {
                    port,
                    parent: name,
                    tag: fabric_vlan,
                });
            }
            PipelineEntry::FloodTrunk {
                vni,
                port,
                fabric_vlan,
            } => {
                let pair = PipelineEntry::TrunkIngress {
                    port,
                    fabric_vlan,
                    vni,
                };
                if !all.contains(&pair) {
                    return Err(unpaired(e, pair));
                }
            }
            PipelineEntry::TunnelIngress { vni, remote } => {
                let t = d
                    .networks
                    .entry(vni)
                    .or_default()
                    .tunnel
                    .get_or_insert_default();
                t.accept.insert(remote);
            }
            PipelineEntry::FloodTunnel { vni, remote } => {
                let t = d
                    .networks
                    .entry(vni)
                    .or_default()
                    .tunnel
                    .get_or_insert_default();
                t.flood.insert(remote);
            }
        }
    }
    if d.networks.values().any(|n| n.tunnel.is_some()) {
        d.local = Some(sw.vtep.ok_or_else(|| {
            refused(format!(
                "{} has tunnel entries but no VTEP address in the topology",
                sw.name
            ))
        })?);
    }
    for p in &sw.ports {
        let filtered = match p.role {
            PortRole::Server => true,
            PortRole::Fabric => topo.encapsulation == Encapsulation::Vlan,
        };
        if !filtered || !is_plain_ifname(p.name.as_str()) {
            continue;
        }
        let filter = PortFilter {
            untagged: untagged.contains_key(&p.number),
            tags: tags
                .keys()
                .filter(|(port, _)| *port == p.number)
                .map(|(_, t)| t.get())
                .collect(),
        };
        d.port_filters.insert(p.name.to_string(), filter);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ctx() -> SwitchContext {
        let yaml = include_str!("../../../../topologies/two-racks.yaml");
        let topology = weft_config::parse_topology("two-racks.yaml", yaml).unwrap();
        let switch = topology.switch_id("rack2-leaf").unwrap();
        SwitchContext {
            topology: Arc::new(topology),
            switch,
            topology_digest: "d".into(),
        }
    }

    fn p(n: u64) -> PortNo {
        PortNo::new(n).unwrap()
    }
    fn v(n: u64) -> Vni {
        Vni::new(n).unwrap()
    }

    fn access(port: u64, vni: u64) -> [PipelineEntry; 2] {
        [
            PipelineEntry::PortIngress {
                port: p(port),
                mode: AttachMode::Access,
                vni: v(vni),
            },
            PipelineEntry::FloodPort {
                vni: v(vni),
                port: p(port),
                mode: AttachMode::Access,
            },
        ]
    }

    #[test]
    fn groups_by_network_and_filters_every_server_port() {
        let r = Ipv4Addr::new(10, 0, 0, 11);
        let mut entries: Vec<PipelineEntry> = access(1, 1000).into();
        entries.extend(access(3, 2000));
        entries.push(PipelineEntry::TunnelIngress {
            vni: v(1000),
            remote: r,
        });
        entries.push(PipelineEntry::FloodTunnel {
            vni: v(1000),
            remote: r,
        });
        let d = build(&ctx(), &entries).unwrap();
        assert_eq!(d.local, Some(Ipv4Addr::new(10, 0, 0, 12)));
        let n = &d.networks[&v(1000)];
        assert_eq!(n.ports, ["eth1".to_string()].into());
        let t = n.tunnel.as_ref().unwrap();
        assert_eq!((t.flood.len(), t.accept.len()), (1, 1));
        assert!(d.networks[&v(2000)].tunnel.is_none());
        // Attached ports pass untagged frames; the others drop everything;
        // fabric ports of a vxlan fabric are the underlay and unfiltered.
        assert_eq!(d.port_filters["eth1"], PortFilter::untagged_only());
        assert_eq!(d.port_filters["eth2"], PortFilter::drop_all());
        assert_eq!(d.port_filters["eth3"], PortFilter::untagged_only());
        assert_eq!(d.port_filters["eth4"], PortFilter::drop_all());
        assert!(!d.port_filters.contains_key("up1"));
        assert!(!needs_8021q(&entries));
    }

    #[test]
    fn refuses_what_a_bridge_cannot_express() {
        let c = ctx();
        let half = [access(1, 1000)[0]];
        let e = build(&c, &half).unwrap_err();
        assert!(e.to_string().contains("come in pairs"), "{e}");
        let mut two: Vec<PipelineEntry> = access(1, 1000).into();
        two.extend(access(1, 2000));
        let e = build(&c, &two).unwrap_err();
        assert!(
            e.to_string().contains("untagged attachments to networks"),
            "{e}"
        );
        // A fabric port used as a server port.
        let e = build(&c, &access(5, 1000)).unwrap_err();
        assert!(e.to_string().contains("not a Server port"), "{e}");
        let e = build(&c, &access(9, 1000)).unwrap_err();
        assert!(e.to_string().contains("has no port 9"), "{e}");
    }

    #[test]
    fn tagged_attachments_become_subinterfaces_and_pass_their_tag() {
        let tag = VlanId::new(10).unwrap();
        let entries = [
            PipelineEntry::PortIngress {
                port: p(2),
                mode: AttachMode::Tagged(tag),
                vni: v(1000),
            },
            PipelineEntry::FloodPort {
                vni: v(1000),
                port: p(2),
                mode: AttachMode::Tagged(tag),
            },
        ];
        assert!(needs_8021q(&entries));
        let d = build(&ctx(), &entries).unwrap();
        let s = d.networks[&v(1000)].subifs.first().unwrap().clone();
        assert_eq!((s.parent.as_str(), s.tag), ("eth2", tag));
        assert_eq!(
            d.port_filters["eth2"],
            PortFilter {
                untagged: false,
                tags: [10].into()
            }
        );
    }
}
