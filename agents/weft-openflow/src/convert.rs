//! Conversion between OpenFlow flows and Weft's rule model
//! ([`weft_rules::Rule`]).
//!
//! Encoding is exact and mirrors how `ovs-ofctl` encodes the same flow
//! (match fields in Open vSwitch's order, instructions as apply-actions,
//! write-metadata, goto-table). Decoding never fails on content: anything
//! the model cannot express becomes [`Match::opaque`] or
//! [`Action::Opaque`], printed, so the verifier treats it conservatively.

use std::net::Ipv4Addr;

use weft_model::{PortNo, VlanId};
use weft_rules::{Action, MacAddr, Match, OutPort, Rule, VlanMatch};

use crate::action::{Instruction, OFPCML_NO_BUFFER, OfAction, port};
use crate::flow::{FlowMod, FlowModCommand, FlowStats};
use crate::oxm::{OFPVID_NONE, OFPVID_PRESENT, OfMatch, OxmField};

/// The ethertype of an 802.1Q tag, the only one Weft pushes.
pub const ETH_TYPE_VLAN: u16 = 0x8100;

/// Why a rule cannot be written as a flow-mod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("the rule has a match this codec cannot encode: {0}")]
    OpaqueMatch(String),
    #[error("the rule has an action this codec cannot encode: {0}")]
    OpaqueAction(String),
}

/// The OXM fields of a rule's match, in the order Open vSwitch writes
/// them. Fails on opaque tests.
pub fn match_from_rule(m: &Match) -> Result<OfMatch, ConvertError> {
    if let Some(o) = m.opaque.first() {
        return Err(ConvertError::OpaqueMatch(o.clone()));
    }
    let mut fields = Vec::new();
    if let Some(p) = m.in_port {
        fields.push(OxmField::InPort(p.get()));
    }
    if let Some(mac) = m.eth_dst {
        fields.push(OxmField::EthDst {
            value: mac.0,
            mask: None,
        });
    }
    if let Some(t) = m.eth_type {
        fields.push(OxmField::EthType(t));
    }
    match m.vlan {
        VlanMatch::Any => {}
        VlanMatch::Untagged => fields.push(OxmField::VlanVid {
            value: OFPVID_NONE,
            mask: None,
        }),
        VlanMatch::AnyTagged => fields.push(OxmField::VlanVid {
            value: OFPVID_PRESENT,
            mask: Some(OFPVID_PRESENT),
        }),
        VlanMatch::Vid(v) => fields.push(OxmField::VlanVid {
            value: OFPVID_PRESENT | v.get(),
            mask: None,
        }),
    }
    if let Some(t) = m.tun_id {
        fields.push(OxmField::TunnelId {
            value: t,
            mask: None,
        });
    }
    if let Some(s) = m.tun_src {
        fields.push(OxmField::TunIpv4Src {
            value: s,
            mask: None,
        });
    }
    if let Some(md) = m.metadata {
        fields.push(OxmField::Metadata {
            value: md,
            mask: None,
        });
    }
    Ok(OfMatch { fields })
}

/// The OpenFlow actions of a rule's apply-actions. Fails on opaque ones.
pub fn actions_from_rule(actions: &[Action]) -> Result<Vec<OfAction>, ConvertError> {
    let mut out = Vec::with_capacity(actions.len() + 4);
    for a in actions {
        match a {
            Action::PopVlan => out.push(OfAction::PopVlan),
            Action::PushVlan(v) => {
                out.push(OfAction::PushVlan {
                    ethertype: ETH_TYPE_VLAN,
                });
                out.push(set_vid(*v));
            }
            Action::SetVlanVid(v) => out.push(set_vid(*v)),
            Action::SetTunnelId(t) => out.push(OfAction::SetField(OxmField::TunnelId {
                value: *t,
                mask: None,
            })),
            Action::SetTunnelDst(d) => out.push(OfAction::SetField(OxmField::TunIpv4Dst {
                value: *d,
                mask: None,
            })),
            Action::Output(p) => out.push(output(*p)),
            Action::Opaque(s) => return Err(ConvertError::OpaqueAction(s.clone())),
        }
    }
    Ok(out)
}

fn set_vid(v: VlanId) -> OfAction {
    OfAction::SetField(OxmField::VlanVid {
        value: OFPVID_PRESENT | v.get(),
        mask: None,
    })
}

