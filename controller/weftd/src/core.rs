//! The controller's in-memory state and the one path every mutation takes:
//! apply to intent → compile incrementally → check quotas → verify
//! incrementally → (store) — or undo all of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use weft_model::{ChangeError, Effect, Intent, IntentChange, Topology};
use weft_pipeline::lower::{is_programmed, lower_fabric_delta};
use weft_pipeline::{Compiler, FabricDelta, lower_fabric};
use weft_rules::Rule;
use weft_verifier::IncrementalVerifier;

use crate::errors;

/// The topology as loaded, with its source and digest.
#[derive(Debug, Clone)]
pub struct LoadedTopology {
    pub topo: Arc<Topology>,
    pub yaml: Arc<str>,
    pub digest: String,
}

impl LoadedTopology {
    pub fn new(topo: Topology, yaml: &str) -> Self {
        use sha2::{Digest, Sha256};
        LoadedTopology {
            topo: Arc::new(topo),
            yaml: yaml.into(),
            digest: hex::encode(Sha256::digest(yaml.as_bytes())),
        }
    }

    /// Switches that run an agent, by name.
    pub fn programmed_switches(&self) -> Vec<String> {
        self.topo
            .switch_ids()
            .filter(|&s| is_programmed(&self.topo, s))
            .map(|s| self.topo.switch(s).name.to_string())
            .collect()
    }
}

/// Intent and everything derived from it.
pub struct Core {
    pub topology: LoadedTopology,
    pub intent: Intent,
    pub compiler: Compiler,
    pub verifier: IncrementalVerifier,
    pub revision: u64,
    /// Resource name → revision that last wrote it (the etag).
    pub revs: BTreeMap<String, u64>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("revision", &self.revision)
            .field("operators", &self.intent.operators.len())
            .finish_non_exhaustive()
    }
}

/// A change applied in memory but not yet stored: what is needed to keep
/// it (effects, delta) or undo it.
#[derive(Debug)]
pub struct Pending {
    pub before: Intent,
    pub effects: Vec<Effect>,
    pub delta: FabricDelta,
    rule_deltas: Vec<(weft_model::SwitchId, Vec<Rule>, Vec<Rule>)>,
}

/// Why a change was refused.
#[derive(Debug)]
pub enum Refusal {
    /// The change at this index (of those applied together) was refused.
    Change(usize, ChangeError),
    EntryQuota(weft_pipeline::EntryQuotaExceeded),
    /// The verifier's findings, rendered.
    Isolation(Vec<weft_verifier::Finding>),
}

impl Core {
    pub fn new(
        topology: LoadedTopology,
        intent: Intent,
        revision: u64,
        revs: BTreeMap<String, u64>,
    ) -> Self {
        let compiler = Compiler::new(&topology.topo, &intent);
        let rules = lower_fabric(&topology.topo, &compiler.snapshot());
        let verifier = IncrementalVerifier::new(&topology.topo, &intent, &rules);
        Core {
            topology,
            intent,
            compiler,
            verifier,
            revision,
            revs,
        }
    }

    pub fn topo(&self) -> &Topology {
        &self.topology.topo
    }

    pub fn isolated(&self) -> bool {
        self.verifier.report().is_isolated()
    }

    /// Applies `changes` in order, all or nothing: intent, compiled state
    /// and verifier all move, or none does.
    pub fn apply(&mut self, changes: Vec<IntentChange>) -> Result<Pending, Refusal> {
        let topo = Arc::clone(&self.topology.topo);
        let before = self.intent.clone();
        let mut effects = Vec::new();
        for (i, change) in changes.into_iter().enumerate() {
            match self.intent.apply(&topo, change) {
                Ok(mut e) => effects.append(&mut e),
                Err(e) => {
                    self.intent = before;
                    return Err(Refusal::Change(i, e));
                }
            }
        }
        let delta = self.compiler.apply(&topo, &effects);
        if let Err(q) = self
            .compiler
            .check_entry_quotas(&topo, &self.intent, &delta)
        {
            self.compiler.revert(&topo, &effects);
            self.intent = before;
            return Err(Refusal::EntryQuota(q));
        }
        let compiler = &self.compiler;
        let rule_deltas: Vec<_> = lower_fabric_delta(&topo, &delta, |s| compiler.entries(s))
            .into_iter()
            .map(|(s, d)| (s, d.removed, d.added))
            .collect();
        let refs: Vec<_> = rule_deltas
            .iter()
            .map(|(s, r, a)| (*s, r.as_slice(), a.as_slice()))
            .collect();
        let report = self.verifier.apply_effects(&self.intent, &effects, &refs);
        let pending = Pending {
            before,
            effects,
            delta,
            rule_deltas,
        };
        if !report.is_isolated() {
            let findings = report.findings.clone();
            self.undo(pending);
            return Err(Refusal::Isolation(findings));
        }
        Ok(pending)
    }

    /// Undoes an applied, unstored change.
    pub fn undo(&mut self, p: Pending) {
        let topo = Arc::clone(&self.topology.topo);
        self.compiler.revert(&topo, &p.effects);
        self.intent = p.before;
        // The same rule deltas, reversed: added rules go, removed ones return.
        let refs: Vec<_> = p
            .rule_deltas
            .iter()
            .map(|(s, r, a)| (*s, a.as_slice(), r.as_slice()))
            .collect();
        self.verifier.apply_effects(&self.intent, &p.effects, &refs);
    }

    /// The entries of a switch, by name (`None` for an unknown switch).
    pub fn entries(&self, switch: &str) -> Option<Vec<weft_pipeline::PipelineEntry>> {
        let id = self.topo().switch_id(switch)?;
        Some(self.compiler.entries(id).to_vec())
    }
}

/// A refusal as a status; `redact` hides findings' details (operators).
pub fn refusal_status(r: &Refusal, field_prefix: &str, redact: bool) -> tonic::Status {
    match r {
        Refusal::Change(_, e) => errors::change_error(e, field_prefix),
        Refusal::EntryQuota(q) => errors::entry_quota(q),
        Refusal::Isolation(findings) => {
            let details: Vec<String> = findings
                .iter()
                .map(|f| {
                    if redact {
                        format!(
                            "{}: {}",
                            f.kind.code(),
                            "details withheld (they concern other operators)"
                        )
                    } else {
                        f.to_string()
                    }
                })
                .collect();
            errors::isolation_broken(&details)
        }
    }
}
