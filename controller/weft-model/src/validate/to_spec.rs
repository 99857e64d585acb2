//! Validated values → documents: the inverse of `from_spec`.
//!
//! `to_spec` writes every value explicitly where the file format would
//! otherwise default or allocate it (VNIs, fabric VLANs), so that
//! `from_spec(to_spec(x)) == x` and a saved intent reloads to the same
//! identifiers even if ranges change later. Port numbers are written only
//! when they differ from the position default, and quotas only when they
//! differ from the defaults, to keep files short.

use crate::intent::{AttachMode, Intent, Quotas};
use crate::spec::{
    AttachModeSpec, AttachmentSpec, DataplaneSpec, EncapsulationSpec, FabricSpec, IntentSpec,
    LeaseSpec, LinkSpec, NetworkSpec, NicSpec, OperatorSpec, PortRoleSpec, PortSpec, QuotasSpec,
    RackSpec, ReservedSpec, ServerSpec, SiteSpec, SwitchRoleSpec, SwitchSpec, TopologySpec,
};
use crate::topology::{Dataplane, Encapsulation, PortRole, SwitchRole, Topology};

impl Topology {
    /// The document describing this topology (canonical order).
    pub fn to_spec(&self) -> TopologySpec {
        let switches = self
            .switches
            .iter()
            .map(|sw| SwitchSpec {
                name: sw.name.to_string(),
                rack: sw.rack.as_ref().map(ToString::to_string),
                role: match sw.role {
                    SwitchRole::Leaf => SwitchRoleSpec::Leaf,
                    SwitchRole::Spine => SwitchRoleSpec::Spine,
                },
                dataplane: match sw.dataplane {
                    Dataplane::Ovs => DataplaneSpec::Ovs,
                    Dataplane::Linux => DataplaneSpec::Linux,
                },
                vtep: sw.vtep.map(|a| a.to_string()),
                management: sw.management.clone(),
                ports: sw
                    .ports
                    .iter()
                    .enumerate()
                    .map(|(i, p)| PortSpec {
                        name: p.name.to_string(),
                        number: (u64::from(p.number) != super::count(i) + 1)
                            .then(|| u64::from(p.number)),
                        role: match p.role {
                            PortRole::Server => PortRoleSpec::Server,
                            PortRole::Fabric => PortRoleSpec::Fabric,
                        },
                    })
                    .collect(),
            })
            .collect();
        TopologySpec {
            fabric: FabricSpec {
                name: self.name.to_string(),
                encapsulation: match self.encapsulation {
                    Encapsulation::Vxlan => EncapsulationSpec::Vxlan,
                    Encapsulation::Vlan => EncapsulationSpec::Vlan,
                },
                reserved: ReservedSpec {
                    vni: self.reserved_vni.iter().map(ToString::to_string).collect(),
                    vlan: self.reserved_vlan.iter().map(ToString::to_string).collect(),
                },
            },
            sites: self
                .sites
                .iter()
                .map(|s| SiteSpec {
                    name: s.name.to_string(),
                    racks: s
                        .racks
                        .iter()
                        .map(|r| RackSpec {
                            name: r.to_string(),
                        })
                        .collect(),
                })
                .collect(),
            switches,
            servers: self
                .servers
                .iter()
                .map(|s| ServerSpec {
                    name: s.name.to_string(),
                    rack: s.rack.as_ref().map(ToString::to_string),
                    nics: s
                        .nics
                        .iter()
                        .map(|n| NicSpec {
                            name: n.name.to_string(),
                            port: self.port_ref(n.port),
                        })
                        .collect(),
                })
                .collect(),
            links: self
                .links
                .iter()
                .map(|l| LinkSpec {
                    a: self.port_ref(l.a),
                    b: self.port_ref(l.b),
                })
                .collect(),
        }
    }
}

impl Intent {
    /// The document describing this intent (operators and networks by
    /// name, ports in topology order, identifiers explicit).
    pub fn to_spec(&self, topo: &Topology) -> IntentSpec {
        let defaults = Quotas::default();
        let non_default = |v: u32, d: u32| (v != d).then_some(u64::from(v));
        IntentSpec {
            operators: self
                .operators
                .values()
                .map(|op| OperatorSpec {
                    name: op.name.to_string(),
                    display_name: op.display_name.clone(),
                    lease: op.lease.as_ref().map(|l| LeaseSpec {
                        ports: l.ports.iter().map(|p| topo.port_ref(*p)).collect(),
                        vni: l.vni.to_string(),
                        vlan: l.vlan.map(|r| r.to_string()),
                        quotas: QuotasSpec {
                            networks: non_default(l.quotas.networks, defaults.networks),
                            attachments: non_default(l.quotas.attachments, defaults.attachments),
                            entries_per_switch: non_default(
                                l.quotas.entries_per_switch,
                                defaults.entries_per_switch,
                            ),
                        },
                    }),
                    networks: op
                        .networks
                        .values()
                        .map(|n| NetworkSpec {
                            name: n.name.to_string(),
                            vni: Some(u64::from(n.vni)),
                            fabric_vlan: n.fabric_vlan.map(u64::from),
                            attachments: n
                                .attachments
                                .iter()
                                .map(|(port, mode)| AttachmentSpec {
                                    port: topo.port_ref(*port),
                                    mode: match mode {
                                        AttachMode::Access => AttachModeSpec::Access,
                                        AttachMode::Tagged(tag) => {
                                            AttachModeSpec::Tagged(u64::from(*tag))
                                        }
                                    },
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
