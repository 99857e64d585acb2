//! `OFPT_ERROR` messages, decoded into a typed error.

use std::fmt;

use crate::wire::{DecodeError, Reader, put_u16, put_u32};

/// What a switch refused, by `OFPET_*` type; the `u16` is the type's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfpError {
    HelloFailed(u16),
    BadRequest(u16),
    BadAction(u16),
    BadInstruction(u16),
    BadMatch(u16),
    FlowModFailed(u16),
    GroupModFailed(u16),
    PortModFailed(u16),
    TableModFailed(u16),
    QueueOpFailed(u16),
    SwitchConfigFailed(u16),
    RoleRequestFailed(u16),
    MeterModFailed(u16),
    TableFeaturesFailed(u16),
    /// `OFPET_EXPERIMENTER`: Open vSwitch reports bundle errors in
    /// OpenFlow 1.3 this way (ONF experimenter 0x4f4e4600).
    Experimenter {
        exp_type: u16,
        experimenter: u32,
    },
    Unknown {
        error_type: u16,
        code: u16,
    },
}

/// `OFPET_EXPERIMENTER`.
pub const OFPET_EXPERIMENTER: u16 = 0xffff;

impl OfpError {
    pub fn from_type_code(error_type: u16, code: u16) -> OfpError {
        match error_type {
            0 => OfpError::HelloFailed(code),
            1 => OfpError::BadRequest(code),
            2 => OfpError::BadAction(code),
            3 => OfpError::BadInstruction(code),
            4 => OfpError::BadMatch(code),
            5 => OfpError::FlowModFailed(code),
            6 => OfpError::GroupModFailed(code),
            7 => OfpError::PortModFailed(code),
            8 => OfpError::TableModFailed(code),
            9 => OfpError::QueueOpFailed(code),
            10 => OfpError::SwitchConfigFailed(code),
            11 => OfpError::RoleRequestFailed(code),
            12 => OfpError::MeterModFailed(code),
            13 => OfpError::TableFeaturesFailed(code),
            _ => OfpError::Unknown { error_type, code },
        }
    }

    /// The wire `(type, code)`; for experimenter errors the code is the
    /// experimenter's type.
    pub fn type_code(self) -> (u16, u16) {
        match self {
            OfpError::HelloFailed(c) => (0, c),
            OfpError::BadRequest(c) => (1, c),
            OfpError::BadAction(c) => (2, c),
            OfpError::BadInstruction(c) => (3, c),
            OfpError::BadMatch(c) => (4, c),
            OfpError::FlowModFailed(c) => (5, c),
            OfpError::GroupModFailed(c) => (6, c),
            OfpError::PortModFailed(c) => (7, c),
            OfpError::TableModFailed(c) => (8, c),
            OfpError::QueueOpFailed(c) => (9, c),
            OfpError::SwitchConfigFailed(c) => (10, c),
            OfpError::RoleRequestFailed(c) => (11, c),
            OfpError::MeterModFailed(c) => (12, c),
            OfpError::TableFeaturesFailed(c) => (13, c),
            OfpError::Experimenter { exp_type, .. } => (OFPET_EXPERIMENTER, exp_type),
            OfpError::Unknown { error_type, code } => (error_type, code),
        }
    }

    fn names(self) -> (&'static str, Option<&'static str>) {
        let pick = |names: &'static [&'static str], c: u16| names.get(usize::from(c)).copied();
        match self {
            OfpError::HelloFailed(c) => ("HELLO_FAILED", pick(&["INCOMPATIBLE", "EPERM"], c)),
            OfpError::BadRequest(c) => (
                "BAD_REQUEST",
                pick(
                    &[
                        "BAD_VERSION",
                        "BAD_TYPE",
                        "BAD_MULTIPART",
                        "BAD_EXPERIMENTER",
                        "BAD_EXP_TYPE",
                        "EPERM",
                        "BAD_LEN",
                        "BUFFER_EMPTY",
                        "BUFFER_UNKNOWN",
                        "BAD_TABLE_ID",
                        "IS_SLAVE",
                        "BAD_PORT",
                        "BAD_PACKET",
                        "MULTIPART_BUFFER_OVERFLOW",
                    ],
                    c,
                ),
            ),
            OfpError::BadAction(c) => (
                "BAD_ACTION",
                pick(
                    &[
                        "BAD_TYPE",
                        "BAD_LEN",
                        "BAD_EXPERIMENTER",
                        "BAD_EXP_TYPE",
                        "BAD_OUT_PORT",
                        "BAD_ARGUMENT",
                        "EPERM",
                        "TOO_MANY",
                        "BAD_QUEUE",
                        "BAD_OUT_GROUP",
                        "MATCH_INCONSISTENT",
                        "UNSUPPORTED_ORDER",
                        "BAD_TAG",
                        "BAD_SET_TYPE",
                        "BAD_SET_LEN",
                        "BAD_SET_ARGUMENT",
                    ],
                    c,
                ),
            ),
            OfpError::BadInstruction(c) => (
                "BAD_INSTRUCTION",
                pick(
                    &[
                        "UNKNOWN_INST",
                        "UNSUP_INST",
                        "BAD_TABLE_ID",
                        "UNSUP_METADATA",
                        "UNSUP_METADATA_MASK",
                        "BAD_EXPERIMENTER",
                        "BAD_EXP_TYPE",
                        "BAD_LEN",
                        "EPERM",
                    ],
                    c,
                ),
            ),
            OfpError::BadMatch(c) => (
                "BAD_MATCH",
                pick(
                    &[
                        "BAD_TYPE",
                        "BAD_LEN",
                        "BAD_TAG",
                        "BAD_DL_ADDR_MASK",
                        "BAD_NW_ADDR_MASK",
                        "BAD_WILDCARDS",
                        "BAD_FIELD",
                        "BAD_VALUE",
                        "BAD_MASK",
                        "BAD_PREREQ",
                        "DUP_FIELD",
                        "EPERM",
                    ],
                    c,
                ),
            ),
            OfpError::FlowModFailed(c) => (
                "FLOW_MOD_FAILED",
                pick(
                    &[
                        "UNKNOWN",
                        "TABLE_FULL",
                        "BAD_TABLE_ID",
                        "OVERLAP",
                        "EPERM",
                        "BAD_TIMEOUT",
                        "BAD_COMMAND",
                        "BAD_FLAGS",
                    ],
                    c,
                ),
            ),
            OfpError::GroupModFailed(_) => ("GROUP_MOD_FAILED", None),
            OfpError::PortModFailed(_) => ("PORT_MOD_FAILED", None),
            OfpError::TableModFailed(_) => ("TABLE_MOD_FAILED", None),
            OfpError::QueueOpFailed(_) => ("QUEUE_OP_FAILED", None),
            OfpError::SwitchConfigFailed(_) => ("SWITCH_CONFIG_FAILED", None),
            OfpError::RoleRequestFailed(_) => ("ROLE_REQUEST_FAILED", None),
            OfpError::MeterModFailed(_) => ("METER_MOD_FAILED", None),
            OfpError::TableFeaturesFailed(_) => ("TABLE_FEATURES_FAILED", None),
            OfpError::Experimenter { .. } => ("EXPERIMENTER", None),
            OfpError::Unknown { .. } => ("UNKNOWN", None),
        }
    }
}

