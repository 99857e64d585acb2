//! Whole OpenFlow 1.3 messages: the header, and encoding and decoding of
//! every message type Weft exchanges with a switch.

use crate::bundle::{
    BundleControl, ONF_ET_BUNDLE_ADD_MESSAGE, ONF_ET_BUNDLE_CONTROL, ONF_EXPERIMENTER_ID,
};
use crate::error::ErrorMsg;
use crate::flow::{FlowMod, MultipartReply, MultipartRequest};
use crate::port::{PortStatus, SwitchFeatures};
use crate::wire::{DecodeError, EncodeError, Reader, patch_len, put_u16, put_u32, put_zeros};

/// The OpenFlow 1.3 wire version.
pub const OFP13_VERSION: u8 = 0x04;
/// Length of `ofp_header`.
pub const HEADER_LEN: usize = 8;

/// `OFPT_*` message types used here.
pub mod msg_type {
    pub const HELLO: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const ECHO_REQUEST: u8 = 2;
    pub const ECHO_REPLY: u8 = 3;
    pub const EXPERIMENTER: u8 = 4;
    pub const FEATURES_REQUEST: u8 = 5;
    pub const FEATURES_REPLY: u8 = 6;
    pub const PORT_STATUS: u8 = 12;
    pub const FLOW_MOD: u8 = 14;
    pub const MULTIPART_REQUEST: u8 = 18;
    pub const MULTIPART_REPLY: u8 = 19;
    pub const BARRIER_REQUEST: u8 = 20;
    pub const BARRIER_REPLY: u8 = 21;
}

/// `OFPHET_VERSIONBITMAP`.
const OFPHET_VERSIONBITMAP: u16 = 1;

/// `ofp_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub msg_type: u8,
    pub length: u16,
    pub xid: u32,
}

impl Header {
    /// Reads the first 8 bytes; does not check the length against anything.
    pub fn parse(bytes: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(bytes);
        Ok(Header {
            version: r.u8("header")?,
            msg_type: r.u8("header")?,
            length: r.u16("header")?,
            xid: r.u32("header")?,
        })
    }
}

/// `OFPT_HELLO`. `versions` lists the wire versions of the version bitmap
/// element; empty when the peer sent none (then its header version is its
/// highest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub versions: Vec<u8>,
}

impl Hello {
    /// The hello Weft sends: OpenFlow 1.3 only.
    pub fn of13() -> Self {
        Hello {
            versions: vec![OFP13_VERSION],
        }
    }

    /// Whether a peer that sent this hello in a header of `header_version`
    /// can speak OpenFlow 1.3 with us.
    pub fn supports_of13(&self, header_version: u8) -> bool {
        if self.versions.is_empty() {
            header_version >= OFP13_VERSION
        } else {
            self.versions.contains(&OFP13_VERSION)
        }
    }
}

/// A bundle-add: `message` is added to bundle `bundle_id`. Encoded with the
/// inner message's xid (Open vSwitch requires them equal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleAdd {
    pub bundle_id: u32,
    pub flags: u16,
    pub message: Box<Message>,
}

/// Every message this codec knows; others are kept as [`Message::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hello(Hello),
    Error(ErrorMsg),
    EchoRequest(Vec<u8>),
    EchoReply(Vec<u8>),
    FeaturesRequest,
    FeaturesReply(SwitchFeatures),
    PortStatus(PortStatus),
    FlowMod(FlowMod),
    MultipartRequest(MultipartRequest),
    MultipartReply(MultipartReply),
    BarrierRequest,
    BarrierReply,
    BundleControl(BundleControl),
    BundleAdd(BundleAdd),
    /// Another experimenter message.
    Experimenter {
        experimenter: u32,
        exp_type: u32,
        data: Vec<u8>,
    },
    /// Another message type, body kept as bytes.
    Other {
        msg_type: u8,
        body: Vec<u8>,
    },
}

