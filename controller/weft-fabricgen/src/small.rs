//! A small, hand-readable leaf/spine layout for tests: `leaf1`… with server
//! ports `s1`… and uplinks `u1`… (one per spine), `spine1`… with ports
//! `d1`… (one per leaf), no servers or racks. Unlike [`crate::generate`] it
//! takes no parameters beyond the counts, so tests can name ports directly
//! (`leaf2/s3`).

use weft_model::spec::{
    DataplaneSpec, EncapsulationSpec, FabricSpec, LinkSpec, PortRoleSpec, PortSpec, SwitchRoleSpec,
    SwitchSpec, TopologySpec,
};

/// The layout described in the module docs. In `vxlan` fabrics leaf `l`
/// gets VTEP `10.0.{l / 200}.{l % 200 + 1}`.
pub fn leaf_spine(
    encapsulation: EncapsulationSpec,
    leaves: usize,
    spines: usize,
    server_ports: usize,
) -> TopologySpec {
    let port = |name: String, role| PortSpec {
        name,
        number: None,
        role,
    };
    let mut switches = Vec::with_capacity(leaves + spines);
    let mut links = Vec::with_capacity(leaves * spines);
    for l in 1..=leaves {
        let mut ports: Vec<PortSpec> = (1..=server_ports)
            .map(|p| port(format!("s{p}"), PortRoleSpec::Server))
            .collect();
        ports.extend((1..=spines).map(|s| port(format!("u{s}"), PortRoleSpec::Fabric)));
        switches.push(SwitchSpec {
            name: format!("leaf{l}"),
            rack: None,
            role: SwitchRoleSpec::Leaf,
            dataplane: DataplaneSpec::Ovs,
            vtep: (encapsulation == EncapsulationSpec::Vxlan)
                .then(|| format!("10.0.{}.{}", l / 200, l % 200 + 1)),
            management: None,
            ports,
        });
        links.extend((1..=spines).map(|s| LinkSpec {
            a: format!("leaf{l}/u{s}"),
            b: format!("spine{s}/d{l}"),
        }));
    }
    switches.extend((1..=spines).map(|s| {
        SwitchSpec {
            name: format!("spine{s}"),
            rack: None,
            role: SwitchRoleSpec::Spine,
            dataplane: DataplaneSpec::Ovs,
            vtep: None,
            management: None,
            ports: (1..=leaves)
                .map(|l| port(format!("d{l}"), PortRoleSpec::Fabric))
                .collect(),
        }
    }));
    TopologySpec {
        fabric: FabricSpec {
            name: "test".to_owned(),
            encapsulation,
            reserved: Default::default(),
        },
        sites: Vec::new(),
        switches,
        servers: Vec::new(),
        links,
    }
}

#[cfg(test)]
mod tests {
    use weft_model::{SwitchRole, Topology};

    use super::*;

    #[test]
    fn layout_validates_and_is_named_as_documented() {
        for encap in [EncapsulationSpec::Vxlan, EncapsulationSpec::Vlan] {
            let topo = Topology::from_spec(&leaf_spine(encap, 3, 2, 4))
                .unwrap_or_else(|v| panic!("{v:?}"));
            assert_eq!(topo.leaves().count(), 3);
            assert_eq!(
                topo.switches
                    .iter()
                    .filter(|s| s.role == SwitchRole::Spine)
                    .count(),
                2
            );
            assert_eq!(topo.links.len(), 6);
            assert!(topo.resolve_port("leaf3/s4").is_some());
            assert!(topo.resolve_port("spine2/d3").is_some());
        }
    }
}
