//! The validated physical fabric.
//!
//! Built only by [`Topology::from_spec`] (see `validate`), so every value
//! here is consistent: names are unique, links join existing fabric ports,
//! server NICs sit on server ports of leaves, VTEPs are unique.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ids::{Label, Name, PortNo, VlanRange, VniRange};

/// The OpenFlow port number of a leaf's VXLAN tunnel port (flow-based
/// `remote_ip`/`key`). Physical ports may not use it.
pub const VXLAN_TUNNEL_PORT: PortNo = match PortNo::new_const(65000) {
    Some(p) => p,
    None => panic!("65000 is a valid port number"),
};

/// Index of a switch in [`Topology::switches`] (sorted by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SwitchId(pub u32);

impl SwitchId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A port on a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortKey {
    pub switch: SwitchId,
    pub port: PortNo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encapsulation {
    Vxlan,
    Vlan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchRole {
    Leaf,
    Spine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataplane {
    Ovs,
    Linux,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortRole {
    Server,
    Fabric,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub name: Label,
    pub number: PortNo,
    pub role: PortRole,
    /// The port at the other end of the cable, for fabric ports that are linked.
    pub peer: Option<PortKey>,
    /// The server NIC cabled here, for server ports: (server, NIC).
    pub nic: Option<(Label, Label)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    pub name: Label,
    pub rack: Option<Name>,
    pub role: SwitchRole,
    pub dataplane: Dataplane,
    pub vtep: Option<Ipv4Addr>,
    pub management: Option<String>,
    /// Sorted by port number.
    pub ports: Vec<Port>,
}

impl Switch {
    pub fn port(&self, number: PortNo) -> Option<&Port> {
        self.ports
            .binary_search_by_key(&number, |p| p.number)
            .ok()
            .map(|i| &self.ports[i])
    }

    pub fn port_by_name(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.name.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    pub name: Name,
    pub racks: Vec<Name>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nic {
    pub name: Label,
    pub port: PortKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    pub name: Label,
    pub rack: Option<Name>,
    pub nics: Vec<Nic>,
}

/// A cable between two fabric ports; `a < b` so each link has one spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Link {
    pub a: PortKey,
    pub b: PortKey,
}

/// The validated fabric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub name: Name,
    pub encapsulation: Encapsulation,
    pub reserved_vni: Vec<VniRange>,
    pub reserved_vlan: Vec<VlanRange>,
    pub sites: Vec<Site>,
    /// Sorted by name; a [`SwitchId`] indexes this list.
    pub switches: Vec<Switch>,
    /// Sorted by name.
    pub servers: Vec<Server>,
    /// Sorted.
    pub links: Vec<Link>,
    #[serde(skip)]
    pub(crate) switch_index: BTreeMap<Label, SwitchId>,
}

impl Topology {
    pub fn switch(&self, id: SwitchId) -> &Switch {
        &self.switches[id.index()]
    }

    pub fn switch_id(&self, name: &str) -> Option<SwitchId> {
        self.switch_index.get(name).copied()
    }

    pub fn switch_ids(&self) -> impl Iterator<Item = SwitchId> + '_ {
        (0..self.switches.len()).map(|i| SwitchId(u32::try_from(i).unwrap_or(u32::MAX)))
    }

    pub fn leaves(&self) -> impl Iterator<Item = SwitchId> + '_ {
        self.switch_ids()
            .filter(|id| self.switch(*id).role == SwitchRole::Leaf)
    }

    pub fn port(&self, key: PortKey) -> Option<&Port> {
        self.switches
            .get(key.switch.index())
            .and_then(|s| s.port(key.port))
    }

    /// Resolves `SWITCH/PORT`.
    pub fn resolve_port(&self, reference: &str) -> Option<PortKey> {
        let (sw, port) = reference.split_once('/')?;
        let switch = self.switch_id(sw)?;
        let number = self.switch(switch).port_by_name(port)?.number;
        Some(PortKey {
            switch,
            port: number,
        })
    }

    /// `SWITCH/PORT` for a port key (for messages and files).
    pub fn port_ref(&self, key: PortKey) -> String {
        match self.port(key) {
            Some(p) => format!("{}/{}", self.switch(key.switch).name, p.name),
            None => format!("{}/#{}", self.switch(key.switch).name, key.port),
        }
    }

    /// The switch whose VTEP is `addr`.
    pub fn switch_by_vtep(&self, addr: Ipv4Addr) -> Option<SwitchId> {
        self.switch_ids()
            .find(|id| self.switch(*id).vtep == Some(addr))
    }
}
