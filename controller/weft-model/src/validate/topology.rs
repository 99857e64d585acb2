//! `Topology::from_spec`: names, racks, switches, ports and VTEPs; the
//! cabling (links, NICs, uplinks) is checked in `topology_cabling`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv4Addr;

use super::Findings;
use crate::ids::{IdRange, Label, Name, PortNo};
use crate::path::FieldPath;
use crate::spec::{DataplaneSpec, EncapsulationSpec, PortRoleSpec, SwitchRoleSpec, TopologySpec};
use crate::topology::{
    Dataplane, Encapsulation, Link, Nic, Port, PortKey, PortRole, Server, Site, Switch, SwitchId,
    SwitchRole, Topology, VXLAN_TUNNEL_PORT,
};
use crate::violation::{Violation, ViolationKind};

/// A port of the spec by position: (switch index, port index) in the file.
pub(super) type SpecPort = (usize, usize);

/// What the first pass learned about one switch of the file.
#[derive(Debug)]
pub(super) struct SwitchDraft<'a> {
    pub(super) name: Option<Label>,
    pub(super) raw_name: &'a str,
    pub(super) rack: Option<Name>,
    pub(super) vtep: Option<Ipv4Addr>,
    /// Port index by raw name (first declaration wins).
    pub(super) port_by_name: HashMap<&'a str, usize>,
    pub(super) ports: Vec<PortDraft>,
}

#[derive(Debug)]
pub(super) struct PortDraft {
    pub(super) name: Option<Label>,
    pub(super) number: Option<PortNo>,
}

/// A validated server, with its NICs' ports still as file positions.
pub(super) type ServerDraft = (Label, Option<Name>, Vec<(Label, SpecPort)>);

/// State shared by the topology passes.
#[derive(Debug)]
pub(super) struct TopologyCheck<'a> {
    pub(super) spec: &'a TopologySpec,
    pub(super) f: Findings,
    pub(super) racks: BTreeSet<&'a str>,
    /// Switch index by raw name (first declaration wins).
    pub(super) switch_by_name: HashMap<&'a str, usize>,
    pub(super) switches: Vec<SwitchDraft<'a>>,
    /// The far end of each linked port.
    pub(super) peers: HashMap<SpecPort, SpecPort>,
    /// The (server index, NIC index) cabled to each port.
    pub(super) nics: HashMap<SpecPort, (usize, usize)>,
    /// Whether some link end did not resolve to a declared port.
    pub(super) unresolved_link_ends: bool,
}

impl Topology {
    /// Validates a topology document. Returns every violation found, or the
    /// topology: switches sorted by name (a [`SwitchId`] is the index),
    /// ports by number, servers by name, links sorted.
    pub fn from_spec(spec: &TopologySpec) -> Result<Topology, Vec<Violation>> {
        let mut check = TopologyCheck {
            spec,
            f: Findings::default(),
            racks: BTreeSet::new(),
            switch_by_name: HashMap::new(),
            switches: Vec::with_capacity(spec.switches.len()),
            peers: HashMap::new(),
            nics: HashMap::new(),
            unresolved_link_ends: false,
        };
        let name = check.f.name(
            &FieldPath::root().field("fabric").field("name"),
            &spec.fabric.name,
        );
        let (reserved_vni, reserved_vlan) = check.reserved();
        let sites = check.sites();
        check.switches();
        let servers = check.cabling();
        if !check.f.is_empty() {
            return Err(check.f.0);
        }
        let built =
            name.and_then(|name| check.assemble(name, reserved_vni, reserved_vlan, sites, servers));
        Findings::default().into_result(built)
    }
}

impl<'a> TopologyCheck<'a> {
    fn encapsulation(&self) -> Encapsulation {
        match self.spec.fabric.encapsulation {
            EncapsulationSpec::Vxlan => Encapsulation::Vxlan,
            EncapsulationSpec::Vlan => Encapsulation::Vlan,
        }
    }

