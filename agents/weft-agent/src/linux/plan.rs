//! `plan(desired, observed)`: the changes that take the kernel from what it
//! holds to what the entries call for (pure).
//!
//! Mark and sweep, never flush: every desired object that already exists
//! with the right attributes is left untouched, so an unchanged state plans
//! nothing at all. The plan lists additions in dependency order (bridge →
//! VXLAN device → FDB → sub-interfaces → enslavement → drops → VXLAN
//! devices up) and then removals in reverse (release from bridges → FDB →
//! links), with the drops installed *before* anything is released, so a
//! port that becomes unattached drops its traffic before it leaves its
//! bridge. Only owned state is ever removed: links whose alias Weft wrote
//! (see [`super::names`]), FDB entries on owned VXLAN devices, and
//! memberships of owned bridges.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use weft_model::Vni;

use super::desired::{Desired, SubIf};
use super::kernel::{FdbEntry, Kernel, Link};
use super::names::{Alias, bridge_name, subif_name, vxlan_name};
use super::netlink::VXLAN_PORT;
use super::nft::{Installed, NftState, PortFilter};
use crate::backend::{ApplyStats, BackendError};

/// The changes, phase by phase, in execution order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Owned links occupying a name Weft needs, with the wrong attributes:
    /// deleted first, then created again.
    pub clear: Vec<(u32, String)>,
    pub create_bridges: Vec<Vni>,
    /// New VXLAN devices, created down and enslaved.
    pub create_vxlans: Vec<Vni>,
    pub add_fdb: Vec<(Vni, Ipv4Addr)>,
    pub create_subifs: Vec<(Vni, SubIf)>,
    /// (link name, network) memberships to establish.
    pub enslave: Vec<(String, Vni)>,
    /// Drops installed before anything is removed (desired drops plus
    /// guards on devices about to be deleted).
    pub nft_pre: Option<NftState>,
    /// New links (created down) and owned links found down, brought up
    /// once the drops exist.
    pub up_after_drops: Vec<String>,
    /// Links released from owned bridges (index, name).
    pub release: Vec<(u32, String)>,
    pub del_fdb: Vec<(FdbEntry, String)>,
    /// Stale owned links: sub-interfaces, then VXLAN devices, then bridges.
    pub delete: Vec<(u32, String)>,
    /// The final drops, when they differ from `nft_pre`.
    pub nft_post: Option<NftState>,
}

