//! The data-plane side of an agent.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use weft_model::Vni;
use weft_model::topology::{SwitchId, Topology};
use weft_pipeline::{PipelineEntry, SwitchDelta};
use weft_rules::SwitchRules;

/// What an agent knows about its switch: the topology the entries refer
/// to (ports by number, remote VTEPs) and which switch it is.
#[derive(Debug, Clone)]
pub struct SwitchContext {
    pub topology: Arc<Topology>,
    pub switch: SwitchId,
    pub topology_digest: String,
}

/// Data-plane operations done to reach a state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub added: u64,
    pub removed: u64,
}

/// What the data plane really holds, read back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// In the verifier's rule model: Weft's rules and any foreign ones.
    pub rules: SwitchRules,
    /// Per-network (packets, bytes).
    pub counters: BTreeMap<Vni, (u64, u64)>,
}

/// Why a backend could not apply or read back state. The agent nacks with
/// the message and keeps its session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("data plane unavailable: {0}")]
    Unavailable(String),
    #[error("data plane refused the change: {0}")]
    Refused(String),
}

/// A data plane an agent programs. Level-triggered: `reconcile` brings the
/// data plane to exactly `desired` by adding what is missing and then
/// removing stale Weft state (never flushing first), leaving state Weft
/// does not own alone.
pub trait Backend: Send + 'static {
    /// "memory", "ovs" or "linux".
    fn kind(&self) -> &'static str;

    /// The generation the data plane holds (0 when unknown).
    fn installed_generation(&self) -> u64;

    /// Makes the data plane hold exactly `desired` (mark and sweep).
    fn reconcile(
        &mut self,
        ctx: &SwitchContext,
        generation: u64,
        desired: &[PipelineEntry],
    ) -> impl Future<Output = Result<ApplyStats, BackendError>> + Send;

    /// Applies a delta on top of the installed generation.
    fn apply_delta(
        &mut self,
        ctx: &SwitchContext,
        generation: u64,
        delta: &SwitchDelta,
    ) -> impl Future<Output = Result<ApplyStats, BackendError>> + Send;

    /// Reads back what the data plane holds.
    fn observe(
        &mut self,
        ctx: &SwitchContext,
    ) -> impl Future<Output = Result<Observed, BackendError>> + Send;
}
