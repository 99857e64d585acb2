//! The rtnetlink side: a connection opened inside the leaf's namespace,
//! dumps, and the exact messages Weft sends.
//!
//! A netlink socket belongs to the network namespace of the thread that
//! created it, for its whole life. The connection therefore lives on a
//! dedicated thread that first enters the namespace (`setns`, through
//! `nix`'s safe wrapper: the workspace forbids `unsafe`), then creates the
//! socket and drives the connection on its own single-threaded runtime.
//! Callers hold a [`rtnetlink::Handle`], which is only a channel to that
//! thread, so it works from any runtime and the agent's own threads never
//! change namespace.
//!
//! Messages are built by plain functions ([`new_bridge`], [`new_vxlan`],
//! [`fdb_append`]…) so tests can check their bytes-level content without a
//! kernel. rtnetlink's builders are not used for changes because the FDB
//! append needs `NLM_F_APPEND`, which they do not offer, and because one
//! place building every message keeps them uniform (alias, flags, up).

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;

use futures_util::StreamExt;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, BridgeStpState, In6AddrGenMode, InfoBridge, InfoData, InfoKind,
    InfoVlan, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::sched::CloneFlags;
use rtnetlink::Handle;

use super::kernel::{FdbEntry, Kernel, parse_fdb, parse_link};
use crate::backend::BackendError;

/// The UDP port of every VXLAN device Weft creates.
pub const VXLAN_PORT: u16 = 4789;

/// `EOPNOTSUPP`: what the kernel answers for a link kind it lacks.
pub const EOPNOTSUPP: i32 = 95;
/// `EEXIST`.
pub const EEXIST: i32 = 17;

/// One change: the message, its `NLM_F_*` flags beyond request/ack, and
/// what it does in words (for errors and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub message: RouteNetlinkMessage,
    pub flags: u16,
    pub what: String,
}

/// A netlink change the kernel rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message} (errno {errno})")]
pub struct NlError {
    pub what: String,
    pub errno: i32,
    pub message: String,
}

