//! `weftd`, the Weft controller: the gRPC API (package `weft.v1`) over
//! mTLS, intent in an embedded crash-safe store, every mutation compiled
//! and verified before it is stored, agent sessions that push deltas and
//! track acknowledgements, a hash-chained audit log, Prometheus metrics.
//!
//! Layers: [`api`] adapts gRPC to domain values; [`auth`] decides who may do
//! what; [`controller`] owns state and the mutation path; [`core`] is the
//! pure part of it (intent → compiler → verifier, with undo); [`sessions`]
//! tracks agents; [`server`] binds and drains. Not here: compiling and
//! verifying (`weft-pipeline`, `weft-verifier`), storage (`weft-store`),
//! certificates (`weft-pki`), programming switches (`weft-agent`).

pub mod api;
pub mod auth;
pub mod controller;
pub mod convert;
pub mod core;
pub mod errors;
pub mod ha;
pub mod metrics;
pub mod names;
pub mod records;
pub mod reports;
pub mod server;
pub mod sessions;
pub mod simulate;
pub mod traffic;

pub use server::{Config, Running, run, start, start_with_store};
