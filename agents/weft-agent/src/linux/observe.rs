//! Read-back: the kernel's bridges, VXLAN devices, FDB and Weft's
//! nftables drops, lowered to the verifier's rule model (pure).
//!
//! Every bridge that Weft owns, and every foreign bridge holding a port of
//! the topology or a VXLAN device, becomes what `weft_pipeline::lower`
//! writes for a network: table-0 classification of each member, and a
//! table-2 flood over the members (plus the split-horizon rule when the
//! bridge takes traffic from a tunnel). For a clean state this is exactly
//! `lower_switch(entries)`; deviations show up as weaker rules, never as
//! silently dropped paths:
//!
//! * a member with no Weft drop filter classifies frames with any tag and
//!   skips the tag guard (`vlan=any`, `goto_table:2`): a Linux bridge
//!   forwards tagged frames unless something drops them;
//! * a VXLAN device whose VNI the nftables guard does not cover accepts
//!   any source (no `tun_src`);
//! * a foreign bridge gets a metadata value outside the VNI space
//!   ([`FOREIGN_METADATA`] + its ifindex) and cookie 0;
//! * a member that is not a topology port, a sub-interface of one, or a
//!   VXLAN device matches on [`weft_rules::Match::opaque`] and is output
//!   with [`Action::Opaque`];
//! * FDB entries with another MAC than all-zeros still add their `dst`
//!   to the flood (a unicast entry can send there), and a per-entry VNI
//!   override tunnels with that VNI.
//!
//! Not modelled: MAC learning (flooding over-approximates it), admin and
//! carrier state (a down link may come up without Weft), and the UDP port
//! override of an FDB entry.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use weft_model::topology::{PortRole, Switch};
use weft_model::{PortNo, VXLAN_TUNNEL_PORT, Vni};
use weft_pipeline::lower::{TABLE_CLASSIFY, TABLE_FLOOD, TABLE_TAG_GUARD, base_rules, priority};
use weft_rules::{Action, Cookie, Match, OutPort, Rule, SwitchRules, TableId, VlanMatch};

use super::kernel::{Kernel, Link};
use super::names::{Alias, bridge_name};
use super::netlink::VXLAN_PORT;
use super::nft::{NftState, PortFilter};

/// Metadata of foreign bridges starts here (above every 24-bit VNI).
pub const FOREIGN_METADATA: u64 = 1 << 32;

