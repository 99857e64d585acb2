//! The Open vSwitch backend: OpenFlow 1.3 over a bridge's management
//! socket (`unix:/…/br-int.mgmt`) or TCP (`tcp:HOST:PORT`).
//!
//! The desired flows are `weft_pipeline::lower_switch` of the entries, the
//! same lowering the verifier uses for its expected state. Weft's flows are
//! told from everyone else's by their cookie ([`Cookie::is_weft`]).
//!
//! * [`reconcile`](Backend::reconcile) dumps every flow of every table,
//!   compares Weft's with the desired rules in the rule model, and sends
//!   adds, then strict deletes of stale Weft flows, in ONE atomic bundle
//!   followed by a barrier. It never flushes, never touches a foreign flow,
//!   and sends nothing at all when the switch already holds the desired
//!   rules: cheap enough to run every few seconds to repair out-of-band
//!   changes.
//! * [`apply_delta`](Backend::apply_delta) lowers an entry delta with
//!   `weft_pipeline::lower_delta` against the entries this backend last
//!   installed, and applies it as one bundle.
//! * [`observe`](Backend::observe) reports every flow (Weft's and foreign,
//!   unknown parts kept opaque) and per-network counters from the table-0
//!   classify flows.
//!
//! [`ApplyStats`] counts rules: flows added, and stale Weft flows removed
//! (deleted, or replaced in place by an add with the same match).
//!
//! A broken connection is re-established inside the next call (once per
//! call); a switch that is down makes calls fail with
//! [`BackendError::Unavailable`], and a switch that refuses a change (an
//! OpenFlow error, decoded) with [`BackendError::Refused`].
//!
//! Not here: the OpenFlow codec (`weft-openflow`, sans-I/O), and deciding
//! when to reconcile (the session does).

mod connection;
mod plan;

use std::collections::BTreeSet;
use std::time::Duration;

use weft_openflow::{FlowModCommand, FlowStats, flow_mod_from_rule, rule_from_flow_stats};
use weft_pipeline::{PipelineEntry, RuleDelta, SwitchDelta, lower_delta, lower_switch};
use weft_rules::{Rule, SwitchRules};

pub use connection::{Connection, OfError, OvsTarget};
pub use plan::{FlowPlan, counters, delete_reported, plan};

use crate::backend::{ApplyStats, Backend, BackendError, Observed, SwitchContext};

/// Default bound on connecting and on each request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// See the module docs.
#[derive(Debug)]
pub struct OvsBackend {
    target: OvsTarget,
    timeout: Duration,
    conn: Option<Connection>,
    generation: u64,
    /// The entries last installed (sorted): the base of the next delta.
    entries: BTreeSet<PipelineEntry>,
    flow_mods_sent: u64,
}

impl OvsBackend {
    /// Connects to the switch (hello, features) with [`DEFAULT_TIMEOUT`].
    pub async fn connect(target: OvsTarget) -> Result<OvsBackend, BackendError> {
        Self::connect_with_timeout(target, DEFAULT_TIMEOUT).await
    }

    /// [`OvsBackend::connect`] with another bound on connecting and on each
    /// request.
    pub async fn connect_with_timeout(
        target: OvsTarget,
        timeout: Duration,
    ) -> Result<OvsBackend, BackendError> {
        let conn = Connection::connect(&target, timeout)
            .await
            .map_err(|e| backend_error(&target, e))?;
        tracing::info!(%target, datapath_id = format_args!("{:016x}", conn.features().datapath_id), "connected to Open vSwitch");
        Ok(OvsBackend {
            target,
            timeout,
            conn: Some(conn),
            generation: 0,
            entries: BTreeSet::new(),
            flow_mods_sent: 0,
        })
    }

    pub fn target(&self) -> &OvsTarget {
        &self.target
    }

    /// Flow-mods sent to the switch since this backend was created (an
    /// unchanged reconcile sends none).
    pub fn flow_mods_sent(&self) -> u64 {
        self.flow_mods_sent
    }

    /// The entries this backend last installed, sorted.
    pub fn installed_entries(&self) -> Vec<PipelineEntry> {
        self.entries.iter().copied().collect()
    }

    /// The live connection, reconnecting if there is none or it broke.
    async fn connection(&mut self) -> Result<&Connection, OfError> {
        if self.conn.as_ref().is_none_or(Connection::is_closed) {
            self.conn = None;
            tracing::info!(target = %self.target, "reconnecting to Open vSwitch");
            self.conn = Some(Connection::connect(&self.target, self.timeout).await?);
        }
        // Just set when it was missing.
        self.conn.as_ref().ok_or(OfError::Closed)
    }

    /// Runs one operation, reconnecting and retrying once if the
    /// connection turns out to be broken. Every operation here is
    /// idempotent (dumps, adds of identical flows, strict deletes).
    async fn run<T>(&mut self, op: Op<'_>) -> Result<T, BackendError>
    where
        T: FromOutcome,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.connection().await {
                Ok(conn) => op.run(conn).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(outcome) => {
                    self.flow_mods_sent += outcome.flow_mods;
                    return Ok(T::from_outcome(outcome));
                }
                Err(e) => {
                    // Whatever state the stream is in, do not reuse it after
                    // a timeout or a protocol error.
                    if !matches!(e, OfError::Refused(_)) {
                        self.conn = None;
                    }
                    if e.is_broken() && attempt < 2 {
                        tracing::warn!(target = %self.target, error = %e, "OpenFlow connection broken; retrying");
                        continue;
                    }
                    return Err(backend_error(&self.target, e));
                }
            }
        }
    }
}

