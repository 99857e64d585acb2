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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
use weft_store::etcd::Fence;
use weft_store::{Commit, EventsSince, Store, StoreError};

use crate::convert;
use crate::core::{Core, LoadedTopology, Pending, refusal_status};
use crate::ha::Role;
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
    /// The epoch this controller serves agents with: its own while it
    /// leads, the store's last one while it follows.
    epoch: AtomicU64,
    pub metrics: Metrics,
    /// Set when the server drains: long-lived streams (watches, agent
    /// sessions) end so that graceful shutdown does not wait on them.
    closing: tokio::sync::watch::Sender<bool>,
    /// Leader or follower (see [`crate::ha`]); a controller on the embedded
    /// store always leads.
    role: tokio::sync::watch::Sender<Role>,
    /// The election's fence when replicated: leadership also ends, for
    /// writes and agent sessions, the moment the lease may have expired by
    /// this replica's clock, before the role machine hears of it.
    fence: Option<Fence>,
    /// A commit's outcome is unknown (the store became unreachable during
    /// it): reload the state before the next commit.
    stale: AtomicBool,
    /// What a replica seeds an empty store with when it takes office.
    seed: Option<Seed>,
}

/// The topology file and intent file a replica was started with.
#[derive(Debug, Clone)]
struct Seed {
    topology: (Topology, String),
    initial: Option<IntentSpec>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("epoch", &self.epoch())
            .field("role", &*self.role.borrow())
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

/// The state read back from a store.
struct Restored {
    core: Core,
    chain: AuditChain,
    /// The store's last epoch.
    epoch: u64,
    stored_topology: Option<Vec<u8>>,
}

/// Which topology wins when the store holds one that differs from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopologySource {
    /// The file (one controller: editing the file and restarting is how
    /// the topology changes).
    File,
    /// The store (replicas: a file that differs would otherwise turn every
    /// failover into a topology change; the file only seeds an empty store).
    Stored,
}

/// Reads the store into a [`Core`] on the chosen topology.
fn restore(
    store: &dyn Store,
    file: &(Topology, String),
    source: TopologySource,
) -> anyhow::Result<Restored> {
    let state = store.load().context("reading the store")?;
    let (spec, revs) = records::intent_spec(&state.resources)?;
    let stored = state.meta.get(META_TOPOLOGY);
    let (topo, yaml) = match stored {
        Some(bytes) if bytes.as_slice() != file.1.as_bytes() => match source {
            TopologySource::File => {
                tracing::warn!("the topology file differs from the stored one; adopting the file");
                file.clone()
            }
            TopologySource::Stored => {
                let yaml =
                    String::from_utf8(bytes.clone()).context("the stored topology is not UTF-8")?;
                let topo = weft_config::parse_topology("stored topology", &yaml)
                    .map_err(|d| anyhow::anyhow!("the stored topology does not parse: {d}"))?;
                (topo, yaml)
            }
        },
        _ => file.clone(),
    };
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
    let core = Core::new(
        LoadedTopology::new(topo, &yaml),
        intent,
        state.revision,
        revs,
    );
    if !core.isolated() {
        bail!(
            "the stored intent does not verify as isolated on this topology; refusing to serve it"
        );
    }
    let chain = match &state.audit_head {
        None => AuditChain::genesis(),
        Some((_, bytes)) => {
            let line = String::from_utf8_lossy(bytes);
            AuditChain::resume(&AuditRecord::from_line(&line)?)?
        }
    };
    Ok(Restored {
        core,
        chain,
        epoch: state.epoch,
        stored_topology: stored.cloned(),
    })
}