    fn reserved(&mut self) -> (Vec<crate::ids::VniRange>, Vec<crate::ids::VlanRange>) {
        let root = FieldPath::root().field("fabric").field("reserved");
        let reserved = &self.spec.fabric.reserved;
        let vni = parse_ranges(
            &mut self.f,
            &root.field("vni"),
            &reserved.vni,
            "reserved VNI",
        );
        let vlan = parse_ranges(
            &mut self.f,
            &root.field("vlan"),
            &reserved.vlan,
            "reserved VLAN",
        );
        (vni, vlan)
    }

    fn sites(&mut self) -> Vec<Site> {
        let mut sites = Vec::new();
        let mut site_names: HashMap<&str, usize> = HashMap::new();
        let mut rack_paths: HashMap<&str, FieldPath> = HashMap::new();
        for (i, site) in self.spec.sites.iter().enumerate() {
            let path = FieldPath::root().field("sites").index(i);
            let name = self.f.name(&path.field("name"), &site.name);
            if let Some(&first) = site_names.get(site.name.as_str()) {
                self.f.push(duplicate(
                    &path.field("name"),
                    "site",
                    &site.name,
                    FieldPath::root().field("sites").index(first).field("name"),
                ));
            } else {
                site_names.insert(&site.name, i);
            }
            let mut racks = Vec::new();
            for (j, rack) in site.racks.iter().enumerate() {
                let rpath = path.field("racks").index(j).field("name");
                let parsed = self.f.name(&rpath, &rack.name);
                if let Some(first) = rack_paths.get(rack.name.as_str()) {
                    self.f
                        .push(duplicate(&rpath, "rack", &rack.name, first.clone()));
                    continue;
                }
                rack_paths.insert(&rack.name, rpath);
                self.racks.insert(&rack.name);
                racks.extend(parsed);
            }
            racks.sort();
            if let Some(name) = name {
                sites.push(Site { name, racks });
            }
        }
        sites.sort_by(|a, b| a.name.cmp(&b.name));
        sites
    }

    /// A rack reference: must be declared under `sites`.
    pub(super) fn rack(&mut self, path: &FieldPath, raw: Option<&String>) -> Option<Name> {
        let raw = raw?;
        let name = self.f.name(path, raw)?;
        if self.racks.contains(raw.as_str()) {
            Some(name)
        } else {
            self.f.report(
                path.clone(),
                ViolationKind::UnknownReference {
                    what: "rack",
                    name: raw.clone(),
                },
            );
            None
        }
    }

    fn switches(&mut self) {
        let encapsulation = self.encapsulation();
        let mut vteps: HashMap<Ipv4Addr, usize> = HashMap::new();
        for (i, sw) in self.spec.switches.iter().enumerate() {
            let path = FieldPath::root().field("switches").index(i);
            let name = self.f.label(&path.field("name"), &sw.name);
            if let Some(&first) = self.switch_by_name.get(sw.name.as_str()) {
                self.f.push(duplicate(
                    &path.field("name"),
                    "switch",
                    &sw.name,
                    switch_path(first).field("name"),
                ));
            } else {
                self.switch_by_name.insert(&sw.name, i);
            }
            let rack = self.rack(&path.field("rack"), sw.rack.as_ref());
            let vtep = self.vtep(&path, i, encapsulation, &mut vteps);
            let (port_by_name, ports) = self.ports(&path, i);
            self.switches.push(SwitchDraft {
                name,
                raw_name: &sw.name,
                rack,
                vtep,
                port_by_name,
                ports,
            });
        }
    }

