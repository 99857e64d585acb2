//! The physical facts the interpreter follows frames across: what each
//! port leads to, and which switch answers to which VTEP address. Copied
//! out of the [`Topology`] once so the verifier owns what it needs.

use std::net::Ipv4Addr;

use weft_model::{
    Encapsulation, PortKey, PortNo, PortRole, SwitchId, SwitchRole, Topology, VXLAN_TUNNEL_PORT,
};

/// What an output to a port of a switch does with the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortLead {
    /// A server port: the frame is delivered to whatever is cabled there.
    Server,
    /// A fabric port cabled to another switch's port.
    Link(PortKey),
    /// A fabric port with no cable in the topology.
    Unlinked,
}

#[derive(Debug, Clone)]
pub(crate) struct FabricSwitch {
    pub name: String,
    pub leaf: bool,
    pub vtep: Option<Ipv4Addr>,
    /// Sorted by port number.
    pub ports: Vec<(PortNo, PortLead, String)>,
}

impl FabricSwitch {
    pub(crate) fn lead(&self, port: PortNo) -> Option<PortLead> {
        self.ports
            .binary_search_by_key(&port, |p| p.0)
            .ok()
            .map(|i| self.ports[i].1)
    }

    /// Whether the switch has the flow-based VXLAN port.
    pub(crate) fn has_tunnel_port(&self) -> bool {
        self.vtep.is_some()
    }

    /// Every port an `ALL`/`FLOOD` output considers, in port order.
    pub(crate) fn all_ports(&self) -> impl Iterator<Item = PortNo> + '_ {
        self.ports
            .iter()
            .map(|p| p.0)
            .chain(self.has_tunnel_port().then_some(VXLAN_TUNNEL_PORT))
    }

    pub(crate) fn port_name(&self, port: PortNo) -> String {
        if port == VXLAN_TUNNEL_PORT && self.has_tunnel_port() {
            return "vxlan".to_owned();
        }
        match self.ports.binary_search_by_key(&port, |p| p.0) {
            Ok(i) => self.ports[i].2.clone(),
            Err(_) => format!("#{port}"),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Fabric {
    pub vxlan: bool,
    pub switches: Vec<FabricSwitch>,
    pub by_vtep: crate::memo::FxMap<u32, SwitchId>,
}

impl Fabric {
    pub(crate) fn new(topo: &Topology) -> Fabric {
        let switches: Vec<FabricSwitch> = topo
            .switches
            .iter()
            .map(|sw| FabricSwitch {
                name: sw.name.to_string(),
                leaf: sw.role == SwitchRole::Leaf,
                vtep: sw.vtep,
                ports: sw
                    .ports
                    .iter()
                    .map(|p| {
                        let lead = match (p.role, p.peer) {
                            (PortRole::Server, _) => PortLead::Server,
                            (PortRole::Fabric, Some(peer)) => PortLead::Link(peer),
                            (PortRole::Fabric, None) => PortLead::Unlinked,
                        };
                        (p.number, lead, p.name.to_string())
                    })
                    .collect(),
            })
            .collect();
        let by_vtep = topo
            .switch_ids()
            .filter_map(|id| topo.switch(id).vtep.map(|a| (u32::from(a), id)))
            .collect();
        Fabric {
            vxlan: topo.encapsulation == Encapsulation::Vxlan,
            switches,
            by_vtep,
        }
    }

    pub(crate) fn switch(&self, id: SwitchId) -> &FabricSwitch {
        &self.switches[id.index()]
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = SwitchId> + '_ {
        (0..self.switches.len()).map(|i| SwitchId(u32::try_from(i).unwrap_or(u32::MAX)))
    }

    pub(crate) fn port_ref(&self, key: PortKey) -> String {
        let sw = self.switch(key.switch);
        format!("{}/{}", sw.name, sw.port_name(key.port))
    }

    pub(crate) fn server_ports(&self) -> impl Iterator<Item = PortKey> + '_ {
        self.ids().flat_map(move |s| {
            self.switch(s)
                .ports
                .iter()
                .filter(|p| p.1 == PortLead::Server)
                .map(move |p| PortKey {
                    switch: s,
                    port: p.0,
                })
        })
    }
}
