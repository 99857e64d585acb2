//! Switch features, port descriptions and port-status notifications.

use crate::wire::{DecodeError, Reader, put_u32, put_u64, put_zeros};

/// `ofp_switch_features` (OpenFlow 1.3: no port list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchFeatures {
    pub datapath_id: u64,
    pub n_buffers: u32,
    pub n_tables: u8,
    pub auxiliary_id: u8,
    pub capabilities: u32,
}

impl SwitchFeatures {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u64(out, self.datapath_id);
        put_u32(out, self.n_buffers);
        out.push(self.n_tables);
        out.push(self.auxiliary_id);
        put_zeros(out, 2);
        put_u32(out, self.capabilities);
        put_u32(out, 0);
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<SwitchFeatures, DecodeError> {
        let datapath_id = r.u64("features datapath_id")?;
        let n_buffers = r.u32("features n_buffers")?;
        let n_tables = r.u8("features n_tables")?;
        let auxiliary_id = r.u8("features auxiliary_id")?;
        r.skip(2, "features padding")?;
        let capabilities = r.u32("features capabilities")?;
        r.skip(4, "features reserved")?;
        Ok(SwitchFeatures {
            datapath_id,
            n_buffers,
            n_tables,
            auxiliary_id,
            capabilities,
        })
    }
}

/// `OFPPC_PORT_DOWN`.
pub const OFPPC_PORT_DOWN: u32 = 1;
/// `OFPPS_LINK_DOWN`.
pub const OFPPS_LINK_DOWN: u32 = 1;

/// `ofp_port` (64 bytes in OpenFlow 1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDesc {
    pub port_no: u32,
    pub hw_addr: [u8; 6],
    /// Up to 15 bytes, NUL padding removed.
    pub name: String,
    pub config: u32,
    pub state: u32,
    pub curr: u32,
    pub advertised: u32,
    pub supported: u32,
    pub peer: u32,
    pub curr_speed: u32,
    pub max_speed: u32,
}

/// Size of `ofp_port`.
pub const OFP_PORT_LEN: usize = 64;

impl PortDesc {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.port_no);
        put_zeros(out, 4);
        out.extend_from_slice(&self.hw_addr);
        put_zeros(out, 2);
        let mut name = [0u8; 16];
        let n = self.name.len().min(15);
        name[..n].copy_from_slice(&self.name.as_bytes()[..n]);
        out.extend_from_slice(&name);
        for v in [
            self.config,
            self.state,
            self.curr,
            self.advertised,
            self.supported,
            self.peer,
            self.curr_speed,
            self.max_speed,
        ] {
            put_u32(out, v);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<PortDesc, DecodeError> {
        let port_no = r.u32("port port_no")?;
        r.skip(4, "port padding")?;
        let hw_addr = r.array::<6>("port hw_addr")?;
        r.skip(2, "port padding")?;
        let name_raw = r.bytes(16, "port name")?;
        let end = name_raw.iter().position(|&b| b == 0).unwrap_or(16);
        let name = String::from_utf8_lossy(&name_raw[..end]).into_owned();
        Ok(PortDesc {
            port_no,
            hw_addr,
            name,
            config: r.u32("port config")?,
            state: r.u32("port state")?,
            curr: r.u32("port curr")?,
            advertised: r.u32("port advertised")?,
            supported: r.u32("port supported")?,
            peer: r.u32("port peer")?,
            curr_speed: r.u32("port curr_speed")?,
            max_speed: r.u32("port max_speed")?,
        })
    }

    /// Neither administratively down nor without link.
    pub fn is_up(&self) -> bool {
        self.config & OFPPC_PORT_DOWN == 0 && self.state & OFPPS_LINK_DOWN == 0
    }
}

/// Why a port-status message was sent (`OFPPR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortReason {
    Add,
    Delete,
    Modify,
    Other(u8),
}

impl PortReason {
    fn from_u8(v: u8) -> PortReason {
        match v {
            0 => PortReason::Add,
            1 => PortReason::Delete,
            2 => PortReason::Modify,
            v => PortReason::Other(v),
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            PortReason::Add => 0,
            PortReason::Delete => 1,
            PortReason::Modify => 2,
            PortReason::Other(v) => v,
        }
    }
}

/// `OFPT_PORT_STATUS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    pub reason: PortReason,
    pub desc: PortDesc,
}

impl PortStatus {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.reason.to_u8());
        put_zeros(out, 7);
        self.desc.encode(out);
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<PortStatus, DecodeError> {
        let reason = PortReason::from_u8(r.u8("port_status reason")?);
        r.skip(7, "port_status padding")?;
        Ok(PortStatus {
            reason,
            desc: PortDesc::decode(r)?,
        })
    }
}