fn output(p: OutPort) -> OfAction {
    let (port, max_len) = match p {
        OutPort::Port(n) => (n.get(), 0),
        OutPort::InPort => (port::IN_PORT, 0),
        OutPort::Flood => (port::FLOOD, 0),
        OutPort::Normal => (port::NORMAL, 0),
        OutPort::Local => (port::LOCAL, 0),
        OutPort::Controller => (port::CONTROLLER, OFPCML_NO_BUFFER),
    };
    OfAction::Output { port, max_len }
}

/// A rule's instructions, in Open vSwitch's order.
pub fn instructions_from_rule(rule: &Rule) -> Result<Vec<Instruction>, ConvertError> {
    let mut out = Vec::with_capacity(3);
    if !rule.actions.is_empty() {
        out.push(Instruction::ApplyActions(actions_from_rule(&rule.actions)?));
    }
    if let Some(md) = rule.write_metadata {
        out.push(Instruction::WriteMetadata {
            metadata: md,
            mask: u64::MAX,
        });
    }
    if let Some(t) = rule.goto {
        out.push(Instruction::GotoTable(t));
    }
    Ok(out)
}

/// The flow-mod that installs (`Add`) or removes (`DeleteStrict`, `Delete`)
/// `rule`. Deletes carry the rule's cookie with a full cookie mask, so they
/// only ever remove a flow with exactly that cookie, and no instructions.
pub fn flow_mod_from_rule(rule: &Rule, command: FlowModCommand) -> Result<FlowMod, ConvertError> {
    let matches = match_from_rule(&rule.matches)?;
    let mut fm = FlowMod::new(command, rule.table, rule.priority, matches);
    fm.cookie = rule.cookie;
    match command {
        FlowModCommand::Add | FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
            fm.instructions = instructions_from_rule(rule)?;
        }
        FlowModCommand::Delete | FlowModCommand::DeleteStrict => {
            fm.cookie_mask = u64::MAX;
        }
    }
    Ok(fm)
}

/// The rule a flow-stats entry describes. Never fails: unknown content
/// becomes opaque.
pub fn rule_from_flow_stats(s: &FlowStats) -> Rule {
    rule_from_parts(
        s.table_id,
        s.priority,
        s.cookie,
        &s.matches,
        &s.instructions,
    )
}

/// The rule a flow-mod (add or modify) installs.
pub fn rule_from_flow_mod(fm: &FlowMod) -> Rule {
    rule_from_parts(
        fm.table_id,
        fm.priority,
        fm.cookie,
        &fm.matches,
        &fm.instructions,
    )
}

fn rule_from_parts(
    table: u8,
    priority: u16,
    cookie: u64,
    m: &OfMatch,
    instructions: &[Instruction],
) -> Rule {
    let mut rule = Rule {
        table,
        priority,
        matches: match_from_oxm(m),
        actions: Vec::new(),
        write_metadata: None,
        goto: None,
        cookie,
    };
    // Extra instructions the model has no slot for: kept after the actions,
    // where an interpreter sees them as unknown effects.
    let mut extra = Vec::new();
    for i in instructions {
        match i {
            Instruction::ApplyActions(a) if rule.actions.is_empty() => {
                rule.actions = actions_from_of(a);
            }
            Instruction::WriteMetadata { metadata, mask }
                if *mask == u64::MAX && rule.write_metadata.is_none() =>
            {
                rule.write_metadata = Some(*metadata);
            }
            Instruction::GotoTable(t) if rule.goto.is_none() => rule.goto = Some(*t),
            other => extra.push(Action::Opaque(other.to_string())),
        }
    }
    rule.actions.extend(extra);
    rule
}

fn set_once<T>(slot: &mut Option<T>, v: T, field: &OxmField, opaque: &mut Vec<String>) {
    if slot.is_some() {
        opaque.push(field.to_string());
    } else {
        *slot = Some(v);
    }
}