fn backend_error(target: &OvsTarget, e: OfError) -> BackendError {
    match e {
        OfError::Refused(err) => BackendError::Refused(format!("{target}: {err}")),
        other => BackendError::Unavailable(format!("{target}: {other}")),
    }
}

/// One backend operation against a connection.
enum Op<'a> {
    Reconcile(&'a SwitchRules),
    Delta(&'a RuleDelta),
    Observe,
}

/// What an operation produced.
struct Outcome {
    stats: ApplyStats,
    observed: Option<Observed>,
    flow_mods: u64,
}

trait FromOutcome {
    fn from_outcome(o: Outcome) -> Self;
}

impl FromOutcome for ApplyStats {
    fn from_outcome(o: Outcome) -> Self {
        o.stats
    }
}

impl FromOutcome for Observed {
    fn from_outcome(o: Outcome) -> Self {
        o.observed.unwrap_or_default()
    }
}

fn convert_error(e: weft_openflow::ConvertError) -> OfError {
    OfError::Protocol(format!("lowered rule cannot be encoded: {e}"))
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Op<'_> {
    async fn run(&self, conn: &Connection) -> Result<Outcome, OfError> {
        match self {
            Op::Reconcile(desired) => reconcile_on(conn, desired).await,
            Op::Delta(delta) => delta_on(conn, delta).await,
            Op::Observe => {
                let flows = conn.dump_flows().await?;
                Ok(Outcome {
                    stats: ApplyStats::default(),
                    observed: Some(observed(&flows)),
                    flow_mods: 0,
                })
            }
        }
    }
}

fn observed(flows: &[FlowStats]) -> Observed {
    Observed {
        rules: SwitchRules::new(flows.iter().map(rule_from_flow_stats).collect()),
        counters: counters(flows),
    }
}

async fn reconcile_on(conn: &Connection, desired: &SwitchRules) -> Result<Outcome, OfError> {
    let flows = conn.dump_flows().await?;
    let installed: Vec<Rule> = flows.iter().map(rule_from_flow_stats).collect();
    let p = plan(&installed, desired);
    let stats = ApplyStats {
        added: count(p.add.len()),
        removed: count(p.removed()),
    };
    if p.is_empty() {
        return Ok(Outcome {
            stats,
            observed: None,
            flow_mods: 0,
        });
    }
    let mut mods = Vec::with_capacity(p.add.len() + p.delete.len());
    for r in &p.add {
        mods.push(flow_mod_from_rule(r, FlowModCommand::Add).map_err(convert_error)?);
    }
    mods.extend(p.delete.iter().map(|&i| delete_reported(&flows[i])));
    let n = count(mods.len());
    conn.bundle(mods).await?;
    tracing::info!(
        added = stats.added,
        removed = stats.removed,
        "reconciled Open vSwitch flows"
    );
    Ok(Outcome {
        stats,
        observed: None,
        flow_mods: n,
    })
}

async fn delta_on(conn: &Connection, delta: &RuleDelta) -> Result<Outcome, OfError> {
    let add_keys: BTreeSet<_> = delta
        .added
        .iter()
        .map(|r| (r.table, r.priority, &r.matches))
        .collect();
    let mut mods = Vec::with_capacity(delta.added.len() + delta.removed.len());
    for r in &delta.added {
        mods.push(flow_mod_from_rule(r, FlowModCommand::Add).map_err(convert_error)?);
    }
    for r in &delta.removed {
        // A rule whose replacement has the same key is overwritten by the
        // add; deleting it strictly would remove the replacement.
        if !add_keys.contains(&(r.table, r.priority, &r.matches)) {
            mods.push(flow_mod_from_rule(r, FlowModCommand::DeleteStrict).map_err(convert_error)?);
        }
    }
    let n = count(mods.len());
    conn.bundle(mods).await?;
    Ok(Outcome {
        stats: ApplyStats {
            added: count(delta.added.len()),
            removed: count(delta.removed.len()),
        },
        observed: None,
        flow_mods: n,
    })
}

impl Backend for OvsBackend {
    fn kind(&self) -> &'static str {
        "ovs"
    }

    fn installed_generation(&self) -> u64 {
        self.generation
    }

    async fn reconcile(
        &mut self,
        ctx: &SwitchContext,
        generation: u64,
        desired: &[PipelineEntry],
    ) -> Result<ApplyStats, BackendError> {
        let rules = lower_switch(&ctx.topology, ctx.switch, desired);
        let stats: ApplyStats = self.run(Op::Reconcile(&rules)).await?;
        self.entries = desired.iter().copied().collect();
        self.generation = generation;
        Ok(stats)
    }

    async fn apply_delta(
        &mut self,
        ctx: &SwitchContext,
        generation: u64,
        delta: &SwitchDelta,
    ) -> Result<ApplyStats, BackendError> {
        // Only what really changes relative to what is installed, sorted as
        // lower_delta expects.
        let mut after = self.entries.clone();
        let mut effective = SwitchDelta::default();
        for e in &delta.removed {
            if after.remove(e) {
                effective.removed.push(*e);
            }
        }
        for e in &delta.added {
            if after.insert(*e) {
                effective.added.push(*e);
            }
        }
        effective.removed.sort_unstable();
        effective.added.sort_unstable();
        let after_sorted: Vec<PipelineEntry> = after.iter().copied().collect();
        let rules = lower_delta(&ctx.topology, ctx.switch, &after_sorted, &effective);
        let stats: ApplyStats = self.run(Op::Delta(&rules)).await?;
        self.entries = after;
        self.generation = generation;
        Ok(stats)
    }

    async fn observe(&mut self, _ctx: &SwitchContext) -> Result<Observed, BackendError> {
        self.run(Op::Observe).await
    }
}
