//! Ingress classes: how the frames entering at each point are partitioned,
//! what the policy says must happen to each class, and the symbolic state
//! that covers exactly a class's frames.

use std::net::Ipv4Addr;

use weft_model::{AttachMode, PortKey, SwitchId, VXLAN_TUNNEL_PORT, VlanId};

use super::{OpIdx, Policy, addr};
use crate::fabric::Fabric;
use crate::sym::{Cond, Domain, Field, Header, State, Tail, Val, VarState};

impl Policy {
    /// VTEPs of the switches other than `leaf` with a member of `vni`.
    fn member_vteps(&self, fabric: &Fabric, leaf: SwitchId, vni: u32) -> Vec<u64> {
        let mut out: Vec<u64> = self.nets[&vni]
            .members
            .iter()
            .filter(|&&s| s != leaf)
            .filter_map(|&s| fabric.switch(s).vtep)
            .map(crate::interp::ip)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The ingress classes of a server port, in order.
    pub(crate) fn server_classes(&self, port: PortKey) -> Vec<ClassDesc> {
        let mut out = vec![ClassDesc::Untagged];
        out.extend(self.port_tags(port).into_iter().map(ClassDesc::Tagged));
        out.push(ClassDesc::OtherTag);
        out.push(ClassDesc::MultiTag);
        out
    }

    fn port_tags(&self, port: PortKey) -> Vec<VlanId> {
        let mut tags: Vec<VlanId> = self
            .port(port)
            .iter()
            .flat_map(|p| p.attachments.iter())
            .filter_map(|(_, m)| match m {
                AttachMode::Tagged(t) => Some(*t),
                AttachMode::Access => None,
            })
            .collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// The tunnel classes of `leaf` for one of its VNIs, in order.
    pub(crate) fn tunnel_group(&self, fabric: &Fabric, leaf: SwitchId, vni: u32) -> Vec<ClassDesc> {
        let member = self
            .nets
            .get(&vni)
            .is_some_and(|n| n.members.binary_search(&leaf).is_ok());
        if !self.vxlan || !member {
            return Vec::new();
        }
        let srcs = self.member_vteps(fabric, leaf, vni);
        let mut out: Vec<ClassDesc> = srcs
            .iter()
            .map(|&s| ClassDesc::TunnelVni {
                vni,
                sub: TunnelSub::FromMember(addr(s)),
            })
            .collect();
        if !srcs.is_empty() {
            out.push(ClassDesc::TunnelVni {
                vni,
                sub: TunnelSub::InnerTagged,
            });
        }
        out.push(ClassDesc::TunnelVni {
            vni,
            sub: TunnelSub::NonMember,
        });
        out
    }

    /// Every tunnel class of `leaf` (which must have a tunnel port).
    pub(crate) fn tunnel_classes(&self, fabric: &Fabric, leaf: SwitchId) -> Vec<ClassDesc> {
        let mut out = Vec::new();
        if self.vxlan {
            for &vni in &self.switch_vnis[leaf.index()] {
                out.extend(self.tunnel_group(fabric, leaf, vni));
            }
        }
        out.push(ClassDesc::TunnelUnknownVni);
        out
    }

    /// What the policy says must happen to a class's frames.
    pub(crate) fn context(&self, point: Point, desc: ClassDesc) -> Ctx {
        let admitted = |vni: u32| match self.nets.get(&vni) {
            Some(n) => Ctx::Admitted { vni, op: n.op },
            None => Ctx::MustDrop {
                reason: DropReason::TunnelUnknownVni,
                src: None,
            },
        };
        match point {
            Point::Server(port) => {
                let Some(lessee) = self.lessee(port) else {
                    return Ctx::MustDrop {
                        reason: DropReason::UnleasedPort,
                        src: None,
                    };
                };
                let want = match desc {
                    ClassDesc::Untagged => Some(AttachMode::Access),
                    ClassDesc::Tagged(t) => Some(AttachMode::Tagged(t)),
                    _ => None,
                };
                let found = want.and_then(|want| {
                    self.port(port)?.attachments.iter().find(|(vni, m)| {
                        *m == want && self.nets.get(vni).is_some_and(|n| n.op == lessee)
                    })
                });
                if let Some((vni, _)) = found {
                    return Ctx::Admitted {
                        vni: *vni,
                        op: lessee,
                    };
                }
                let reason = match desc {
                    ClassDesc::Untagged => DropReason::UntaggedNotAttached,
                    ClassDesc::MultiTag => DropReason::DoubleTagged,
                    _ => DropReason::TagNotAttached,
                };
                Ctx::MustDrop {
                    reason,
                    src: Some(lessee),
                }
            }
            Point::Tunnel(_) => match desc {
                ClassDesc::TunnelVni {
                    vni,
                    sub: TunnelSub::FromMember(_) | TunnelSub::InnerTagged,
                } => admitted(vni),
                ClassDesc::TunnelVni {
                    sub: TunnelSub::NonMember,
                    ..
                } => Ctx::MustDrop {
                    reason: DropReason::TunnelNonMember,
                    src: None,
                },
                _ => Ctx::MustDrop {
                    reason: DropReason::TunnelUnknownVni,
                    src: None,
                },
            },
        }
    }

    /// The symbolic state covering exactly the frames of a class.
    pub(crate) fn start_state(&self, fabric: &Fabric, point: Point, desc: ClassDesc) -> State {
        let mut c = Cond::default();
        let any = |f: Field| VarState::Value(f, Domain::Except(Vec::new()));
        let mut tags = crate::sym::Tags::new();
        let mut tail = None;
        let (in_port, tun_dst) = match point {
            Point::Server(p) => (p.port, 0),
            Point::Tunnel(leaf) => {
                let vtep = fabric.switch(leaf).vtep.map_or(0, u32::from);
                (VXLAN_TUNNEL_PORT, vtep)
            }
        };
        let (mut tun_id, mut tun_src) = (Val::Const(0), Val::Const(0));
        let unknown_tail = |c: &mut Cond| Some(c.fresh(VarState::Tail(Tail::Unknown)));
        match (point, desc) {
            (_, ClassDesc::Untagged) => {}
            (_, ClassDesc::Tagged(t)) => tags.push(Val::Const(u64::from(t.get()))),
            (Point::Server(p), ClassDesc::OtherTag) => {
                let ex = self
                    .port_tags(p)
                    .iter()
                    .map(|t| u64::from(t.get()))
                    .collect();
                tags.push(Val::Var(
                    c.fresh(VarState::Value(Field::Vlan, Domain::Except(ex))),
                ));
            }
            (Point::Tunnel(_), ClassDesc::OtherTag) => {
                tags.push(Val::Var(c.fresh(any(Field::Vlan))));
            }
            (_, ClassDesc::MultiTag) => {
                tags.push(Val::Var(c.fresh(any(Field::Vlan))));
                tags.push(Val::Var(c.fresh(any(Field::Vlan))));
                tail = unknown_tail(&mut c);
            }
            (Point::Tunnel(leaf), ClassDesc::TunnelVni { vni, sub }) => {
                tun_id = Val::Const(u64::from(vni));
                let srcs = self.member_vteps(fabric, leaf, vni);
                match sub {
                    TunnelSub::FromMember(a) => tun_src = Val::Const(crate::interp::ip(a)),
                    TunnelSub::InnerTagged => {
                        let st = VarState::Value(Field::TunSrc, Domain::OneOf(srcs));
                        tun_src = Val::Var(c.fresh(st));
                        tags.push(Val::Var(c.fresh(any(Field::Vlan))));
                        tail = unknown_tail(&mut c);
                    }
                    TunnelSub::NonMember => {
                        let st = VarState::Value(Field::TunSrc, Domain::Except(srcs));
                        tun_src = Val::Var(c.fresh(st));
                        tail = unknown_tail(&mut c);
                    }
                }
            }
            (Point::Tunnel(leaf), ClassDesc::TunnelUnknownVni) => {
                let ex: Vec<u64> = if self.vxlan {
                    self.switch_vnis[leaf.index()]
                        .iter()
                        .map(|v| u64::from(*v))
                        .collect()
                } else {
                    Vec::new()
                };
                tun_id = Val::Var(c.fresh(VarState::Value(Field::TunId, Domain::Except(ex))));
                tun_src = Val::Var(c.fresh(any(Field::TunSrc)));
                tail = unknown_tail(&mut c);
            }
            // Tunnel classes are only ever derived for tunnel points; a
            // server point has no tunnel metadata to vary.
            (Point::Server(_), ClassDesc::TunnelVni { .. } | ClassDesc::TunnelUnknownVni) => {}
        }
        let eth_dst = Val::Var(c.fresh(any(Field::EthDst)));
        let h = Header {
            in_port,
            tags,
            tail,
            tun_id,
            tun_src,
            tun_dst,
            metadata: 0,
            eth_dst,
        };
        State { h, c }
    }
}

/// Where frames enter: a server port, or a leaf's tunnel port (VXLAN
/// packets from the underlay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Point {
    Server(PortKey),
    Tunnel(SwitchId),
}

/// One ingress class: the frames of a point that the policy treats alike.
/// The classes of a point partition all frames that can enter there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ClassDesc {
    Untagged,
    /// Exactly one tag, one the port is attached with.
    Tagged(VlanId),
    /// Exactly one tag, any the port is not attached with.
    OtherTag,
    /// Two tags or more.
    MultiTag,
    TunnelVni {
        vni: u32,
        sub: TunnelSub,
    },
    /// A VNI with no member on this leaf (or any VNI in a vlan fabric).
    TunnelUnknownVni,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TunnelSub {
    /// From this member VTEP, untagged inner frame.
    FromMember(Ipv4Addr),
    /// From any member VTEP, inner frame tagged.
    InnerTagged,
    /// From any address that is not a member VTEP of the VNI.
    NonMember,
}

/// Why the policy requires a class to be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    UnleasedPort,
    UntaggedNotAttached,
    TagNotAttached,
    DoubleTagged,
    TunnelNonMember,
    TunnelUnknownVni,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// The class belongs to network `vni` of operator `op`.
    Admitted { vni: u32, op: OpIdx },
    /// The class must be dropped at ingress; `src` is the lessee of the
    /// ingress port, if any.
    MustDrop {
        reason: DropReason,
        src: Option<OpIdx>,
    },
}