impl Message {
    /// The `OFPT_*` type on the wire.
    pub fn msg_type(&self) -> u8 {
        use msg_type as t;
        match self {
            Message::Hello(_) => t::HELLO,
            Message::Error(_) => t::ERROR,
            Message::EchoRequest(_) => t::ECHO_REQUEST,
            Message::EchoReply(_) => t::ECHO_REPLY,
            Message::FeaturesRequest => t::FEATURES_REQUEST,
            Message::FeaturesReply(_) => t::FEATURES_REPLY,
            Message::PortStatus(_) => t::PORT_STATUS,
            Message::FlowMod(_) => t::FLOW_MOD,
            Message::MultipartRequest(_) => t::MULTIPART_REQUEST,
            Message::MultipartReply(_) => t::MULTIPART_REPLY,
            Message::BarrierRequest => t::BARRIER_REQUEST,
            Message::BarrierReply => t::BARRIER_REPLY,
            Message::BundleControl(_) | Message::BundleAdd(_) | Message::Experimenter { .. } => {
                t::EXPERIMENTER
            }
            Message::Other { msg_type, .. } => *msg_type,
        }
    }

    /// Encodes the message with `xid` (for a [`BundleAdd`], `xid` is also
    /// the inner message's).
    pub fn encode(&self, xid: u32) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(xid, &mut out)?;
        Ok(out)
    }

    /// Appends the encoded message to `out` (many messages can share one
    /// buffer and one write).
    pub fn encode_into(&self, xid: u32, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.push(OFP13_VERSION);
        out.push(self.msg_type());
        put_u16(out, 0);
        put_u32(out, xid);
        match self {
            Message::Hello(h) => {
                if !h.versions.is_empty() {
                    let bitmap = h
                        .versions
                        .iter()
                        .filter(|&&v| v < 32)
                        .fold(0u32, |acc, &v| acc | (1 << v));
                    put_u16(out, OFPHET_VERSIONBITMAP);
                    put_u16(out, 8);
                    put_u32(out, bitmap);
                }
            }
            Message::Error(e) => e.encode_body(out),
            Message::EchoRequest(data) | Message::EchoReply(data) => out.extend_from_slice(data),
            Message::FeaturesRequest | Message::BarrierRequest | Message::BarrierReply => {}
            Message::FeaturesReply(f) => f.encode_body(out),
            Message::PortStatus(p) => p.encode_body(out),
            Message::FlowMod(f) => f.encode_body(out)?,
            Message::MultipartRequest(m) => m.encode_body(out)?,
            Message::MultipartReply(m) => m.encode_body(out)?,
            Message::BundleControl(b) => {
                put_u32(out, ONF_EXPERIMENTER_ID);
                put_u32(out, ONF_ET_BUNDLE_CONTROL);
                b.encode_body(out);
            }
            Message::BundleAdd(b) => {
                put_u32(out, ONF_EXPERIMENTER_ID);
                put_u32(out, ONF_ET_BUNDLE_ADD_MESSAGE);
                put_u32(out, b.bundle_id);
                put_zeros(out, 2);
                put_u16(out, b.flags);
                b.message.encode_into(xid, out)?;
            }
            Message::Experimenter {
                experimenter,
                exp_type,
                data,
            } => {
                put_u32(out, *experimenter);
                put_u32(out, *exp_type);
                out.extend_from_slice(data);
            }
            Message::Other { body, .. } => out.extend_from_slice(body),
        }
        patch_len(out, start + 2, start, "message")
    }

    /// Decodes one whole message (exactly `length` bytes, as the
    /// [`Framer`](crate::Framer) delivers them). Returns the xid and the
    /// message.
    pub fn decode(frame: &[u8]) -> Result<(u32, Message), DecodeError> {
        let h = Header::parse(frame)?;
        let len = usize::from(h.length);
        if len < HEADER_LEN || len != frame.len() {
            return Err(DecodeError::BadLength {
                what: "message",
                len: frame.len(),
            });
        }
        let mut r = Reader::new(&frame[HEADER_LEN..]);
        // Hello and error are understood in any version: they are how a
        // version mismatch is reported.
        if h.version != OFP13_VERSION && !matches!(h.msg_type, msg_type::HELLO | msg_type::ERROR) {
            return Err(DecodeError::UnsupportedVersion(h.version));
        }
        use msg_type as t;
        let msg = match h.msg_type {
            t::HELLO => Message::Hello(decode_hello(&mut r)?),
            t::ERROR => Message::Error(ErrorMsg::decode_body(&mut r)?),
            t::ECHO_REQUEST => Message::EchoRequest(r.rest().to_vec()),
            t::ECHO_REPLY => Message::EchoReply(r.rest().to_vec()),
            t::FEATURES_REQUEST => Message::FeaturesRequest,
            t::FEATURES_REPLY => Message::FeaturesReply(SwitchFeatures::decode_body(&mut r)?),
            t::PORT_STATUS => Message::PortStatus(PortStatus::decode_body(&mut r)?),
            t::FLOW_MOD => Message::FlowMod(FlowMod::decode_body(&mut r)?),
            t::MULTIPART_REQUEST => {
                Message::MultipartRequest(MultipartRequest::decode_body(&mut r)?)
            }
            t::MULTIPART_REPLY => Message::MultipartReply(MultipartReply::decode_body(&mut r)?),
            t::BARRIER_REQUEST => Message::BarrierRequest,
            t::BARRIER_REPLY => Message::BarrierReply,
            t::EXPERIMENTER => decode_experimenter(h.xid, &mut r)?,
            other => Message::Other {
                msg_type: other,
                body: r.rest().to_vec(),
            },
        };
        Ok((h.xid, msg))
    }
}

