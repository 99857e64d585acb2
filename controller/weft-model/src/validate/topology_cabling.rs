//! Cabling checks of `Topology::from_spec`: server NICs, links, uplinks and
//! (in `vlan` fabrics) that every leaf can reach every other.

use std::collections::{HashMap, HashSet};

use super::split_port_ref;
use super::topology::{ServerDraft, SpecPort, TopologyCheck, duplicate, switch_path};
use crate::ids::Label;
use crate::path::FieldPath;
use crate::spec::{EncapsulationSpec, PortRoleSpec, SwitchRoleSpec};
use crate::violation::{Violation, ViolationKind};

/// Why a `SWITCH/PORT` reference did not resolve.
enum Unresolved<'s> {
    /// Not of the form `SWITCH/PORT` (already reported).
    Malformed,
    UnknownSwitch(&'s str),
    UnknownPort(&'s str),
}

/// The first cable seen on each port: where, and how to describe it.
type Uses = HashMap<SpecPort, (FieldPath, String)>;

impl TopologyCheck<'_> {
    /// Checks servers and links; returns the servers (valid ones only).
    pub(super) fn cabling(&mut self) -> Vec<ServerDraft> {
        let mut uses = Uses::new();
        let servers = self.servers(&mut uses);
        let uplinked = self.links(&mut uses);
        self.uplinks(&uplinked);
        if self.spec.fabric.encapsulation == EncapsulationSpec::Vlan {
            self.partitions();
        }
        servers
    }

    fn resolve<'s>(&mut self, path: &FieldPath, raw: &'s str) -> Result<SpecPort, Unresolved<'s>> {
        let (sw, port) = match split_port_ref(raw) {
            Ok(parts) => parts,
            Err(e) => {
                self.f.report(path.clone(), ViolationKind::InvalidValue(e));
                return Err(Unresolved::Malformed);
            }
        };
        let &s = self
            .switch_by_name
            .get(sw)
            .ok_or(Unresolved::UnknownSwitch(sw))?;
        let &p = self.switches[s]
            .port_by_name
            .get(port)
            .ok_or(Unresolved::UnknownPort(sw))?;
        Ok((s, p))
    }

    fn port_ref(&self, (s, p): SpecPort) -> String {
        let sw = &self.spec.switches[s];
        format!("{}/{}", sw.name, sw.ports[p].name)
    }

    fn port_path(&self, (s, p): SpecPort) -> FieldPath {
        switch_path(s).field("ports").index(p)
    }

    /// Records a cable on `port`, or reports that it already has one.
    fn use_port(
        &mut self,
        uses: &mut Uses,
        port: SpecPort,
        path: &FieldPath,
        what: String,
    ) -> bool {
        if let Some((first_path, first)) = uses.get(&port) {
            self.f.push(
                Violation::new(
                    path.clone(),
                    ViolationKind::PortUsedTwice {
                        port: self.port_ref(port),
                        first: first.clone(),
                    },
                )
                .with_related(first_path.clone(), "first cable on this port"),
            );
            return false;
        }
        uses.insert(port, (path.clone(), what));
        true
    }

    fn servers(&mut self, uses: &mut Uses) -> Vec<ServerDraft> {
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::with_capacity(self.spec.servers.len());
        for (i, server) in self.spec.servers.iter().enumerate() {
            let path = FieldPath::root().field("servers").index(i);
            let name = self.f.label(&path.field("name"), &server.name);
            if let Some(&first) = by_name.get(server.name.as_str()) {
                let first = FieldPath::root()
                    .field("servers")
                    .index(first)
                    .field("name");
                self.f.push(duplicate(
                    &path.field("name"),
                    "server",
                    &server.name,
                    first,
                ));
            } else {
                by_name.insert(&server.name, i);
            }
            let rack = self.rack(&path.field("rack"), server.rack.as_ref());
            let nics = self.nics(&path, i, uses);
            if let Some(name) = name {
                out.push((name, rack, nics));
            }
        }
        out
    }

    fn nics(&mut self, path: &FieldPath, i: usize, uses: &mut Uses) -> Vec<(Label, SpecPort)> {
        let server = &self.spec.servers[i];
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::with_capacity(server.nics.len());
        for (j, nic) in server.nics.iter().enumerate() {
            let npath = path.field("nics").index(j);
            let name = self.f.label(&npath.field("name"), &nic.name);
            if let Some(&first) = by_name.get(nic.name.as_str()) {
                let first = path.field("nics").index(first).field("name");
                self.f
                    .push(duplicate(&npath.field("name"), "NIC", &nic.name, first));
            } else {
                by_name.insert(&nic.name, j);
            }
            let ppath = npath.field("port");
            let port = match self.resolve(&ppath, &nic.port) {
                Ok(port) => port,
                Err(Unresolved::Malformed) => continue,
                Err(Unresolved::UnknownSwitch(sw)) => {
                    self.f.report(
                        ppath,
                        ViolationKind::UnknownReference {
                            what: "switch",
                            name: sw.to_owned(),
                        },
                    );
                    continue;
                }
                Err(Unresolved::UnknownPort(_)) => {
                    self.f.report(
                        ppath,
                        ViolationKind::UnknownReference {
                            what: "port",
                            name: nic.port.clone(),
                        },
                    );
                    continue;
                }
            };
            let sw = &self.spec.switches[port.0];
            if sw.role == SwitchRoleSpec::Spine {
                self.f.push(
                    Violation::new(
                        ppath,
                        ViolationKind::NicOnSpine {
                            port: self.port_ref(port),
                            switch: sw.name.clone(),
                        },
                    )
                    .with_related(switch_path(port.0).field("role"), "declared a spine here"),
                );
                continue;
            }
            if sw.ports[port.1].role == PortRoleSpec::Fabric {
                self.f.push(
                    Violation::new(
                        ppath,
                        ViolationKind::NicOnFabricPort {
                            port: self.port_ref(port),
                        },
                    )
                    .with_related(
                        self.port_path(port).field("role"),
                        "declared a fabric port here",
                    ),
                );
                continue;
            }
            let what = format!("NIC {} of server {}", nic.name, server.name);
            if self.use_port(uses, port, &ppath, what) {
                self.nics.insert(port, (i, j));
                if let Some(name) = name {
                    out.push((name, port));
                }
            }
        }
        out
    }

    /// Checks links; returns the switches with at least one linked fabric port.
    fn links(&mut self, uses: &mut Uses) -> HashSet<usize> {
        let mut uplinked = HashSet::new();
        for (i, link) in self.spec.links.iter().enumerate() {
            let path = FieldPath::root().field("links").index(i);
            let ends = [(path.field("a"), &link.a), (path.field("b"), &link.b)];
            let mut resolved: [Option<SpecPort>; 2] = [None, None];
            for (k, (epath, raw)) in ends.iter().enumerate() {
                resolved[k] = match self.resolve(epath, raw) {
                    Ok(port) => Some(port),
                    Err(Unresolved::Malformed) => None,
                    Err(Unresolved::UnknownSwitch(sw)) => {
                        let missing = format!("there is no switch named {sw:?}");
                        self.f.report(
                            epath.clone(),
                            ViolationKind::DanglingLink {
                                end: (*raw).clone(),
                                missing,
                            },
                        );
                        None
                    }
                    Err(Unresolved::UnknownPort(sw)) => {
                        let missing = format!("switch {sw} has no port with that name");
                        self.f.report(
                            epath.clone(),
                            ViolationKind::DanglingLink {
                                end: (*raw).clone(),
                                missing,
                            },
                        );
                        None
                    }
                };
            }
            if let [Some(a), Some(b)] = resolved
                && a.0 == b.0
            {
                self.f.report(
                    path.clone(),
                    ViolationKind::SelfLink {
                        a: link.a.clone(),
                        b: link.b.clone(),
                        switch: self.spec.switches[a.0].name.clone(),
                    },
                );
                continue;
            }
            let mut usable = [false, false];
            for (k, (epath, _)) in ends.iter().enumerate() {
                let Some(port) = resolved[k] else {
                    self.unresolved_link_ends = true;
                    continue;
                };
                // The switch has a link, even if something is wrong with
                // it: one mistake, one report.
                uplinked.insert(port.0);
                if self.spec.switches[port.0].ports[port.1].role == PortRoleSpec::Server {
                    self.f.push(
                        Violation::new(
                            epath.clone(),
                            ViolationKind::LinkOnServerPort {
                                port: self.port_ref(port),
                            },
                        )
                        .with_related(
                            self.port_path(port).field("role"),
                            "declared a server port here",
                        ),
                    );
                    continue;
                }
                let far =
                    resolved[1 - k].map_or_else(|| ends[1 - k].1.clone(), |p| self.port_ref(p));
                usable[k] = self.use_port(uses, port, epath, format!("the link to {far}"));
            }
            if let ([Some(a), Some(b)], [true, true]) = (resolved, usable) {
                self.peers.insert(a, b);
                self.peers.insert(b, a);
            }
        }
        uplinked
    }

    /// Leaves must have a link. Skipped while some link end does not
    /// resolve: the leaf it was meant for would be reported twice.
    fn uplinks(&mut self, uplinked: &HashSet<usize>) {
        if self.unresolved_link_ends {
            return;
        }
        for (i, sw) in self.spec.switches.iter().enumerate() {
            // A second switch of the same name cannot be linked to: its
            // name is the problem, already reported.
            let referable = self.switch_by_name.get(sw.name.as_str()) == Some(&i);
            if sw.role == SwitchRoleSpec::Leaf && referable && !uplinked.contains(&i) {
                self.f.report(
                    switch_path(i).field("name"),
                    ViolationKind::LeafWithoutUplink {
                        switch: sw.name.clone(),
                    },
                );
            }
        }
    }

    /// In `vlan` fabrics networks ride trunks between switches, so every
    /// leaf must reach the first one over links. Leaves without any uplink
    /// are already reported.
    fn partitions(&mut self) {
        let n = self.spec.switches.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        for (&(a, _), &(b, _)) in &self.peers {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra] = rb;
        }
        let linked: HashSet<usize> = self.peers.keys().map(|&(s, _)| s).collect();
        let mut leaves = (0..n)
            .filter(|i| self.spec.switches[*i].role == SwitchRoleSpec::Leaf && linked.contains(i));
        let Some(first) = leaves.next() else { return };
        let rest: Vec<usize> = leaves.collect();
        let first_root = root(&mut parent, first);
        for i in rest {
            if root(&mut parent, i) != first_root {
                self.f.push(
                    Violation::new(
                        switch_path(i).field("name"),
                        ViolationKind::FabricPartitioned {
                            switch: self.spec.switches[i].name.clone(),
                            other: self.spec.switches[first].name.clone(),
                        },
                    )
                    .with_related(
                        switch_path(first).field("name"),
                        "not reachable from this leaf",
                    ),
                );
            }
        }
    }
}
