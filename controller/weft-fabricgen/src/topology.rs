//! The physical half: a leaf/spine Clos fabric, one leaf per rack.

use std::net::Ipv4Addr;

use weft_model::spec::{
    DataplaneSpec, EncapsulationSpec, FabricSpec, LinkSpec, NicSpec, PortRoleSpec, PortSpec,
    RackSpec, ReservedSpec, ServerSpec, SiteSpec, SwitchRoleSpec, SwitchSpec, TopologySpec,
};

use crate::names::Names;
use crate::params::FabricParams;

/// The first VTEP address; leaf `i` gets this plus `i`.
const FIRST_VTEP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// VNIs below this are kept by the facility (`fabric.reserved.vni`).
pub const RESERVED_VNI_END: u32 = 9_999;

pub(crate) fn servers_per_leaf(params: &FabricParams) -> usize {
    if params.servers {
        params.server_ports.div_ceil(2)
    } else {
        0
    }
}

pub(crate) fn topology(params: &FabricParams, names: &Names) -> TopologySpec {
    let vxlan = params.encapsulation == EncapsulationSpec::Vxlan;
    let mut switches = Vec::with_capacity(params.leaves + params.spines);
    for leaf in 0..params.leaves {
        let mut ports: Vec<PortSpec> = (1..=params.server_ports)
            .map(|n| PortSpec {
                name: Names::port(n),
                number: None,
                role: PortRoleSpec::Server,
            })
            .collect();
        ports.extend((1..=params.spines).map(|s| PortSpec {
            name: Names::port(params.server_ports + s),
            number: None,
            role: PortRoleSpec::Fabric,
        }));
        switches.push(SwitchSpec {
            name: names.leaf(leaf),
            rack: Some(names.rack(leaf)),
            role: SwitchRoleSpec::Leaf,
            // Both data planes, so that every generated fabric exercises both
            // agents' lowering paths.
            dataplane: if leaf % 2 == 0 {
                DataplaneSpec::Ovs
            } else {
                DataplaneSpec::Linux
            },
            vtep: vxlan.then(|| vtep(leaf).to_string()),
            management: None,
            ports,
        });
    }
    for spine in 0..params.spines {
        switches.push(SwitchSpec {
            name: names.spine(spine),
            rack: None,
            role: SwitchRoleSpec::Spine,
            dataplane: DataplaneSpec::Ovs,
            vtep: None,
            management: None,
            ports: (1..=params.leaves)
                .map(|n| PortSpec {
                    name: Names::port(n),
                    number: None,
                    role: PortRoleSpec::Fabric,
                })
                .collect(),
        });
    }

    let links = (0..params.leaves)
        .flat_map(|leaf| (0..params.spines).map(move |spine| (leaf, spine)))
        .map(|(leaf, spine)| LinkSpec {
            a: format!(
                "{}/{}",
                names.leaf(leaf),
                Names::port(params.server_ports + spine + 1)
            ),
            b: format!("{}/{}", names.spine(spine), Names::port(leaf + 1)),
        })
        .collect();

    let per_leaf = servers_per_leaf(params);
    let servers = (0..params.leaves)
        .flat_map(|leaf| (0..per_leaf).map(move |server| (leaf, server)))
        .map(|(leaf, server)| ServerSpec {
            name: names.server(leaf, server),
            rack: Some(names.rack(leaf)),
            nics: (0..2)
                .map(|nic| (nic, 2 * server + nic))
                .filter(|(_, position)| *position < params.server_ports)
                .map(|(nic, position)| NicSpec {
                    name: format!("eth{nic}"),
                    port: names.leaf_port_ref(leaf, position),
                })
                .collect(),
        })
        .collect();

    TopologySpec {
        fabric: FabricSpec {
            name: params.name.clone(),
            encapsulation: params.encapsulation,
            reserved: ReservedSpec {
                vni: vec![format!("1-{RESERVED_VNI_END}")],
                vlan: if vxlan {
                    Vec::new()
                } else {
                    vec!["1".to_owned()]
                },
            },
        },
        sites: vec![SiteSpec {
            name: "dc1".to_owned(),
            racks: (0..params.leaves)
                .map(|leaf| RackSpec {
                    name: names.rack(leaf),
                })
                .collect(),
        }],
        switches,
        servers,
        links,
    }
}

/// Leaf `leaf`'s VTEP: `10.0.0.1` for the first, counting up.
fn vtep(leaf: usize) -> Ipv4Addr {
    let offset = u32::try_from(leaf).unwrap_or(u32::MAX);
    Ipv4Addr::from(u32::from(FIRST_VTEP).saturating_add(offset))
}