/// The connection to one namespace's rtnetlink. Dropping it stops the
/// connection thread.
#[derive(Debug)]
pub struct Netlink {
    handle: Handle,
    // Dropped with `Netlink`: the thread sees the channel close and ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Netlink {
    /// Opens a connection inside `/run/netns/<netns>` (or the current
    /// namespace for `None`).
    pub fn open(netns: Option<&str>) -> Result<Netlink, BackendError> {
        let path = netns.map(|n| Path::new("/run/netns").join(n));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("weft-netlink".into())
            .spawn(move || {
                let setup = || -> Result<_, String> {
                    if let Some(path) = &path {
                        let ns = File::open(path)
                            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                        nix::sched::setns(ns, CloneFlags::CLONE_NEWNET)
                            .map_err(|e| format!("cannot enter {}: {e}", path.display()))?;
                    }
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_io()
                        .build()
                        .map_err(|e| format!("netlink runtime: {e}"))?;
                    // The socket registers with the runtime that creates it.
                    let (conn, handle, _) = rt
                        .block_on(async { rtnetlink::new_connection() })
                        .map_err(|e| format!("netlink socket: {e}"))?;
                    Ok((rt, conn, handle))
                };
                match setup() {
                    Ok((rt, conn, handle)) => {
                        if ready_tx.send(Ok(handle)).is_ok() {
                            rt.block_on(async {
                                tokio::select! {
                                    () = conn => {}
                                    _ = stop_rx => {}
                                }
                            });
                        }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| BackendError::Unavailable(format!("cannot start netlink thread: {e}")))?;
        drop(spawned);
        let handle = ready_rx
            .recv()
            .map_err(|_| BackendError::Unavailable("netlink thread died".into()))?
            .map_err(BackendError::Unavailable)?;
        Ok(Netlink {
            handle,
            _stop: stop_tx,
        })
    }

    /// Dumps links and the bridge FDB.
    pub async fn snapshot(&self) -> Result<Kernel, BackendError> {
        let mut kernel = Kernel::default();
        let mut get = LinkMessage::default();
        get.header.interface_family = AddressFamily::Unspec;
        for msg in self
            .dump(RouteNetlinkMessage::GetLink(get), "dump links")
            .await?
        {
            if let RouteNetlinkMessage::NewLink(l) = msg
                && let Some(link) = parse_link(&l)
            {
                kernel.insert_link(link);
            }
        }
        let mut get = NeighbourMessage::default();
        get.header.family = AddressFamily::Bridge;
        for msg in self
            .dump(RouteNetlinkMessage::GetNeighbour(get), "dump fdb")
            .await?
        {
            if let RouteNetlinkMessage::NewNeighbour(n) = msg
                && let Some(e) = parse_fdb(&n)
                && e.is_self
            {
                kernel.fdb.push(e);
            }
        }
        kernel.fdb.sort();
        Ok(kernel)
    }

    async fn dump(
        &self,
        message: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, BackendError> {
        let mut req = NetlinkMessage::from(message);
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut handle = self.handle.clone();
        let mut responses = handle
            .request(req)
            .map_err(|e| BackendError::Unavailable(format!("{what}: {e}")))?;
        let mut out = Vec::new();
        while let Some(msg) = responses.next().await {
            match msg.payload {
                NetlinkPayload::InnerMessage(m) => out.push(m),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(BackendError::Unavailable(format!("{what}: {e}")));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Sends one change and waits for the kernel's acknowledgement.
    pub async fn execute(&self, request: Request) -> Result<(), NlError> {
        let Request {
            message,
            flags,
            what,
        } = request;
        let mut req = NetlinkMessage::from(message);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        let mut handle = self.handle.clone();
        let mut responses = handle.request(req).map_err(|e| NlError {
            what: what.clone(),
            errno: 0,
            message: e.to_string(),
        })?;
        while let Some(msg) = responses.next().await {
            if let NetlinkPayload::Error(e) = msg.payload
                && e.code.is_some()
            {
                return Err(NlError {
                    what,
                    errno: -e.raw_code(),
                    message: e.to_io().to_string(),
                });
            }
        }
        Ok(())
    }
}

fn new_link(name: &str, up: bool) -> LinkMessage {
    let mut m = LinkMessage::default();
    if up {
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
    }
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m
}

/// `ip link set dev INDEX alias ALIAS addrgenmode none`, right after
/// creation: Weft's ownership mark (the kernel ignores `IFLA_IFALIAS` in
/// `RTM_NEWLINK`) and no IPv6 link-local address, which would otherwise
/// send the leaf's own router and multicast listener solicitations into
/// operators' networks. It must come before the link has carrier or is up
/// (`IFLA_AF_SPEC` in `RTM_NEWLINK` fails with `EAFNOSUPPORT`, and an
/// address made at `up` would stay).
pub fn mark(index: u32, name: &str, alias: &str) -> Request {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::IfAlias(alias.to_string()));
    m.attributes
        .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
            vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
        )]));
    Request {
        message: RouteNetlinkMessage::SetLink(m),
        flags: 0,
        what: format!("mark {name} \"{alias}\""),
    }
}

/// `ip link add NAME type bridge stp_state 0 mcast_snooping 0`, down;
/// followed by [`mark`], then [`set_up`]. `vlan_filtering` is not sent:
/// it is off by default, and kernels without bridge VLAN support reject
/// the attribute even when it says 0.
pub fn new_bridge(name: &str) -> Request {
    let mut m = new_link(name, false);
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Bridge),
        LinkInfo::Data(InfoData::Bridge(vec![
            InfoBridge::StpState(BridgeStpState::Disabled),
            InfoBridge::MulticastSnooping(false),
        ])),
    ]));
    Request {
        message: RouteNetlinkMessage::NewLink(m),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        what: format!("create bridge {name}"),
    }
}

