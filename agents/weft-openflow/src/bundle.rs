//! Bundles in OpenFlow 1.3: ONF extension 230, as Open vSwitch implements
//! it (`OFPRAW_ONFT13_BUNDLE_CONTROL` / `_ADD_MESSAGE` in its
//! `lib/ofp-msgs.h`, encoded by `lib/ofp-bundle.c`).
//!
//! Both are `OFPT_EXPERIMENTER` messages with experimenter
//! [`ONF_EXPERIMENTER_ID`] and an `exp_type` of [`ONF_ET_BUNDLE_CONTROL`]
//! (2300) or [`ONF_ET_BUNDLE_ADD_MESSAGE`] (2301); their bodies are those
//! of OpenFlow 1.4's `ofp14_bundle_ctrl_msg` and `ofp14_bundle_add_msg`.
//! A bundle-add carries a whole message whose xid must equal the outer
//! xid. Open vSwitch answers OPEN, COMMIT and DISCARD requests with the
//! matching reply, and a refused add or commit with an error.

use crate::wire::{DecodeError, Reader, put_u16, put_u32};

/// The ONF experimenter id, "ONF\0".
pub const ONF_EXPERIMENTER_ID: u32 = 0x4f4e_4600;
/// `exp_type` of a bundle control message.
pub const ONF_ET_BUNDLE_CONTROL: u32 = 2300;
/// `exp_type` of a bundle add message.
pub const ONF_ET_BUNDLE_ADD_MESSAGE: u32 = 2301;

/// `OFPBF_ATOMIC`: all or nothing.
pub const OFPBF_ATOMIC: u16 = 1;
/// `OFPBF_ORDERED`: in the order added.
pub const OFPBF_ORDERED: u16 = 2;

/// `OFPBCT_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleCtrlType {
    OpenRequest,
    OpenReply,
    CloseRequest,
    CloseReply,
    CommitRequest,
    CommitReply,
    DiscardRequest,
    DiscardReply,
    Other(u16),
}

impl BundleCtrlType {
    fn to_u16(self) -> u16 {
        match self {
            BundleCtrlType::OpenRequest => 0,
            BundleCtrlType::OpenReply => 1,
            BundleCtrlType::CloseRequest => 2,
            BundleCtrlType::CloseReply => 3,
            BundleCtrlType::CommitRequest => 4,
            BundleCtrlType::CommitReply => 5,
            BundleCtrlType::DiscardRequest => 6,
            BundleCtrlType::DiscardReply => 7,
            BundleCtrlType::Other(v) => v,
        }
    }

    fn from_u16(v: u16) -> BundleCtrlType {
        match v {
            0 => BundleCtrlType::OpenRequest,
            1 => BundleCtrlType::OpenReply,
            2 => BundleCtrlType::CloseRequest,
            3 => BundleCtrlType::CloseReply,
            4 => BundleCtrlType::CommitRequest,
            5 => BundleCtrlType::CommitReply,
            6 => BundleCtrlType::DiscardRequest,
            7 => BundleCtrlType::DiscardReply,
            v => BundleCtrlType::Other(v),
        }
    }
}

/// A bundle control message (request or reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleControl {
    pub bundle_id: u32,
    pub ctrl_type: BundleCtrlType,
    /// [`OFPBF_ATOMIC`] | [`OFPBF_ORDERED`].
    pub flags: u16,
    /// Bundle properties, kept as bytes (Weft sends none).
    pub properties: Vec<u8>,
}

impl BundleControl {
    pub fn new(bundle_id: u32, ctrl_type: BundleCtrlType, flags: u16) -> Self {
        BundleControl {
            bundle_id,
            ctrl_type,
            flags,
            properties: Vec::new(),
        }
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u32(out, self.bundle_id);
        put_u16(out, self.ctrl_type.to_u16());
        put_u16(out, self.flags);
        out.extend_from_slice(&self.properties);
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BundleControl {
            bundle_id: r.u32("bundle_ctrl bundle_id")?,
            ctrl_type: BundleCtrlType::from_u16(r.u16("bundle_ctrl type")?),
            flags: r.u16("bundle_ctrl flags")?,
            properties: r.rest().to_vec(),
        })
    }
}