fn decode_hello(r: &mut Reader<'_>) -> Result<Hello, DecodeError> {
    let mut versions = Vec::new();
    while r.remaining() >= 4 {
        let ty = r.u16("hello element type")?;
        let len = usize::from(r.u16("hello element length")?);
        if len < 4 {
            return Err(DecodeError::BadLength {
                what: "hello element",
                len,
            });
        }
        let mut body = r.sub(len - 4, "hello element")?;
        // Elements are padded to 8 bytes; the padding may be missing on the
        // last one.
        let pad = len.next_multiple_of(8) - len;
        r.skip(pad.min(r.remaining()), "hello element padding")?;
        if ty == OFPHET_VERSIONBITMAP {
            let mut word = 0u8;
            while body.remaining() >= 4 {
                let bits = body.u32("version bitmap")?;
                for bit in 0..32u8 {
                    if bits & (1 << bit) != 0 {
                        versions.push(word.saturating_mul(32).saturating_add(bit));
                    }
                }
                word = word.saturating_add(1);
            }
        }
    }
    Ok(Hello { versions })
}

fn decode_experimenter(outer_xid: u32, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    let experimenter = r.u32("experimenter id")?;
    let exp_type = r.u32("experimenter type")?;
    Ok(match (experimenter, exp_type) {
        (ONF_EXPERIMENTER_ID, ONF_ET_BUNDLE_CONTROL) => {
            Message::BundleControl(BundleControl::decode_body(r)?)
        }
        (ONF_EXPERIMENTER_ID, ONF_ET_BUNDLE_ADD_MESSAGE) => {
            let bundle_id = r.u32("bundle_add bundle_id")?;
            r.skip(2, "bundle_add padding")?;
            let flags = r.u16("bundle_add flags")?;
            let rest = r.rest();
            let inner = Header::parse(rest)?;
            let inner_len = usize::from(inner.length);
            if inner_len < HEADER_LEN || inner_len > rest.len() {
                return Err(DecodeError::BadLength {
                    what: "bundle_add inner message",
                    len: inner_len,
                });
            }
            // Anything after the inner message is bundle properties.
            let (xid, message) = Message::decode(&rest[..inner_len])?;
            if xid != outer_xid {
                return Err(DecodeError::BundleXidMismatch {
                    outer: outer_xid,
                    inner: xid,
                });
            }
            Message::BundleAdd(BundleAdd {
                bundle_id,
                flags,
                message: Box::new(message),
            })
        }
        _ => Message::Experimenter {
            experimenter,
            exp_type,
            data: r.rest().to_vec(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{BundleCtrlType, OFPBF_ATOMIC, OFPBF_ORDERED};
    use crate::flow::{FlowModCommand, MultipartReplyBody};
    use crate::oxm::OfMatch;

    fn round_trip(m: Message) -> Vec<u8> {
        let bytes = m.encode(0x1234).unwrap();
        assert_eq!(
            usize::from(Header::parse(&bytes).unwrap().length),
            bytes.len()
        );
        assert_eq!(Message::decode(&bytes).unwrap(), (0x1234, m));
        bytes
    }

    #[test]
    fn hello_carries_a_version_bitmap() {
        let bytes = round_trip(Message::Hello(Hello::of13()));
        assert_eq!(
            bytes,
            [4, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 1, 0, 8, 0, 0, 0, 0x10]
        );
        // A bare OpenFlow 1.5 hello: no bitmap, header version counts.
        let (_, m) = Message::decode(&[6, 0, 0, 8, 0, 0, 0, 1]).unwrap();
        let Message::Hello(h) = m else { panic!() };
        assert!(h.supports_of13(6));
        assert!(!h.supports_of13(1));
        // A bitmap of 1.0 and 1.4 only.
        let (_, m) =
            Message::decode(&[5, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x22]).unwrap();
        let Message::Hello(h) = m else { panic!() };
        assert_eq!(h.versions, vec![1, 5]);
        assert!(!h.supports_of13(5));
    }

    #[test]
    fn simple_messages_round_trip() {
        assert_eq!(round_trip(Message::BarrierRequest).len(), 8);
        round_trip(Message::BarrierReply);
        round_trip(Message::FeaturesRequest);
        round_trip(Message::EchoRequest(vec![1, 2, 3]));
        round_trip(Message::EchoReply(vec![]));
        round_trip(Message::FeaturesReply(SwitchFeatures {
            datapath_id: 0xabc,
            n_buffers: 0,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: 0x4f,
        }));
        round_trip(Message::MultipartReply(MultipartReply {
            more: true,
            body: MultipartReplyBody::Flow(vec![]),
        }));
        round_trip(Message::Other {
            msg_type: 10,
            body: vec![9; 5],
        });
    }

    #[test]
    fn bundle_messages_use_the_onf_experimenter() {
        let open = round_trip(Message::BundleControl(BundleControl::new(
            7,
            BundleCtrlType::OpenRequest,
            OFPBF_ATOMIC | OFPBF_ORDERED,
        )));
        assert_eq!(
            open,
            [
                4, 4, 0, 24, 0, 0, 0x12, 0x34, 0x4f, 0x4e, 0x46, 0, 0, 0, 0x08, 0xfc, 0, 0, 0, 7,
                0, 0, 0, 3
            ]
        );
        let add = round_trip(Message::BundleAdd(BundleAdd {
            bundle_id: 7,
            flags: OFPBF_ATOMIC | OFPBF_ORDERED,
            message: Box::new(Message::FlowMod(FlowMod::new(
                FlowModCommand::Add,
                0,
                0,
                OfMatch::default(),
            ))),
        }));
        // 24 bytes of bundle-add header, then the 56-byte flow-mod.
        assert_eq!(add.len(), 24 + 56);
        assert_eq!(&add[12..16], &[0, 0, 0x08, 0xfd]);
        assert_eq!(&add[24 + 4..24 + 8], &[0, 0, 0x12, 0x34], "inner xid");
    }

    #[test]
    fn bundle_add_with_a_different_inner_xid_is_refused() {
        let mut add = Message::BundleAdd(BundleAdd {
            bundle_id: 1,
            flags: 0,
            message: Box::new(Message::BarrierRequest),
        })
        .encode(5)
        .unwrap();
        add[24 + 7] = 6;
        assert_eq!(
            Message::decode(&add),
            Err(DecodeError::BundleXidMismatch { outer: 5, inner: 6 })
        );
    }

    #[test]
    fn wrong_versions_and_lengths_are_errors() {
        assert_eq!(
            Message::decode(&[1, 20, 0, 8, 0, 0, 0, 1]),
            Err(DecodeError::UnsupportedVersion(1))
        );
        assert!(Message::decode(&[4, 20, 0, 9, 0, 0, 0, 1]).is_err());
        assert!(Message::decode(&[4, 20, 0, 8]).is_err());
        // Truncated flow-mod.
        assert!(Message::decode(&[4, 14, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0]).is_err());
    }
}
