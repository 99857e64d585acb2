//! Actions and instructions.
//!
//! Known: `output`, `push_vlan`, `pop_vlan`, `set_field` (any OXM field),
//! and the `apply_actions`, `write_metadata`, `goto_table` instructions.
//! Anything else is kept byte for byte and prints itself.

use std::fmt;

use crate::oxm::OxmField;
use crate::wire::{
    DecodeError, EncodeError, Reader, pad_to_8, patch_len, put_u16, put_u32, put_u64, put_zeros,
    to_hex,
};

/// Action type numbers (`OFPAT_*`).
pub mod action_type {
    pub const OUTPUT: u16 = 0;
    pub const PUSH_VLAN: u16 = 17;
    pub const POP_VLAN: u16 = 18;
    pub const SET_FIELD: u16 = 25;
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// Instruction type numbers (`OFPIT_*`).
pub mod instruction_type {
    pub const GOTO_TABLE: u16 = 1;
    pub const WRITE_METADATA: u16 = 2;
    pub const WRITE_ACTIONS: u16 = 3;
    pub const APPLY_ACTIONS: u16 = 4;
    pub const CLEAR_ACTIONS: u16 = 5;
    pub const METER: u16 = 6;
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// Reserved port numbers (`OFPP_*`).
pub mod port {
    /// The highest number of a physical port.
    pub const MAX: u32 = 0xffff_ff00;
    pub const IN_PORT: u32 = 0xffff_fff8;
    pub const TABLE: u32 = 0xffff_fff9;
    pub const NORMAL: u32 = 0xffff_fffa;
    pub const FLOOD: u32 = 0xffff_fffb;
    pub const ALL: u32 = 0xffff_fffc;
    pub const CONTROLLER: u32 = 0xffff_fffd;
    pub const LOCAL: u32 = 0xffff_fffe;
    pub const ANY: u32 = 0xffff_ffff;
}

/// `OFPCML_NO_BUFFER`: send whole packets to the controller.
pub const OFPCML_NO_BUFFER: u16 = 0xffff;

/// One action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfAction {
    Output {
        port: u32,
        max_len: u16,
    },
    PushVlan {
        ethertype: u16,
    },
    PopVlan,
    SetField(OxmField),
    /// Any other action: its type and the bytes after the 4-byte header.
    Other {
        action_type: u16,
        body: Vec<u8>,
    },
}

impl OfAction {
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        match self {
            OfAction::Output { port, max_len } => {
                put_u16(out, action_type::OUTPUT);
                put_u16(out, 16);
                put_u32(out, *port);
                put_u16(out, *max_len);
                put_zeros(out, 6);
            }
            OfAction::PushVlan { ethertype } => {
                put_u16(out, action_type::PUSH_VLAN);
                put_u16(out, 8);
                put_u16(out, *ethertype);
                put_zeros(out, 2);
            }
            OfAction::PopVlan => {
                put_u16(out, action_type::POP_VLAN);
                put_u16(out, 8);
                put_zeros(out, 4);
            }
            OfAction::SetField(f) => {
                put_u16(out, action_type::SET_FIELD);
                put_u16(out, 0);
                f.encode(out);
                pad_to_8(out, start);
                patch_len(out, start + 2, start, "set_field action")?;
            }
            OfAction::Other { action_type, body } => {
                put_u16(out, *action_type);
                put_u16(out, 0);
                out.extend_from_slice(body);
                patch_len(out, start + 2, start, "action")?;
            }
        }
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<OfAction, DecodeError> {
        let ty = r.u16("action type")?;
        let len = usize::from(r.u16("action length")?);
        if len < 8 || !len.is_multiple_of(8) {
            return Err(DecodeError::BadLength {
                what: "action",
                len,
            });
        }
        let mut body = r.sub(len - 4, "action body")?;
        Ok(match (ty, len) {
            (action_type::OUTPUT, 16) => OfAction::Output {
                port: body.u32("output port")?,
                max_len: body.u16("output max_len")?,
            },
            (action_type::PUSH_VLAN, 8) => OfAction::PushVlan {
                ethertype: body.u16("push_vlan ethertype")?,
            },
            (action_type::POP_VLAN, 8) => OfAction::PopVlan,
            (action_type::SET_FIELD, _) => {
                let rest = body.rest();
                // The bytes after the field are padding. A field that does
                // not parse is kept raw rather than failing the dump.
                match OxmField::decode(&mut Reader::new(rest)) {
                    Ok(f) => OfAction::SetField(f),
                    Err(_) => OfAction::Other {
                        action_type: ty,
                        body: rest.to_vec(),
                    },
                }
            }
            _ => OfAction::Other {
                action_type: ty,
                body: body.rest().to_vec(),
            },
        })
    }
}

fn action_name(ty: u16) -> Option<&'static str> {
    Some(match ty {
        11 => "copy_ttl_out",
        12 => "copy_ttl_in",
        15 => "set_mpls_ttl",
        16 => "dec_mpls_ttl",
        19 => "push_mpls",
        20 => "pop_mpls",
        21 => "set_queue",
        22 => "group",
        23 => "set_nw_ttl",
        24 => "dec_nw_ttl",
        26 => "push_pbb",
        27 => "pop_pbb",
        _ => return None,
    })
}

