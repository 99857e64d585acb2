//! The policy checks of a walk: every delivery, every frame put on a wire
//! between switches, every exit and every rule-level anomaly, judged
//! against the ingress class's context.

use smallvec::SmallVec;
use weft_model::{AttachMode, PortKey, PortNo, SwitchId, VXLAN_TUNNEL_PORT};

use super::{Carrier, Dep, Seg, Walk, Wire};
use crate::interp::{Anomaly, ExitWhy, LocalOutcome};
use crate::policy::{Ctx, DropReason, OpIdx};
use crate::render::{self, TunnelView};
use crate::report::{Egress, FindingKind};
use crate::sym::{Cond, Outer, State, Test, Val};

type Parts = SmallVec<[(State, bool); 2]>;

/// The branches of `s` a test's result describes.
fn parts(t: Test, s: State) -> Parts {
    match t {
        Test::True => smallvec::smallvec![(s, true)],
        Test::False => smallvec::smallvec![(s, false)],
        Test::Split(p) => p.into_iter().collect(),
    }
}

impl Walk<'_, '_> {
    pub(super) fn deliver(&mut self, q: PortKey, s: State) {
        let env = self.env;
        let lessee = env.policy.lessee(q);
        // Strings are built only for findings: this runs for every copy.
        let egress = |s: &State| {
            let frame = render::frame(&s.h, &s.c, TunnelView::None);
            Some(Egress {
                at: env.fabric.port_ref(q),
                frame,
            })
        };
        let (vni, op) = match self.ctx {
            Ctx::Admitted { vni, op } => (vni, op),
            Ctx::MustDrop { reason, src } => {
                let (kind, dst) = match src {
                    Some(src) if lessee != Some(src) => {
                        (FindingKind::CrossOperatorDelivery, lessee)
                    }
                    _ => (reason_kind(reason), lessee),
                };
                let summary = format!(
                    "{} delivered at {} ({})",
                    reason_text(reason),
                    env.fabric.port_ref(q),
                    self.lessee_label(lessee)
                );
                self.finding(kind, summary, &s.c, dst, egress(&s));
                return;
            }
        };
        if lessee != Some(op) {
            let summary = format!(
                "frame of {} delivered at {} ({})",
                self.net_label(vni),
                env.fabric.port_ref(q),
                self.lessee_label(lessee)
            );
            self.finding(
                FindingKind::CrossOperatorDelivery,
                summary,
                &s.c,
                lessee,
                egress(&s),
            );
            return;
        }
        let mode = env.policy.port(q).and_then(|p| {
            p.attachments
                .iter()
                .find(|(v, _)| *v == vni)
                .map(|(_, m)| *m)
        });
        let Some(mode) = mode else {
            let summary = format!(
                "frame of {} delivered at {}, which is not attached to it",
                self.net_label(vni),
                env.fabric.port_ref(q)
            );
            self.finding(FindingKind::WrongNetwork, summary, &s.c, lessee, egress(&s));
            return;
        };
        let depth = match mode {
            AttachMode::Access => 0,
            AttachMode::Tagged(_) => 1,
        };
        for b in s.resolve_depth(depth + 1) {
            let parts: Parts = if b.h.tags.len() != depth || b.h.tail.is_some() {
                smallvec::smallvec![(b, false)]
            } else {
                match mode {
                    AttachMode::Access => smallvec::smallvec![(b, true)],
                    AttachMode::Tagged(t) => {
                        let t = u64::from(t.get());
                        parts(b.test_eq(b.h.tags[0], t), b)
                    }
                }
            };
            for (b, ok) in parts {
                if ok {
                    self.reached.push(q);
                    continue;
                }
                let expect = match mode {
                    AttachMode::Access => "untagged".to_owned(),
                    AttachMode::Tagged(t) => format!("tagged {t}"),
                };
                let summary = format!(
                    "frame of {} delivered at {} with the wrong tags (expected {expect})",
                    self.net_label(vni),
                    env.fabric.port_ref(q)
                );
                self.finding(FindingKind::WrongTag, summary, &b.c, lessee, egress(&b));
            }
        }
    }