    fn vtep(
        &mut self,
        path: &FieldPath,
        i: usize,
        encapsulation: Encapsulation,
        seen: &mut HashMap<Ipv4Addr, usize>,
    ) -> Option<Ipv4Addr> {
        let sw = &self.spec.switches[i];
        let vpath = path.field("vtep");
        let Some(raw) = sw.vtep.as_deref() else {
            if sw.role == SwitchRoleSpec::Leaf && encapsulation == Encapsulation::Vxlan {
                self.f.report(
                    vpath,
                    ViolationKind::MissingVtep {
                        switch: sw.name.clone(),
                    },
                );
            }
            return None;
        };
        if sw.role == SwitchRoleSpec::Spine {
            self.f.report(
                vpath,
                ViolationKind::FieldNotAllowed {
                    field: "vtep",
                    why: "spines are not VTEPs: only leaves terminate VXLAN tunnels",
                },
            );
            return None;
        }
        if encapsulation == Encapsulation::Vlan {
            self.f.report(
                vpath,
                ViolationKind::FieldNotAllowed {
                    field: "vtep",
                    why: "this fabric uses vlan encapsulation, leaves are not VTEPs",
                },
            );
            return None;
        }
        let addr = match parse_unicast_ipv4(raw) {
            Ok(addr) => addr,
            Err(reason) => {
                self.f.report(
                    vpath,
                    ViolationKind::InvalidAddress {
                        value: raw.to_owned(),
                        reason,
                    },
                );
                return None;
            }
        };
        if let Some(&first) = seen.get(&addr) {
            self.f.push(
                Violation::new(
                    vpath,
                    ViolationKind::DuplicateVtep {
                        addr: addr.to_string(),
                        other: self.spec.switches[first].name.clone(),
                    },
                )
                .with_related(switch_path(first).field("vtep"), "first used here"),
            );
            return None;
        }
        seen.insert(addr, i);
        Some(addr)
    }

    fn ports(&mut self, path: &FieldPath, i: usize) -> (HashMap<&'a str, usize>, Vec<PortDraft>) {
        let sw = &self.spec.switches[i];
        let mut by_name: HashMap<&'a str, usize> = HashMap::with_capacity(sw.ports.len());
        let mut by_number: HashMap<PortNo, usize> = HashMap::with_capacity(sw.ports.len());
        let mut drafts = Vec::with_capacity(sw.ports.len());
        for (j, port) in sw.ports.iter().enumerate() {
            let ppath = path.field("ports").index(j);
            let name = self.f.label(&ppath.field("name"), &port.name);
            if let Some(&first) = by_name.get(port.name.as_str()) {
                self.f.push(duplicate(
                    &ppath.field("name"),
                    "port",
                    &port.name,
                    path.field("ports").index(first).field("name"),
                ));
            } else {
                by_name.insert(&port.name, j);
            }
            let npath = ppath.field("number");
            let raw_number = port
                .number
                .unwrap_or_else(|| super::count(j).saturating_add(1));
            let mut number = self.f.number::<PortNo>(&npath, raw_number);
            if number == Some(VXLAN_TUNNEL_PORT) {
                self.f.report(
                    npath.clone(),
                    ViolationKind::ReservedPortNumber { number: raw_number },
                );
                number = None;
            }
            if let Some(n) = number {
                if let Some(&first) = by_number.get(&n) {
                    let label = if sw.ports[first].number.is_some() {
                        "number first used here".to_owned()
                    } else {
                        format!(
                            "port {} has number {n} from its position",
                            sw.ports[first].name
                        )
                    };
                    self.f.push(
                        Violation::new(
                            npath,
                            ViolationKind::DuplicatePortNumber {
                                switch: sw.name.clone(),
                                number: raw_number,
                            },
                        )
                        .with_related(path.field("ports").index(first).field("number"), label),
                    );
                    number = None;
                } else {
                    by_number.insert(n, j);
                }
            }
            if sw.role == SwitchRoleSpec::Spine && port.role == PortRoleSpec::Server {
                self.f.report(
                    ppath.field("role"),
                    ViolationKind::ServerPortOnSpine {
                        port: format!("{}/{}", sw.name, port.name),
                    },
                );
            }
            drafts.push(PortDraft { name, number });
        }
        (by_name, drafts)
    }