impl fmt::Display for OfAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfAction::Output { port, max_len } => match *port {
                port::IN_PORT => write!(f, "output:in_port"),
                port::TABLE => write!(f, "output:table"),
                port::NORMAL => write!(f, "output:normal"),
                port::FLOOD => write!(f, "output:flood"),
                port::ALL => write!(f, "output:all"),
                port::CONTROLLER => write!(f, "output:controller(max_len={max_len})"),
                port::LOCAL => write!(f, "output:local"),
                port::ANY => write!(f, "output:any"),
                p => write!(f, "output:{p}"),
            },
            OfAction::PushVlan { ethertype } => write!(f, "push_vlan:0x{ethertype:04x}"),
            OfAction::PopVlan => write!(f, "pop_vlan"),
            OfAction::SetField(field) => write!(f, "set_field:{field}"),
            OfAction::Other {
                action_type: action_type::EXPERIMENTER,
                body,
            } if body.len() >= 4 => {
                let (id, rest) = body.split_at(4);
                write!(f, "experimenter(0x{},0x{})", to_hex(id), to_hex(rest))
            }
            OfAction::Other { action_type, body } => match action_name(*action_type) {
                Some(name) => write!(f, "{name}(0x{})", to_hex(body)),
                None => write!(f, "action(type={action_type},0x{})", to_hex(body)),
            },
        }
    }
}

/// Encodes a list of actions.
pub fn encode_actions(actions: &[OfAction], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    actions.iter().try_for_each(|a| a.encode(out))
}

pub(crate) fn decode_actions(r: &mut Reader<'_>) -> Result<Vec<OfAction>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(OfAction::decode(r)?);
    }
    Ok(out)
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    GotoTable(u8),
    WriteMetadata {
        metadata: u64,
        mask: u64,
    },
    ApplyActions(Vec<OfAction>),
    WriteActions(Vec<OfAction>),
    ClearActions,
    /// Any other instruction: its type and the bytes after the header.
    Other {
        instruction_type: u16,
        body: Vec<u8>,
    },
}

impl Instruction {
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        match self {
            Instruction::GotoTable(t) => {
                put_u16(out, instruction_type::GOTO_TABLE);
                put_u16(out, 8);
                out.push(*t);
                put_zeros(out, 3);
            }
            Instruction::WriteMetadata { metadata, mask } => {
                put_u16(out, instruction_type::WRITE_METADATA);
                put_u16(out, 24);
                put_zeros(out, 4);
                put_u64(out, *metadata);
                put_u64(out, *mask);
            }
            Instruction::ApplyActions(actions) | Instruction::WriteActions(actions) => {
                let ty = if matches!(self, Instruction::ApplyActions(_)) {
                    instruction_type::APPLY_ACTIONS
                } else {
                    instruction_type::WRITE_ACTIONS
                };
                put_u16(out, ty);
                put_u16(out, 0);
                put_zeros(out, 4);
                encode_actions(actions, out)?;
                patch_len(out, start + 2, start, "actions instruction")?;
            }
            Instruction::ClearActions => {
                put_u16(out, instruction_type::CLEAR_ACTIONS);
                put_u16(out, 8);
                put_zeros(out, 4);
            }
            Instruction::Other {
                instruction_type,
                body,
            } => {
                put_u16(out, *instruction_type);
                put_u16(out, 0);
                out.extend_from_slice(body);
                patch_len(out, start + 2, start, "instruction")?;
            }
        }
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Instruction, DecodeError> {
        let ty = r.u16("instruction type")?;
        let len = usize::from(r.u16("instruction length")?);
        if len < 8 || !len.is_multiple_of(8) {
            return Err(DecodeError::BadLength {
                what: "instruction",
                len,
            });
        }
        let mut body = r.sub(len - 4, "instruction body")?;
        Ok(match (ty, len) {
            (instruction_type::GOTO_TABLE, 8) => {
                Instruction::GotoTable(body.u8("goto_table table")?)
            }
            (instruction_type::WRITE_METADATA, 24) => {
                body.skip(4, "write_metadata padding")?;
                Instruction::WriteMetadata {
                    metadata: body.u64("write_metadata value")?,
                    mask: body.u64("write_metadata mask")?,
                }
            }
            (instruction_type::APPLY_ACTIONS, _) => {
                body.skip(4, "apply_actions padding")?;
                Instruction::ApplyActions(decode_actions(&mut body)?)
            }
            (instruction_type::WRITE_ACTIONS, _) => {
                body.skip(4, "write_actions padding")?;
                Instruction::WriteActions(decode_actions(&mut body)?)
            }
            (instruction_type::CLEAR_ACTIONS, 8) => Instruction::ClearActions,
            _ => Instruction::Other {
                instruction_type: ty,
                body: body.rest().to_vec(),
            },
        })
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, name: &str, actions: &[OfAction]| {
            write!(f, "{name}(")?;
            for (i, a) in actions.iter().enumerate() {
                if i > 0 {
                    write!(f, ",")?;
                }
                write!(f, "{a}")?;
            }
            write!(f, ")")
        };
        match self {
            Instruction::GotoTable(t) => write!(f, "goto_table:{t}"),
            Instruction::WriteMetadata { metadata, mask } => {
                write!(f, "write_metadata:0x{metadata:x}/0x{mask:x}")
            }
            Instruction::ApplyActions(a) => list(f, "apply_actions", a),
            Instruction::WriteActions(a) => list(f, "write_actions", a),
            Instruction::ClearActions => write!(f, "clear_actions"),
            Instruction::Other {
                instruction_type: instruction_type::METER,
                body,
            } if body.len() == 4 => {
                let mut r = Reader::new(body);
                write!(f, "meter:{}", r.u32("meter").unwrap_or_default())
            }
            Instruction::Other {
                instruction_type,
                body,
            } => write!(f, "instruction(type={instruction_type},0x{})", to_hex(body)),
        }
    }
}

