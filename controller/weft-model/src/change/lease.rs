//! `SetLease`: checking a new lease against the fabric and the other
//! operators, and the cascade when it drops ports.

use std::fmt;

use super::{ChangeError, Effect, len_u64, operator_name, topo_port_ref};
use crate::alloc::QuotaKind;
use crate::ids::{IdRange, Name};
use crate::intent::{Intent, Lease};
use crate::path::FieldPath;
use crate::topology::{Encapsulation, PortRole, SwitchRole, Topology};
use crate::violation::{Violation, ViolationKind};

impl Intent {
    pub(super) fn set_lease(
        &mut self,
        topo: &Topology,
        operator: Name,
        lease: Lease,
    ) -> Result<Vec<Effect>, ChangeError> {
        let op = self.operator_or_err(&operator)?;
        let violations = self.lease_violations(topo, &operator, &lease);
        if !violations.is_empty() {
            return Err(ChangeError::Invalid(violations));
        }

        // Attachments on ports the new lease no longer holds are detached.
        let mut effects = Vec::new();
        let mut kept_attachments = 0usize;
        for net in op.networks.values() {
            for (&port, &mode) in &net.attachments {
                if lease.ports.contains(&port) {
                    kept_attachments += 1;
                } else {
                    effects.push(Effect::Detached {
                        operator: operator.clone(),
                        network: net.name.clone(),
                        vni: net.vni,
                        fabric_vlan: net.fabric_vlan,
                        port,
                        mode,
                    });
                }
            }
        }
        lease
            .quotas
            .check(QuotaKind::Networks, len_u64(op.networks.len()))?;
        lease
            .quotas
            .check(QuotaKind::Attachments, len_u64(kept_attachments))?;

        if let Some(op) = self.operators.get_mut(&operator) {
            for net in op.networks.values_mut() {
                net.attachments.retain(|port, _| lease.ports.contains(port));
            }
            op.lease = Some(lease);
        }
        effects.push(Effect::LeaseSet { operator });
        Ok(effects)
    }

    /// Every problem of `lease` as `operator`'s new lease, at paths under
    /// `lease` (`lease.ports[2]`, `lease.vni`, …).
    fn lease_violations(&self, topo: &Topology, operator: &Name, lease: &Lease) -> Vec<Violation> {
        let root = FieldPath::root().field("lease");
        let mut out = Vec::new();
        let others = || self.operators.values().filter(|o| &o.name != operator);

        for (i, &port) in lease.ports.iter().enumerate() {
            let path = root.field("ports").index(i);
            let reason = match (topo.switches.get(port.switch.index()), topo.port(port)) {
                (Some(sw), Some(p))
                    if sw.role != SwitchRole::Leaf || p.role != PortRole::Server =>
                {
                    Some(if sw.role != SwitchRole::Leaf {
                        "it is on a spine switch"
                    } else {
                        "it is a fabric port"
                    })
                }
                (Some(_), Some(_)) => None,
                _ => {
                    out.push(Violation::new(
                        path,
                        ViolationKind::UnknownReference {
                            what: "port",
                            name: topo_port_ref(topo, port),
                        },
                    ));
                    continue;
                }
            };
            if let Some(reason) = reason {
                out.push(Violation::new(
                    path,
                    ViolationKind::PortNotLeasable {
                        port: topo.port_ref(port),
                        reason,
                    },
                ));
                continue;
            }
            if let Some(other) =
                others().find(|o| o.lease.as_ref().is_some_and(|l| l.ports.contains(&port)))
            {
                out.push(Violation::new(
                    path,
                    ViolationKind::PortAlreadyLeased {
                        port: topo.port_ref(port),
                        operator: other.name.to_string(),
                    },
                ));
            }
        }

        let vni_path = root.field("vni");
        check_range(&mut out, &vni_path, "VNI", lease.vni, &topo.reserved_vni);
        for other in others() {
            if let Some(l) = other.lease.as_ref().filter(|l| l.vni.overlaps(&lease.vni)) {
                out.push(overlap(&vni_path, "VNI", lease.vni, &other.name, l.vni));
            }
        }

        let vlan_path = root.field("vlan");
        match (topo.encapsulation, lease.vlan) {
            (Encapsulation::Vlan, None) => out.push(Violation::new(
                vlan_path.clone(),
                ViolationKind::MissingField {
                    field: "lease.vlan",
                    why: "this fabric carries networks on fabric VLANs",
                },
            )),
            (Encapsulation::Vxlan, Some(_)) => out.push(Violation::new(
                vlan_path.clone(),
                ViolationKind::FieldNotAllowed {
                    field: "lease.vlan",
                    why: "this fabric uses vxlan, networks have no fabric VLAN",
                },
            )),
            (Encapsulation::Vlan, Some(range)) => {
                check_range(&mut out, &vlan_path, "VLAN", range, &topo.reserved_vlan);
                for other in others() {
                    if let Some(theirs) = other
                        .lease
                        .as_ref()
                        .and_then(|l| l.vlan)
                        .filter(|r| r.overlaps(&range))
                    {
                        out.push(overlap(&vlan_path, "VLAN", range, &other.name, theirs));
                    }
                }
            }
            (Encapsulation::Vxlan, None) => {}
        }

        // Existing networks must keep identifiers inside the new ranges.
        if let Some(op) = self.operators.get(operator) {
            for net in op.networks.values() {
                if !lease.vni.contains(net.vni) {
                    out.push(
                        Violation::new(
                            vni_path.clone(),
                            ViolationKind::OutsideRange {
                                what: "VNI",
                                value: net.vni.into(),
                                range: lease.vni.to_string(),
                            },
                        )
                        .with_related(
                            FieldPath::root(),
                            format!("used by {}/networks/{}", operator_name(operator), net.name),
                        ),
                    );
                }
                if let (Some(fv), Some(range)) = (net.fabric_vlan, lease.vlan)
                    && !range.contains(fv)
                {
                    out.push(
                        Violation::new(
                            vlan_path.clone(),
                            ViolationKind::OutsideRange {
                                what: "VLAN",
                                value: fv.into(),
                                range: range.to_string(),
                            },
                        )
                        .with_related(
                            FieldPath::root(),
                            format!("used by {}/networks/{}", operator_name(operator), net.name),
                        ),
                    );
                }
            }
        }
        out
    }
}

fn check_range<T>(
    out: &mut Vec<Violation>,
    path: &FieldPath,
    what: &'static str,
    range: IdRange<T>,
    reserved: &[IdRange<T>],
) where
    T: Copy + Ord + Into<u64> + fmt::Display,
{
    for r in reserved.iter().filter(|r| r.overlaps(&range)) {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::RangeReserved {
                what,
                range: range.to_string(),
                reserved: r.to_string(),
            },
        ));
    }
}

fn overlap<T>(
    path: &FieldPath,
    what: &'static str,
    range: IdRange<T>,
    other: &Name,
    theirs: IdRange<T>,
) -> Violation
where
    T: Copy + Ord + Into<u64> + fmt::Display,
{
    Violation::new(
        path.clone(),
        ViolationKind::RangeOverlap {
            what,
            range: range.to_string(),
            other: format!("operator {other}'s range {theirs}"),
        },
    )
}