    /// Builds the topology once every check passed.
    fn assemble(
        &self,
        name: Name,
        mut reserved_vni: Vec<crate::ids::VniRange>,
        mut reserved_vlan: Vec<crate::ids::VlanRange>,
        sites: Vec<Site>,
        mut servers: Vec<ServerDraft>,
    ) -> Option<Topology> {
        reserved_vni.sort();
        reserved_vlan.sort();
        // Switch ids follow name order, not file order.
        let mut order: Vec<usize> = (0..self.switches.len()).collect();
        order.sort_by(|&a, &b| self.switches[a].raw_name.cmp(self.switches[b].raw_name));
        let mut id_of = vec![SwitchId(0); self.switches.len()];
        for (id, &i) in order.iter().enumerate() {
            id_of[i] = SwitchId(u32::try_from(id).ok()?);
        }
        let key = |(s, p): SpecPort| -> Option<PortKey> {
            Some(PortKey {
                switch: id_of[s],
                port: self.switches[s].ports[p].number?,
            })
        };

        let mut switches = Vec::with_capacity(order.len());
        for &i in &order {
            let (draft, sw) = (&self.switches[i], &self.spec.switches[i]);
            let mut ports = Vec::with_capacity(draft.ports.len());
            for (j, (pd, ps)) in draft.ports.iter().zip(&sw.ports).enumerate() {
                let nic = match self.nics.get(&(i, j)) {
                    Some(&(s, n)) => {
                        let server = &self.spec.servers[s];
                        Some((server.name.parse().ok()?, server.nics[n].name.parse().ok()?))
                    }
                    None => None,
                };
                let peer = match self.peers.get(&(i, j)) {
                    Some(&far) => Some(key(far)?),
                    None => None,
                };
                ports.push(Port {
                    name: pd.name.clone()?,
                    number: pd.number?,
                    role: port_role(ps.role),
                    peer,
                    nic,
                });
            }
            ports.sort_by_key(|p| p.number);
            switches.push(Switch {
                name: draft.name.clone()?,
                rack: draft.rack.clone(),
                role: switch_role(sw.role),
                dataplane: dataplane(sw.dataplane),
                vtep: draft.vtep,
                management: sw.management.clone(),
                ports,
            });
        }

        let mut links = Vec::with_capacity(self.peers.len() / 2);
        for (&near, &far) in &self.peers {
            let (a, b) = (key(near)?, key(far)?);
            if a < b {
                links.push(Link { a, b });
            }
        }
        links.sort();

        servers.sort_by(|a, b| a.0.cmp(&b.0));
        let servers = servers
            .into_iter()
            .map(|(name, rack, nics)| {
                let mut nics = nics
                    .into_iter()
                    .map(|(name, port)| {
                        Some(Nic {
                            name,
                            port: key(port)?,
                        })
                    })
                    .collect::<Option<Vec<_>>>()?;
                nics.sort_by(|a, b| a.name.cmp(&b.name));
                Some(Server { name, rack, nics })
            })
            .collect::<Option<Vec<_>>>()?;

        let switch_index = switches
            .iter()
            .enumerate()
            .map(|(id, s)| Some((s.name.clone(), SwitchId(u32::try_from(id).ok()?))))
            .collect::<Option<_>>()?;
        Some(Topology {
            name,
            encapsulation: self.encapsulation(),
            reserved_vni,
            reserved_vlan,
            sites,
            switches,
            servers,
            links,
            switch_index,
        })
    }
}

pub(super) fn switch_path(i: usize) -> FieldPath {
    FieldPath::root().field("switches").index(i)
}

pub(super) fn duplicate(
    path: &FieldPath,
    what: &'static str,
    name: &str,
    first: FieldPath,
) -> Violation {
    Violation::new(
        path.clone(),
        ViolationKind::DuplicateName {
            what,
            name: name.to_owned(),
        },
    )
    .with_related(first, "first declared here")
}

