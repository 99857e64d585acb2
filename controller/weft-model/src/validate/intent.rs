//! `Intent::from_spec`: operators and leases; networks, attachments and
//! allocation are in `intent_networks`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::topology::report_overlaps;
use super::{Findings, split_port_ref};
use crate::ids::{IdRange, Name, VlanId, VlanRange, Vni, VniRange};
use crate::intent::{AttachMode, Intent, Lease, Network, Operator, Quotas};
use crate::path::FieldPath;
use crate::spec::{IntentSpec, LeaseSpec};
use crate::topology::{Encapsulation, PortKey, PortRole, SwitchRole, Topology};
use crate::violation::{Violation, ViolationKind};

#[derive(Debug)]
pub(super) struct OperatorDraft {
    pub(super) name: Option<Name>,
    pub(super) lease: Option<LeaseDraft>,
    pub(super) networks: Vec<NetworkDraft>,
}

#[derive(Debug)]
pub(super) struct LeaseDraft {
    pub(super) ports: BTreeSet<PortKey>,
    pub(super) vni: Option<VniRange>,
    pub(super) vlan: Option<VlanRange>,
    pub(super) quotas: Quotas,
}

#[derive(Debug)]
pub(super) struct NetworkDraft {
    pub(super) name: Option<Name>,
    pub(super) vni: Option<Vni>,
    pub(super) fabric_vlan: Option<VlanId>,
    pub(super) attachments: BTreeMap<PortKey, AttachMode>,
}

/// State shared by the intent passes.
#[derive(Debug)]
pub(super) struct IntentCheck<'a> {
    pub(super) topo: &'a Topology,
    pub(super) spec: &'a IntentSpec,
    pub(super) f: Findings,
    /// Who leases each port: (operator index, index in its `lease.ports`).
    pub(super) lessee: HashMap<PortKey, (usize, usize)>,
    pub(super) ops: Vec<OperatorDraft>,
}

impl Intent {
    /// Validates an intent document against `topo`. Returns every violation
    /// found, or the intent with every missing VNI (and fabric VLAN, in
    /// `vlan` fabrics) allocated: for each operator, in file order, the
    /// lowest value of its delegated range that no network of the file uses.
    pub fn from_spec(topo: &Topology, spec: &IntentSpec) -> Result<Intent, Vec<Violation>> {
        let mut check = IntentCheck {
            topo,
            spec,
            f: Findings::default(),
            lessee: HashMap::new(),
            ops: Vec::with_capacity(spec.operators.len()),
        };
        check.operators();
        check.range_overlaps();
        check.networks();
        check.allocate();
        if !check.f.is_empty() {
            return Err(check.f.0);
        }
        let built = check.build();
        Findings::default().into_result(built)
    }
}

pub(super) fn op_path(i: usize) -> FieldPath {
    FieldPath::root().field("operators").index(i)
}