/// `ip link add NAME type vxlan id VNI local LOCAL dstport 4789 nolearning
/// master MASTER` (no default remote: the
/// flood list is the FDB). Created down when `up` is false, so it carries
/// no traffic before its nftables guards exist.
pub fn new_vxlan(name: &str, vni: u32, local: Ipv4Addr, master: u32, up: bool) -> Request {
    let mut m = new_link(name, up);
    m.attributes.push(LinkAttribute::Controller(master));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Vxlan),
        LinkInfo::Data(InfoData::Vxlan(vec![
            InfoVxlan::Id(vni),
            InfoVxlan::Local(local),
            InfoVxlan::Port(VXLAN_PORT),
            InfoVxlan::Learning(false),
        ])),
    ]));
    Request {
        message: RouteNetlinkMessage::NewLink(m),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        what: format!("create vxlan {name} id {vni}"),
    }
}

/// `ip link add link PARENT name NAME type vlan id VID master MASTER`: an
/// 802.1Q sub-interface (tagged attachments, trunks), created down like
/// VXLAN devices. Followed by [`mark`].
pub fn new_subif(name: &str, parent: u32, vid: u16, master: u32) -> Request {
    let mut m = new_link(name, false);
    m.attributes.push(LinkAttribute::Link(parent));
    m.attributes.push(LinkAttribute::Controller(master));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Vlan),
        LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(vid)])),
    ]));
    Request {
        message: RouteNetlinkMessage::NewLink(m),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        what: format!("create 802.1Q sub-interface {name} vid {vid}"),
    }
}

/// `ip link set dev INDEX master MASTER` (`master == 0`: nomaster).
pub fn set_master(index: u32, name: &str, master: u32) -> Request {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::Controller(master));
    Request {
        message: RouteNetlinkMessage::SetLink(m),
        flags: 0,
        what: if master == 0 {
            format!("release {name} from its bridge")
        } else {
            format!("enslave {name}")
        },
    }
}

/// `ip link set dev INDEX up`.
pub fn set_up(index: u32, name: &str) -> Request {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    Request {
        message: RouteNetlinkMessage::SetLink(m),
        flags: 0,
        what: format!("set {name} up"),
    }
}

/// `ip link del dev INDEX`.
pub fn del_link(index: u32, name: &str) -> Request {
    let mut m = LinkMessage::default();
    m.header.index = index;
    Request {
        message: RouteNetlinkMessage::DelLink(m),
        flags: 0,
        what: format!("delete {name}"),
    }
}

fn fdb_message(index: u32, mac: [u8; 6], dst: Option<Ipv4Addr>) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.header.ifindex = index;
    m.header.state = NeighbourState::Permanent;
    m.header.flags = NeighbourFlags::Own;
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    if let Some(dst) = dst {
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
    }
    m
}

/// `bridge fdb append 00:00:00:00:00:00 dev INDEX dst DST self permanent`:
/// one more remote VTEP in the device's flood list. `NLM_F_APPEND` is what
/// lets several all-zeros entries coexist.
pub fn fdb_append(index: u32, name: &str, dst: Ipv4Addr) -> Request {
    Request {
        message: RouteNetlinkMessage::NewNeighbour(fdb_message(index, [0; 6], Some(dst))),
        flags: NLM_F_CREATE | NLM_F_APPEND,
        what: format!("fdb append 00:00:00:00:00:00 dev {name} dst {dst}"),
    }
}

