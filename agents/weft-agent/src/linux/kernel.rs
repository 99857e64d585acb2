//! What the kernel holds, read back from netlink dumps: links and the
//! `AF_BRIDGE` forwarding database. Parsed once here into plain values, so
//! planning and observation never look at netlink types.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVlan, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};

use super::names::Alias;

/// The VXLAN attributes Weft sets and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanInfo {
    pub id: u32,
    pub local: Option<Ipv4Addr>,
    /// UDP destination port (host order).
    pub port: u16,
    pub learning: bool,
    /// `external` / collect-metadata devices carry any VNI.
    pub external: bool,
}

/// One link, as much of it as Weft looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND` (`bridge`, `vxlan`, `vlan`, `veth`…); `None` for
    /// kindless devices (loopback, most physical NICs).
    pub kind: Option<String>,
    pub alias: Option<String>,
    /// `IFLA_MASTER`.
    pub master: Option<u32>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// `IFLA_LINK` (the parent of an 802.1Q sub-interface).
    pub parent: Option<u32>,
    pub vlan_id: Option<u16>,
    pub vxlan: Option<VxlanInfo>,
    /// (packets, bytes) received.
    pub rx: (u64, u64),
}

impl Link {
    /// Weft's mark on this link: its alias parses and its kind is the one
    /// that alias calls for. Anything else is foreign.
    pub fn owned(&self) -> Option<Alias> {
        let alias = Alias::parse(self.alias.as_deref()?)?;
        (self.kind.as_deref() == Some(alias.kind())).then_some(alias)
    }

    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some("bridge")
    }
}

/// One forwarding-database entry of the `AF_BRIDGE` dump.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FdbEntry {
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// `NDA_DST` (the remote VTEP of a VXLAN entry).
    pub dst: Option<Ipv4Addr>,
    /// Per-entry overrides of a VXLAN entry (`NDA_VNI`, `NDA_PORT`,
    /// `NDA_IFINDEX`).
    pub vni: Option<u32>,
    pub port: Option<u16>,
    pub via: Option<u32>,
    /// `NTF_SELF`: held by the device itself (VXLAN FDB), as opposed to
    /// `NTF_MASTER` entries of the bridge's own table.
    pub is_self: bool,
}

impl FdbEntry {
    /// The all-zeros entry that adds `dst` to a VXLAN device's flood list,
    /// with no per-entry override: the only kind Weft installs.
    pub fn is_plain_flood(&self) -> bool {
        self.is_self
            && self.mac == [0; 6]
            && self.dst.is_some()
            && self.vni.is_none()
            && self.port.is_none()
            && self.via.is_none()
    }
}

/// A snapshot of links and FDB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kernel {
    pub links: BTreeMap<u32, Link>,
    /// Device-held (`NTF_SELF`) entries only: the bridges' own learned
    /// entries say nothing about where Weft floods.
    pub fdb: Vec<FdbEntry>,
    names: BTreeMap<String, u32>,
}

impl Kernel {
    pub fn insert_link(&mut self, link: Link) {
        self.names.insert(link.name.clone(), link.index);
        self.links.insert(link.index, link);
    }

    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.names
            .get(name)
            .and_then(|i| self.links.get(i))
            .filter(|l| l.name == name)
    }

    pub fn link(&self, index: u32) -> Option<&Link> {
        self.links.get(&index)
    }

    /// The members of bridge `index`, in index order.
    pub fn members(&self, index: u32) -> impl Iterator<Item = &Link> {
        self.links.values().filter(move |l| l.master == Some(index))
    }

    /// The device-held FDB entries of link `index`, sorted.
    pub fn self_fdb(&self, index: u32) -> Vec<&FdbEntry> {
        let mut v: Vec<&FdbEntry> = self
            .fdb
            .iter()
            .filter(|e| e.is_self && e.ifindex == index)
            .collect();
        v.sort();
        v
    }
}

/// Reads the fields Weft uses from an `RTM_NEWLINK` dump message.
pub fn parse_link(msg: &LinkMessage) -> Option<Link> {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        kind: None,
        alias: None,
        master: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        parent: None,
        vlan_id: None,
        vxlan: None,
        rx: (0, 0),
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name.clone_from(n),
            LinkAttribute::IfAlias(a) => link.alias = Some(a.clone()),
            LinkAttribute::Controller(m) if *m != 0 => link.master = Some(*m),
            LinkAttribute::Link(p) if *p != 0 => link.parent = Some(*p),
            LinkAttribute::Stats64(s) => link.rx = (s.rx_packets, s.rx_bytes),
            LinkAttribute::LinkInfo(infos) => parse_info(infos, &mut link),
            _ => {}
        }
    }
    (!link.name.is_empty()).then_some(link)
}

fn parse_info(infos: &[LinkInfo], link: &mut Link) {
    for info in infos {
        match info {
            LinkInfo::Kind(kind) => link.kind = Some(kind_name(kind)),
            LinkInfo::Data(InfoData::Vlan(v)) => {
                for a in v {
                    if let InfoVlan::Id(id) = a {
                        link.vlan_id = Some(*id);
                    }
                }
            }
            LinkInfo::Data(InfoData::Vxlan(v)) => {
                let mut x = VxlanInfo {
                    id: 0,
                    local: None,
                    port: 0,
                    learning: true,
                    external: false,
                };
                for a in v {
                    match a {
                        InfoVxlan::Id(id) => x.id = *id,
                        InfoVxlan::Local(ip) => x.local = Some(*ip),
                        InfoVxlan::Port(p) => x.port = *p,
                        InfoVxlan::Learning(l) => x.learning = *l,
                        InfoVxlan::CollectMetadata(m) => x.external = *m,
                        _ => {}
                    }
                }
                link.vxlan = Some(x);
            }
            _ => {}
        }
    }
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Other(s) => s.clone(),
        k => k.to_string(),
    }
}

/// Reads an `AF_BRIDGE` `RTM_NEWNEIGH` dump message; `None` for entries
/// without a 6-byte link-layer address.
pub fn parse_fdb(msg: &NeighbourMessage) -> Option<FdbEntry> {
    let mut e = FdbEntry {
        ifindex: msg.header.ifindex,
        mac: [0; 6],
        dst: None,
        vni: None,
        port: None,
        via: None,
        is_self: msg.header.flags.contains(NeighbourFlags::Own),
    };
    let mut have_mac = false;
    for attr in &msg.attributes {
        match attr {
            NeighbourAttribute::LinkLayerAddress(mac) => {
                if let Ok(m) = <[u8; 6]>::try_from(mac.as_slice()) {
                    e.mac = m;
                    have_mac = true;
                }
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => e.dst = Some(*ip),
            // AF_BRIDGE messages carry the VTEP address as raw bytes.
            NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                if let Ok(o) = <[u8; 4]>::try_from(b.as_slice()) {
                    e.dst = Some(Ipv4Addr::from(o));
                }
            }
            NeighbourAttribute::Vni(v) => e.vni = Some(*v),
            NeighbourAttribute::Port(p) => e.port = Some(*p),
            NeighbourAttribute::IfIndex(i) => e.via = Some(*i),
            _ => {}
        }
    }
    have_mac.then_some(e)
}
