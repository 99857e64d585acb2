//! OXM match fields and the `ofp_match` structure that carries them.
//!
//! Known fields are the ones Weft matches or sets. Everything else decodes
//! to [`RawOxm`], which prints itself (`eth_type=0x0800`,
//! `oxm(class=0x0003,field=7)=…`) so that a flow someone else installed is
//! reported instead of failing the whole dump.

use std::fmt;
use std::net::Ipv4Addr;

use crate::wire::{DecodeError, EncodeError, Reader, pad_to_8, patch_len, put_u16, to_hex};

/// OXM class of the OpenFlow basic fields.
pub const OFPXMC_OPENFLOW_BASIC: u16 = 0x8000;
/// OXM class of the Nicira NXM_NX_* fields (Open vSwitch extensions).
pub const OFPXMC_NXM_1: u16 = 0x0001;

/// OpenFlow basic field numbers used here.
pub mod field {
    pub const IN_PORT: u8 = 0;
    pub const METADATA: u8 = 2;
    pub const ETH_DST: u8 = 3;
    pub const ETH_TYPE: u8 = 5;
    pub const VLAN_VID: u8 = 6;
    pub const TUNNEL_ID: u8 = 38;
    /// `NXM_NX_TUN_IPV4_SRC` (class [`super::OFPXMC_NXM_1`]).
    pub const NX_TUN_IPV4_SRC: u8 = 31;
    /// `NXM_NX_TUN_IPV4_DST` (class [`super::OFPXMC_NXM_1`]).
    pub const NX_TUN_IPV4_DST: u8 = 32;
}

/// `OFPVID_PRESENT`: set in a `vlan_vid` value when a tag is present.
pub const OFPVID_PRESENT: u16 = 0x1000;
/// `OFPVID_NONE`: the `vlan_vid` value of an untagged frame.
pub const OFPVID_NONE: u16 = 0x0000;

/// One OXM TLV. A `mask` of `None` means the field is matched exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OxmField {
    InPort(u32),
    Metadata {
        value: u64,
        mask: Option<u64>,
    },
    EthDst {
        value: [u8; 6],
        mask: Option<[u8; 6]>,
    },
    /// `OXM_OF_ETH_TYPE`, exact (the field has no mask).
    EthType(u16),
    /// The OXM form: 12-bit VID plus [`OFPVID_PRESENT`].
    VlanVid {
        value: u16,
        mask: Option<u16>,
    },
    /// `OXM_OF_TUNNEL_ID`.
    TunnelId {
        value: u64,
        mask: Option<u64>,
    },
    /// `NXM_NX_TUN_IPV4_SRC`.
    TunIpv4Src {
        value: Ipv4Addr,
        mask: Option<Ipv4Addr>,
    },
    /// `NXM_NX_TUN_IPV4_DST`.
    TunIpv4Dst {
        value: Ipv4Addr,
        mask: Option<Ipv4Addr>,
    },
    /// Any other field, kept byte for byte.
    Other(RawOxm),
}

/// A field this codec does not interpret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOxm {
    pub class: u16,
    pub field: u8,
    pub has_mask: bool,
    /// Value, then mask when `has_mask` (experimenter fields start with the
    /// experimenter id).
    pub payload: Vec<u8>,
}

fn header(class: u16, field: u8, has_mask: bool, len: usize) -> [u8; 4] {
    let c = class.to_be_bytes();
    // `len` is at most 2 * 8 for the fields built here; RawOxm payloads come
    // from a decoded u8 length.
    let l = u8::try_from(len).unwrap_or(u8::MAX);
    [c[0], c[1], (field << 1) | u8::from(has_mask), l]
}

