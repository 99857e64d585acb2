//! The in-memory data plane: a set of entries and the rules they lower to.
//!
//! It forwards nothing, so its counters stay at zero; it exists so that the
//! whole control path (request → compile → verify → push → ack → status)
//! runs on a machine without switches, and so that tests can inspect what an
//! agent installed. A shared handle ([`MemoryBackend::installed`]) lets a
//! test read the installed entries while the agent runs.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use weft_pipeline::{PipelineEntry, SwitchDelta, lower_switch};

use crate::backend::{ApplyStats, Backend, BackendError, Observed, SwitchContext};

#[derive(Debug, Default)]
struct State {
    generation: u64,
    entries: BTreeSet<PipelineEntry>,
    /// Data-plane operations since creation: a restart that finds the same
    /// state must not add to them.
    operations: u64,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain set; a panic elsewhere cannot leave it torn.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The installed entries, sorted.
    pub fn installed(&self) -> Vec<PipelineEntry> {
        self.lock().entries.iter().copied().collect()
    }

    /// Add and remove operations performed so far.
    pub fn operations(&self) -> u64 {
        self.lock().operations
    }
}

impl Backend for MemoryBackend {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn installed_generation(&self) -> u64 {
        self.lock().generation
    }

    async fn reconcile(
        &mut self,
        _ctx: &SwitchContext,
        generation: u64,
        desired: &[PipelineEntry],
    ) -> Result<ApplyStats, BackendError> {
        let mut s = self.lock();
        let want: BTreeSet<PipelineEntry> = desired.iter().copied().collect();
        let missing: Vec<PipelineEntry> = want.difference(&s.entries).copied().collect();
        let stale: Vec<PipelineEntry> = s.entries.difference(&want).copied().collect();
        // Add first, then sweep: traffic on unchanged networks never sees a gap.
        s.entries.extend(missing.iter().copied());
        for e in &stale {
            s.entries.remove(e);
        }
        let stats = ApplyStats {
            added: missing.len() as u64,
            removed: stale.len() as u64,
        };
        s.operations += stats.added + stats.removed;
        s.generation = generation;
        Ok(stats)
    }

    async fn apply_delta(
        &mut self,
        _ctx: &SwitchContext,
        generation: u64,
        delta: &SwitchDelta,
    ) -> Result<ApplyStats, BackendError> {
        let mut s = self.lock();
        let mut stats = ApplyStats::default();
        for e in &delta.added {
            if s.entries.insert(*e) {
                stats.added += 1;
            }
        }
        for e in &delta.removed {
            if s.entries.remove(e) {
                stats.removed += 1;
            }
        }
        s.operations += stats.added + stats.removed;
        s.generation = generation;
        Ok(stats)
    }

    async fn observe(&mut self, ctx: &SwitchContext) -> Result<Observed, BackendError> {
        let entries = self.installed();
        Ok(Observed {
            rules: lower_switch(&ctx.topology, ctx.switch, &entries),
            counters: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weft_model::{AttachMode, PortNo, Vni};
    use weft_pipeline::{PipelineEntry, SwitchDelta};

    use super::*;

    fn ctx() -> SwitchContext {
        let yaml = include_str!("../../../topologies/two-racks.yaml");
        let topology = weft_config::parse_topology("two-racks.yaml", yaml).unwrap();
        let switch = topology.switch_id("rack1-leaf").unwrap();
        SwitchContext {
            topology: Arc::new(topology),
            switch,
            topology_digest: "d".into(),
        }
    }

    fn port_entry(port: u32, vni: u64) -> PipelineEntry {
        PipelineEntry::PortIngress {
            port: PortNo::new(u64::from(port)).unwrap(),
            mode: AttachMode::Access,
            vni: Vni::new(vni).unwrap(),
        }
    }

    #[tokio::test]
    async fn reconcile_adds_missing_sweeps_stale_and_is_idempotent() {
        let c = ctx();
        let mut b = MemoryBackend::new();
        let first = [port_entry(1, 10), port_entry(2, 20)];
        let s = b.reconcile(&c, 5, &first).await.unwrap();
        assert_eq!((s.added, s.removed), (2, 0));
        assert_eq!(b.installed_generation(), 5);
        // The same state again: no data-plane operation at all.
        let s = b.reconcile(&c, 6, &first).await.unwrap();
        assert_eq!((s.added, s.removed), (0, 0));
        assert_eq!(b.operations(), 2);
        // One kept, one stale, one new.
        let next = [port_entry(1, 10), port_entry(3, 30)];
        let s = b.reconcile(&c, 7, &next).await.unwrap();
        assert_eq!((s.added, s.removed), (1, 1));
        assert_eq!(b.installed(), next.to_vec());
    }

    #[tokio::test]
    async fn deltas_apply_and_observe_lowers_what_is_installed() {
        let c = ctx();
        let mut b = MemoryBackend::new();
        b.reconcile(&c, 1, &[port_entry(1, 10)]).await.unwrap();
        let delta = SwitchDelta {
            removed: vec![port_entry(1, 10)],
            added: vec![port_entry(2, 20)],
        };
        let s = b.apply_delta(&c, 2, &delta).await.unwrap();
        assert_eq!((s.added, s.removed), (1, 1));
        assert_eq!(b.installed(), vec![port_entry(2, 20)]);
        let observed = b.observe(&c).await.unwrap();
        let expected = lower_switch(&c.topology, c.switch, &b.installed());
        assert_eq!(observed.rules, expected);
        assert!(
            observed.counters.is_empty(),
            "the memory plane forwards nothing"
        );
    }
}
