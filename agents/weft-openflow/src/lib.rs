//! `weft-openflow`: a sans-I/O OpenFlow 1.3 codec for exactly the subset
//! Weft programs into, and reads back from, Open vSwitch.
//!
//! Layer: pure core. No sockets, no async runtime, no clock: bytes in,
//! typed messages out, and back. The OVS agent backend
//! (`weft-agent::ovs`) owns the connection; fuzzing and golden tests feed
//! this crate bytes directly.
//!
//! # Why our own codec
//!
//! `rovs-openflow` 0.2.0 encodes OpenFlow 1.3 flow-mods with VLAN and
//! tunnel-id matches, but Weft needs more than that and needs it exact:
//!
//! * **bundles** (ONF extension 230 in OpenFlow 1.3, see [`bundle`]): a
//!   reconcile adds and removes flows in one atomic commit; it has none;
//! * **flow-stats decoding into our model**: the agent reads the switch's
//!   whole state back (including flows someone else installed, with fields
//!   and actions we do not model) and hands it to the verifier as
//!   [`weft_rules::Rule`]s, opaque parts kept and printed, never dropped;
//! * **exact control of the bytes**: read-back state is diffed against the
//!   lowering, so the encoder must write what Open vSwitch writes back (the
//!   golden tests compare our bytes with `ovs-ofctl`'s), and Open vSwitch's
//!   `NXM_NX_TUN_IPV4_SRC/DST` fields must be spoken in OXM form;
//! * it has no passive listener (our golden-capture tool plays the switch).
//!
//! The subset is small enough that owning it is cheaper than extending a
//! young crate.
//!
//! # What is here
//!
//! * [`Message`]: hello (version bitmap), error ([`ErrorMsg`], typed
//!   [`OfpError`]), echo, features, port-status, flow-mod, multipart
//!   flow-stats and port-desc (request and reply, `more` flag), barrier,
//!   bundle control and bundle add; anything else is kept as bytes.
//! * [`Framer`]: splits a byte stream into messages, refusing impossible
//!   lengths.
//! * [`OxmField`], [`OfAction`], [`Instruction`]: the match fields, actions
//!   and instructions Weft uses; unknown ones decode to printable raw forms.
//! * [`convert`]: [`flow_mod_from_rule`] and [`rule_from_flow_stats`],
//!   between OpenFlow flows and `weft_rules`.
//!
//! Not here: connection handling, version negotiation policy, retries
//! (the agent does those), and any message Weft does not send or read.

pub mod action;
pub mod bundle;
pub mod convert;
pub mod error;
pub mod flow;
mod framer;
pub mod message;
pub mod oxm;
pub mod port;
mod wire;

pub use action::{Instruction, OfAction};
pub use bundle::{BundleControl, BundleCtrlType, OFPBF_ATOMIC, OFPBF_ORDERED};
pub use convert::{ConvertError, flow_mod_from_rule, rule_from_flow_mod, rule_from_flow_stats};
pub use error::{ErrorMsg, OfpError};
pub use flow::{
    FlowMod, FlowModCommand, FlowStats, FlowStatsRequest, MultipartReply, MultipartReplyBody,
    MultipartRequest, OFPTT_ALL,
};
pub use framer::{FrameError, Framer, MAX_MESSAGE_LEN};
pub use message::{BundleAdd, Header, Hello, Message, OFP13_VERSION};
pub use oxm::{OfMatch, OxmField, RawOxm};
pub use port::{PortDesc, PortReason, PortStatus, SwitchFeatures};
pub use wire::{DecodeError, EncodeError, from_hex, to_hex};
