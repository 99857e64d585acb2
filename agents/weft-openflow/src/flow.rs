//! Flow-mods, flow statistics and the multipart messages that carry them.

use crate::action::{Instruction, decode_instructions, encode_instructions, port};
use crate::oxm::OfMatch;
use crate::port::{OFP_PORT_LEN, PortDesc};
use crate::wire::{
    DecodeError, EncodeError, Reader, patch_len, put_u16, put_u32, put_u64, put_zeros,
};

/// `OFPTT_ALL`: every table (flow-stats requests, deletes).
pub const OFPTT_ALL: u8 = 0xff;
/// `OFPG_ANY`.
pub const OFPG_ANY: u32 = 0xffff_ffff;
/// `OFP_DEFAULT_PRIORITY`.
pub const OFP_DEFAULT_PRIORITY: u16 = 0x8000;
/// `OFP_NO_BUFFER`.
pub const OFP_NO_BUFFER: u32 = 0xffff_ffff;

/// `OFPFC_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowModCommand {
    Add,
    Modify,
    ModifyStrict,
    Delete,
    DeleteStrict,
}

impl FlowModCommand {
    fn to_u8(self) -> u8 {
        match self {
            FlowModCommand::Add => 0,
            FlowModCommand::Modify => 1,
            FlowModCommand::ModifyStrict => 2,
            FlowModCommand::Delete => 3,
            FlowModCommand::DeleteStrict => 4,
        }
    }

    fn from_u8(v: u8) -> Result<FlowModCommand, DecodeError> {
        Ok(match v {
            0 => FlowModCommand::Add,
            1 => FlowModCommand::Modify,
            2 => FlowModCommand::ModifyStrict,
            3 => FlowModCommand::Delete,
            4 => FlowModCommand::DeleteStrict,
            v => {
                return Err(DecodeError::BadValue {
                    what: "flow_mod command",
                    value: u64::from(v),
                });
            }
        })
    }
}

/// `OFPT_FLOW_MOD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowMod {
    pub cookie: u64,
    pub cookie_mask: u64,
    pub table_id: u8,
    pub command: FlowModCommand,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub buffer_id: u32,
    pub out_port: u32,
    pub out_group: u32,
    pub flags: u16,
    pub matches: OfMatch,
    pub instructions: Vec<Instruction>,
}

impl FlowMod {
    /// A flow-mod with the defaults `ovs-ofctl` uses: no timeouts, no
    /// buffer, any output port and group, no flags.
    pub fn new(command: FlowModCommand, table_id: u8, priority: u16, matches: OfMatch) -> Self {
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id,
            command,
            idle_timeout: 0,
            hard_timeout: 0,
            priority,
            buffer_id: OFP_NO_BUFFER,
            out_port: port::ANY,
            out_group: OFPG_ANY,
            flags: 0,
            matches,
            instructions: Vec::new(),
        }
    }

    /// A non-strict delete of every flow whose cookie matches
    /// `cookie`/`cookie_mask`, in `table_id` ([`OFPTT_ALL`] for all). The
    /// priority is ignored by a non-strict delete; it is the default one,
    /// as `ovs-ofctl del-flows` writes it.
    pub fn delete_by_cookie(table_id: u8, cookie: u64, cookie_mask: u64) -> Self {
        FlowMod {
            cookie,
            cookie_mask,
            ..FlowMod::new(
                FlowModCommand::Delete,
                table_id,
                OFP_DEFAULT_PRIORITY,
                OfMatch::default(),
            )
        }
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_u64(out, self.cookie);
        put_u64(out, self.cookie_mask);
        out.push(self.table_id);
        out.push(self.command.to_u8());
        put_u16(out, self.idle_timeout);
        put_u16(out, self.hard_timeout);
        put_u16(out, self.priority);
        put_u32(out, self.buffer_id);
        put_u32(out, self.out_port);
        put_u32(out, self.out_group);
        put_u16(out, self.flags);
        put_zeros(out, 2);
        self.matches.encode(out)?;
        encode_instructions(&self.instructions, out)
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<FlowMod, DecodeError> {
        let cookie = r.u64("flow_mod cookie")?;
        let cookie_mask = r.u64("flow_mod cookie_mask")?;
        let table_id = r.u8("flow_mod table_id")?;
        let command = FlowModCommand::from_u8(r.u8("flow_mod command")?)?;
        let idle_timeout = r.u16("flow_mod idle_timeout")?;
        let hard_timeout = r.u16("flow_mod hard_timeout")?;
        let priority = r.u16("flow_mod priority")?;
        let buffer_id = r.u32("flow_mod buffer_id")?;
        let out_port = r.u32("flow_mod out_port")?;
        let out_group = r.u32("flow_mod out_group")?;
        let flags = r.u16("flow_mod flags")?;
        r.skip(2, "flow_mod padding")?;
        let matches = OfMatch::decode(r)?;
        let instructions = decode_instructions(r)?;
        Ok(FlowMod {
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            matches,
            instructions,
        })
    }
}