/// The model's view of an OXM match; fields it cannot express exactly are
/// kept as opaque strings.
pub fn match_from_oxm(m: &OfMatch) -> Match {
    let mut out = Match::default();
    let mut vlan_seen = false;
    for f in &m.fields {
        let mut opaque = Vec::new();
        match *f {
            OxmField::InPort(p) => match PortNo::new(u64::from(p)) {
                Ok(p) => set_once(&mut out.in_port, p, f, &mut opaque),
                Err(_) => opaque.push(f.to_string()),
            },
            OxmField::Metadata { value, mask } if full64(mask) => {
                set_once(&mut out.metadata, value, f, &mut opaque);
            }
            OxmField::TunnelId { value, mask } if full64(mask) => {
                set_once(&mut out.tun_id, value, f, &mut opaque);
            }
            OxmField::EthType(t) => set_once(&mut out.eth_type, t, f, &mut opaque),
            OxmField::EthDst { value, mask } if mask.is_none_or(|m| m == [0xff; 6]) => {
                set_once(&mut out.eth_dst, MacAddr(value), f, &mut opaque);
            }
            OxmField::TunIpv4Src { value, mask }
                if mask.is_none_or(|m| m == Ipv4Addr::BROADCAST) =>
            {
                set_once(&mut out.tun_src, value, f, &mut opaque);
            }
            OxmField::VlanVid { value, mask } => match vlan_from_oxm(value, mask) {
                Some(v) if !vlan_seen => {
                    vlan_seen = true;
                    out.vlan = v;
                }
                _ => opaque.push(f.to_string()),
            },
            _ => opaque.push(f.to_string()),
        }
        out.opaque.extend(opaque);
    }
    out
}

fn full64(mask: Option<u64>) -> bool {
    mask.is_none_or(|m| m == u64::MAX)
}

fn vlan_from_oxm(value: u16, mask: Option<u16>) -> Option<VlanMatch> {
    const VID_AND_PRESENT: u16 = OFPVID_PRESENT | 0x0fff;
    match mask {
        None | Some(VID_AND_PRESENT) if value == OFPVID_NONE => Some(VlanMatch::Untagged),
        None | Some(VID_AND_PRESENT) if value & OFPVID_PRESENT != 0 => {
            VlanId::new(u64::from(value & 0x0fff))
                .ok()
                .map(VlanMatch::Vid)
        }
        Some(OFPVID_PRESENT) if value == OFPVID_PRESENT => Some(VlanMatch::AnyTagged),
        Some(0) => Some(VlanMatch::Any),
        _ => None,
    }
}

fn vid_of_set_field(f: &OxmField) -> Option<VlanId> {
    match *f {
        OxmField::VlanVid { value, mask: None } if value & OFPVID_PRESENT != 0 => {
            VlanId::new(u64::from(value & 0x0fff)).ok()
        }
        _ => None,
    }
}

/// The model's view of an apply-actions list. `push_vlan(0x8100)` directly
/// followed by `set_field` of the VID is one [`Action::PushVlan`]; a bare
/// push (whose VID OpenFlow leaves to the switch) is opaque.
pub fn actions_from_of(actions: &[OfAction]) -> Vec<Action> {
    let mut out = Vec::with_capacity(actions.len());
    let mut i = 0;
    while i < actions.len() {
        let a = &actions[i];
        i += 1;
        let converted = match a {
            OfAction::PopVlan => Action::PopVlan,
            OfAction::PushVlan {
                ethertype: ETH_TYPE_VLAN,
            } => match actions.get(i) {
                Some(OfAction::SetField(f)) if vid_of_set_field(f).is_some() => {
                    i += 1;
                    vid_of_set_field(f)
                        .map_or_else(|| Action::Opaque(a.to_string()), Action::PushVlan)
                }
                _ => Action::Opaque(a.to_string()),
            },
            OfAction::SetField(f) => match *f {
                OxmField::VlanVid { .. } => vid_of_set_field(f)
                    .map_or_else(|| Action::Opaque(a.to_string()), Action::SetVlanVid),
                OxmField::TunnelId { value, mask: None } => Action::SetTunnelId(value),
                OxmField::TunIpv4Dst { value, mask: None } => Action::SetTunnelDst(value),
                _ => Action::Opaque(a.to_string()),
            },
            OfAction::Output { port: p, .. } => match out_port(*p) {
                Some(op) => Action::Output(op),
                None => Action::Opaque(a.to_string()),
            },
            OfAction::PushVlan { .. } | OfAction::Other { .. } => Action::Opaque(a.to_string()),
        };
        out.push(converted);
    }
    out
}