impl Plan {
    /// Operations the plan performs: netlink changes (a created link is
    /// two: the link, then `addrgenmode none`), plus one per nftables
    /// replacement.
    pub fn stats(&self) -> ApplyStats {
        let n = |v: usize| v as u64;
        ApplyStats {
            added: 2 * n(self.create_bridges.len())
                + 2 * n(self.create_vxlans.len())
                + n(self.add_fdb.len())
                + 2 * n(self.create_subifs.len())
                + n(self.enslave.len())
                + u64::from(self.nft_pre.is_some())
                + n(self.up_after_drops.len())
                + u64::from(self.nft_post.is_some()),
            removed: n(self.clear.len())
                + n(self.release.len())
                + n(self.del_fdb.len())
                + n(self.delete.len()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.stats() == ApplyStats::default()
    }
}

fn refused(msg: String) -> BackendError {
    BackendError::Refused(msg)
}

/// The drops for `desired`, on the devices `exists` says are there.
pub fn desired_nft(desired: &Desired, exists: impl Fn(&str) -> bool) -> NftState {
    let mut s = NftState::default();
    for (name, f) in &desired.port_filters {
        if exists(name) {
            s.devices.insert(name.clone(), f.clone());
        }
    }
    for (&vni, net) in &desired.networks {
        for sub in &net.subifs {
            s.devices
                .insert(subif_name(sub.port, sub.tag), PortFilter::untagged_only());
        }
        if let Some(t) = &net.tunnel {
            s.devices
                .insert(vxlan_name(vni), PortFilter::untagged_only());
            s.guarded_vnis.insert(vni.get());
            s.vteps.extend(t.accept.iter().map(|&r| (r, vni.get())));
        }
    }
    s
}

fn vxlan_matches(link: &Link, vni: Vni, local: Option<Ipv4Addr>) -> bool {
    link.vxlan.is_some_and(|x| {
        x.id == vni.get() && x.local == local && x.port == VXLAN_PORT && !x.learning && !x.external
    })
}

/// Plans the changes. Refuses, before anything changes, when a desired
/// interface is missing, a name Weft needs is held by a foreign link, or a
/// port to attach is enslaved to something Weft does not own.
pub fn plan(desired: &Desired, kernel: &Kernel, nft: &Installed) -> Result<Plan, BackendError> {
    let mut p = Plan::default();
    for name in desired.required_interfaces() {
        if kernel.by_name(name).is_none() {
            return Err(refused(format!(
                "interface {name} does not exist on this leaf"
            )));
        }
    }
    // Owned links that are exactly what is desired, by index.
    let mut kept: BTreeSet<u32> = BTreeSet::new();
    // Names of links that exist (or will) once additions are done.
    let mut created: BTreeSet<String> = BTreeSet::new();
    // Desired members per bridge name.
    let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();

    // Checks the link holding `name`: Ok(Some(link)) when it is the owned
    // object wanted, Ok(None) when it must be created (clearing an owned
    // link of that name first), Err when a foreign link holds the name.
    let mut claim = |name: &str,
                     wanted: Alias,
                     ok: &dyn Fn(&Link) -> bool,
                     p: &mut Plan|
     -> Result<Option<Link>, BackendError> {
        match kernel.by_name(name) {
            None => Ok(None),
            Some(l) => match l.owned() {
                Some(a) if a == wanted && ok(l) => {
                    kept.insert(l.index);
                    Ok(Some(l.clone()))
                }
                Some(_) => {
                    p.clear.push((l.index, l.name.clone()));
                    Ok(None)
                }
                None => Err(refused(format!(
                    "link {name} exists but is not Weft's (its alias is not \"{wanted}\"); remove or rename it"
                ))),
            },
        }
    };

    let mut bridge_index: BTreeMap<Vni, Option<u32>> = BTreeMap::new();
    for (&vni, net) in &desired.networks {
        let bname = bridge_name(vni);
        let mut want: BTreeSet<String> = net.ports.clone();
        match claim(&bname, Alias::Bridge { vni }, &|_| true, &mut p)? {
            Some(l) => {
                if !l.up {
                    p.up_after_drops.push(l.name.clone());
                }
                bridge_index.insert(vni, Some(l.index));
            }
            None => {
                p.create_bridges.push(vni);
                p.up_after_drops.push(bname.clone());
                created.insert(bname.clone());
                bridge_index.insert(vni, None);
            }
        }
        let bidx = bridge_index.get(&vni).copied().flatten();
        if let Some(t) = &net.tunnel {
            let vname = vxlan_name(vni);
            want.insert(vname.clone());
            let local = desired.local;
            match claim(
                &vname,
                Alias::Vxlan { vni },
                &|l| vxlan_matches(l, vni, local),
                &mut p,
            )? {
                Some(l) => {
                    if !l.up {
                        p.up_after_drops.push(l.name.clone());
                    }
                    let mut have = BTreeSet::new();
                    for e in kernel.self_fdb(l.index) {
                        match e.dst {
                            Some(d) if e.is_plain_flood() && t.flood.contains(&d) => {
                                have.insert(d);
                            }
                            _ => p.del_fdb.push((e.clone(), l.name.clone())),
                        }
                    }
                    p.add_fdb
                        .extend(t.flood.difference(&have).map(|&d| (vni, d)));
                    if l.master != bidx || bidx.is_none() {
                        p.enslave.push((vname.clone(), vni));
                    }
                }
                None => {
                    p.create_vxlans.push(vni);
                    p.up_after_drops.push(vname.clone());
                    p.add_fdb.extend(t.flood.iter().map(|&d| (vni, d)));
                    created.insert(vname);
                }
            }
        }
        for sub in &net.subifs {
            let sname = subif_name(sub.port, sub.tag);
            want.insert(sname.clone());
            let parent = kernel.by_name(&sub.parent).map(|l| l.index);
            let alias = Alias::Port {
                port: sub.port,
                tag: sub.tag,
                vni,
            };
            let ok = |l: &Link| l.parent == parent && l.vlan_id == Some(sub.tag.get());
            match claim(&sname, alias, &ok, &mut p)? {
                Some(l) => {
                    if !l.up {
                        p.up_after_drops.push(l.name.clone());
                    }
                    if l.master != bidx || bidx.is_none() {
                        p.enslave.push((sname.clone(), vni));
                    }
                }
                None => {
                    p.create_subifs.push((vni, sub.clone()));
                    p.up_after_drops.push(sname.clone());
                    created.insert(sname);
                }
            }
        }
        for port in &net.ports {
            let Some(l) = kernel.by_name(port) else {
                continue;
            };
            match l.master.and_then(|m| kernel.link(m)) {
                None => p.enslave.push((port.clone(), vni)),
                Some(m) if bidx == Some(m.index) => {}
                Some(m) => match m.owned() {
                    Some(Alias::Bridge { .. }) => p.enslave.push((port.clone(), vni)),
                    _ => {
                        return Err(refused(format!(
                            "port {port} is enslaved to {}, which is not Weft's; release it first",
                            m.name
                        )));
                    }
                },
            }
        }
        members.insert(bname, want);
    }

    // Sweep: owned links not kept, not cleared.
    let cleared: BTreeSet<u32> = p.clear.iter().map(|(i, _)| *i).collect();
    let mut stale: Vec<(u8, &Link)> = Vec::new();
    for l in kernel.links.values() {
        if let Some(a) = l.owned()
            && !kept.contains(&l.index)
            && !cleared.contains(&l.index)
        {
            let rank = match a {
                Alias::Port { .. } => 0,
                Alias::Vxlan { .. } => 1,
                Alias::Bridge { .. } => 2,
            };
            stale.push((rank, l));
        }
    }
    stale.sort_by_key(|(rank, l)| (*rank, l.index));
    let dying: BTreeSet<u32> = stale
        .iter()
        .map(|(_, l)| l.index)
        .chain(cleared.iter().copied())
        .collect();
    let moving: BTreeSet<&str> = p.enslave.iter().map(|(n, _)| n.as_str()).collect();
    for l in kernel.links.values() {
        let Some(master) = l.master.and_then(|m| kernel.link(m)) else {
            continue;
        };
        if !matches!(master.owned(), Some(Alias::Bridge { .. })) || dying.contains(&l.index) {
            continue;
        }
        let wanted_here = kept.contains(&master.index)
            && members
                .get(&master.name)
                .is_some_and(|m| m.contains(&l.name));
        if !wanted_here && !moving.contains(l.name.as_str()) {
            p.release.push((l.index, l.name.clone()));
        }
    }

    // Drops: before the sweep they also guard what is about to go.
    let exists = |name: &str| kernel.by_name(name).is_some() || created.contains(name);
    let post = desired_nft(desired, |n| {
        exists(n)
            && !kernel
                .by_name(n)
                .is_some_and(|l| dying.contains(&l.index) && !created.contains(n))
    });
    let mut pre = post.clone();
    for (_, l) in &stale {
        match l.owned() {
            Some(Alias::Vxlan { vni }) => {
                pre.devices
                    .insert(l.name.clone(), PortFilter::untagged_only());
                pre.guarded_vnis.insert(vni.get());
            }
            Some(Alias::Port { .. }) => {
                pre.devices
                    .insert(l.name.clone(), PortFilter::untagged_only());
            }
            _ => {}
        }
    }
    if nft.state() != Some(&pre) {
        p.nft_pre = Some(pre.clone());
    }
    if post != pre {
        p.nft_post = Some(post);
    }
    p.delete = stale
        .into_iter()
        .map(|(_, l)| (l.index, l.name.clone()))
        .collect();
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::super::desired::{Network, Tunnel};
    use super::super::kernel::VxlanInfo;
    use super::*;

    fn vni(n: u64) -> Vni {
        Vni::new(n).unwrap()
    }

    fn link(index: u32, name: &str, kind: Option<&str>, alias: Option<String>) -> Link {
        Link {
            index,
            name: name.into(),
            kind: kind.map(str::to_string),
            alias,
            master: None,
            up: true,
            parent: None,
            vlan_id: None,
            vxlan: None,
            rx: (0, 0),
        }
    }

    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);
    const R1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);