/// `bridge fdb del MAC dev INDEX dst DST self` for an entry read back.
pub fn fdb_del(entry: &FdbEntry, name: &str) -> Request {
    let mut m = fdb_message(entry.ifindex, entry.mac, entry.dst);
    if let Some(v) = entry.vni {
        m.attributes.push(NeighbourAttribute::Vni(v));
    }
    if let Some(p) = entry.port {
        m.attributes.push(NeighbourAttribute::Port(p));
    }
    if let Some(i) = entry.via {
        m.attributes.push(NeighbourAttribute::IfIndex(i));
    }
    let mac = entry
        .mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let dst = entry.dst.map(|d| format!(" dst {d}")).unwrap_or_default();
    Request {
        message: RouteNetlinkMessage::DelNeighbour(m),
        flags: 0,
        what: format!("fdb del {mac} dev {name}{dst}"),
    }
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::{Emitable, NetlinkHeader};

    use super::*;

    fn bytes(r: &Request) -> Vec<u8> {
        let mut msg = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::InnerMessage(r.message.clone()),
        );
        msg.header.flags = NLM_F_REQUEST | NLM_F_ACK | r.flags;
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.emit(&mut buf);
        buf
    }

    /// Finds a top-level attribute (type `ty`) after the fixed header of
    /// `hdr` bytes and returns its payload.
    fn attr(buf: &[u8], hdr: usize, ty: u16) -> Option<Vec<u8>> {
        let mut at = 16 + hdr;
        while at + 4 <= buf.len() {
            let len = usize::from(u16::from_ne_bytes([buf[at], buf[at + 1]]));
            let t = u16::from_ne_bytes([buf[at + 2], buf[at + 3]]) & 0x3fff;
            if len < 4 {
                return None;
            }
            if t == ty {
                return Some(buf[at + 4..at + len].to_vec());
            }
            at += (len + 3) & !3;
        }
        None
    }

    const IFINFOMSG: usize = 16;
    const NDMSG: usize = 12;

    #[test]
    fn fdb_append_is_a_permanent_self_entry_appended_not_replaced() {
        let r = fdb_append(7, "weftv0003e8", Ipv4Addr::new(10, 0, 0, 11));
        let b = bytes(&r);
        // RTM_NEWNEIGH, flags request|ack|create|append and never replace/excl.
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 28);
        let flags = u16::from_ne_bytes([b[6], b[7]]);
        assert_eq!(
            flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND
        );
        // ndmsg: family AF_BRIDGE (7), ifindex 7, state NUD_PERMANENT, NTF_SELF.
        assert_eq!(b[16], 7);
        assert_eq!(u32::from_ne_bytes([b[20], b[21], b[22], b[23]]), 7);
        assert_eq!(u16::from_ne_bytes([b[24], b[25]]), 0x80);
        assert_eq!(b[26], 0x02);
        assert_eq!(attr(&b, NDMSG, 2), Some(vec![0; 6]), "NDA_LLADDR");
        assert_eq!(attr(&b, NDMSG, 1), Some(vec![10, 0, 0, 11]), "NDA_DST");
    }

    #[test]
    fn fdb_delete_names_the_exact_entry_read_back() {
        let e = FdbEntry {
            ifindex: 9,
            mac: [0; 6],
            dst: Some(Ipv4Addr::new(10, 9, 9, 9)),
            vni: Some(5),
            port: None,
            via: None,
            is_self: true,
        };
        let r = fdb_del(&e, "weftv000001");
        let b = bytes(&r);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 29, "RTM_DELNEIGH");
        assert_eq!(attr(&b, NDMSG, 1), Some(vec![10, 9, 9, 9]));
        assert_eq!(
            attr(&b, NDMSG, 7),
            Some(5u32.to_ne_bytes().to_vec()),
            "NDA_VNI"
        );
        assert_eq!(
            r.what,
            "fdb del 00:00:00:00:00:00 dev weftv000001 dst 10.9.9.9"
        );
    }

    fn linkinfo_kind(b: &[u8]) -> String {
        let info = attr(b, IFINFOMSG, 18).unwrap();
        // First nested attribute: IFLA_INFO_KIND.
        let len = usize::from(u16::from_ne_bytes([info[0], info[1]]));
        assert_eq!(u16::from_ne_bytes([info[2], info[3]]), 1);
        String::from_utf8(info[4..len].to_vec())
            .unwrap()
            .trim_end_matches('\0')
            .to_string()
    }

    #[test]
    fn the_mark_sets_the_alias_and_no_ipv6_addresses() {
        let b = bytes(&mark(5, "weftb0003e8", "weft:bridge vni=1000"));
        assert_eq!(
            attr(&b, IFINFOMSG, 20).unwrap(),
            b"weft:bridge vni=1000\0".to_vec(),
            "IFLA_IFALIAS"
        );
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 19, "RTM_SETLINK");
        assert_eq!(u32::from_ne_bytes([b[20], b[21], b[22], b[23]]), 5);
        // IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE = NONE (1) } }.
        let spec = attr(&b, IFINFOMSG, 26).unwrap();
        assert_eq!(
            u16::from_ne_bytes([spec[2], spec[3]]) & 0x3fff,
            10,
            "AF_INET6"
        );
        assert_eq!(
            u16::from_ne_bytes([spec[6], spec[7]]),
            8,
            "IFLA_INET6_ADDR_GEN_MODE"
        );
        assert_eq!(spec[8], 1);
    }

    #[test]
    fn subinterface_message_carries_parent_vid_and_master() {
        let r = new_subif("weft0003t00a", 4, 10, 12);
        let b = bytes(&r);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 16, "RTM_NEWLINK");
        assert_eq!(
            u16::from_ne_bytes([b[6], b[7]]),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        );
        assert_eq!(linkinfo_kind(&b), "vlan");
        assert_eq!(
            attr(&b, IFINFOMSG, 5),
            Some(4u32.to_ne_bytes().to_vec()),
            "IFLA_LINK"
        );
        assert_eq!(
            attr(&b, IFINFOMSG, 10),
            Some(12u32.to_ne_bytes().to_vec()),
            "IFLA_MASTER"
        );
        assert_eq!(
            attr(&b, IFINFOMSG, 3).unwrap(),
            b"weft0003t00a\0".to_vec(),
            "IFLA_IFNAME"
        );
        // IFLA_INFO_DATA holds IFLA_VLAN_ID = 10.
        let info = attr(&b, IFINFOMSG, 18).unwrap();
        let data_at = (usize::from(u16::from_ne_bytes([info[0], info[1]])) + 3) & !3;
        let data = &info[data_at..];
        assert_eq!(
            u16::from_ne_bytes([data[2], data[3]]) & 0x3fff,
            2,
            "IFLA_INFO_DATA"
        );
        assert_eq!(u16::from_ne_bytes([data[6], data[7]]), 1, "IFLA_VLAN_ID");
        assert_eq!(u16::from_ne_bytes([data[8], data[9]]), 10);
        // Down until its drops exist.
        assert_eq!(u32::from_ne_bytes([b[24], b[25], b[26], b[27]]) & 1, 0);
    }

    #[test]
    fn vxlan_is_created_down_when_asked_and_without_learning() {
        let r = new_vxlan("weftv0003e8", 1000, Ipv4Addr::new(10, 0, 0, 12), 3, false);
        let b = bytes(&r);
        assert_eq!(linkinfo_kind(&b), "vxlan");
        assert_eq!(
            u32::from_ne_bytes([b[24], b[25], b[26], b[27]]) & 1,
            0,
            "down"
        );
        assert_eq!(attr(&b, IFINFOMSG, 10), Some(3u32.to_ne_bytes().to_vec()));
        let RouteNetlinkMessage::NewLink(m) = &r.message else {
            panic!("not a link message")
        };
        let data = m.attributes.iter().find_map(|a| match a {
            LinkAttribute::LinkInfo(i) => i.iter().find_map(|x| match x {
                LinkInfo::Data(InfoData::Vxlan(v)) => Some(v.clone()),
                _ => None,
            }),
            _ => None,
        });
        let data = data.unwrap();
        assert!(data.contains(&InfoVxlan::Learning(false)));
        assert!(data.contains(&InfoVxlan::Port(4789)));
        assert!(
            !data.iter().any(|a| matches!(a, InfoVxlan::Group(_))),
            "no default remote"
        );
    }
}