fn out_port(p: u32) -> Option<OutPort> {
    Some(match p {
        port::IN_PORT => OutPort::InPort,
        port::FLOOD | port::ALL => OutPort::Flood,
        port::NORMAL => OutPort::Normal,
        port::LOCAL => OutPort::Local,
        port::CONTROLLER => OutPort::Controller,
        p => OutPort::Port(PortNo::new(u64::from(p)).ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::OfAction;
    use crate::oxm::RawOxm;

    fn vid(v: u16) -> VlanId {
        VlanId::new(u64::from(v)).unwrap()
    }

    #[test]
    fn vlan_forms() {
        assert_eq!(vlan_from_oxm(0, None), Some(VlanMatch::Untagged));
        assert_eq!(vlan_from_oxm(0, Some(0x1fff)), Some(VlanMatch::Untagged));
        assert_eq!(
            vlan_from_oxm(0x1000, Some(0x1000)),
            Some(VlanMatch::AnyTagged)
        );
        assert_eq!(vlan_from_oxm(0x1064, None), Some(VlanMatch::Vid(vid(100))));
        // VID 0 with a tag (priority-tagged) and partial masks are not in
        // the model.
        assert_eq!(vlan_from_oxm(0x1000, None), None);
        assert_eq!(vlan_from_oxm(0x1064, Some(0x1f00)), None);
    }

    #[test]
    fn unknown_match_fields_become_opaque_not_dropped() {
        let m = OfMatch {
            fields: vec![
                OxmField::InPort(3),
                OxmField::Other(RawOxm {
                    class: 0x8000,
                    field: 5,
                    has_mask: false,
                    payload: vec![8, 0],
                }),
                OxmField::Metadata {
                    value: 1,
                    mask: Some(0xff),
                },
                OxmField::InPort(port::LOCAL),
            ],
        };
        let got = match_from_oxm(&m);
        assert_eq!(got.in_port, PortNo::new(3).ok());
        assert_eq!(got.metadata, None);
        assert_eq!(
            got.opaque,
            vec![
                "eth_type=0x0800".to_owned(),
                "metadata=0x1/0xff".to_owned(),
                format!("in_port={}", port::LOCAL),
            ]
        );
    }

    #[test]
    fn push_without_vid_and_odd_outputs_are_opaque() {
        let got = actions_from_of(&[
            OfAction::PushVlan { ethertype: 0x8100 },
            OfAction::Output {
                port: 1,
                max_len: 0,
            },
            OfAction::PushVlan { ethertype: 0x88a8 },
            OfAction::SetField(OxmField::VlanVid {
                value: 0x1005,
                mask: None,
            }),
            OfAction::Output {
                port: port::TABLE,
                max_len: 0,
            },
        ]);
        assert_eq!(
            got,
            vec![
                Action::Opaque("push_vlan:0x8100".into()),
                Action::Output(OutPort::Port(PortNo::new(1).unwrap())),
                Action::Opaque("push_vlan:0x88a8".into()),
                Action::SetVlanVid(vid(5)),
                Action::Opaque("output:table".into()),
            ]
        );
    }

    #[test]
    fn opaque_rules_cannot_be_encoded() {
        let mut r = Rule {
            table: 0,
            priority: 1,
            matches: Match::default(),
            actions: vec![Action::Opaque("x".into())],
            write_metadata: None,
            goto: None,
            cookie: 0,
        };
        assert!(matches!(
            flow_mod_from_rule(&r, FlowModCommand::Add),
            Err(ConvertError::OpaqueAction(_))
        ));
        // A delete ignores actions but not the match.
        assert!(flow_mod_from_rule(&r, FlowModCommand::DeleteStrict).is_ok());
        r.matches.opaque.push("ip".into());
        assert!(flow_mod_from_rule(&r, FlowModCommand::DeleteStrict).is_err());
    }

    #[test]
    fn extra_instructions_are_kept_as_opaque_actions() {
        let s = FlowStats {
            table_id: 0,
            duration_sec: 0,
            duration_nsec: 0,
            priority: 5,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            cookie: 0,
            packet_count: 0,
            byte_count: 0,
            matches: OfMatch::default(),
            instructions: vec![
                Instruction::WriteMetadata {
                    metadata: 1,
                    mask: 1,
                },
                Instruction::ClearActions,
                Instruction::GotoTable(3),
            ],
        };
        let r = rule_from_flow_stats(&s);
        assert_eq!(r.goto, Some(3));
        assert_eq!(r.write_metadata, None);
        assert_eq!(
            r.actions,
            vec![
                Action::Opaque("write_metadata:0x1/0x1".into()),
                Action::Opaque("clear_actions".into())
            ]
        );
    }
}
