//! Turning symbolic paths into concrete counterexamples an auditor can read
//! (and replay with `ovs-appctl ofproto/trace`): values chosen from each
//! variable's final domain, rules and ports by name, actions OpenFlow-style.

use std::net::Ipv4Addr;

use weft_model::{PortKey, PortNo, SwitchId};
use weft_rules::{Action, OutPort, Rule};

use crate::fabric::Fabric;
use crate::interp::StepRec;
use crate::policy::{ClassDesc, Point, TunnelSub};
use crate::report::{Frame, Hop};
use crate::sym::{Cond, Header, Val};

pub(crate) fn mac_string(v: u64) -> String {
    let b = v.to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

fn ipv4(v: u64) -> Ipv4Addr {
    Ipv4Addr::from(u32::try_from(v).unwrap_or(0))
}

/// Which tunnel fields a rendered frame shows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TunnelView {
    None,
    /// A received VXLAN packet: VNI and source.
    Received,
    /// A packet being sent into a tunnel: VNI and destination.
    Sent,
}

pub(crate) fn frame(h: &Header, c: &Cond, view: TunnelView) -> Frame {
    let tags = c
        .witness_stack(&h.tags, h.tail)
        .into_iter()
        .map(|t| u16::try_from(t).unwrap_or(0))
        .collect();
    let (tun_id, tun_src, tun_dst) = match view {
        TunnelView::None => (None, None, None),
        TunnelView::Received => (
            Some(c.witness(h.tun_id)),
            Some(ipv4(c.witness(h.tun_src))),
            None,
        ),
        TunnelView::Sent => (
            Some(c.witness(h.tun_id)),
            None,
            Some(Ipv4Addr::from(h.tun_dst)),
        ),
    };
    Frame {
        vlan_tags: tags,
        eth_dst: mac_string(c.witness(h.eth_dst)),
        tun_id,
        tun_src,
        tun_dst,
    }
}

pub(crate) fn class_label(desc: ClassDesc) -> String {
    match desc {
        ClassDesc::Untagged => "untagged".to_owned(),
        ClassDesc::Tagged(t) => format!("tagged {t}"),
        ClassDesc::OtherTag => "tagged, any tag not attached".to_owned(),
        ClassDesc::MultiTag => "two or more tags".to_owned(),
        ClassDesc::TunnelVni {
            vni,
            sub: TunnelSub::FromMember(a),
        } => {
            format!("vni {vni} from member {a}, untagged inside")
        }
        ClassDesc::TunnelVni {
            vni,
            sub: TunnelSub::InnerTagged,
        } => {
            format!("vni {vni} from a member, tagged inside")
        }
        ClassDesc::TunnelVni {
            vni,
            sub: TunnelSub::NonMember,
        } => {
            format!("vni {vni} from a non-member source")
        }
        ClassDesc::TunnelUnknownVni => "vni with no member here".to_owned(),
    }
}

pub(crate) fn point_label(fabric: &Fabric, point: Point) -> String {
    match point {
        Point::Server(p) => fabric.port_ref(p),
        Point::Tunnel(s) => format!("{}/vxlan", fabric.switch(s).name),
    }
}

fn out_port(fabric: &Fabric, switch: SwitchId, p: OutPort) -> String {
    match p {
        OutPort::Port(n) => fabric.switch(switch).port_name(n),
        OutPort::InPort => "IN_PORT".to_owned(),
        OutPort::Flood => "FLOOD".to_owned(),
        OutPort::Normal => "NORMAL".to_owned(),
        OutPort::Local => "LOCAL".to_owned(),
        OutPort::Controller => "CONTROLLER".to_owned(),
    }
}