/// `ofp_flow_stats_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStatsRequest {
    pub table_id: u8,
    pub out_port: u32,
    pub out_group: u32,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub matches: OfMatch,
}

impl FlowStatsRequest {
    /// Every flow of every table.
    pub fn all() -> Self {
        FlowStatsRequest {
            table_id: OFPTT_ALL,
            out_port: port::ANY,
            out_group: OFPG_ANY,
            cookie: 0,
            cookie_mask: 0,
            matches: OfMatch::default(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.table_id);
        put_zeros(out, 3);
        put_u32(out, self.out_port);
        put_u32(out, self.out_group);
        put_zeros(out, 4);
        put_u64(out, self.cookie);
        put_u64(out, self.cookie_mask);
        self.matches.encode(out)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let table_id = r.u8("flow_stats_request table_id")?;
        r.skip(3, "flow_stats_request padding")?;
        let out_port = r.u32("flow_stats_request out_port")?;
        let out_group = r.u32("flow_stats_request out_group")?;
        r.skip(4, "flow_stats_request padding")?;
        Ok(FlowStatsRequest {
            table_id,
            out_port,
            out_group,
            cookie: r.u64("flow_stats_request cookie")?,
            cookie_mask: r.u64("flow_stats_request cookie_mask")?,
            matches: OfMatch::decode(r)?,
        })
    }
}

/// One `ofp_flow_stats` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStats {
    pub table_id: u8,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: u16,
    pub cookie: u64,
    pub packet_count: u64,
    pub byte_count: u64,
    pub matches: OfMatch,
    pub instructions: Vec<Instruction>,
}

impl FlowStats {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        put_u16(out, 0);
        out.push(self.table_id);
        out.push(0);
        put_u32(out, self.duration_sec);
        put_u32(out, self.duration_nsec);
        put_u16(out, self.priority);
        put_u16(out, self.idle_timeout);
        put_u16(out, self.hard_timeout);
        put_u16(out, self.flags);
        put_zeros(out, 4);
        put_u64(out, self.cookie);
        put_u64(out, self.packet_count);
        put_u64(out, self.byte_count);
        self.matches.encode(out)?;
        encode_instructions(&self.instructions, out)?;
        patch_len(out, start, start, "flow stats entry")
    }

    fn decode(r: &mut Reader<'_>) -> Result<FlowStats, DecodeError> {
        let len = usize::from(r.u16("flow_stats length")?);
        if len < 56 {
            return Err(DecodeError::BadLength {
                what: "flow_stats entry",
                len,
            });
        }
        let mut e = r.sub(len - 2, "flow_stats entry")?;
        let table_id = e.u8("flow_stats table_id")?;
        e.skip(1, "flow_stats padding")?;
        let duration_sec = e.u32("flow_stats duration_sec")?;
        let duration_nsec = e.u32("flow_stats duration_nsec")?;
        let priority = e.u16("flow_stats priority")?;
        let idle_timeout = e.u16("flow_stats idle_timeout")?;
        let hard_timeout = e.u16("flow_stats hard_timeout")?;
        let flags = e.u16("flow_stats flags")?;
        e.skip(4, "flow_stats padding")?;
        let cookie = e.u64("flow_stats cookie")?;
        let packet_count = e.u64("flow_stats packet_count")?;
        let byte_count = e.u64("flow_stats byte_count")?;
        let matches = OfMatch::decode(&mut e)?;
        let instructions = decode_instructions(&mut e)?;
        Ok(FlowStats {
            table_id,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            flags,
            cookie,
            packet_count,
            byte_count,
            matches,
            instructions,
        })
    }
}

