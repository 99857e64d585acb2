//! The controller: state, store, audit log, agent sessions and watchers,
//! and the mutation path that ties them together.
//!
//! Every mutation holds the state lock from the idempotency check to the
//! notification of agents and watchers, so mutations are serialized and
//! each gets the next store revision. The lock is held across the store's
//! durable commit: a mutation is acknowledged only once it is on disk, and
//! no reader sees state the store does not hold.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, bail};
use prost::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, broadcast};
use tonic::Status;
use weft_auditlog::{AuditChain, AuditEntry, AuditRecord, Outcome};
use weft_model::spec::IntentSpec;
use weft_model::{Effect, Intent, IntentChange, Topology};
use weft_pki::Principal;
use weft_proto::entry_to_wire;
use weft_proto::v1::{self as pb, session_response, watch_response};
use weft_store::{Commit, Store};

use crate::convert;
use crate::core::{Core, LoadedTopology, Pending, refusal_status};
use crate::metrics::Metrics;
use crate::records;
use crate::sessions::Sessions;

/// Meta keys in the store.
const META_TOPOLOGY: &str = "topology";

/// One revision's watch events.
#[derive(Debug)]
pub struct EventBatch {
    pub revision: u64,
    pub events: Vec<pb::WatchResponse>,
}

/// Who asked what, for idempotency, deadlines and the audit log.
#[derive(Debug)]
pub struct Call {
    pub principal: Principal,
    pub method: &'static str,
    pub resource: String,
    pub request_id: String,
    /// Digest of the request with `request_id` cleared: a retry must match.
    pub digest: String,
    pub deadline: Option<Instant>,
    pub validate_only: bool,
}

/// A stored answer to a `request_id`.
#[derive(Debug, Serialize, Deserialize)]
struct RequestRecord {
    method: String,
    digest: String,
    response: String,
}

