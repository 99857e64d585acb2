//! Weft's pipeline: intent in, per-switch entries out, entries lowered to
//! rule tables.
//!
//! Layer: pure core (no I/O). [`PipelineEntry`] is the typed, canonical
//! unit of switch state.
//!
//! * [`compile`] compiles a whole fabric: every switch's sorted entries
//!   ([`CompiledFabric`]).
//! * [`Compiler`] keeps that state and turns intent [`Effect`]s
//!   (`weft_model::Effect`, from `Intent::apply`) into a [`FabricDelta`]:
//!   per switch, the exact set difference, computed by touching only the
//!   networks and switches involved.
//! * [`lower`] turns entries into OpenFlow 1.3-style rule tables
//!   (`weft_rules::SwitchRules`), in full or as a delta; the OVS agent and
//!   the verifier's expected-state path share it.
//!
//! `docs/pipeline.md` describes the tables, priorities and cookies;
//! `docs/linux-lowering.md` the mapping to Linux bridges and VXLAN devices.
//!
//! This crate does not verify isolation (that is `weft-verifier`, which
//! never calls into this crate's compiler), does not check quotas on its
//! own (it counts; the caller decides, see [`Compiler`]) and does not talk
//! to switches (agents do).
//!
//! [`Effect`]: weft_model::Effect

pub mod compile;
pub mod entry;
pub mod fabric;
pub mod incremental;
pub mod lower;
mod tree;

pub use compile::compile;
pub use entry::PipelineEntry;
pub use fabric::{CompiledFabric, FabricDelta, SwitchDelta};
pub use incremental::{Compiler, EntryQuotaExceeded};
pub use lower::{RuleDelta, lower_delta, lower_fabric, lower_switch};

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