    fn wire_label(&self, wire: Wire) -> String {
        let f = self.env.fabric;
        match wire {
            Wire::Tunnel { from, to } => {
                format!("tunnel {} -> {}", f.switch(from).name, f.switch(to).name)
            }
            Wire::Link { from, to } => format!("link {} -> {}", f.port_ref(from), f.port_ref(to)),
        }
    }

    pub(super) fn tunnel(&mut self, from: SwitchId, to: SwitchId, s: State, depth: usize) {
        let fabric = self.env.fabric;
        let wire = Wire::Tunnel { from, to };
        let branches = if self.env.policy.vxlan {
            self.check_wire(Carrier::Vni, s, to, wire)
        } else {
            let at = self.wire_label(wire);
            let summary = format!("frame sent into a tunnel in a vlan fabric ({at})");
            let egress = Egress {
                at,
                frame: render::frame(&s.h, &s.c, TunnelView::Sent),
            };
            self.finding(
                FindingKind::ForbiddenCarrier,
                summary,
                &s.c,
                None,
                Some(egress),
            );
            smallvec::smallvec![s]
        };
        let src = fabric.switch(from).vtep.map_or(0, u32::from);
        let dst = fabric.switch(to).vtep.map_or(0, u32::from);
        for b in branches {
            let mut h = b.h;
            let vni = h.tun_id;
            h.in_port = VXLAN_TUNNEL_PORT;
            h.tun_src = Val::Const(u64::from(src));
            h.tun_dst = dst;
            h.metadata = 0;
            self.path.push(Seg::Tunnel { from, to, vni });
            self.visit(to, State { h, c: b.c }, depth + 1);
            self.path.pop();
        }
    }

    pub(super) fn link(&mut self, from: PortKey, to: PortKey, s: State, depth: usize) {
        let wire = Wire::Link { from, to };
        let mut branches: SmallVec<[State; 2]> = SmallVec::new();
        if self.env.policy.vxlan {
            let at = self.wire_label(wire);
            let summary = format!("frame sent raw on an underlay link ({at})");
            let egress = Egress {
                at,
                frame: render::frame(&s.h, &s.c, TunnelView::None),
            };
            self.finding(
                FindingKind::ForbiddenCarrier,
                summary,
                &s.c,
                None,
                Some(egress),
            );
            branches.push(s);
        } else {
            for b in s.resolve_outer() {
                branches.extend(self.check_wire(Carrier::Vlan, b, to.switch, wire));
            }
        }
        for b in branches {
            let mut h = b.h;
            // Tunnel metadata and OpenFlow metadata do not cross a cable.
            h.in_port = to.port;
            h.tun_id = Val::Const(0);
            h.tun_src = Val::Const(0);
            h.tun_dst = 0;
            h.metadata = 0;
            self.path.push(Seg::Link { from, to });
            self.visit(to.switch, State { h, c: b.c }, depth + 1);
            self.path.pop();
        }
    }