/// A rule's actions, up to `upto`, then its instructions if all ran.
pub(crate) fn actions_text(fabric: &Fabric, switch: SwitchId, rule: &Rule, upto: usize) -> String {
    let mut parts: Vec<String> = rule.actions[..upto.min(rule.actions.len())]
        .iter()
        .map(|a| match a {
            Action::PopVlan => "pop_vlan".to_owned(),
            Action::PushVlan(v) => format!("push_vlan:{v}"),
            Action::SetVlanVid(v) => format!("set_vlan_vid:{v}"),
            Action::SetTunnelId(id) => format!("set_tunnel:{id}"),
            Action::SetTunnelDst(a) => format!("set_tun_dst:{a}"),
            Action::Output(p) => format!("output:{}", out_port(fabric, switch, *p)),
            Action::Opaque(t) => format!("<{t}>"),
        })
        .collect();
    if upto >= rule.actions.len() {
        if let Some(m) = rule.write_metadata {
            parts.push(format!("write_metadata:{m:#x}"));
        }
        if let Some(t) = rule.goto {
            parts.push(format!("goto_table:{t}"));
        }
    }
    if parts.is_empty() {
        "drop".to_owned()
    } else {
        parts.join(",")
    }
}

/// A rule in one line, for findings about the rule itself.
pub(crate) fn rule_text(fabric: &Fabric, switch: SwitchId, rule: &Rule) -> String {
    let m = &rule.matches;
    let sw = fabric.switch(switch);
    let mut parts = vec![
        format!("table={}", rule.table),
        format!("priority={}", rule.priority),
    ];
    if let Some(p) = m.in_port {
        parts.push(format!("in_port={}", sw.port_name(p)));
    }
    match m.vlan {
        weft_rules::VlanMatch::Any => {}
        weft_rules::VlanMatch::Untagged => parts.push("vlan=none".to_owned()),
        weft_rules::VlanMatch::AnyTagged => parts.push("vlan=any".to_owned()),
        weft_rules::VlanMatch::Vid(v) => parts.push(format!("vlan={v}")),
    }
    if let Some(t) = m.tun_id {
        parts.push(format!("tun_id={t}"));
    }
    if let Some(a) = m.tun_src {
        parts.push(format!("tun_src={a}"));
    }
    if let Some(v) = m.metadata {
        parts.push(format!("metadata={v:#x}"));
    }
    if let Some(a) = m.eth_dst {
        parts.push(format!("eth_dst={a}"));
    }
    if let Some(t) = m.eth_type {
        parts.push(format!("eth_type={t:#06x}"));
    }
    parts.extend(m.opaque.iter().cloned());
    format!(
        "{} [{} cookie={:#x}] actions={}",
        sw.name,
        parts.join(","),
        rule.cookie,
        actions_text(fabric, switch, rule, rule.actions.len())
    )
}

pub(crate) fn rule_hops(
    fabric: &Fabric,
    switch: SwitchId,
    in_port: PortNo,
    steps: &[StepRec],
    out: &mut Vec<Hop>,
) {
    let sw = fabric.switch(switch);
    for s in steps {
        let assumes = (!s.rule.matches.opaque.is_empty()).then(|| s.rule.matches.opaque.join(","));
        out.push(Hop::Rule {
            switch: sw.name.clone(),
            in_port: sw.port_name(in_port),
            table: s.table,
            priority: s.rule.priority,
            cookie: s.rule.cookie,
            actions: actions_text(fabric, switch, &s.rule, usize::from(s.upto)),
            assumes,
        });
    }
}

pub(crate) fn link_hop(fabric: &Fabric, from: PortKey, to: PortKey) -> Hop {
    Hop::Link {
        from: fabric.port_ref(from),
        to: fabric.port_ref(to),
    }
}

pub(crate) fn tunnel_hop(fabric: &Fabric, from: SwitchId, to: SwitchId, vni: Val, c: &Cond) -> Hop {
    let (a, b) = (fabric.switch(from), fabric.switch(to));
    Hop::Tunnel {
        from: a.name.clone(),
        to: b.name.clone(),
        vni: c.witness(vni),
        src: a.vtep.unwrap_or(Ipv4Addr::UNSPECIFIED),
        dst: b.vtep.unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}