impl OxmField {
    /// Appends the TLV.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let basic = OFPXMC_OPENFLOW_BASIC;
        let nx = OFPXMC_NXM_1;
        match self {
            OxmField::InPort(p) => put(out, basic, field::IN_PORT, &p.to_be_bytes(), None),
            OxmField::EthType(t) => put(out, basic, field::ETH_TYPE, &t.to_be_bytes(), None),
            OxmField::Metadata { value, mask } => put(
                out,
                basic,
                field::METADATA,
                &value.to_be_bytes(),
                mask.map(u64::to_be_bytes).as_ref().map(|m| &m[..]),
            ),
            OxmField::EthDst { value, mask } => put(
                out,
                basic,
                field::ETH_DST,
                value,
                mask.as_ref().map(|m| &m[..]),
            ),
            OxmField::VlanVid { value, mask } => put(
                out,
                basic,
                field::VLAN_VID,
                &value.to_be_bytes(),
                mask.map(u16::to_be_bytes).as_ref().map(|m| &m[..]),
            ),
            OxmField::TunnelId { value, mask } => put(
                out,
                basic,
                field::TUNNEL_ID,
                &value.to_be_bytes(),
                mask.map(u64::to_be_bytes).as_ref().map(|m| &m[..]),
            ),
            OxmField::TunIpv4Src { value, mask } => put(
                out,
                nx,
                field::NX_TUN_IPV4_SRC,
                &value.octets(),
                mask.map(|m| m.octets()).as_ref().map(|m| &m[..]),
            ),
            OxmField::TunIpv4Dst { value, mask } => put(
                out,
                nx,
                field::NX_TUN_IPV4_DST,
                &value.octets(),
                mask.map(|m| m.octets()).as_ref().map(|m| &m[..]),
            ),
            OxmField::Other(raw) => {
                out.extend_from_slice(&header(
                    raw.class,
                    raw.field,
                    raw.has_mask,
                    raw.payload.len(),
                ));
                out.extend_from_slice(&raw.payload);
            }
        }
    }

    /// Reads one TLV.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<OxmField, DecodeError> {
        let class = r.u16("oxm header")?;
        let fh = r.u8("oxm header")?;
        let len = usize::from(r.u8("oxm header")?);
        let (field, has_mask) = (fh >> 1, fh & 1 == 1);
        let payload = r.bytes(len, "oxm payload")?;
        let known = match (class, field) {
            (OFPXMC_OPENFLOW_BASIC, field::IN_PORT) if !has_mask && len == 4 => {
                Some(OxmField::InPort(be_u32(payload)))
            }
            (OFPXMC_OPENFLOW_BASIC, field::ETH_TYPE) if !has_mask && len == 2 => {
                Some(OxmField::EthType(u16::from_be_bytes([
                    payload[0], payload[1],
                ])))
            }
            (OFPXMC_OPENFLOW_BASIC, field::METADATA) => {
                split::<8>(payload, has_mask).map(|(v, m)| OxmField::Metadata {
                    value: u64::from_be_bytes(v),
                    mask: m.map(u64::from_be_bytes),
                })
            }
            (OFPXMC_OPENFLOW_BASIC, field::ETH_DST) => {
                split::<6>(payload, has_mask).map(|(value, mask)| OxmField::EthDst { value, mask })
            }
            (OFPXMC_OPENFLOW_BASIC, field::VLAN_VID) => {
                split::<2>(payload, has_mask).map(|(v, m)| OxmField::VlanVid {
                    value: u16::from_be_bytes(v),
                    mask: m.map(u16::from_be_bytes),
                })
            }
            (OFPXMC_OPENFLOW_BASIC, field::TUNNEL_ID) => {
                split::<8>(payload, has_mask).map(|(v, m)| OxmField::TunnelId {
                    value: u64::from_be_bytes(v),
                    mask: m.map(u64::from_be_bytes),
                })
            }
            (OFPXMC_NXM_1, field::NX_TUN_IPV4_SRC) => {
                split::<4>(payload, has_mask).map(|(v, m)| OxmField::TunIpv4Src {
                    value: Ipv4Addr::from(v),
                    mask: m.map(Ipv4Addr::from),
                })
            }
            (OFPXMC_NXM_1, field::NX_TUN_IPV4_DST) => {
                split::<4>(payload, has_mask).map(|(v, m)| OxmField::TunIpv4Dst {
                    value: Ipv4Addr::from(v),
                    mask: m.map(Ipv4Addr::from),
                })
            }
            _ => None,
        };
        Ok(known.unwrap_or_else(|| {
            OxmField::Other(RawOxm {
                class,
                field,
                has_mask,
                payload: payload.to_vec(),
            })
        }))
    }
}