    /// Judges the identifier a frame carries between switches (the tunnel
    /// id, or the outer tag on a trunk) and whether the next switch may
    /// receive it. Returns the branches to follow further.
    fn check_wire(
        &mut self,
        carrier: Carrier,
        s: State,
        next: SwitchId,
        at: Wire,
    ) -> SmallVec<[State; 2]> {
        let view = match carrier {
            Carrier::Vni => TunnelView::Sent,
            Carrier::Vlan => TunnelView::None,
        };
        let wire = |s: &State| match carrier {
            Carrier::Vni => Some(s.h.tun_id),
            Carrier::Vlan => match s.outer() {
                Outer::Tag(t) => Some(t),
                Outer::Untagged | Outer::Unknown(_) => None,
            },
        };
        let what = match carrier {
            Carrier::Vni => "vni",
            Carrier::Vlan => "fabric vlan",
        };
        let (vni, op) = match self.ctx {
            Ctx::Admitted { vni, op } => (vni, op),
            Ctx::MustDrop { reason, src } => {
                let owner = self.wire_owner(carrier, wire(&s));
                let (kind, dst) = match (src, owner) {
                    (Some(src), Some(o)) if o != src => (FindingKind::ForeignIdOnWire, Some(o)),
                    _ => (reason_kind(reason), owner),
                };
                let at = self.wire_label(at);
                let summary = format!("{} sent on the wire ({at})", reason_text(reason));
                let egress = Egress {
                    at,
                    frame: render::frame(&s.h, &s.c, view),
                };
                self.finding(kind, summary, &s.c, dst, Some(egress));
                return smallvec::smallvec![s];
            }
        };
        let net = &self.env.policy.nets[&vni];
        let expected = match carrier {
            Carrier::Vni => Some(u64::from(vni)),
            Carrier::Vlan => net.fabric_vlan.map(|v| u64::from(v.get())),
        };
        let parts: Parts = match (wire(&s), expected) {
            (Some(v), Some(e)) => parts(s.test_eq(v, e), s),
            _ => smallvec::smallvec![(s, false)],
        };
        let mut out = SmallVec::new();
        for (b, ok) in parts {
            if ok {
                let member = net.members.binary_search(&next).is_ok();
                // Spines legitimately carry a vlan fabric's trunks.
                let leaf = self.env.fabric.switch(next).leaf || carrier == Carrier::Vni;
                if !member && leaf {
                    let name = &self.env.fabric.switch(next).name;
                    let at = self.wire_label(at);
                    let summary = format!(
                        "frame of {} sent to {name}, which has no member port of it ({at})",
                        self.net_label(vni)
                    );
                    let egress = Egress {
                        at,
                        frame: render::frame(&b.h, &b.c, view),
                    };
                    self.finding(FindingKind::ExcessReach, summary, &b.c, None, Some(egress));
                }
            } else {
                let value = wire(&b);
                let owner = self.wire_owner(carrier, value);
                let shown = match value {
                    Some(Val::Const(v)) => format!("{what} {v}"),
                    Some(Val::Var(_)) => format!("a {what} it does not choose"),
                    None => "no tag".to_owned(),
                };
                let label = self.net_label(vni);
                let at = self.wire_label(at);
                let (kind, summary) = match owner {
                    Some(o) if o == op => (
                        FindingKind::WrongNetwork,
                        format!(
                            "frame of {label} carried as {shown}, another network of the same operator ({at})"
                        ),
                    ),
                    Some(o) => (
                        FindingKind::ForeignIdOnWire,
                        format!(
                            "frame of {label} carried as {shown}, which belongs to {} ({at})",
                            self.env.policy.ops[o as usize]
                        ),
                    ),
                    None => (
                        FindingKind::UnassignedIdOnWire,
                        format!(
                            "frame of {label} carried as {shown}, which belongs to no network ({at})"
                        ),
                    ),
                };
                let egress = Egress {
                    at,
                    frame: render::frame(&b.h, &b.c, view),
                };
                self.finding(kind, summary, &b.c, owner, Some(egress));
            }
            out.push(b);
        }
        out
    }

    /// The operator owning an identifier on the wire (and a dependency on it).
    fn wire_owner(&mut self, carrier: Carrier, value: Option<Val>) -> Option<OpIdx> {
        let policy = self.env.policy;
        let v = match value {
            Some(Val::Const(v)) => v,
            Some(Val::Var(_)) => {
                self.dep(Dep::AnyId);
                return None;
            }
            None => return None,
        };
        let vni = match carrier {
            Carrier::Vni => {
                let vni = u32::try_from(v).ok()?;
                self.dep(Dep::Net(vni));
                vni
            }
            Carrier::Vlan => {
                let vlan = u16::try_from(v).ok()?;
                self.dep(Dep::Vlan(vlan));
                *policy.by_vlan.get(&vlan)?
            }
        };
        policy.nets.get(&vni).map(|n| n.op)
    }

