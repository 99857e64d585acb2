//! Rules as one line each, for people reading drift on the page.

use weft_rules::{Action, OutPort, Rule, VlanMatch};

/// A rule as one line, in the spirit of `ovs-ofctl dump-flows`.
pub(super) fn rule_text(r: &Rule) -> String {
    let mut m = Vec::new();
    if let Some(p) = r.matches.in_port {
        m.push(format!("in_port={p}"));
    }
    match r.matches.vlan {
        VlanMatch::Any => {}
        VlanMatch::Untagged => m.push("vlan_tci=0x0000/0x1000".to_owned()),
        VlanMatch::AnyTagged => m.push("vlan_tci=0x1000/0x1000".to_owned()),
        VlanMatch::Vid(v) => m.push(format!("dl_vlan={v}")),
    }
    if let Some(t) = r.matches.tun_id {
        m.push(format!("tun_id={t}"));
    }
    if let Some(a) = r.matches.tun_src {
        m.push(format!("tun_src={a}"));
    }
    if let Some(md) = r.matches.metadata {
        m.push(format!("metadata={md:#x}"));
    }
    if let Some(mac) = r.matches.eth_dst {
        m.push(format!("dl_dst={mac}"));
    }
    if let Some(t) = r.matches.eth_type {
        m.push(format!("dl_type={t:#06x}"));
    }
    m.extend(r.matches.opaque.iter().cloned());
    let mut a: Vec<String> = r
        .actions
        .iter()
        .map(|act| match act {
            Action::PopVlan => "pop_vlan".to_owned(),
            Action::PushVlan(v) => format!("push_vlan,set_vlan_vid:{v}"),
            Action::SetVlanVid(v) => format!("mod_vlan_vid:{v}"),
            Action::SetTunnelId(t) => format!("set_tunnel:{t}"),
            Action::SetTunnelDst(d) => format!("set_field:{d}->tun_dst"),
            Action::Output(p) => match p {
                OutPort::Port(n) => format!("output:{n}"),
                OutPort::InPort => "in_port".to_owned(),
                OutPort::Flood => "flood".to_owned(),
                OutPort::Normal => "normal".to_owned(),
                OutPort::Local => "local".to_owned(),
                OutPort::Controller => "controller".to_owned(),
            },
            Action::Opaque(s) => s.clone(),
        })
        .collect();
    if let Some(md) = r.write_metadata {
        a.push(format!("write_metadata:{md:#x}"));
    }
    if let Some(t) = r.goto {
        a.push(format!("goto_table:{t}"));
    }
    if a.is_empty() {
        a.push("drop".to_owned());
    }
    format!(
        "cookie={:#x} table={} priority={} {} actions={}",
        r.cookie,
        r.table,
        r.priority,
        m.join(","),
        a.join(",")
    )
}