impl fmt::Display for OfpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ty, code) = self.type_code();
        let (ty_name, code_name) = self.names();
        match (self, code_name) {
            (
                OfpError::Experimenter {
                    exp_type,
                    experimenter,
                },
                _,
            ) => write!(
                f,
                "OFPET_EXPERIMENTER (experimenter 0x{experimenter:08x}, type {exp_type})"
            ),
            (_, Some(c)) => write!(f, "OFPET_{ty_name}/{c} (type {ty}, code {code})"),
            (_, None) => write!(f, "OFPET_{ty_name} (type {ty}, code {code})"),
        }
    }
}

/// An `OFPT_ERROR` message. `data` normally holds (the start of) the
/// request that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMsg {
    pub error: OfpError,
    pub data: Vec<u8>,
}

impl ErrorMsg {
    /// The message type and xid of the failed request, when `data` holds
    /// its header.
    pub fn failed_request(&self) -> Option<(u8, u32)> {
        let mut r = Reader::new(&self.data);
        let _version = r.u8("").ok()?;
        let ty = r.u8("").ok()?;
        let _len = r.u16("").ok()?;
        Some((ty, r.u32("").ok()?))
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        let (ty, code) = self.error.type_code();
        put_u16(out, ty);
        put_u16(out, code);
        if let OfpError::Experimenter { experimenter, .. } = self.error {
            put_u32(out, experimenter);
        }
        out.extend_from_slice(&self.data);
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<ErrorMsg, DecodeError> {
        let ty = r.u16("error type")?;
        let code = r.u16("error code")?;
        let error = if ty == OFPET_EXPERIMENTER {
            OfpError::Experimenter {
                exp_type: code,
                experimenter: r.u32("error experimenter")?,
            }
        } else {
            OfpError::from_type_code(ty, code)
        };
        Ok(ErrorMsg {
            error,
            data: r.rest().to_vec(),
        })
    }
}

impl fmt::Display for ErrorMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some((ty, xid)) = self.failed_request() {
            write!(f, " for message type {ty} xid {xid}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_types_and_codes() {
        let e = OfpError::from_type_code(5, 1);
        assert_eq!(e, OfpError::FlowModFailed(1));
        assert_eq!(
            e.to_string(),
            "OFPET_FLOW_MOD_FAILED/TABLE_FULL (type 5, code 1)"
        );
        assert_eq!(
            OfpError::from_type_code(3, 2).to_string(),
            "OFPET_BAD_INSTRUCTION/BAD_TABLE_ID (type 3, code 2)"
        );
        assert_eq!(
            OfpError::from_type_code(42, 7),
            OfpError::Unknown {
                error_type: 42,
                code: 7
            }
        );
        for ty in 0..14 {
            assert_eq!(OfpError::from_type_code(ty, 3).type_code(), (ty, 3));
        }
    }

    #[test]
    fn experimenter_errors_carry_the_experimenter() {
        let bytes = [
            0xff, 0xff, 0x08, 0xfc, 0x4f, 0x4e, 0x46, 0x00, 4, 14, 0, 8, 0, 0, 0, 9,
        ];
        let e = ErrorMsg::decode_body(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(
            e.error,
            OfpError::Experimenter {
                exp_type: 2300,
                experimenter: 0x4f4e_4600
            }
        );
        assert_eq!(e.failed_request(), Some((14, 9)));
        let mut out = Vec::new();
        e.encode_body(&mut out);
        assert_eq!(out, bytes);
    }
}