    pub(super) fn exit(&mut self, switch: SwitchId, port: Option<PortNo>, why: ExitWhy, s: State) {
        let sw = self.env.fabric.switch(switch);
        let port_name = port
            .map(|p| format!("{}/{}", sw.name, sw.port_name(p)))
            .unwrap_or_default();
        let (kind, at, view) = match why {
            ExitWhy::UnlinkedPort => (
                FindingKind::LeavesFabric,
                format!("{port_name} (fabric port with no link)"),
                TunnelView::None,
            ),
            ExitWhy::UnknownPort => (
                FindingKind::LeavesFabric,
                format!("{port_name} (port not in the topology)"),
                TunnelView::None,
            ),
            ExitWhy::UnknownVtep => (
                FindingKind::LeavesFabric,
                format!(
                    "{port_name} to {} (no switch has this VTEP)",
                    std::net::Ipv4Addr::from(s.h.tun_dst)
                ),
                TunnelView::Sent,
            ),
            ExitWhy::Controller => (
                FindingKind::LeavesDataPlane,
                format!("{}: CONTROLLER", sw.name),
                TunnelView::None,
            ),
            ExitWhy::Local => (
                FindingKind::LeavesDataPlane,
                format!("{}: LOCAL", sw.name),
                TunnelView::None,
            ),
        };
        let summary = format!("frame leaves the fabric's data plane at {at}");
        let egress = Egress {
            at,
            frame: render::frame(&s.h, &s.c, view),
        };
        self.finding(kind, summary, &s.c, None, Some(egress));
    }

    pub(super) fn anomaly(&mut self, switch: SwitchId, o: &LocalOutcome, a: &Anomaly, c: &Cond) {
        let fabric = self.env.fabric;
        let last = o
            .steps
            .last()
            .map(|s| render::rule_text(fabric, switch, &s.rule))
            .unwrap_or_default();
        let (kind, summary) = match a {
            Anomaly::Ambiguous { other } => (
                FindingKind::Ambiguous,
                format!(
                    "rules of equal priority both match: {last} and {}",
                    render::rule_text(fabric, switch, other)
                ),
            ),
            Anomaly::Uninterpretable(what) => (
                FindingKind::Uninterpretable,
                format!("cannot interpret {what} in {last}"),
            ),
        };
        self.finding(kind, summary, c, None, None);
    }
}

pub(super) fn reason_kind(r: DropReason) -> FindingKind {
    match r {
        DropReason::UnleasedPort => FindingKind::UnleasedPortForwards,
        DropReason::UntaggedNotAttached => FindingKind::UntaggedNotAttached,
        DropReason::TagNotAttached => FindingKind::TagNotAttached,
        DropReason::DoubleTagged => FindingKind::DoubleTagged,
        DropReason::TunnelNonMember => FindingKind::TunnelFromNonMember,
        DropReason::TunnelUnknownVni => FindingKind::TunnelUnknownVni,
    }
}

pub(super) fn reason_text(r: DropReason) -> &'static str {
    match r {
        DropReason::UnleasedPort => "frame from an unleased port",
        DropReason::UntaggedNotAttached => "untagged frame from a port with no access attachment",
        DropReason::TagNotAttached => "frame with a tag its port is not attached with",
        DropReason::DoubleTagged => "frame with two or more tags",
        DropReason::TunnelNonMember => {
            "VXLAN packet from a source that is not a member VTEP of its VNI"
        }
        DropReason::TunnelUnknownVni => "VXLAN packet with a VNI that has no member on this leaf",
    }
}