    fn desired() -> Desired {
        let mut d = Desired {
            local: Some(LOCAL),
            ..Desired::default()
        };
        d.networks.insert(
            vni(1000),
            Network {
                ports: ["eth1".to_string()].into(),
                subifs: BTreeSet::new(),
                tunnel: Some(Tunnel {
                    flood: [R1].into(),
                    accept: [R1].into(),
                }),
            },
        );
        d.port_filters
            .insert("eth1".into(), PortFilter::untagged_only());
        d.port_filters.insert("eth2".into(), PortFilter::drop_all());
        d
    }

    /// The kernel as a successful reconcile of `desired()` leaves it.
    fn converged() -> Kernel {
        let mut k = Kernel::default();
        let mut eth1 = link(2, "eth1", Some("veth"), None);
        eth1.master = Some(10);
        let eth2 = link(3, "eth2", Some("veth"), None);
        let br = link(
            10,
            "weftb0003e8",
            Some("bridge"),
            Some("weft:bridge vni=1000".into()),
        );
        let mut vx = link(
            11,
            "weftv0003e8",
            Some("vxlan"),
            Some("weft:vxlan vni=1000".into()),
        );
        vx.master = Some(10);
        vx.vxlan = Some(VxlanInfo {
            id: 1000,
            local: Some(LOCAL),
            port: 4789,
            learning: false,
            external: false,
        });
        for l in [eth1, eth2, br, vx] {
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
        // The bridge's own entry for the VXLAN port: not the device's.
        k.fdb.push(FdbEntry {
            ifindex: 11,
            mac: [2, 0, 0, 0, 0, 1],
            dst: None,
            vni: None,
            port: None,
            via: None,
            is_self: false,
        });
        k
    }

    fn installed(d: &Desired, k: &Kernel) -> Installed {
        Installed::Canonical(desired_nft(d, |n| k.by_name(n).is_some()))
    }

    #[test]
    fn a_converged_kernel_plans_nothing() {
        let (d, k) = (desired(), converged());
        let p = plan(&d, &k, &installed(&d, &k)).unwrap();
        assert!(p.is_empty(), "{p:#?}");
    }

    #[test]
    fn an_empty_kernel_plans_creation_in_dependency_order() {
        let d = desired();
        let mut k = Kernel::default();
        k.insert_link(link(2, "eth1", Some("veth"), None));
        k.insert_link(link(3, "eth2", Some("veth"), None));
        let p = plan(&d, &k, &Installed::Other("missing".into())).unwrap();
        assert_eq!(p.create_bridges, vec![vni(1000)]);
        assert_eq!(p.create_vxlans, vec![vni(1000)]);
        assert_eq!(p.add_fdb, vec![(vni(1000), R1)]);
        assert_eq!(p.enslave, vec![("eth1".to_string(), vni(1000))]);
        assert_eq!(
            p.up_after_drops,
            vec!["weftb0003e8".to_string(), "weftv0003e8".to_string()]
        );
        let nft = p.nft_pre.clone().unwrap();
        assert_eq!(nft.devices["weftv0003e8"], PortFilter::untagged_only());
        assert_eq!(nft.devices["eth2"], PortFilter::drop_all());
        assert_eq!(nft.vteps, [(R1, 1000)].into());
        assert_eq!(p.nft_post, None);
        assert_eq!(
            p.stats(),
            ApplyStats {
                added: 9,
                removed: 0
            }
        );
    }

    #[test]
    fn stale_state_is_swept_after_the_drops_and_foreign_state_is_kept() {
        let mut d = desired();
        d.networks.clear();
        d.local = None;
        d.port_filters.insert("eth1".into(), PortFilter::drop_all());
        let mut k = converged();
        // A foreign bridge, with a foreign member, and a foreign FDB entry.
        k.insert_link(link(20, "weftb0009ff", Some("bridge"), None));
        let mut other = link(21, "vxf", Some("vxlan"), None);
        other.master = Some(20);
        k.insert_link(other);
        k.fdb.push(FdbEntry {
            ifindex: 21,
            mac: [0; 6],
            dst: Some(Ipv4Addr::new(10, 9, 9, 9)),
            vni: None,
            port: None,
            via: None,
            is_self: true,
        });
        let p = plan(&d, &k, &installed(&desired(), &k)).unwrap();
        assert_eq!(p.release, vec![(2, "eth1".to_string())]);
        // The VXLAN device goes with its FDB: no separate FDB deletes.
        assert!(p.del_fdb.is_empty());
        assert_eq!(
            p.delete,
            vec![
                (11, "weftv0003e8".to_string()),
                (10, "weftb0003e8".to_string())
            ]
        );
        // Before the sweep: eth1 already drops everything and the dying
        // VXLAN device is still guarded, with no source accepted.
        let pre = p.nft_pre.clone().unwrap();
        assert_eq!(pre.devices["eth1"], PortFilter::drop_all());
        assert_eq!(pre.devices["weftv0003e8"], PortFilter::untagged_only());
        assert_eq!(pre.guarded_vnis, [1000].into());
        assert!(pre.vteps.is_empty());
        let post = p.nft_post.clone().unwrap();
        assert!(!post.devices.contains_key("weftv0003e8"));
        assert!(post.guarded_vnis.is_empty());
    }

    #[test]
    fn out_of_band_changes_are_repaired_precisely() {
        let d = desired();
        let mut k = converged();
        k.fdb.retain(|e| !e.is_self);
        k.links.get_mut(&2).unwrap().master = None;
        // Someone's extra flood entry on Weft's device is swept.
        let extra = FdbEntry {
            ifindex: 11,
            mac: [0; 6],
            dst: Some(Ipv4Addr::new(10, 6, 6, 6)),
            vni: None,
            port: None,
            via: None,
            is_self: true,
        };
        k.fdb.push(extra.clone());
        let p = plan(&d, &k, &installed(&d, &k)).unwrap();
        assert_eq!(p.add_fdb, vec![(vni(1000), R1)]);
        assert_eq!(p.enslave, vec![("eth1".to_string(), vni(1000))]);
        assert_eq!(p.del_fdb, vec![(extra, "weftv0003e8".to_string())]);
        assert_eq!(
            p.stats(),
            ApplyStats {
                added: 2,
                removed: 1
            }
        );
    }

    #[test]
    fn foreign_names_and_masters_are_refused_before_any_change() {
        let d = desired();
        let mut k = converged();
        k.links.get_mut(&10).unwrap().alias = None;
        let e = plan(&d, &k, &installed(&d, &k)).unwrap_err();
        assert!(
            e.to_string()
                .contains("weftb0003e8 exists but is not Weft's"),
            "{e}"
        );
        let mut k = converged();
        k.insert_link(link(30, "br0", Some("bridge"), None));
        k.links.get_mut(&2).unwrap().master = Some(30);
        let e = plan(&d, &k, &installed(&d, &k)).unwrap_err();
        assert!(e.to_string().contains("enslaved to br0"), "{e}");
        let mut k = converged();
        k.links.remove(&2);
        let e = plan(&d, &k, &installed(&d, &k)).unwrap_err();
        assert!(e.to_string().contains("eth1 does not exist"), "{e}");
    }

    #[test]
    fn a_vxlan_device_with_other_attributes_is_recreated() {
        let d = desired();
        let mut k = converged();
        if let Some(x) = k.links.get_mut(&11).unwrap().vxlan.as_mut() {
            x.learning = true;
        }
        let p = plan(&d, &k, &installed(&d, &k)).unwrap();
        assert_eq!(p.clear, vec![(11, "weftv0003e8".to_string())]);
        assert_eq!(p.create_vxlans, vec![vni(1000)]);
        assert_eq!(p.add_fdb, vec![(vni(1000), R1)]);
        assert!(p.delete.is_empty() && p.del_fdb.is_empty());
    }
}