/// How a bridge member is reached.
enum Member<'a> {
    /// A topology port enslaved directly.
    Port(PortNo, &'a Link),
    /// An 802.1Q sub-interface of a topology port (server: tagged
    /// attachment; fabric: trunk).
    Sub(PortNo, u16, PortRole, &'a Link),
    Vxlan(&'a Link),
    Other(&'a Link),
}

struct Lowering<'a> {
    kernel: &'a Kernel,
    /// `None`: no canonical Weft tables, so no drops are assumed.
    nft: Option<&'a NftState>,
    sw: &'a Switch,
    rules: Vec<Rule>,
}

impl Lowering<'_> {
    /// Weft's drop filter on a device, if the tables are installed.
    fn filter(&self, name: &str) -> Option<&PortFilter> {
        self.nft.and_then(|n| n.devices.get(name))
    }

    fn member<'k>(&self, l: &'k Link) -> Member<'k> {
        if l.kind.as_deref() == Some("vxlan") {
            return Member::Vxlan(l);
        }
        if let Some(p) = self.sw.port_by_name(&l.name) {
            return Member::Port(p.number, l);
        }
        if l.kind.as_deref() == Some("vlan")
            && let (Some(parent), Some(vid)) =
                (l.parent.and_then(|i| self.kernel.link(i)), l.vlan_id)
            && let Some(p) = self.sw.port_by_name(&parent.name)
        {
            return Member::Sub(p.number, vid, p.role, l);
        }
        Member::Other(l)
    }

    fn classify(
        &mut self,
        matches: Match,
        actions: Vec<Action>,
        metadata: u64,
        goto: TableId,
        cookie: u64,
    ) {
        self.rules.push(Rule {
            table: TABLE_CLASSIFY,
            priority: priority::CLASSIFY,
            matches,
            actions,
            write_metadata: Some(metadata),
            goto: Some(goto),
            cookie,
        });
    }

    /// Where a frame that passed `filter` (`None`: no filter) goes next:
    /// the tag guard when the filter drops tagged frames, else straight to
    /// flooding.
    fn next_table(filter: Option<&PortFilter>) -> Option<TableId> {
        match filter {
            None => Some(TABLE_FLOOD),
            Some(f) if f.drops_everything() => None,
            Some(f) if f.untagged && f.tags.is_empty() => Some(TABLE_TAG_GUARD),
            Some(_) => Some(TABLE_FLOOD),
        }
    }

    fn bridge(&mut self, bridge: &Link, metadata: u64, cookie: u64) {
        let mut ports: Vec<(PortNo, &Link)> = Vec::new();
        let mut tagged: Vec<(PortNo, u16, &Link)> = Vec::new();
        let mut trunks: Vec<(PortNo, u16, &Link)> = Vec::new();
        let mut vxlans: Vec<&Link> = Vec::new();
        let mut others: Vec<&Link> = Vec::new();
        for l in self.kernel.members(bridge.index) {
            match self.member(l) {
                Member::Port(p, l) => ports.push((p, l)),
                Member::Sub(p, vid, PortRole::Server, l) => tagged.push((p, vid, l)),
                Member::Sub(p, vid, PortRole::Fabric, l) => trunks.push((p, vid, l)),
                Member::Vxlan(l) => vxlans.push(l),
                Member::Other(l) => others.push(l),
            }
        }
        ports.sort_by_key(|(p, _)| *p);
        tagged.sort_by_key(|(p, v, _)| (*p, *v));
        trunks.sort_by_key(|(p, v, _)| (*p, *v));
        vxlans.sort_by(|a, b| a.name.cmp(&b.name));
        others.sort_by(|a, b| a.name.cmp(&b.name));

        // Table 0.
        for &(port, l) in &ports {
            let f = self.filter(&l.name).cloned();
            let m = |vlan| Match {
                in_port: Some(port),
                vlan,
                ..Match::default()
            };
            match &f {
                None => self.classify(m(VlanMatch::Any), vec![], metadata, TABLE_FLOOD, cookie),
                Some(f) => {
                    if f.untagged {
                        self.classify(
                            m(VlanMatch::Untagged),
                            vec![],
                            metadata,
                            TABLE_TAG_GUARD,
                            cookie,
                        );
                    }
                    // A tag let through with no sub-interface for it
                    // reaches the bridge still tagged.
                    for &t in &f.tags {
                        let has_sub = self.kernel.links.values().any(|s| {
                            s.kind.as_deref() == Some("vlan")
                                && s.parent == Some(l.index)
                                && s.vlan_id == Some(t)
                        });
                        if !has_sub && let Ok(vid) = weft_model::VlanId::new(u64::from(t)) {
                            self.classify(
                                m(VlanMatch::Vid(vid)),
                                vec![],
                                metadata,
                                TABLE_FLOOD,
                                cookie,
                            );
                        }
                    }
                }
            }
        }
        for &(port, vid, l) in tagged.iter().chain(&trunks) {
            let Ok(tag) = weft_model::VlanId::new(u64::from(vid)) else {
                continue;
            };
            let parent = l.parent.and_then(|i| self.kernel.link(i));
            let parent_passes = parent
                .and_then(|p| self.filter(&p.name))
                .is_none_or(|f| f.tags.contains(&vid));
            if !parent_passes {
                continue;
            }
            if let Some(next) = Self::next_table(self.filter(&l.name)) {
                let m = Match {
                    in_port: Some(port),
                    vlan: VlanMatch::Vid(tag),
                    ..Match::default()
                };
                self.classify(m, vec![Action::PopVlan], metadata, next, cookie);
            }
        }
        let mut from_tunnel = false;
        let mut tunnel_out: Vec<Action> = Vec::new();
        for &vx in &vxlans {
            let Some(info) = vx.vxlan else { continue };
            let id = u64::from(info.id);
            if let Some(next) = Self::next_table(self.filter(&vx.name)) {
                let guarded = info.port == VXLAN_PORT
                    && self.nft.is_some_and(|n| n.guarded_vnis.contains(&info.id));
                let base = Match {
                    in_port: Some(VXLAN_TUNNEL_PORT),
                    tun_id: Some(id),
                    ..Match::default()
                };
                if guarded {
                    let sources: Vec<Ipv4Addr> = self
                        .nft
                        .map(|n| {
                            n.vteps
                                .iter()
                                .filter(|(_, v)| *v == info.id)
                                .map(|(ip, _)| *ip)
                                .collect()
                        })
                        .unwrap_or_default();
                    for src in sources {
                        let m = Match {
                            tun_src: Some(src),
                            ..base.clone()
                        };
                        self.classify(m, vec![], metadata, next, cookie);
                        from_tunnel = true;
                    }
                } else {
                    self.classify(base, vec![], metadata, next, cookie);
                    from_tunnel = true;
                }
            }
            // Outputs: the device's own VNI first, then per-entry overrides.
            let mut by_vni: BTreeMap<u32, Vec<Ipv4Addr>> = BTreeMap::new();
            for e in self.kernel.self_fdb(vx.index) {
                if let Some(dst) = e.dst
                    && !dst.is_unspecified()
                {
                    by_vni
                        .entry(e.vni.unwrap_or(info.id))
                        .or_default()
                        .push(dst);
                }
            }
            let own = by_vni.remove(&info.id);
            for (v, mut dsts) in own.map(|d| (info.id, d)).into_iter().chain(by_vni) {
                dsts.sort_unstable();
                dsts.dedup();
                tunnel_out.push(Action::SetTunnelId(u64::from(v)));
                for d in dsts {
                    tunnel_out.push(Action::SetTunnelDst(d));
                    tunnel_out.push(Action::Output(OutPort::Port(VXLAN_TUNNEL_PORT)));
                }
            }
        }
        for &o in &others {
            let m = Match {
                opaque: vec![format!("iif={}", o.name)],
                ..Match::default()
            };
            self.classify(m, vec![], metadata, TABLE_FLOOD, cookie);
        }

        // Table 2, in the order of `FloodGroup::rules`.
        let mut local: Vec<Action> = ports
            .iter()
            .map(|(p, _)| Action::Output(OutPort::Port(*p)))
            .collect();
        for &(port, vid, _) in tagged.iter().chain(&trunks) {
            if let Ok(tag) = weft_model::VlanId::new(u64::from(vid)) {
                local.extend([
                    Action::PushVlan(tag),
                    Action::Output(OutPort::Port(port)),
                    Action::PopVlan,
                ]);
            }
        }
        local.extend(
            others
                .iter()
                .map(|o| Action::Opaque(format!("output:{}", o.name))),
        );
        let mut all = local.clone();
        all.extend(tunnel_out);
        let flood = |priority, matches, actions| Rule {
            table: TABLE_FLOOD,
            priority,
            matches,
            actions,
            write_metadata: None,
            goto: None,
            cookie,
        };
        if !all.is_empty() {
            let m = Match {
                metadata: Some(metadata),
                ..Match::default()
            };
            self.rules.push(flood(priority::FLOOD, m, all));
        }
        if from_tunnel {
            let m = Match {
                in_port: Some(VXLAN_TUNNEL_PORT),
                metadata: Some(metadata),
                ..Match::default()
            };
            self.rules
                .push(flood(priority::FLOOD_FROM_TUNNEL, m, local));
        }
    }
}

