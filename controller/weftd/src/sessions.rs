//! Agent sessions: who is connected, what each switch should hold
//! (generation), what it acknowledged, and the fabric's programmed revision.
//!
//! Generations are store revisions: a switch's desired generation is the
//! revision that last changed its entries. A change at revision `R` is
//! *programmed* once every switch it touched has acknowledged a generation
//! `>= R`; `programmed_revision` is the highest `R` with every change up to
//! it programmed. Waiters (`GetFabricStatus` with `wait_for_revision`)
//! watch that number.
//!
//! Messages to an agent go through a bounded channel: a session too slow to
//! keep up is dropped and the agent reconnects and gets a snapshot, so the
//! controller never buffers without bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tonic::Status;
use weft_proto::v1::{SessionResponse, SwitchProgramming};

use crate::traffic::Series;

/// The controller side of one open session.
pub type SessionTx = mpsc::Sender<Result<SessionResponse, Status>>;

#[derive(Debug)]
struct Conn {
    id: u64,
    tx: SessionTx,
}

#[derive(Debug, Default)]
struct Slot {
    desired: u64,
    acked: u64,
    /// Desired generations not yet acknowledged.
    pending: BTreeSet<u64>,
    conn: Option<Conn>,
    backend: String,
    last_error: String,
    /// VNI → (packets, bytes), as last reported.
    counters: BTreeMap<u32, (u64, u64)>,
    /// VNI → the history of those counters (usage statements).
    traffic: BTreeMap<u32, Series>,
    /// The last read-back: (generation, rules as canonical JSON).
    observed: Option<(u64, Vec<u8>)>,
    /// How many read-backs this slot has received (fresh-evidence checks).
    observations: u64,
    /// Rules of the last read-back without Weft's cookie.
    foreign_rules: u32,
    /// When the current session was last sent a snapshot.
    last_snapshot: Option<Instant>,
}

/// The least time between two snapshots to one session.
pub const RESYNC_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
struct Inner {
    slots: BTreeMap<String, Slot>,
    revision: u64,
    next_id: u64,
}

impl Inner {
    /// The slot of `switch` if `id` is its current session.
    fn current(&mut self, switch: &str, id: u64) -> Option<&mut Slot> {
        self.slots
            .get_mut(switch)
            .filter(|s| s.conn.as_ref().is_some_and(|c| c.id == id))
    }