fn put(out: &mut Vec<u8>, class: u16, field: u8, value: &[u8], mask: Option<&[u8]>) {
    let len = value.len() + mask.map_or(0, <[u8]>::len);
    out.extend_from_slice(&header(class, field, mask.is_some(), len));
    out.extend_from_slice(value);
    if let Some(m) = mask {
        out.extend_from_slice(m);
    }
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

/// Splits a payload into value and optional mask of `N` bytes each; `None`
/// when the length does not fit (the field then decodes as raw).
fn split<const N: usize>(payload: &[u8], has_mask: bool) -> Option<([u8; N], Option<[u8; N]>)> {
    let want = if has_mask { 2 * N } else { N };
    if payload.len() != want {
        return None;
    }
    let mut v = [0u8; N];
    v.copy_from_slice(&payload[..N]);
    let m = has_mask.then(|| {
        let mut m = [0u8; N];
        m.copy_from_slice(&payload[N..]);
        m
    });
    Some((v, m))
}

/// Names of OpenFlow basic fields, for printing raw ones.
fn basic_name(field: u8) -> Option<&'static str> {
    Some(match field {
        0 => "in_port",
        1 => "in_phy_port",
        2 => "metadata",
        3 => "eth_dst",
        4 => "eth_src",
        5 => "eth_type",
        6 => "vlan_vid",
        7 => "vlan_pcp",
        8 => "ip_dscp",
        9 => "ip_ecn",
        10 => "ip_proto",
        11 => "ipv4_src",
        12 => "ipv4_dst",
        13 => "tcp_src",
        14 => "tcp_dst",
        15 => "udp_src",
        16 => "udp_dst",
        17 => "sctp_src",
        18 => "sctp_dst",
        19 => "icmpv4_type",
        20 => "icmpv4_code",
        21 => "arp_op",
        22 => "arp_spa",
        23 => "arp_tpa",
        24 => "arp_sha",
        25 => "arp_tha",
        26 => "ipv6_src",
        27 => "ipv6_dst",
        28 => "ipv6_flabel",
        29 => "icmpv6_type",
        30 => "icmpv6_code",
        31 => "ipv6_nd_target",
        32 => "ipv6_nd_sll",
        33 => "ipv6_nd_tll",
        34 => "mpls_label",
        35 => "mpls_tc",
        36 => "mpls_bos",
        37 => "pbb_isid",
        38 => "tunnel_id",
        39 => "ipv6_exthdr",
        _ => return None,
    })
}

impl fmt::Display for RawOxm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.class, basic_name(self.field)) {
            (OFPXMC_OPENFLOW_BASIC, Some(name)) => write!(f, "{name}=")?,
            (OFPXMC_NXM_1, _) => write!(f, "nxm_nx({})=", self.field)?,
            _ => write!(f, "oxm(class=0x{:04x},field={})=", self.class, self.field)?,
        }
        if self.has_mask && self.payload.len().is_multiple_of(2) {
            let (v, m) = self.payload.split_at(self.payload.len() / 2);
            write!(f, "0x{}/0x{}", to_hex(v), to_hex(m))
        } else {
            write!(f, "0x{}", to_hex(&self.payload))
        }
    }
}

impl fmt::Display for OxmField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn masked<T: fmt::Display, M: fmt::Display>(
            f: &mut fmt::Formatter<'_>,
            name: &str,
            v: T,
            m: Option<M>,
        ) -> fmt::Result {
            match m {
                Some(m) => write!(f, "{name}={v}/{m}"),
                None => write!(f, "{name}={v}"),
            }
        }
        let hex64 = |v: u64| format!("0x{v:x}");
        let hex16 = |v: u16| format!("0x{v:04x}");
        let mac = |b: [u8; 6]| weft_rules::MacAddr(b).to_string();
        match self {
            OxmField::InPort(p) => write!(f, "in_port={p}"),
            OxmField::EthType(t) => write!(f, "eth_type={}", hex16(*t)),
            OxmField::Metadata { value, mask } => {
                masked(f, "metadata", hex64(*value), mask.map(hex64))
            }
            OxmField::EthDst { value, mask } => masked(f, "eth_dst", mac(*value), mask.map(mac)),
            OxmField::VlanVid { value, mask } => {
                masked(f, "vlan_vid", hex16(*value), mask.map(hex16))
            }
            OxmField::TunnelId { value, mask } => {
                masked(f, "tun_id", hex64(*value), mask.map(hex64))
            }
            OxmField::TunIpv4Src { value, mask } => masked(f, "tun_src", value, mask.as_ref()),
            OxmField::TunIpv4Dst { value, mask } => masked(f, "tun_dst", value, mask.as_ref()),
            OxmField::Other(raw) => raw.fmt(f),
        }
    }
}