/// The network a bridge serves, when it is Weft's under its own name.
fn owned_vni(bridge: &Link) -> Option<Vni> {
    match bridge.owned()? {
        Alias::Bridge { vni } if bridge.name == bridge_name(vni) => Some(vni),
        _ => None,
    }
}

/// Lowers what the kernel holds on switch `sw` to rules.
pub fn lower(sw: &Switch, kernel: &Kernel, nft: Option<&NftState>) -> SwitchRules {
    let mut l = Lowering {
        kernel,
        nft,
        sw,
        rules: base_rules().into(),
    };
    for b in kernel.links.values().filter(|b| b.is_bridge()) {
        if let Some(vni) = owned_vni(b) {
            l.bridge(b, u64::from(vni.get()), Cookie::for_vni(vni.get()));
            continue;
        }
        let relevant = kernel
            .members(b.index)
            .any(|m| !matches!(l.member(m), Member::Other(_)));
        if relevant {
            l.bridge(b, FOREIGN_METADATA | u64::from(b.index), 0);
        }
    }
    // Topology ports enslaved to something that is not a bridge.
    for p in &sw.ports {
        let Some(link) = kernel.by_name(p.name.as_str()) else {
            continue;
        };
        let Some(master) = link.master.and_then(|m| kernel.link(m)) else {
            continue;
        };
        if master.is_bridge() {
            continue;
        }
        let filter = l.filter(&link.name);
        if filter.is_some_and(PortFilter::drops_everything) {
            continue;
        }
        l.rules.push(Rule {
            table: TABLE_CLASSIFY,
            priority: priority::CLASSIFY,
            matches: Match {
                in_port: Some(p.number),
                ..Match::default()
            },
            actions: vec![Action::Opaque(format!(
                "member of {} {}",
                master.kind.as_deref().unwrap_or("device"),
                master.name
            ))],
            write_metadata: None,
            goto: None,
            cookie: 0,
        });
    }
    SwitchRules::new(l.rules)
}