/// Parses a list of ranges and reports the ones that overlap each other.
pub(super) fn parse_ranges<T>(
    f: &mut Findings,
    path: &FieldPath,
    raw: &[String],
    what: &'static str,
) -> Vec<IdRange<T>>
where
    T: std::str::FromStr<Err = crate::ids::IdError> + Copy + Ord + Into<u64> + fmt::Display,
{
    let parsed: Vec<(usize, IdRange<T>)> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, r)| f.parse(&path.index(i), r).map(|range| (i, range)))
        .collect();
    report_overlaps(
        f,
        what,
        &parsed,
        |i| path.index(i),
        |_, r| format!("{what} range {r}"),
    );
    parsed.into_iter().map(|(_, r)| r).collect()
}

/// Reports overlapping ranges, each at the one later in the file with the
/// earlier one as related place. Every range that overlaps an earlier one
/// is reported once, against one of them: `O(n log n)` even for a hostile
/// list of a million identical ranges. `key` orders items as in the file;
/// `path` locates one; `describe` names it in the message.
pub(super) fn report_overlaps<K, T>(
    f: &mut Findings,
    what: &'static str,
    items: &[(K, IdRange<T>)],
    path: impl Fn(K) -> FieldPath,
    describe: impl Fn(K, IdRange<T>) -> String,
) where
    K: Copy + Ord,
    T: Copy + Ord + Into<u64> + fmt::Display,
{
    let mut sorted: Vec<&(K, IdRange<T>)> = items.iter().collect();
    sorted.sort_by_key(|item| (item.1.first(), item.0));
    // Sweep by start, remembering the range reaching furthest so far.
    let mut reach: Option<&(K, IdRange<T>)> = None;
    let mut found: BTreeMap<K, (K, IdRange<T>, IdRange<T>)> = BTreeMap::new();
    for item in sorted {
        if let Some(r) = reach
            && r.1.last() >= item.1.first()
        {
            let (earlier, later) = if r.0 < item.0 { (r, item) } else { (item, r) };
            found
                .entry(later.0)
                .or_insert((earlier.0, earlier.1, later.1));
        }
        if reach.is_none_or(|r| item.1.last() > r.1.last()) {
            reach = Some(item);
        }
    }
    for (later, (earlier, re, rl)) in found {
        f.push(
            Violation::new(
                path(later),
                ViolationKind::RangeOverlap {
                    what,
                    range: rl.to_string(),
                    other: describe(earlier, re),
                },
            )
            .with_related(path(earlier), "overlapping range"),
        );
    }
}

/// A VTEP address: a unicast IPv4 address in dotted-quad form.
pub(super) fn parse_unicast_ipv4(raw: &str) -> Result<Ipv4Addr, &'static str> {
    let addr: Ipv4Addr = raw
        .parse()
        .map_err(|_| "not an IPv4 address (four decimal numbers 0-255, e.g. 192.0.2.11)")?;
    if addr.is_unspecified() {
        return Err("0.0.0.0 is not a host address");
    }
    if addr.is_broadcast() {
        return Err("the broadcast address cannot be a VTEP");
    }
    if addr.is_multicast() {
        return Err("a multicast address cannot be a VTEP");
    }
    Ok(addr)
}

pub(super) fn port_role(r: PortRoleSpec) -> PortRole {
    match r {
        PortRoleSpec::Server => PortRole::Server,
        PortRoleSpec::Fabric => PortRole::Fabric,
    }
}

fn switch_role(r: SwitchRoleSpec) -> SwitchRole {
    match r {
        SwitchRoleSpec::Leaf => SwitchRole::Leaf,
        SwitchRoleSpec::Spine => SwitchRole::Spine,
    }
}

fn dataplane(d: DataplaneSpec) -> Dataplane {
    match d {
        DataplaneSpec::Ovs => Dataplane::Ovs,
        DataplaneSpec::Linux => Dataplane::Linux,
    }
}
