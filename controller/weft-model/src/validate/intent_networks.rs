//! Networks and attachments of `Intent::from_spec`, and the allocation of
//! VNIs and fabric VLANs the file leaves out.

use std::collections::{BTreeMap, HashMap};

use super::count;
use super::intent::{IntentCheck, NetworkDraft, op_path};
use crate::alloc::{IdPool, PoolId, QuotaKind};
use crate::ids::{IdRange, VlanId, Vni};
use crate::intent::AttachMode;
use crate::path::FieldPath;
use crate::spec::{AttachModeSpec, NetworkSpec, OperatorSpec};
use crate::topology::{Encapsulation, PortKey};
use crate::violation::{Violation, ViolationKind};

/// A network by position: (operator index, network index).
type NetPos = (usize, usize);

/// What one operator's attachments already put on a port.
#[derive(Debug, Default)]
struct PortUse {
    /// The access attachment: (network index, attachment index).
    access: Option<(usize, usize)>,
    tags: HashMap<VlanId, (usize, usize)>,
}

fn net_path((i, j): NetPos) -> FieldPath {
    op_path(i).field("networks").index(j)
}

impl IntentCheck<'_> {
    fn net_name(&self, (i, j): NetPos) -> String {
        let op = &self.spec.operators[i];
        format!("operators/{}/networks/{}", op.name, op.networks[j].name)
    }

    pub(super) fn networks(&mut self) {
        // Identifiers are global: who uses each VNI and fabric VLAN.
        let mut vnis: HashMap<Vni, NetPos> = HashMap::new();
        let mut vlans: HashMap<VlanId, NetPos> = HashMap::new();
        for (i, op) in self.spec.operators.iter().enumerate() {
            if self.ops[i].lease.is_none() && !op.networks.is_empty() {
                self.f.report(
                    op_path(i).field("networks"),
                    ViolationKind::NoLease {
                        operator: op.name.clone(),
                    },
                );
            }
            self.network_quota(i, op);
            let mut by_name: HashMap<&str, usize> = HashMap::new();
            let mut ports: HashMap<PortKey, PortUse> = HashMap::new();
            let mut attachments = 0usize;
            for (j, net) in op.networks.iter().enumerate() {
                let path = net_path((i, j));
                let name = self.f.name(&path.field("name"), &net.name);
                if let Some(&first) = by_name.get(net.name.as_str()) {
                    self.f.push(
                        Violation::new(
                            path.field("name"),
                            ViolationKind::DuplicateName {
                                what: "network",
                                name: net.name.clone(),
                            },
                        )
                        .with_related(net_path((i, first)).field("name"), "first declared here"),
                    );
                } else {
                    by_name.insert(&net.name, j);
                }
                let vni = self.vni((i, j), net, &mut vnis);
                let fabric_vlan = self.fabric_vlan((i, j), net, &mut vlans);
                let attached = self.attachments((i, j), net, &mut ports, &mut attachments);
                self.ops[i].networks.push(NetworkDraft {
                    name,
                    vni,
                    fabric_vlan,
                    attachments: attached,
                });
            }
        }
    }

    fn network_quota(&mut self, i: usize, op: &OperatorSpec) {
        let Some(lease) = &self.ops[i].lease else {
            return;
        };
        let limit = lease.quotas.networks;
        let requested = count(op.networks.len());
        if requested > u64::from(limit) {
            let at = usize::try_from(limit).unwrap_or(usize::MAX);
            let mut v = Violation::new(
                net_path((i, at)).field("name"),
                ViolationKind::QuotaExceeded {
                    quota: QuotaKind::Networks,
                    limit,
                    requested,
                },
            );
            if op
                .lease
                .as_ref()
                .is_some_and(|l| l.quotas.networks.is_some())
            {
                v = v.with_related(
                    op_path(i).field("lease").field("quotas").field("networks"),
                    "limit set here",
                );
            }
            self.f.push(v);
        }
    }

    fn vni(
        &mut self,
        pos: NetPos,
        net: &NetworkSpec,
        used: &mut HashMap<Vni, NetPos>,
    ) -> Option<Vni> {
        let raw = net.vni?;
        let path = net_path(pos).field("vni");
        let vni: Vni = self.f.number(&path, raw)?;
        let range = self.ops[pos.0].lease.as_ref().and_then(|l| l.vni);
        self.check_id(&path, ("VNI", "vni"), vni, range, pos, used)
    }

    fn fabric_vlan(
        &mut self,
        pos: NetPos,
        net: &NetworkSpec,
        used: &mut HashMap<VlanId, NetPos>,
    ) -> Option<VlanId> {
        let raw = net.fabric_vlan?;
        let path = net_path(pos).field("fabric_vlan");
        if self.topo.encapsulation == Encapsulation::Vxlan {
            self.f.report(
                path,
                ViolationKind::FieldNotAllowed {
                    field: "fabric_vlan",
                    why: "this fabric uses vxlan: a network is carried by its VNI alone",
                },
            );
            return None;
        }
        let vlan: VlanId = self.f.number(&path, raw)?;
        let range = self.ops[pos.0].lease.as_ref().and_then(|l| l.vlan);
        self.check_id(
            &path,
            ("fabric VLAN", "fabric_vlan"),
            vlan,
            range,
            pos,
            used,
        )
    }

    /// An explicit identifier: inside the lease's range and used once.
    /// `what` names it in messages and gives its field in a network.
    fn check_id<T>(
        &mut self,
        path: &FieldPath,
        (what, field): (&'static str, &'static str),
        value: T,
        range: Option<IdRange<T>>,
        pos: NetPos,
        used: &mut HashMap<T, NetPos>,
    ) -> Option<T>
    where
        T: Copy + Ord + Into<u64> + std::hash::Hash + std::fmt::Display,
    {
        let lease_field = if field == "vni" { "vni" } else { "vlan" };
        if let Some(range) = range
            && !range.contains(value)
        {
            self.f.push(
                Violation::new(
                    path.clone(),
                    ViolationKind::OutsideRange {
                        what,
                        value: value.into(),
                        range: range.to_string(),
                    },
                )
                .with_related(
                    op_path(pos.0).field("lease").field(lease_field),
                    "the operator's delegated range",
                ),
            );
            return None;
        }
        if let Some(&first) = used.get(&value) {
            self.f.push(
                Violation::new(
                    path.clone(),
                    ViolationKind::IdInUse {
                        what,
                        value: value.into(),
                        network: self.net_name(first),
                    },
                )
                .with_related(net_path(first).field(field), "first used here"),
            );
            return None;
        }
        used.insert(value, pos);
        Some(value)
    }

    fn attachments(
        &mut self,
        pos: NetPos,
        net: &NetworkSpec,
        ports: &mut HashMap<PortKey, PortUse>,
        total: &mut usize,
    ) -> BTreeMap<PortKey, AttachMode> {
        let i = pos.0;
        let mut out = BTreeMap::new();
        let mut first_of: HashMap<PortKey, usize> = HashMap::new();
        for (k, att) in net.attachments.iter().enumerate() {
            let path = net_path(pos).field("attachments").index(k);
            *total += 1;
            self.attachment_quota(i, &path, *total);
            let ppath = path.field("port");
            let Some(port) = self.resolve(&ppath, &att.port) else {
                continue;
            };
            if let Some(&first) = first_of.get(&port) {
                self.f.push(
                    Violation::new(
                        ppath,
                        ViolationKind::DuplicateEntry {
                            what: "attachment of port",
                            value: att.port.clone(),
                        },
                    )
                    .with_related(
                        net_path(pos)
                            .field("attachments")
                            .index(first)
                            .field("port"),
                        "first attached here",
                    ),
                );
                continue;
            }
            first_of.insert(port, k);
            if let Some(lease) = &self.ops[i].lease
                && !lease.ports.contains(&port)
            {
                let holder = self.lessee.get(&port).copied();
                let mut v = Violation::new(
                    ppath.clone(),
                    ViolationKind::PortNotLeased {
                        port: att.port.clone(),
                        operator: self.spec.operators[i].name.clone(),
                        lessee: holder.map(|(o, _)| self.spec.operators[o].name.clone()),
                    },
                );
                if let Some((o, n)) = holder {
                    v = v.with_related(
                        op_path(o).field("lease").field("ports").index(n),
                        "leased here",
                    );
                }
                self.f.push(v);
                continue;
            }
            let mode = match att.mode {
                AttachModeSpec::Access => AttachMode::Access,
                AttachModeSpec::Tagged(raw) => {
                    match self
                        .f
                        .number::<VlanId>(&path.field("mode").field("tagged"), raw)
                    {
                        Some(tag) => AttachMode::Tagged(tag),
                        None => continue,
                    }
                }
            };
            if self.port_conflict(pos, k, port, mode, &att.port, ports) {
                out.insert(port, mode);
            }
        }
        out
    }

    fn attachment_quota(&mut self, i: usize, path: &FieldPath, used: usize) {
        let Some(lease) = &self.ops[i].lease else {
            return;
        };
        let limit = lease.quotas.attachments;
        // Report once, at the first attachment past the limit.
        if count(used) != u64::from(limit) + 1 {
            return;
        }
        let op = &self.spec.operators[i];
        let requested = count(op.networks.iter().map(|n| n.attachments.len()).sum());
        let mut v = Violation::new(
            path.clone(),
            ViolationKind::QuotaExceeded {
                quota: QuotaKind::Attachments,
                limit,
                requested,
            },
        );
        if op
            .lease
            .as_ref()
            .is_some_and(|l| l.quotas.attachments.is_some())
        {
            v = v.with_related(
                op_path(i)
                    .field("lease")
                    .field("quotas")
                    .field("attachments"),
                "limit set here",
            );
        }
        self.f.push(v);
    }

    /// One access attachment per port and distinct tags, across the
    /// operator's networks. Returns whether the attachment is consistent.
    fn port_conflict(
        &mut self,
        (i, j): NetPos,
        k: usize,
        port: PortKey,
        mode: AttachMode,
        raw: &str,
        ports: &mut HashMap<PortKey, PortUse>,
    ) -> bool {
        let here = net_path((i, j)).field("attachments").index(k);
        let usage = ports.entry(port).or_default();
        let (first, kind) = match mode {
            AttachMode::Access => match usage.access {
                Some(first) => (first, None),
                None => {
                    usage.access = Some((j, k));
                    return true;
                }
            },
            AttachMode::Tagged(tag) => match usage.tags.get(&tag) {
                Some(&first) => (first, Some(tag)),
                None => {
                    usage.tags.insert(tag, (j, k));
                    return true;
                }
            },
        };
        let network = self.spec.operators[i].networks[first.0].name.clone();
        let (kind, field) = match kind {
            None => (
                ViolationKind::AccessConflict {
                    port: raw.to_owned(),
                    network,
                },
                // `mode` may be left out (access is the default).
                here.field("port"),
            ),
            Some(tag) => (
                ViolationKind::TagConflict {
                    port: raw.to_owned(),
                    tag: tag.into(),
                    network,
                },
                here.field("mode").field("tagged"),
            ),
        };
        let first_path = net_path((i, first.0))
            .field("attachments")
            .index(first.1)
            .field("port");
        self.f
            .push(Violation::new(field, kind).with_related(first_path, "first attached here"));
        false
    }

    /// Allocates the VNIs (and fabric VLANs) the file leaves out: per
    /// operator, in file order, the lowest value of the delegated range that
    /// no network of the file uses.
    pub(super) fn allocate(&mut self) {
        let vlan_fabric = self.topo.encapsulation == Encapsulation::Vlan;
        for i in 0..self.ops.len() {
            let Some(lease) = &self.ops[i].lease else {
                continue;
            };
            let (vni_range, vlan_range) = (lease.vni, lease.vlan);
            if let Some(range) = vni_range {
                let taken: Vec<Vni> = self.ops[i].networks.iter().filter_map(|n| n.vni).collect();
                let got = self.fill(i, range, &taken, |n| n.vni.is_some(), "vni");
                for (j, v) in got {
                    self.ops[i].networks[j].vni = Some(v);
                }
            }
            if let (true, Some(range)) = (vlan_fabric, vlan_range) {
                let taken: Vec<VlanId> = self.ops[i]
                    .networks
                    .iter()
                    .filter_map(|n| n.fabric_vlan)
                    .collect();
                let got = self.fill(i, range, &taken, |n| n.fabric_vlan.is_some(), "fabric_vlan");
                for (j, v) in got {
                    self.ops[i].networks[j].fabric_vlan = Some(v);
                }
            }
        }
    }

    /// Allocates one value per network of operator `i` for which `given`
    /// is false; returns (network index, value).
    fn fill<T: PoolId + std::fmt::Display>(
        &mut self,
        i: usize,
        range: IdRange<T>,
        taken: &[T],
        given: impl Fn(&NetworkSpec) -> bool,
        field: &'static str,
    ) -> Vec<(usize, T)> {
        let mut pool = IdPool::new(range);
        for &v in taken {
            // Values outside the range or used twice are already reported.
            let _ = pool.reserve(v);
        }
        let mut out = Vec::new();
        for (j, net) in self.spec.operators[i].networks.iter().enumerate() {
            if given(net) {
                continue;
            }
            match pool.allocate() {
                Ok(v) => out.push((j, v)),
                Err(_) => {
                    let what = if field == "vni" { "VNI" } else { "fabric VLAN" };
                    self.f.push(
                        Violation::new(
                            net_path((i, j)).field("name"),
                            ViolationKind::PoolExhausted {
                                what,
                                range: range.to_string(),
                            },
                        )
                        .with_related(
                            op_path(i).field("lease").field(if field == "vni" {
                                "vni"
                            } else {
                                "vlan"
                            }),
                            "the operator's delegated range",
                        ),
                    );
                    // Every later network would fail the same way.
                    break;
                }
            }
        }
        out
    }
}