/// See the module docs.
pub struct Controller {
    pub core: Mutex<Core>,
    store: Arc<dyn Store>,
    pub sessions: Sessions,
    audit: Mutex<AuditChain>,
    audit_file: PathBuf,
    events: broadcast::Sender<Arc<EventBatch>>,
    pub epoch: u64,
    pub metrics: Metrics,
    /// Set when the server drains: long-lived streams (watches, agent
    /// sessions) end so that graceful shutdown does not wait on them.
    closing: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// At most 256 bytes of `s` (on a character boundary), marked when cut:
/// what a denied caller sent must not be able to grow the audit log.
fn bounded(s: &str) -> String {
    const MAX: usize = 256;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

impl Controller {
    /// Opens the controller on `store`: restores intent, adopts `topology`
    /// (which must accept the stored intent), seeds `initial` intent into an
    /// empty store, starts a new epoch and repairs the audit log file.
    pub fn open(
        store: Arc<dyn Store>,
        topology: (Topology, String),
        initial: Option<IntentSpec>,
        audit_file: PathBuf,
    ) -> anyhow::Result<Controller> {
        let state = store.load().context("reading the store")?;
        let (spec, revs) = records::intent_spec(&state.resources)?;
        let (topo, yaml) = topology;
        if let Some(stored) = state.meta.get(META_TOPOLOGY)
            && stored.as_slice() != yaml.as_bytes()
        {
            tracing::warn!("the topology file differs from the stored one; adopting the file");
        }
        let intent = Intent::from_spec(&topo, &spec).map_err(|v| {
            anyhow::anyhow!(
                "the stored intent is not valid on this topology ({} problem(s)): {}",
                v.len(),
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        let loaded = LoadedTopology::new(topo, &yaml);
        let mut core = Core::new(loaded, intent, state.revision, revs);
        if !core.isolated() {
            bail!(
                "the stored intent does not verify as isolated on this topology; refusing to serve it"
            );
        }
        let epoch = store
            .begin_epoch()
            .context("starting a new controller epoch")?;
        let mut chain = match &state.audit_head {
            None => AuditChain::genesis(),
            Some((_, bytes)) => {
                let line = String::from_utf8_lossy(bytes);
                AuditChain::resume(&AuditRecord::from_line(&line)?)?
            }
        };
        // Store the topology if it changed, and seed the initial intent.
        let mut commit = Commit::new(state.revision);
        let mut dirty = state.meta.get(META_TOPOLOGY).map(Vec::as_slice) != Some(yaml.as_bytes());
        commit
            .meta_puts
            .push((META_TOPOLOGY.into(), yaml.clone().into_bytes()));
        if state.revision == 0
            && let Some(initial) = initial
        {
            let rev = 1;
            let seeded = Intent::from_spec(core.topo(), &initial).map_err(|v| {
                anyhow::anyhow!(
                    "the intent file is invalid: {}",
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
            let effects = seed_effects(&seeded);
            for (key, rec) in records::writes_for(core.topo(), &seeded, &effects, rev) {
                if let Some(rec) = rec {
                    core.revs.insert(key.clone(), rev);
                    commit.puts.push((key, rec.encode()));
                }
            }
            let loaded = core.topology.clone();
            core = Core::new(loaded, seeded, state.revision, core.revs.clone());
            if !core.isolated() {
                bail!("the intent file does not verify as isolated; refusing to load it");
            }
            // Loading intent is a mutation like any other: audit it.
            let record = chain.append(AuditEntry {
                time: now(),
                principal: "weftd --intent".to_owned(),
                method: "seed".to_owned(),
                resource: String::new(),
                outcome: Outcome::Ok.as_str().to_owned(),
                code: "OK".to_owned(),
                request_id: String::new(),
                revision: rev,
            });
            commit
                .audit
                .push((record.seq, record.to_line().into_bytes()));
            dirty = true;
        }
        if dirty {
            core.revision = store.commit(commit).context("storing the topology")?;
        }
        repair_audit_file(&*store, &audit_file)?;
        let sessions = Sessions::default();
        sessions.reset(&core.topology.programmed_switches(), core.revision);
        let metrics = Metrics::new();
        metrics.epoch.set(i64::try_from(epoch).unwrap_or(i64::MAX));
        metrics
            .revision
            .set(i64::try_from(core.revision).unwrap_or(i64::MAX));
        Ok(Controller {
            core: Mutex::new(core),
            store,
            sessions,
            audit: Mutex::new(chain),
            audit_file,
            events: broadcast::channel(1024).0,
            epoch,
            metrics,
            closing: tokio::sync::watch::channel(false).0,
        })
    }

    /// Ends every watch and agent session (agents reconnect to whoever
    /// serves next).
    pub fn close_streams(&self) {
        let _ = self.closing.send(true);
        self.sessions.close_all();
    }

    /// Resolves once [`close_streams`](Self::close_streams) was called.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|&c| c).await;
        }
    }

    /// The current topology and its digest.
    pub async fn topology(&self) -> (Arc<Topology>, String) {
        let core = self.core.lock().await;
        (
            Arc::clone(&core.topology.topo),
            core.topology.digest.clone(),
        )
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<EventBatch>> {
        self.events.subscribe()
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Records a denial in the audit log (and returns the status to send).
    /// The record is written by a task of its own, so a caller that gives
    /// up (deadline, reset) cannot interrupt it half way.
    pub async fn deny(
        self: &Arc<Self>,
        principal: &str,
        method: &str,
        resource: &str,
        status: Status,
    ) -> Status {
        let this = Arc::clone(self);
        let (p, m, r) = (principal.to_owned(), method.to_owned(), resource.to_owned());
        let code = status.code();
        let _ = tokio::spawn(async move { this.deny_inner(&p, &m, &r, code).await }).await;
        status
    }

    async fn deny_inner(&self, principal: &str, method: &str, resource: &str, code: tonic::Code) {
        self.metrics.denials.inc();
        let mut chain = self.audit.lock().await;
        let mut next = chain.clone();
        let record = next.append(AuditEntry {
            time: now(),
            principal: bounded(principal),
            method: bounded(method),
            resource: bounded(resource),
            outcome: Outcome::Denied.as_str().to_owned(),
            code: code_name(code).to_owned(),
            request_id: String::new(),
            revision: 0,
        });
        let store = Arc::clone(&self.store);
        let line = record.to_line();
        let seq = record.seq;
        let stored =
            tokio::task::spawn_blocking(move || store.append_audit(seq, line.into_bytes())).await;
        match stored {
            Ok(Ok(())) => {
                *chain = next;
                if let Err(e) = weft_auditlog::append_record(&self.audit_file, &record) {
                    tracing::error!(error = %e, "audit log file append failed (the store holds the record)");
                }
            }
            _ => tracing::error!("could not store an audit record of a denial"),
        }
    }

    /// The mutation path. `plan` turns the request into intent changes
    /// (checking etags against the current state); `respond` builds the
    /// answer from the state after the change and its revision.
    ///
    /// The work runs in a task of its own: a caller that gives up (its
    /// deadline passes, the client resets the stream) cannot cancel a
    /// mutation between the store commit and the state update that must
    /// follow it. The deadline is checked once more just before the commit.
    pub async fn mutate<M: Message + Default + 'static>(
        self: &Arc<Self>,
        call: Call,
        field_prefix: &'static str,
        plan: impl FnOnce(&Core) -> Result<Vec<IntentChange>, Status> + Send + 'static,
        respond: impl FnOnce(&Core, u64) -> M + Send + 'static,
    ) -> Result<M, Status> {
        let this = Arc::clone(self);
        tokio::spawn(async move { this.mutate_inner(call, field_prefix, plan, respond).await })
            .await
            .map_err(|e| Status::internal(format!("mutation task failed: {e}")))?
    }

    async fn mutate_inner<M: Message + Default>(
        &self,
        call: Call,
        field_prefix: &str,
        plan: impl FnOnce(&Core) -> Result<Vec<IntentChange>, Status>,
        respond: impl FnOnce(&Core, u64) -> M,
    ) -> Result<M, Status> {
        let started = Instant::now();
        let mut core = self.core.lock().await;
        let request_key = if call.request_id.is_empty() {
            None
        } else {
            Some(format!("{}\n{}", call.principal.uri(), call.request_id))
        };
        if let Some(key) = &request_key
            && let Some(answer) = self.replay(key, &call)?
        {
            return Ok(answer);
        }
        let changes = plan(&core)?;
        let redact = matches!(call.principal, Principal::Operator { .. });
        let pending = core
            .apply(changes)
            .map_err(|r| refusal_status(&r, field_prefix, redact))?;
        if call.validate_only {
            let answer = respond(&core, 0);
            core.undo(pending);
            return Ok(answer);
        }
        if call.deadline.is_some_and(|d| Instant::now() >= d) {
            core.undo(pending);
            return Err(Status::deadline_exceeded(
                "deadline expired before the change was stored; nothing was changed",
            ));
        }
        let rev = core.revision + 1;
        let writes = records::writes_for(core.topo(), &core.intent, &pending.effects, rev);
        let events = events_for(&core, &pending.before, &pending.effects, rev);
        let old_revs: Vec<(String, Option<u64>)> = writes
            .iter()
            .map(|(k, _)| (k.clone(), core.revs.get(k).copied()))
            .collect();
        apply_revs(&mut core.revs, &writes, rev);
        let answer = respond(&core, rev);
        let mut commit = Commit::new(core.revision);
        for (key, rec) in &writes {
            match rec {
                Some(r) => commit.puts.push((key.clone(), r.encode())),
                None => commit.deletes.push(key.clone()),
            }
        }
        commit.events = events.iter().map(Message::encode_to_vec).collect();
        if let Some(key) = &request_key {
            let rec = RequestRecord {
                method: call.method.to_owned(),
                digest: call.digest.clone(),
                response: hex::encode(answer.encode_to_vec()),
            };
            commit.request = Some((key.clone(), serde_json::to_vec(&rec).unwrap_or_default()));
        }
        if let Err(why) = self.durable(commit, &call, rev).await {
            for (k, old) in old_revs {
                match old {
                    Some(r) => core.revs.insert(k, r),
                    None => core.revs.remove(&k),
                };
            }
            core.undo(pending);
            return Err(crate::errors::store_failed(&why));
        }
        core.revision = rev;
        self.push_deltas(&core, &pending, rev);
        self.sessions.set_revision(rev);
        let _ = self.events.send(Arc::new(EventBatch {
            revision: rev,
            events,
        }));
        self.metrics
            .revision
            .set(i64::try_from(rev).unwrap_or(i64::MAX));
        self.metrics.mutations.inc();
        self.metrics
            .mutation_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(answer)
    }

    /// Commits `commit` with the call's audit record; on success the audit
    /// chain advances and the record is appended to the log file.
    async fn durable(&self, mut commit: Commit, call: &Call, rev: u64) -> Result<(), String> {
        let mut chain = self.audit.lock().await;
        let mut next = chain.clone();
        let record = next.append(AuditEntry {
            time: now(),
            principal: call.principal.to_string(),
            method: call.method.to_owned(),
            resource: call.resource.clone(),
            outcome: Outcome::Ok.as_str().to_owned(),
            code: "OK".to_owned(),
            request_id: call.request_id.clone(),
            revision: rev,
        });
        commit
            .audit
            .push((record.seq, record.to_line().into_bytes()));
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || store.commit(commit)).await {
            Ok(Ok(r)) if r == rev => {}
            other => {
                let why = match other {
                    Ok(Ok(r)) => format!("store revision {r}, expected {rev}"),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::error!(error = %why, "store commit failed; change undone");
                return Err(why);
            }
        }
        *chain = next;
        drop(chain);
        if let Err(e) = weft_auditlog::append_record(&self.audit_file, &record) {
            tracing::error!(error = %e, "audit log file append failed (the store holds the record)");
        }
        Ok(())
    }

    /// Replaces the topology: every lease, network and attachment must stay
    /// valid on the new one and the result must verify. Agents get fresh
    /// snapshots.
    pub async fn apply_topology(
        self: &Arc<Self>,
        call: Call,
        yaml: String,
        etag: String,
    ) -> Result<(pb::PlanResult, u64), Status> {
        let this = Arc::clone(self);
        tokio::spawn(async move { this.apply_topology_inner(call, &yaml, &etag).await })
            .await
            .map_err(|e| Status::internal(format!("topology task failed: {e}")))?
    }

    async fn apply_topology_inner(
        &self,
        call: Call,
        yaml: &str,
        etag: &str,
    ) -> Result<(pb::PlanResult, u64), Status> {
        let topo = weft_config::parse_topology("request.yaml", yaml)
            .map_err(|d| crate::errors::bad_field("yaml", format!("{d:?}")))?;
        let mut core = self.core.lock().await;
        // A retry of an applied change gets its answer, whatever changed since.
        let request_key = (!call.request_id.is_empty())
            .then(|| format!("{}\n{}", call.principal.uri(), call.request_id));
        if let Some(key) = &request_key
            && let Some(answer) = self.replay::<pb::ApplyTopologyResponse>(key, &call)?
        {
            return Ok((answer.plan.unwrap_or_default(), answer.revision));
        }
        if !etag.is_empty() && etag != core.topology.digest {
            return Err(crate::errors::stale_etag("topology"));
        }
        let spec = core.intent.to_spec(core.topo());
        let intent = Intent::from_spec(&topo, &spec).map_err(|v| {
            Status::failed_precondition(format!(
                "the current intent is not valid on the new topology: {}",
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        let mut new = Core::new(
            LoadedTopology::new(topo, yaml),
            intent,
            core.revision,
            core.revs.clone(),
        );
        let plan = crate::api::fabric::topology_plan(&core, &new);
        if !new.isolated() {
            let details: Vec<String> = plan.findings.iter().map(|f| f.detail.clone()).collect();
            return Err(crate::errors::isolation_broken(&details));
        }
        if let Some(status) = entry_quota_excess(&new) {
            return Err(status);
        }
        if call.validate_only {
            return Ok((plan, 0));
        }
        if call.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Status::deadline_exceeded(
                "deadline expired before the topology was stored; nothing was changed",
            ));
        }
        let rev = core.revision + 1;
        let mut commit = Commit::new(core.revision);
        commit
            .meta_puts
            .push((META_TOPOLOGY.into(), yaml.as_bytes().to_vec()));
        if let Some(key) = &request_key {
            let answer = pb::ApplyTopologyResponse {
                plan: Some(plan.clone()),
                revision: rev,
            };
            let rec = RequestRecord {
                method: call.method.to_owned(),
                digest: call.digest.clone(),
                response: hex::encode(answer.encode_to_vec()),
            };
            commit.request = Some((key.clone(), serde_json::to_vec(&rec).unwrap_or_default()));
        }
        self.durable(commit, &call, rev)
            .await
            .map_err(|why| crate::errors::store_failed(&why))?;
        new.revision = rev;
        *core = new;
        self.sessions
            .reset(&core.topology.programmed_switches(), rev);
        self.sessions
            .resnapshot_all(|name, generation| self.snapshot(&core, name, generation));
        self.sessions.set_revision(rev);
        self.metrics
            .revision
            .set(i64::try_from(rev).unwrap_or(i64::MAX));
        Ok((plan, rev))
    }

    fn replay<M: Message + Default>(&self, key: &str, call: &Call) -> Result<Option<M>, Status> {
        let Some(bytes) = self
            .store
            .request(key)
            .map_err(|e| Status::internal(format!("store read failed: {e}")))?
        else {
            return Ok(None);
        };
        let rec: RequestRecord = serde_json::from_slice(&bytes)
            .map_err(|e| Status::internal(format!("stored request record unreadable: {e}")))?;
        if rec.method != call.method || rec.digest != call.digest {
            return Err(crate::errors::bad_field(
                "request_id",
                "already used for a different request: use a new request_id for a new request",
            ));
        }
        let raw = hex::decode(&rec.response)
            .map_err(|e| Status::internal(format!("stored response unreadable: {e}")))?;
        M::decode(raw.as_slice())
            .map(Some)
            .map_err(|e| Status::internal(format!("stored response unreadable: {e}")))
    }

    fn push_deltas(&self, core: &Core, pending: &Pending, rev: u64) {
        for (&sw, d) in &pending.delta.switches {
            let name = core.topo().switch(sw).name.to_string();
            let epoch = self.epoch;
            self.sessions
                .advance(&name, rev, |from| pb::SessionResponse {
                    epoch,
                    message: Some(session_response::Message::Delta(pb::Delta {
                        from_generation: from,
                        generation: rev,
                        added: d.added.iter().map(entry_to_wire).collect(),
                        removed: d.removed.iter().map(entry_to_wire).collect(),
                    })),
                });
        }
    }

    /// A snapshot message for `switch` at `generation` (built under the
    /// state lock by the caller).
    pub fn snapshot(&self, core: &Core, switch: &str, generation: u64) -> pb::SessionResponse {
        pb::SessionResponse {
            epoch: self.epoch,
            message: Some(session_response::Message::Snapshot(pb::Snapshot {
                generation,
                topology_yaml: core.topology.yaml.to_string(),
                topology_digest: core.topology.digest.clone(),
                entries: core
                    .entries(switch)
                    .unwrap_or_default()
                    .iter()
                    .map(entry_to_wire)
                    .collect(),
            })),
        }
    }
}

/// The first operator over its entries-per-switch quota on a whole
/// compiled fabric (a new topology can add VTEPs, so flood entries).
fn entry_quota_excess(core: &Core) -> Option<Status> {
    let topo = core.topo();
    for op in core.intent.operators.values() {
        let Some(lease) = &op.lease else { continue };
        for switch in topo.switch_ids() {
            let entries = core.compiler.operator_entries_on_switch(topo, switch, op);
            if entries > u64::from(lease.quotas.entries_per_switch) {
                return Some(crate::errors::entry_quota(
                    &weft_pipeline::EntryQuotaExceeded {
                        operator: op.name.clone(),
                        switch,
                        switch_name: topo.switch(switch).name.to_string(),
                        entries,
                        limit: lease.quotas.entries_per_switch,
                    },
                ));
            }
        }
    }
    None
}

fn apply_revs(revs: &mut BTreeMap<String, u64>, writes: &[records::Write], rev: u64) {
    for (k, rec) in writes {
        match rec {
            Some(_) => revs.insert(k.clone(), rev),
            None => revs.remove(k),
        };
    }
}

/// The effects that create `intent` from nothing (for seeding a store).
fn seed_effects(intent: &Intent) -> Vec<Effect> {
    let mut out = Vec::new();
    for op in intent.operators.values() {
        out.push(Effect::OperatorCreated {
            operator: op.name.clone(),
        });
        if op.lease.is_some() {
            out.push(Effect::LeaseSet {
                operator: op.name.clone(),
            });
        }
        for net in op.networks.values() {
            out.push(Effect::NetworkCreated {
                operator: op.name.clone(),
                network: net.name.clone(),
                vni: net.vni,
                fabric_vlan: net.fabric_vlan,
            });
            for (&port, &mode) in &net.attachments {
                out.push(Effect::Attached {
                    operator: op.name.clone(),
                    network: net.name.clone(),
                    vni: net.vni,
                    fabric_vlan: net.fabric_vlan,
                    port,
                    mode,
                });
            }
        }
    }
    out
}

/// Watch events for a change's effects.
fn events_for(
    core: &Core,
    before: &Intent,
    effects: &[Effect],
    rev: u64,
) -> Vec<pb::WatchResponse> {
    use pb::WatchEventType as T;
    use watch_response::Resource as R;
    let topo = core.topo();
    let intent = &core.intent;
    let ev = |ty: T, name: String, resource: Option<R>| pb::WatchResponse {
        revision: rev,
        r#type: ty.into(),
        name,
        resource,
    };
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::OperatorCreated { operator } | Effect::OperatorUpdated { operator } => {
                let op = intent.operator(operator.as_str())?;
                let ty = if matches!(e, Effect::OperatorCreated { .. }) {
                    T::Created
                } else {
                    T::Updated
                };
                let o = convert::operator(op, rev);
                Some(ev(ty, o.name.clone(), Some(R::Operator(o))))
            }
            Effect::OperatorRemoved { operator } => {
                Some(ev(T::Deleted, format!("operators/{operator}"), None))
            }
            Effect::LeaseSet { operator } => {
                let l = convert::lease(topo, intent, operator, rev)?;
                let had = before
                    .operator(operator.as_str())
                    .is_some_and(|o| o.lease.is_some());
                Some(ev(
                    if had { T::Updated } else { T::Created },
                    l.name.clone(),
                    Some(R::Lease(l)),
                ))
            }
            Effect::LeaseRemoved { operator } => {
                Some(ev(T::Deleted, format!("operators/{operator}/lease"), None))
            }
            Effect::NetworkCreated {
                operator, network, ..
            } => {
                let net = intent.operator(operator.as_str())?.networks.get(network)?;
                let n = convert::network(operator, net, rev);
                Some(ev(T::Created, n.name.clone(), Some(R::Network(n))))
            }
            Effect::NetworkDeleted {
                operator, network, ..
            } => Some(ev(
                T::Deleted,
                format!("operators/{operator}/networks/{network}"),
                None,
            )),
            Effect::Attached {
                operator,
                network,
                port,
                mode,
                ..
            } => {
                let a = convert::attachment(topo, operator, network, *port, *mode, rev);
                Some(ev(T::Created, a.name.clone(), Some(R::Attachment(a))))
            }
            Effect::Detached {
                operator,
                network,
                port,
                ..
            } => Some(ev(
                T::Deleted,
                records::attachment_name(topo, operator, network, *port),
                None,
            )),
        })
        .collect()
}

/// Appends to the audit log file whatever the store holds beyond it (a
/// crash between the store commit and the file append loses nothing).
fn repair_audit_file(store: &dyn Store, path: &std::path::Path) -> anyhow::Result<()> {
    let last = if path.exists() {
        weft_auditlog::verify_file(path)
            .with_context(|| format!("the audit log {} does not verify", path.display()))?
            .last
            .map_or(0, |r| r.seq)
    } else {
        0
    };
    for (_, bytes) in store.audit_since(last)? {
        let line = String::from_utf8_lossy(&bytes);
        weft_auditlog::append_record(path, &AuditRecord::from_line(&line)?)?;
    }
    Ok(())
}

pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