impl<'a> IntentCheck<'a> {
    fn operators(&mut self) {
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, op) in self.spec.operators.iter().enumerate() {
            let path = op_path(i);
            let name = self.f.name(&path.field("name"), &op.name);
            if let Some(&first) = by_name.get(op.name.as_str()) {
                self.f.push(
                    Violation::new(
                        path.field("name"),
                        ViolationKind::DuplicateName {
                            what: "operator",
                            name: op.name.clone(),
                        },
                    )
                    .with_related(op_path(first).field("name"), "first declared here"),
                );
            } else {
                by_name.insert(&op.name, i);
            }
            let lease = op.lease.as_ref().map(|l| self.lease(i, l));
            self.ops.push(OperatorDraft {
                name,
                lease,
                networks: Vec::new(),
            });
        }
    }

    /// Resolves `SWITCH/PORT` against the topology, reporting why not.
    pub(super) fn resolve(&mut self, path: &FieldPath, raw: &str) -> Option<PortKey> {
        let (sw, _) = match split_port_ref(raw) {
            Ok(parts) => parts,
            Err(e) => {
                self.f.report(path.clone(), ViolationKind::InvalidValue(e));
                return None;
            }
        };
        if self.topo.switch_id(sw).is_none() {
            self.f.report(
                path.clone(),
                ViolationKind::UnknownReference {
                    what: "switch",
                    name: sw.to_owned(),
                },
            );
            return None;
        }
        let key = self.topo.resolve_port(raw);
        if key.is_none() {
            self.f.report(
                path.clone(),
                ViolationKind::UnknownReference {
                    what: "port",
                    name: raw.to_owned(),
                },
            );
        }
        key
    }

    fn lease(&mut self, i: usize, spec: &LeaseSpec) -> LeaseDraft {
        let path = op_path(i).field("lease");
        let mut ports = BTreeSet::new();
        for (j, raw) in spec.ports.iter().enumerate() {
            let ppath = path.field("ports").index(j);
            let Some(key) = self.resolve(&ppath, raw) else {
                continue;
            };
            let sw = self.topo.switch(key.switch);
            let reason = if sw.role == SwitchRole::Spine {
                Some("it is on a spine switch")
            } else if self
                .topo
                .port(key)
                .is_some_and(|p| p.role == PortRole::Fabric)
            {
                Some("it is a fabric port")
            } else {
                None
            };
            if let Some(reason) = reason {
                self.f.report(
                    ppath,
                    ViolationKind::PortNotLeasable {
                        port: raw.clone(),
                        reason,
                    },
                );
                continue;
            }
            if let Some(&(other, k)) = self.lessee.get(&key) {
                let first = op_path(other).field("lease").field("ports").index(k);
                let v = if other == i {
                    Violation::new(
                        ppath,
                        ViolationKind::DuplicateEntry {
                            what: "leased port",
                            value: raw.clone(),
                        },
                    )
                    .with_related(first, "first listed here")
                } else {
                    let operator = self.spec.operators[other].name.clone();
                    Violation::new(
                        ppath,
                        ViolationKind::PortAlreadyLeased {
                            port: raw.clone(),
                            operator,
                        },
                    )
                    .with_related(first, "leased here")
                };
                self.f.push(v);
                continue;
            }
            self.lessee.insert(key, (i, j));
            ports.insert(key);
        }

        let vni_path = path.field("vni");
        let vni: Option<VniRange> = self.f.parse(&vni_path, &spec.vni);
        if let Some(range) = vni {
            self.reserved(&vni_path, "VNI", range, &self.topo.reserved_vni);
        }
        let vlan_path = path.field("vlan");
        let vlan = match (self.topo.encapsulation, spec.vlan.as_deref()) {
            (Encapsulation::Vlan, None) => {
                self.f.report(
                    vlan_path,
                    ViolationKind::MissingField {
                        field: "lease.vlan",
                        why: "this fabric carries networks on fabric VLANs",
                    },
                );
                None
            }
            (Encapsulation::Vxlan, Some(_)) => {
                self.f.report(
                    vlan_path,
                    ViolationKind::FieldNotAllowed {
                        field: "lease.vlan",
                        why: "this fabric uses vxlan, networks have no fabric VLAN",
                    },
                );
                None
            }
            (Encapsulation::Vlan, Some(raw)) => {
                let range: Option<VlanRange> = self.f.parse(&vlan_path, raw);
                if let Some(range) = range {
                    self.reserved(&vlan_path, "VLAN", range, &self.topo.reserved_vlan);
                }
                range
            }
            (Encapsulation::Vxlan, None) => None,
        };
        let quotas = self.quotas(&path.field("quotas"), spec);
        LeaseDraft {
            ports,
            vni,
            vlan,
            quotas,
        }
    }

    fn reserved<T>(
        &mut self,
        path: &FieldPath,
        what: &'static str,
        range: IdRange<T>,
        reserved: &[IdRange<T>],
    ) where
        T: Copy + Ord + Into<u64> + std::fmt::Display,
    {
        for r in reserved.iter().filter(|r| r.overlaps(&range)) {
            self.f.report(
                path.clone(),
                ViolationKind::RangeReserved {
                    what,
                    range: range.to_string(),
                    reserved: r.to_string(),
                },
            );
        }
    }

    fn quotas(&mut self, path: &FieldPath, spec: &LeaseSpec) -> Quotas {
        let d = Quotas::default();
        let q = spec.quotas;
        let mut one = |field: &'static str, raw: Option<u64>, default: u32| match raw {
            None => default,
            Some(v) => u32::try_from(v).unwrap_or_else(|_| {
                self.f.report(
                    path.field(field),
                    ViolationKind::NumberTooLarge {
                        what: "a quota",
                        value: v,
                        max: u64::from(u32::MAX),
                    },
                );
                default
            }),
        };
        Quotas {
            networks: one("networks", q.networks, d.networks),
            attachments: one("attachments", q.attachments, d.attachments),
            entries_per_switch: one(
                "entries_per_switch",
                q.entries_per_switch,
                d.entries_per_switch,
            ),
        }
    }

    /// Delegated ranges must be disjoint between operators.
    fn range_overlaps(&mut self) {
        let vni: Vec<(usize, VniRange)> = self
            .ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| Some((i, o.lease.as_ref()?.vni?)))
            .collect();
        let vlan: Vec<(usize, VlanRange)> = self
            .ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| Some((i, o.lease.as_ref()?.vlan?)))
            .collect();
        let names: Vec<String> = self.spec.operators.iter().map(|o| o.name.clone()).collect();
        let describe = |i: usize, r: String| format!("operator {}'s range {r}", names[i]);
        report_overlaps(
            &mut self.f,
            "VNI",
            &vni,
            |i| op_path(i).field("lease").field("vni"),
            |i, r| describe(i, r.to_string()),
        );
        report_overlaps(
            &mut self.f,
            "VLAN",
            &vlan,
            |i| op_path(i).field("lease").field("vlan"),
            |i, r| describe(i, r.to_string()),
        );
    }

    fn build(self) -> Option<Intent> {
        let mut operators = BTreeMap::new();
        for (draft, spec) in self.ops.into_iter().zip(&self.spec.operators) {
            let lease = match draft.lease {
                Some(l) => Some(Lease {
                    ports: l.ports,
                    vni: l.vni?,
                    vlan: l.vlan,
                    quotas: l.quotas,
                }),
                None => None,
            };
            let mut networks = BTreeMap::new();
            for n in draft.networks {
                let name = n.name?;
                networks.insert(
                    name.clone(),
                    Network {
                        name,
                        vni: n.vni?,
                        fabric_vlan: n.fabric_vlan,
                        attachments: n.attachments,
                    },
                );
            }
            let name = draft.name?;
            operators.insert(
                name.clone(),
                Operator {
                    name,
                    display_name: spec.display_name.clone(),
                    lease,
                    networks,
                },
            );
        }
        Some(Intent { operators })
    }
}