/// Per owned network: (packets, bytes) received by its bridge's members.
pub fn counters(kernel: &Kernel) -> BTreeMap<Vni, (u64, u64)> {
    let mut out = BTreeMap::new();
    for b in kernel.links.values().filter(|b| b.is_bridge()) {
        if let Some(vni) = owned_vni(b) {
            let c = kernel.members(b.index).fold((0u64, 0u64), |(p, by), m| {
                (p.saturating_add(m.rx.0), by.saturating_add(m.rx.1))
            });
            out.insert(vni, c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weft_model::AttachMode;
    use weft_pipeline::{PipelineEntry, lower_switch};

    use super::super::kernel::{FdbEntry, VxlanInfo};
    use super::*;
    use crate::backend::SwitchContext;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);
    const R1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);

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

    fn link(index: u32, name: &str, kind: &str, alias: Option<&str>, master: Option<u32>) -> Link {
        Link {
            index,
            name: name.into(),
            kind: Some(kind.into()),
            alias: alias.map(str::to_string),
            master,
            up: true,
            parent: None,
            vlan_id: None,
            vxlan: None,
            rx: (3, 300),
        }
    }

    /// Network 1000 on eth1 with a tunnel to R1, as reconcile leaves it.
    fn kernel() -> Kernel {
        let mut k = Kernel::default();
        let mut vx = link(
            11,
            "weftv0003e8",
            "vxlan",
            Some("weft:vxlan vni=1000"),
            Some(10),
        );
        vx.vxlan = Some(VxlanInfo {
            id: 1000,
            local: Some(LOCAL),
            port: 4789,
            learning: false,
            external: false,
        });
        for l in [
            link(2, "eth1", "veth", None, Some(10)),
            link(3, "eth2", "veth", None, None),
            link(
                10,
                "weftb0003e8",
                "bridge",
                Some("weft:bridge vni=1000"),
                None,
            ),
            vx,
        ] {
            k.insert_link(l);
        }
        k.fdb.push(FdbEntry {
            ifindex: 11,
            mac: [0; 6],
            dst: Some(R1),
            vni: None,
            port: None,
            via: None,
            is_self: true,
        });
        k
    }

    fn nft() -> NftState {
        let mut s = NftState::default();
        s.devices.insert("eth1".into(), PortFilter::untagged_only());
        s.devices.insert("eth2".into(), PortFilter::drop_all());
        s.devices
            .insert("weftv0003e8".into(), PortFilter::untagged_only());
        s.guarded_vnis.insert(1000);
        s.vteps.insert((R1, 1000));
        s
    }

    fn entries() -> Vec<PipelineEntry> {
        let (port, vni) = (PortNo::new(1).unwrap(), Vni::new(1000).unwrap());
        let mut e = vec![
            PipelineEntry::PortIngress {
                port,
                mode: AttachMode::Access,
                vni,
            },
            PipelineEntry::FloodPort {
                vni,
                port,
                mode: AttachMode::Access,
            },
            PipelineEntry::TunnelIngress { vni, remote: R1 },
            PipelineEntry::FloodTunnel { vni, remote: R1 },
        ];
        e.sort();
        e
    }

    fn switch(c: &SwitchContext) -> &Switch {
        c.topology.switch(c.switch)
    }

    #[test]
    fn a_clean_state_reads_back_as_the_openflow_lowering() {
        let c = ctx();
        let got = lower(switch(&c), &kernel(), Some(&nft()));
        assert_eq!(got, lower_switch(&c.topology, c.switch, &entries()));
        assert_eq!(counters(&kernel())[&Vni::new(1000).unwrap()], (6, 600));
    }

    #[test]
    fn missing_drops_read_back_as_weaker_rules() {
        let c = ctx();
        let got = lower(switch(&c), &kernel(), None);
        let classify: Vec<&Rule> = got
            .table(TABLE_CLASSIFY)
            .iter()
            .filter(|r| r.write_metadata.is_some())
            .collect();
        // eth1 takes any tag and skips the tag guard; the tunnel takes any
        // source.
        assert!(
            classify
                .iter()
                .any(|r| r.matches.in_port == PortNo::new(1).ok()
                    && r.matches.vlan == VlanMatch::Any
                    && r.goto == Some(TABLE_FLOOD))
        );
        assert!(
            classify
                .iter()
                .any(|r| r.matches.tun_id == Some(1000) && r.matches.tun_src.is_none())
        );
        // An unattached port with no drop still forwards nothing: it is in
        // no bridge.
        assert!(
            !classify
                .iter()
                .any(|r| r.matches.in_port == PortNo::new(2).ok())
        );
    }

    #[test]
    fn foreign_members_and_fdb_entries_show_up() {
        let c = ctx();
        let mut k = kernel();
        // Someone's veth in Weft's bridge, and a unicast entry to another VTEP.
        k.insert_link(link(40, "tap0", "veth", None, Some(10)));
        k.fdb.push(FdbEntry {
            ifindex: 11,
            mac: [2, 0, 0, 0, 0, 7],
            dst: Some(Ipv4Addr::new(10, 7, 7, 7)),
            vni: None,
            port: None,
            via: None,
            is_self: true,
        });
        let got = lower(switch(&c), &k, Some(&nft()));
        let flood = got
            .table(TABLE_FLOOD)
            .iter()
            .find(|r| r.priority == priority::FLOOD && r.matches.metadata == Some(1000))
            .unwrap();
        assert!(
            flood
                .actions
                .contains(&Action::Opaque("output:tap0".into()))
        );
        assert!(
            flood
                .actions
                .contains(&Action::SetTunnelDst(Ipv4Addr::new(10, 7, 7, 7)))
        );
        assert!(
            got.table(TABLE_CLASSIFY)
                .iter()
                .any(|r| r.matches.opaque == vec!["iif=tap0".to_string()])
        );
    }
}