    fn programmed(&self) -> u64 {
        self.slots
            .values()
            .filter_map(|s| s.pending.first())
            .min()
            .map_or(self.revision, |first| first.saturating_sub(1))
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct Sessions {
    inner: Mutex<Inner>,
    programmed: watch::Sender<u64>,
    /// Bumped on every read-back received.
    observations: watch::Sender<u64>,
}

/// One switch's read-back, as its agent reported it.
#[derive(Debug, Clone)]
pub struct Readback {
    pub generation: u64,
    /// `weft_rules::SwitchRules` as JSON.
    pub rules_json: Vec<u8>,
    /// VNI → (packets, bytes), cumulative.
    pub counters: BTreeMap<u32, (u64, u64)>,
}

/// Which sessions a read-back request went to: switch → its observation
/// count when asked, or `None` when it had no session.
pub type ReadbackRequest = BTreeMap<String, Option<u64>>;

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            inner: Mutex::default(),
            programmed: watch::channel(0).0,
            observations: watch::channel(0).0,
        }
    }
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain bookkeeping: a panicking holder cannot leave it torn.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, inner: &Inner) {
        let p = inner.programmed();
        self.programmed.send_if_modified(|v| {
            let changed = *v != p;
            *v = p;
            changed
        });
    }

    /// Starts bookkeeping for `switches` at `revision`: each must
    /// acknowledge a snapshot at that generation. Switches no longer listed
    /// are dropped (their sessions close).
    pub fn reset(&self, switches: &[String], revision: u64) {
        let mut inner = self.lock();
        inner.revision = revision;
        inner.slots.retain(|name, _| switches.contains(name));
        for name in switches {
            let slot = inner.slots.entry(name.clone()).or_default();
            slot.desired = revision;
            slot.pending.clear();
            if slot.acked < revision {
                slot.pending.insert(revision);
            }
        }
        self.publish(&inner);
    }

    /// The store reached `revision` (every mutation calls this, whether or
    /// not it changed a switch).
    pub fn set_revision(&self, revision: u64) {
        let mut inner = self.lock();
        inner.revision = revision;
        self.publish(&inner);
    }

    /// Records that `switch` should now hold generation `generation` and
    /// sends it `message` (a delta) if connected. Returns the generation the
    /// delta applies on top of.
    pub fn advance(
        &self,
        switch: &str,
        generation: u64,
        build: impl FnOnce(u64) -> SessionResponse,
    ) {
        let mut inner = self.lock();
        let Some(slot) = inner.slots.get_mut(switch) else {
            return;
        };
        let from = slot.desired;
        slot.desired = generation;
        slot.pending.insert(generation);
        if let Some(conn) = &slot.conn
            && conn.tx.try_send(Ok(build(from))).is_err()
        {
            tracing::warn!(%switch, "agent session cannot keep up; closing it (the agent will resync)");
            slot.conn = None;
        }
        self.publish(&inner);
    }

    /// Registers a new session for `switch` (replacing an older one) and
    /// sends it `snapshot(desired_generation)`. `installed` is the
    /// generation the agent says its data plane holds: an agent that lost
    /// its state counts as unprogrammed until it acknowledges the snapshot.
    /// Returns the session id, or `None` for a switch that has no agent.
    pub fn connect(
        &self,
        switch: &str,
        backend: &str,
        installed: u64,
        tx: SessionTx,
        snapshot: impl FnOnce(u64) -> SessionResponse,
    ) -> Option<u64> {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let slot = inner.slots.get_mut(switch)?;
        slot.backend = backend.to_owned();
        slot.acked = slot.acked.min(installed);
        if slot.acked < slot.desired {
            slot.pending.insert(slot.desired);
        }
        slot.last_snapshot = Some(Instant::now());
        if tx.try_send(Ok(snapshot(slot.desired))).is_ok() {
            slot.conn = Some(Conn { id, tx });
        }
        self.publish(&inner);
        Some(id)
    }

    /// Sends a fresh snapshot to session `id` (after a resync nack). An
    /// agent asking again within [`RESYNC_INTERVAL`] of the last snapshot
    /// is closed instead: snapshots are built under the state lock, and a
    /// reconnect costs the agent a handshake.
    pub fn resync(&self, switch: &str, id: u64, snapshot: impl FnOnce(u64) -> SessionResponse) {
        let mut inner = self.lock();
        let Some(slot) = inner.current(switch, id) else {
            return;
        };
        let too_soon = slot
            .last_snapshot
            .is_some_and(|t| t.elapsed() < RESYNC_INTERVAL);
        let sent = !too_soon
            && slot
                .conn
                .as_ref()
                .is_some_and(|c| c.tx.try_send(Ok(snapshot(slot.desired))).is_ok());
        if sent {
            slot.last_snapshot = Some(Instant::now());
        } else {
            tracing::warn!(%switch, "closing an agent session that cannot take a snapshot now (it will reconnect)");
            slot.conn = None;
        }
    }

    /// Sends every open session a fresh snapshot (after a topology change);
    /// a session that cannot take it is closed (the agent reconnects and
    /// gets one).
    pub fn resnapshot_all(&self, build: impl Fn(&str, u64) -> SessionResponse) {
        let mut inner = self.lock();
        for (name, slot) in inner.slots.iter_mut() {
            let Some(conn) = &slot.conn else { continue };
            if conn.tx.try_send(Ok(build(name, slot.desired))).is_ok() {
                slot.last_snapshot = Some(Instant::now());
            } else {
                slot.conn = None;
            }
        }
    }

    /// Sends `message` to session `id` of `switch` (keepalives, read-back
    /// requests), if it is still the current one.
    pub fn broadcast_to(&self, switch: &str, id: u64, message: SessionResponse) {
        let inner = self.lock();
        if let Some(conn) = inner.slots.get(switch).and_then(|s| s.conn.as_ref())
            && conn.id == id
        {
            let _ = conn.tx.try_send(Ok(message));
        }
    }

    pub fn ack(&self, switch: &str, id: u64, generation: u64) {
        let mut inner = self.lock();
        if let Some(slot) = inner.current(switch, id) {
            // An agent cannot have installed more than it was sent.
            let generation = generation.min(slot.desired);
            slot.acked = slot.acked.max(generation);
            slot.pending.retain(|&g| g > generation);
            slot.last_error.clear();
        }
        self.publish(&inner);
    }

    pub fn nack(&self, switch: &str, id: u64, error: String) {
        if let Some(slot) = self.lock().current(switch, id) {
            slot.last_error = error;
        }
    }

    /// A read-back from session `id`, received at `at` (Unix seconds).
    pub fn observed(
        &self,
        switch: &str,
        id: u64,
        at: i64,
        generation: u64,
        rules_json: Vec<u8>,
        counters: BTreeMap<u32, (u64, u64)>,
    ) {
        // Parsed outside the lock; unreadable JSON counts no foreign rules
        // (the raw bytes are kept for the audit either way).
        let foreign = serde_json::from_slice::<weft_rules::SwitchRules>(&rules_json)
            .map(|r| {
                r.rules()
                    .iter()
                    .filter(|rule| !weft_rules::Cookie::is_weft(rule.cookie))
                    .count()
            })
            .unwrap_or(0);
        if let Some(slot) = self.lock().current(switch, id) {
            slot.foreign_rules = u32::try_from(foreign).unwrap_or(u32::MAX);
            slot.observed = Some((generation, rules_json));
            for (&vni, &(packets, bytes)) in &counters {
                slot.traffic
                    .entry(vni)
                    .or_default()
                    .record(at, packets, bytes);
            }
            slot.counters = counters;
            slot.observations += 1;
        }
        self.observations.send_modify(|n| *n += 1);
    }

    /// Sends `message` (a read-back request) to every open session.
    pub fn request_readback(&self, message: impl Fn() -> SessionResponse) -> ReadbackRequest {
        let mut inner = self.lock();
        let mut asked = BTreeMap::new();
        for (name, slot) in inner.slots.iter_mut() {
            let sent = slot
                .conn
                .as_ref()
                .is_some_and(|c| c.tx.try_send(Ok(message())).is_ok());
            asked.insert(name.clone(), sent.then_some(slot.observations));
        }
        asked
    }

    /// Waits until every switch asked in `asked` has sent a read-back
    /// since, or until `deadline`; returns each switch's fresh read-back
    /// (`None`: not asked, or no answer in time).
    pub async fn collect_readback(
        &self,
        asked: &ReadbackRequest,
        deadline: tokio::time::Instant,
    ) -> BTreeMap<String, Option<Readback>> {
        let mut changes = self.observations.subscribe();
        loop {
            let done = {
                let inner = self.lock();
                asked.iter().all(|(name, before)| {
                    before.is_none_or(|b| inner.slots.get(name).is_none_or(|s| s.observations > b))
                })
            };
            if done
                || tokio::time::timeout_at(deadline, changes.changed())
                    .await
                    .is_err()
            {
                break;
            }
        }
        let inner = self.lock();
        asked
            .iter()
            .map(|(name, before)| {
                let fresh = before.and_then(|b| {
                    let slot = inner.slots.get(name).filter(|s| s.observations > b)?;
                    let (generation, rules_json) = slot.observed.clone()?;
                    Some(Readback {
                        generation,
                        rules_json,
                        counters: slot.counters.clone(),
                    })
                });
                (name.clone(), fresh)
            })
            .collect()
    }

    /// Traffic per VNI since `since` (Unix seconds), summed over switches,
    /// and when the oldest sample used was taken.
    pub fn traffic_since(&self, since: i64) -> (BTreeMap<u32, (u64, u64)>, Option<i64>) {
        let inner = self.lock();
        let mut total: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        let mut start: Option<i64> = None;
        for slot in inner.slots.values() {
            for (&vni, series) in &slot.traffic {
                let (p, b) = series.increase_since(since);
                let t = total.entry(vni).or_default();
                t.0 = t.0.saturating_add(p);
                t.1 = t.1.saturating_add(b);
                if let Some(s) = series.start(since) {
                    start = Some(start.map_or(s, |cur| cur.min(s)));
                }
            }
        }
        (total, start)
    }

    /// Closes every session (server shutdown).
    pub fn close_all(&self) {
        let mut inner = self.lock();
        for slot in inner.slots.values_mut() {
            slot.conn = None;
        }
    }

    /// Session `id` ended.
    pub fn disconnect(&self, switch: &str, id: u64) {
        if let Some(slot) = self.lock().current(switch, id) {
            slot.conn = None;
        }
    }

    pub fn programmed_revision(&self) -> u64 {
        self.lock().programmed()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.programmed.subscribe()
    }

    pub fn connected_count(&self) -> usize {
        self.lock()
            .slots
            .values()
            .filter(|s| s.conn.is_some())
            .count()
    }

    /// Status of the named switches (all when `None`), sorted by name.
    pub fn status(&self, only: Option<&BTreeSet<String>>) -> Vec<SwitchProgramming> {
        let inner = self.lock();
        inner
            .slots
            .iter()
            .filter(|(name, _)| only.is_none_or(|o| o.contains(*name)))
            .map(|(name, s)| SwitchProgramming {
                switch: name.clone(),
                desired_generation: s.desired,
                acked_generation: s.acked,
                connected: s.conn.is_some(),
                last_error: s.last_error.clone(),
                backend: s.backend.clone(),
                observed_generation: s.observed.as_ref().map_or(0, |(g, _)| *g),
                foreign_rules: s.foreign_rules,
            })
            .collect()
    }

    /// Counters of `vni` on every switch that reported them.
    pub fn counters(&self, vni: u32) -> Vec<(String, u64, u64)> {
        let inner = self.lock();
        inner
            .slots
            .iter()
            .filter_map(|(name, s)| s.counters.get(&vni).map(|&(p, b)| (name.clone(), p, b)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programmed_revision_waits_for_every_touched_switch() {
        let s = Sessions::default();
        s.reset(&["a".into(), "b".into()], 0);
        assert_eq!(s.programmed_revision(), 0);
        let (tx, _rx) = mpsc::channel(8);
        let id = s
            .connect("a", "memory", 0, tx, |_| SessionResponse::default())
            .unwrap();
        s.advance("a", 5, |_| SessionResponse::default());
        s.set_revision(5);
        assert_eq!(s.programmed_revision(), 4);
        s.advance("b", 6, |_| SessionResponse::default());
        s.set_revision(6);
        s.ack("a", id, 5);
        // b (not connected) still owes 6.
        assert_eq!(s.programmed_revision(), 5);
        s.set_revision(7);
        assert_eq!(s.programmed_revision(), 5);
        let (tx, _rx2) = mpsc::channel(8);
        let idb = s
            .connect("b", "memory", 0, tx, |g| {
                assert_eq!(g, 6);
                SessionResponse::default()
            })
            .unwrap();
        s.ack("b", idb, 6);
        assert_eq!(s.programmed_revision(), 7);
        // An ack from a replaced session is ignored.
        s.advance("a", 8, |_| SessionResponse::default());
        s.ack("a", id + 100, 8);
        assert_eq!(s.programmed_revision(), 7);
    }

    #[test]
    fn a_slow_session_is_dropped_not_buffered() {
        let s = Sessions::default();
        s.reset(&["a".into()], 0);
        let (tx, _rx) = mpsc::channel(1);
        s.connect("a", "memory", 0, tx, |_| SessionResponse::default())
            .unwrap();
        s.advance("a", 1, |_| SessionResponse::default());
        assert_eq!(s.connected_count(), 0);
        assert!(!s.status(None)[0].connected);
    }

    #[test]
    fn an_agent_that_lost_its_state_is_unprogrammed_until_it_acks() {
        let s = Sessions::default();
        s.reset(&["a".into()], 3);
        let (tx, _rx) = mpsc::channel(8);
        let id = s
            .connect("a", "memory", 0, tx, |_| SessionResponse::default())
            .unwrap();
        s.ack("a", id, 3);
        assert_eq!(s.programmed_revision(), 3);
        // The agent restarts with an empty data plane.
        let (tx, _rx2) = mpsc::channel(8);
        let id2 = s
            .connect("a", "memory", 0, tx, |_| SessionResponse::default())
            .unwrap();
        assert_eq!(
            s.programmed_revision(),
            2,
            "pending again until the snapshot is acked"
        );
        // An ack beyond what was sent counts as what was sent.
        s.ack("a", id2, u64::MAX);
        assert_eq!(s.status(None)[0].acked_generation, 3);
        assert_eq!(s.programmed_revision(), 3);
        // Reconnecting with its state intact changes nothing.
        let (tx, _rx3) = mpsc::channel(8);
        s.connect("a", "memory", 3, tx, |_| SessionResponse::default())
            .unwrap();
        assert_eq!(s.programmed_revision(), 3);
    }

    #[test]
    fn resync_storms_close_the_session() {
        let s = Sessions::default();
        s.reset(&["a".into()], 1);
        let (tx, mut rx) = mpsc::channel(8);
        let id = s
            .connect("a", "memory", 0, tx, |_| SessionResponse::default())
            .unwrap();
        assert!(rx.try_recv().is_ok(), "the snapshot");
        s.resync("a", id, |_| SessionResponse::default());
        assert_eq!(
            s.connected_count(),
            0,
            "a resync right after a snapshot closes the session"
        );
    }
}