pub(crate) fn encode_instructions(
    instructions: &[Instruction],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    instructions.iter().try_for_each(|i| i.encode(out))
}

pub(crate) fn decode_instructions(r: &mut Reader<'_>) -> Result<Vec<Instruction>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Instruction::decode(r)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn round_trip(i: Instruction) -> Vec<u8> {
        let mut out = Vec::new();
        i.encode(&mut out).unwrap();
        assert_eq!(out.len() % 8, 0);
        let mut r = Reader::new(&out);
        assert_eq!(Instruction::decode(&mut r).unwrap(), i);
        assert!(r.is_empty());
        out
    }

    #[test]
    fn instructions_round_trip_with_spec_lengths() {
        assert_eq!(round_trip(Instruction::GotoTable(2)).len(), 8);
        assert_eq!(
            round_trip(Instruction::WriteMetadata {
                metadata: 10,
                mask: u64::MAX
            })
            .len(),
            24
        );
        let apply = Instruction::ApplyActions(vec![
            OfAction::Output {
                port: 1,
                max_len: 0,
            },
            OfAction::PushVlan { ethertype: 0x8100 },
            OfAction::SetField(OxmField::VlanVid {
                value: 0x1064,
                mask: None,
            }),
            OfAction::SetField(OxmField::TunIpv4Dst {
                value: Ipv4Addr::new(10, 0, 0, 12),
                mask: None,
            }),
            OfAction::PopVlan,
        ]);
        // 8 + 16 + 8 + 16 + 16 + 8
        assert_eq!(round_trip(apply).len(), 72);
        round_trip(Instruction::ClearActions);
        round_trip(Instruction::Other {
            instruction_type: instruction_type::METER,
            body: vec![0, 0, 0, 5],
        });
    }

    #[test]
    fn unknown_actions_are_kept_and_printed() {
        // dec_nw_ttl: type 24, len 8.
        let bytes = [0, 24, 0, 8, 0, 0, 0, 0];
        let a = OfAction::decode(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(a.to_string(), "dec_nw_ttl(0x00000000)");
        let mut out = Vec::new();
        a.encode(&mut out).unwrap();
        assert_eq!(out, bytes);
        // A Nicira action.
        let bytes = [0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 1, 0, 0, 0, 0, 0, 0];
        let a = OfAction::decode(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(a.to_string(), "experimenter(0x00002320,0x0001000000000000)");
    }

    #[test]
    fn bad_action_length_is_an_error() {
        let bytes = [0, 0, 0, 4, 0, 0, 0, 0];
        assert!(OfAction::decode(&mut Reader::new(&bytes)).is_err());
        let bytes = [0, 0, 0, 16, 0, 0, 0, 0];
        assert!(OfAction::decode(&mut Reader::new(&bytes)).is_err());
    }
}