/// Stores the topology if the store lacks it (or, with
/// [`TopologySource::File`], holds another), and seeds `initial` intent
/// into an empty store: one commit, audited.
fn settle(store: &dyn Store, r: &mut Restored, initial: Option<&IntentSpec>) -> anyhow::Result<()> {
    let core = &mut r.core;
    let yaml = core.topology.yaml.to_string();
    let mut commit = Commit::new(core.revision);
    let mut dirty = r.stored_topology.as_deref() != Some(yaml.as_bytes());
    commit
        .meta_puts
        .push((META_TOPOLOGY.into(), yaml.clone().into_bytes()));
    let mut chain = r.chain.clone();
    if core.revision == 0
        && let Some(initial) = initial
    {
        let rev = 1;
        let seeded = Intent::from_spec(core.topo(), initial).map_err(|v| {
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
        *core = Core::new(loaded, seeded, core.revision, core.revs.clone());
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
        r.chain = chain;
        r.stored_topology = Some(yaml.into_bytes());
    }
    Ok(())
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
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
        let mut restored = restore(&*store, &topology, TopologySource::File)?;
        let epoch = store
            .begin_epoch()
            .context("starting a new controller epoch")?;
        settle(&*store, &mut restored, initial.as_ref())?;
        repair_audit_file(&*store, &audit_file)?;
        Ok(Controller::assemble(
            store,
            restored,
            epoch,
            audit_file,
            Role::sole(),
            None,
            None,
        ))
    }

    /// Opens a replica on a shared store as a follower: it reads the store
    /// (the stored topology wins over `topology`, which only seeds an empty
    /// store) and writes nothing until
    /// [`take_office`](Self::take_office).
    pub fn open_replica(
        store: Arc<dyn Store>,
        topology: (Topology, String),
        initial: Option<IntentSpec>,
        audit_file: PathBuf,
        fence: Fence,
    ) -> anyhow::Result<Controller> {
        let restored = restore(&*store, &topology, TopologySource::Stored)?;
        let epoch = restored.epoch;
        Ok(Controller::assemble(
            store,
            restored,
            epoch,
            audit_file,
            Role::default(),
            Some(fence),
            Some(Seed { topology, initial }),
        ))
    }

    fn assemble(
        store: Arc<dyn Store>,
        restored: Restored,
        epoch: u64,
        audit_file: PathBuf,
        role: Role,
        fence: Option<Fence>,
        seed: Option<Seed>,
    ) -> Controller {
        let Restored { core, chain, .. } = restored;
        let sessions = Sessions::default();
        sessions.reset(&core.topology.programmed_switches(), core.revision);
        let metrics = Metrics::new();
        metrics.epoch.set(gauge(epoch));
        metrics.revision.set(gauge(core.revision));
        metrics.leader.set(i64::from(role.term.is_some()));
        Controller {
            core: Mutex::new(core),
            store,
            sessions,
            audit: Mutex::new(chain),
            audit_file,
            events: broadcast::channel(1024).0,
            epoch: AtomicU64::new(epoch),
            metrics,
            closing: tokio::sync::watch::channel(false).0,
            role: tokio::sync::watch::channel(role).0,
            fence,
            stale: AtomicBool::new(false),
            seed,
        }
    }

    /// The epoch agents are sent.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The store revision this controller's state is at.
    pub async fn revision(&self) -> u64 {
        self.core.lock().await.revision
    }

    /// The term this replica leads (its fencing token), if it has taken
    /// office.
    pub fn term(&self) -> Option<u64> {
        self.role.borrow().term
    }

    /// The leader's advertised address, as last known.
    pub fn leader(&self) -> Option<String> {
        self.role.borrow().leader.clone()
    }

    pub(crate) fn set_leader(&self, leader: Option<String>) {
        self.role.send_if_modified(|r| {
            let changed = r.leader != leader;
            r.leader = leader;
            changed
        });
    }

    /// True while this controller may write and talk to agents.
    pub fn leading(&self) -> bool {
        self.term().is_some() && self.fence.as_ref().is_none_or(|f| f.current().is_some())
    }

    /// `Ok` while this controller leads, else the follower's answer.
    pub fn ensure_leading(&self) -> Result<(), Status> {
        if self.leading() {
            Ok(())
        } else {
            Err(crate::ha::not_leader(self.leader().as_deref()))
        }
    }

    /// Resolves when the term that `epoch` belongs to is over (leadership
    /// lost, or a new term begun).
    pub fn term_ended(&self, epoch: u64) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.role.subscribe();
        let term = rx.borrow().term;
        let current = self.epoch();
        async move {
            if current != epoch || term.is_none() {
                return;
            }
            let _ = rx.wait_for(|r| r.term != term).await;
        }
    }

    /// Takes office as leader of term `token`: reloads the state, begins a
    /// new epoch (a fenced write: a replica that is no longer the leader
    /// fails here), seeds an empty store, repairs the audit log file, and
    /// from then on accepts mutations and agent sessions.
    pub async fn take_office(&self, token: u64) -> anyhow::Result<()> {
        let mut core = self.core.lock().await;
        let mut chain = self.audit.lock().await;
        let store = Arc::clone(&self.store);
        let seed = self.seed.clone();
        let audit_file = self.audit_file.clone();
        let previous = core.revision;
        let (restored, epoch, missed) = tokio::task::spawn_blocking(move || {
            let file = match &seed {
                Some(s) => s.topology.clone(),
                None => bail!("only a replica takes office"),
            };
            let mut restored = restore(&*store, &file, TopologySource::Stored)?;
            let epoch = store
                .begin_epoch()
                .context("starting a new controller epoch")?;
            settle(
                &*store,
                &mut restored,
                seed.as_ref().and_then(|s| s.initial.as_ref()),
            )?;
            repair_audit_file(&*store, &audit_file)?;
            // Commits this replica had not followed yet: its watchers get
            // their events (best effort: they are not needed to serve).
            let missed = match store.events_since(previous) {
                Ok(EventsSince::Events(e)) => e,
                _ => Vec::new(),
            };
            Ok((restored, epoch, missed))
        })
        .await
        .context("taking office")??;
        let Restored {
            core: new_core,
            chain: new_chain,
            ..
        } = restored;
        *core = new_core;
        *chain = new_chain;
        self.publish_stored_events(missed, previous, core.revision);
        self.stale.store(false, Ordering::SeqCst);
        self.epoch.store(epoch, Ordering::SeqCst);
        self.sessions.close_all();
        self.sessions
            .reset(&core.topology.programmed_switches(), core.revision);
        self.metrics.epoch.set(gauge(epoch));
        self.metrics.revision.set(gauge(core.revision));
        self.metrics.leader.set(1);
        self.role.send_modify(|r| r.term = Some(token));
        Ok(())
    }

    /// Leaves office: refuses mutations and closes agent sessions (agents
    /// reconnect and are sent to the new leader).
    pub async fn step_down(&self) {
        let _core = self.core.lock().await;
        self.role.send_modify(|r| r.term = None);
        self.sessions.close_all();
        self.stale.store(true, Ordering::SeqCst);
        self.metrics.leader.set(0);
    }

    /// A follower's refresh after the leader committed: reloads the state
    /// and passes the revisions' events to watchers. A leader ignores it
    /// (its own state is the store's).
    pub async fn follow(&self, update: weft_store::etcd::StoreUpdate) {
        if self.term().is_some() {
            return;
        }
        let mut core = self.core.lock().await;
        if update.revision <= core.revision || self.term().is_some() {
            return;
        }
        let store = Arc::clone(&self.store);
        let file = (core.topo().clone(), core.topology.yaml.to_string());
        let restored =
            tokio::task::spawn_blocking(move || restore(&*store, &file, TopologySource::Stored))
                .await;
        let restored = match restored {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "could not follow the leader's commit"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not follow the leader's commit");
                return;
            }
        };
        let previous = core.revision;
        let topology_changed = restored.core.topology.digest != core.topology.digest;
        *core = restored.core;
        self.epoch.store(restored.epoch, Ordering::SeqCst);
        self.metrics.epoch.set(gauge(restored.epoch));
        self.metrics.revision.set(gauge(core.revision));
        if topology_changed {
            self.sessions
                .reset(&core.topology.programmed_switches(), core.revision);
        }
        if let EventsSince::Events(events) = update.events {
            self.publish_stored_events(events, previous, core.revision);
        }
    }

    /// Passes stored events of the revisions in `(after, upto]` to
    /// watchers, one batch per revision (the caller holds the state lock).
    fn publish_stored_events(&self, events: Vec<(u64, Vec<u8>)>, after: u64, upto: u64) {
        let mut batches: BTreeMap<u64, Vec<pb::WatchResponse>> = BTreeMap::new();
        for (rev, bytes) in events {
            if rev <= after || rev > upto {
                continue;
            }
            if let Ok(e) = pb::WatchResponse::decode(bytes.as_slice()) {
                batches.entry(rev).or_default().push(e);
            }
        }
        for (revision, events) in batches {
            let _ = self.events.send(Arc::new(EventBatch { revision, events }));
        }
    }

    /// After a commit that failed (its outcome unknown when the store
    /// became unreachable), reads the state back before the next commit:
    /// the commit may have landed, and the next one must build on it.
    async fn reload_if_stale(&self, core: &mut Core) -> Result<(), Status> {
        if !self.stale.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut chain = self.audit.lock().await;
        let store = Arc::clone(&self.store);
        let file = (core.topo().clone(), core.topology.yaml.to_string());
        let restored =
            tokio::task::spawn_blocking(move || restore(&*store, &file, TopologySource::Stored))
                .await
                .map_err(|e| crate::errors::store_failed(&e))?;
        let restored = restored.map_err(|e| match e.downcast_ref::<StoreError>() {
            Some(se) => crate::ha::store_status(se, self.leader().as_deref()),
            None => crate::errors::store_failed(&format!("{e:#}")),
        })?;
        let moved = restored.core.revision != core.revision;
        *core = restored.core;
        *chain = restored.chain;
        self.stale.store(false, Ordering::SeqCst);
        if moved {
            tracing::info!(
                revision = core.revision,
                "reloaded the state after an unconfirmed commit"
            );
            self.sessions
                .reset(&core.topology.programmed_switches(), core.revision);
            self.sessions
                .resnapshot_all(|name, generation| self.snapshot(core, name, generation));
            self.sessions.set_revision(core.revision);
            self.metrics.revision.set(gauge(core.revision));
        }
        Ok(())
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

    /// The audit log's head: how many records, and the last one's hash.
    pub async fn audit_head(&self) -> Option<weft_report::AuditHead> {
        let chain = self.audit.lock().await;
        let records = chain.next_seq().saturating_sub(1);
        (records > 0).then(|| weft_report::AuditHead {
            records,
            head: chain.head().to_owned(),
        })
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
        if !self.leading() {
            // Only the leader appends to the shared, hash-chained log: a
            // follower's chain head is not current. Its denials go to its
            // own log output instead (see docs/ha.md).
            tracing::warn!(
                principal = %bounded(principal),
                method = %bounded(method),
                resource = %bounded(resource),
                code = code_name(code),
                "request denied (this replica follows: not in the audit log)"
            );
            return;
        }
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
        self.ensure_leading()?;
        self.reload_if_stale(&mut core).await?;
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
        if let Err(status) = self.durable(commit, &call, rev).await {
            for (k, old) in old_revs {
                match old {
                    Some(r) => core.revs.insert(k, r),
                    None => core.revs.remove(&k),
                };
            }
            core.undo(pending);
            return Err(status);
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
    /// A failed commit marks the state stale (its outcome may be unknown)
    /// and answers with the status for the store's error.
    async fn durable(&self, mut commit: Commit, call: &Call, rev: u64) -> Result<(), Status> {
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
                self.stale.store(true, Ordering::SeqCst);
                let status = match other {
                    Ok(Ok(r)) => {
                        crate::errors::store_failed(&format!("store revision {r}, expected {rev}"))
                    }
                    Ok(Err(e)) => crate::ha::store_status(&e, self.leader().as_deref()),
                    Err(e) => crate::errors::store_failed(&e),
                };
                tracing::error!(error = %status.message(), "store commit failed; change undone");
                return Err(status);
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
        self.ensure_leading()?;
        self.reload_if_stale(&mut core).await?;
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
        self.durable(commit, &call, rev).await?;
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
            .map_err(|e| crate::ha::store_status(&e, self.leader().as_deref()))?
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
            let epoch = self.epoch();
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
            epoch: self.epoch(),
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
