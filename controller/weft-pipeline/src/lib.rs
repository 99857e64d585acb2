//! Weft's pipeline: intent in, per-switch entries out.
//!
//! Layer: pure core (no I/O). [`PipelineEntry`] is the typed, canonical
//! unit of switch state. This crate does not verify isolation (that is
//! `weft-verifier`, which never calls into this crate's compiler) and does
//! not talk to switches (agents do).

pub mod entry;

pub use entry::PipelineEntry;