/// Multipart types (`OFPMP_*`) used here.
pub mod multipart_type {
    pub const FLOW: u16 = 1;
    pub const PORT_DESC: u16 = 13;
}

/// `OFPMPF_REQ_MORE` / `OFPMPF_REPLY_MORE`.
pub const OFPMPF_MORE: u16 = 1;

/// `OFPT_MULTIPART_REQUEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartRequest {
    Flow(FlowStatsRequest),
    PortDesc,
    Other {
        mp_type: u16,
        flags: u16,
        body: Vec<u8>,
    },
}

impl MultipartRequest {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let (ty, flags) = match self {
            MultipartRequest::Flow(_) => (multipart_type::FLOW, 0),
            MultipartRequest::PortDesc => (multipart_type::PORT_DESC, 0),
            MultipartRequest::Other { mp_type, flags, .. } => (*mp_type, *flags),
        };
        put_u16(out, ty);
        put_u16(out, flags);
        put_zeros(out, 4);
        match self {
            MultipartRequest::Flow(f) => f.encode(out)?,
            MultipartRequest::PortDesc => {}
            MultipartRequest::Other { body, .. } => out.extend_from_slice(body),
        }
        Ok(())
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ty = r.u16("multipart type")?;
        let flags = r.u16("multipart flags")?;
        r.skip(4, "multipart padding")?;
        Ok(match ty {
            multipart_type::FLOW if flags == 0 => {
                MultipartRequest::Flow(FlowStatsRequest::decode(r)?)
            }
            multipart_type::PORT_DESC if flags == 0 && r.is_empty() => MultipartRequest::PortDesc,
            _ => MultipartRequest::Other {
                mp_type: ty,
                flags,
                body: r.rest().to_vec(),
            },
        })
    }
}

/// `OFPT_MULTIPART_REPLY`: one part; `more` says further parts follow
/// with the same xid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartReply {
    pub more: bool,
    pub body: MultipartReplyBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartReplyBody {
    Flow(Vec<FlowStats>),
    PortDesc(Vec<PortDesc>),
    Other { mp_type: u16, body: Vec<u8> },
}

impl MultipartReply {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let ty = match &self.body {
            MultipartReplyBody::Flow(_) => multipart_type::FLOW,
            MultipartReplyBody::PortDesc(_) => multipart_type::PORT_DESC,
            MultipartReplyBody::Other { mp_type, .. } => *mp_type,
        };
        put_u16(out, ty);
        put_u16(out, if self.more { OFPMPF_MORE } else { 0 });
        put_zeros(out, 4);
        match &self.body {
            MultipartReplyBody::Flow(stats) => {
                for s in stats {
                    s.encode(out)?;
                }
            }
            MultipartReplyBody::PortDesc(ports) => ports.iter().for_each(|p| p.encode(out)),
            MultipartReplyBody::Other { body, .. } => out.extend_from_slice(body),
        }
        Ok(())
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ty = r.u16("multipart type")?;
        let flags = r.u16("multipart flags")?;
        r.skip(4, "multipart padding")?;
        let body = match ty {
            multipart_type::FLOW => {
                let mut stats = Vec::new();
                while !r.is_empty() {
                    stats.push(FlowStats::decode(r)?);
                }
                MultipartReplyBody::Flow(stats)
            }
            multipart_type::PORT_DESC => {
                if !r.remaining().is_multiple_of(OFP_PORT_LEN) {
                    return Err(DecodeError::BadLength {
                        what: "port_desc reply",
                        len: r.remaining(),
                    });
                }
                let mut ports = Vec::new();
                while !r.is_empty() {
                    ports.push(PortDesc::decode(r)?);
                }
                MultipartReplyBody::PortDesc(ports)
            }
            _ => MultipartReplyBody::Other {
                mp_type: ty,
                body: r.rest().to_vec(),
            },
        };
        Ok(MultipartReply {
            more: flags & OFPMPF_MORE != 0,
            body,
        })
    }
}