/// `OFPMT_OXM`, the only match type of OpenFlow 1.3.
pub const OFPMT_OXM: u16 = 1;

/// An `ofp_match`: a list of OXM fields, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfMatch {
    pub fields: Vec<OxmField>,
}

impl OfMatch {
    /// Appends the match, padded to 8 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        put_u16(out, OFPMT_OXM);
        put_u16(out, 0);
        for f in &self.fields {
            f.encode(out);
        }
        // The length field excludes the padding.
        patch_len(out, start + 2, start, "match")?;
        pad_to_8(out, start);
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<OfMatch, DecodeError> {
        let ty = r.u16("match type")?;
        if ty != OFPMT_OXM {
            return Err(DecodeError::BadValue {
                what: "match type",
                value: u64::from(ty),
            });
        }
        let len = usize::from(r.u16("match length")?);
        if len < 4 {
            return Err(DecodeError::BadLength { what: "match", len });
        }
        let mut fields_r = r.sub(len - 4, "match fields")?;
        r.skip(len.next_multiple_of(8) - len, "match padding")?;
        let mut fields = Vec::new();
        while !fields_r.is_empty() {
            fields.push(OxmField::decode(&mut fields_r)?);
        }
        Ok(OfMatch { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(f: OxmField) -> Vec<u8> {
        let mut out = Vec::new();
        f.encode(&mut out);
        let mut r = Reader::new(&out);
        assert_eq!(OxmField::decode(&mut r).unwrap(), f);
        assert!(r.is_empty());
        out
    }

    #[test]
    fn known_fields_have_their_wire_headers() {
        assert_eq!(
            round_trip(OxmField::InPort(7)),
            [0x80, 0x00, 0x00, 0x04, 0, 0, 0, 7]
        );
        // vlan_vid=present/present: hasmask bit set, 4 bytes.
        assert_eq!(
            round_trip(OxmField::VlanVid {
                value: 0x1000,
                mask: Some(0x1000)
            }),
            [0x80, 0x00, 0x0d, 0x04, 0x10, 0x00, 0x10, 0x00]
        );
        // NXM_NX_TUN_IPV4_SRC is class 1, field 31.
        assert_eq!(
            round_trip(OxmField::TunIpv4Src {
                value: Ipv4Addr::new(10, 0, 0, 12),
                mask: None
            }),
            [0x00, 0x01, 0x3e, 0x04, 10, 0, 0, 12]
        );
        assert_eq!(
            round_trip(OxmField::TunnelId {
                value: 5,
                mask: None
            })[..4],
            [0x80, 0x00, 0x4c, 0x08]
        );
    }

    #[test]
    fn unknown_and_odd_fields_are_kept_raw_and_printable() {
        // eth_type=0x0800
        let bytes = [0x80, 0x00, 0x0a, 0x02, 0x08, 0x00];
        let f = OxmField::decode(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(f.to_string(), "eth_type=0x0800");
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, bytes);
        // in_port with a mask is not valid OpenFlow; kept raw, not dropped.
        let bytes = [0x80, 0x00, 0x01, 0x08, 0, 0, 0, 1, 0, 0, 0, 1];
        let f = OxmField::decode(&mut Reader::new(&bytes)).unwrap();
        assert!(matches!(f, OxmField::Other(_)), "{f:?}");
        assert_eq!(f.to_string(), "in_port=0x00000001/0x00000001");
    }

    #[test]
    fn match_is_padded_and_length_excludes_padding() {
        let m = OfMatch {
            fields: vec![OxmField::InPort(1)],
        };
        let mut out = Vec::new();
        m.encode(&mut out).unwrap();
        assert_eq!(out.len(), 16);
        assert_eq!(&out[..4], &[0, 1, 0, 12]);
        let mut r = Reader::new(&out);
        assert_eq!(OfMatch::decode(&mut r).unwrap(), m);
        assert!(r.is_empty());
        // Empty match: 4 bytes + 4 padding.
        let mut out = Vec::new();
        OfMatch::default().encode(&mut out).unwrap();
        assert_eq!(out, [0, 1, 0, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn truncated_match_is_an_error_not_a_panic() {
        let bytes = [0, 1, 0, 12, 0x80, 0, 0, 4, 0, 0];
        assert!(OfMatch::decode(&mut Reader::new(&bytes)).is_err());
    }
}
