//! Memoized per-switch transfer functions: for a (switch, canonical
//! state), every branch of what the switch does. A result depends only on
//! the state and that switch's rules, so it is shared by every trace that
//! reaches the switch in that state (e.g. all frames of one network
//! tunnelled from one leaf to another), and stays valid until a rule that
//! one of its lookups could see changes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use smallvec::SmallVec;
use weft_model::{PortKey, PortNo, SwitchId};
use weft_rules::{Rule, TableId};

use crate::fabric::Fabric;
use crate::interp::{Explorer, LocalEvent, LocalOutcome, LookupSig};
use crate::sym::Canon;
use crate::tables::SwitchTables;

pub(crate) type KeyId = u32;
pub(crate) type ClassIdx = u32;

/// FxHash: the memo is keyed by small structs hashed millions of times,
/// and nothing here is exposed to adversarial keys.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub switch: SwitchId,
    pub canon: Arc<Canon>,
    pub outcomes: Arc<[LocalOutcome]>,
    pub lookups: Vec<LookupSig>,
    /// Classes whose walks used this result (tracked mode only).
    pub users: Vec<ClassIdx>,
    pub alive: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Memo {
    maps: Vec<FxMap<Arc<Canon>, KeyId>>,
    pub entries: Vec<KeyEntry>,
    free: Vec<KeyId>,
    /// Keep what incremental re-verification needs (users, indexes).
    pub track: bool,
    /// Live keys per switch (tracked mode; may hold dead, reused or
    /// repeated ids: compacted when it doubles, since it is only read for
    /// the rare rule no finer index covers).
    by_switch: Vec<Vec<KeyId>>,
    /// Length of each `by_switch` list after its last compaction.
    by_switch_compacted: Vec<usize>,
    /// Keys with a delivery at a port (tracked mode; may hold dead ids).
    deliveries: FxMap<PortKey, Vec<KeyId>>,
    /// Keys by what their lookups knew (tracked mode; may hold dead or
    /// reused ids, which `invalidate` re-checks).
    by_lookup: FxMap<LookupKey, Vec<KeyId>>,
    live: usize,
    /// Reused by every exploration.
    scratch: Vec<LocalOutcome>,
}

impl Memo {
    pub(crate) fn new(switches: usize, track: bool) -> Memo {
        Memo {
            maps: (0..switches).map(|_| FxMap::default()).collect(),
            by_switch: vec![Vec::new(); if track { switches } else { 0 }],
            by_switch_compacted: vec![0; if track { switches } else { 0 }],
            track,
            ..Memo::default()
        }
    }

    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// The result for `canon` at `switch`, computed on first use.
    pub(crate) fn get(
        &mut self,
        fabric: &Fabric,
        tables: &[SwitchTables],
        switch: SwitchId,
        canon: Canon,
    ) -> KeyId {
        if let Some(&id) = self.maps[switch.index()].get(&canon) {
            return id;
        }
        let (outcomes, lookups) =
            self.explore(fabric, &tables[switch.index()], switch, canon.state());
        let canon = Arc::new(canon);
        let entry = KeyEntry {
            switch,
            canon: Arc::clone(&canon),
            outcomes,
            lookups,
            users: Vec::new(),
            alive: true,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = entry;
                id
            }
            None => {
                self.entries.push(entry);
                KeyId::try_from(self.entries.len() - 1).unwrap_or(KeyId::MAX)
            }
        };
        self.maps[switch.index()].insert(canon, id);
        self.live += 1;
        if self.track {
            self.by_switch[switch.index()].push(id);
            self.compact_by_switch(switch);
            for sig in &self.entries[id as usize].lookups {
                for k in LookupKey::of_sig(switch, sig) {
                    self.by_lookup.entry(k).or_default().push(id);
                }
            }
            for o in self.entries[id as usize].outcomes.iter() {
                if let LocalEvent::Deliver { port, .. } = o.event {
                    self.deliveries
                        .entry(PortKey { switch, port })
                        .or_default()
                        .push(id);
                }
            }
        }
        id
    }

    /// One switch's behaviour on one state, without memoizing it.
    pub(crate) fn explore(
        &mut self,
        fabric: &Fabric,
        tables: &SwitchTables,
        switch: SwitchId,
        state: crate::sym::State,
    ) -> (Arc<[LocalOutcome]>, Vec<LookupSig>) {
        let mut ex = Explorer::new(fabric, tables, switch, self.track, &mut self.scratch);
        ex.run(state);
        let lookups = std::mem::take(&mut ex.lookups);
        // One allocation of the exact size; the buffer keeps its capacity.
        (self.scratch.drain(..).collect(), lookups)
    }

    pub(crate) fn entry(&self, id: KeyId) -> &KeyEntry {
        &self.entries[id as usize]
    }

    /// Forgets a result; its id may be reused.
    pub(crate) fn kill(&mut self, id: KeyId) {
        let e = &mut self.entries[id as usize];
        if !e.alive {
            return;
        }
        e.alive = false;
        e.users = Vec::new();
        e.outcomes = Arc::from(Vec::new());
        e.lookups = Vec::new();
        let canon = Arc::clone(&e.canon);
        self.maps[e.switch.index()].remove(&*canon);
        self.free.push(id);
        self.live -= 1;
    }

    pub(crate) fn add_user(&mut self, id: KeyId, class: ClassIdx) {
        let e = &mut self.entries[id as usize];
        if e.alive {
            e.users.push(class);
        }
    }

    /// Drops `class` from a result's users; forgets results nobody uses.
    pub(crate) fn remove_user(&mut self, id: KeyId, class: ClassIdx) {
        let e = &mut self.entries[id as usize];
        if !e.alive {
            return;
        }
        if let Some(i) = e.users.iter().position(|&u| u == class) {
            e.users.swap_remove(i);
        }
        if e.users.is_empty() {
            self.kill(id);
        }
    }

    /// Forgets every result at `switch` that a lookup could have seen one
    /// of `changed` in, and returns their users.
    pub(crate) fn invalidate(&mut self, switch: SwitchId, changed: &[&Rule]) -> Vec<ClassIdx> {
        let mut users = Vec::new();
        for rule in changed {
            // The most selective index the rule allows; the full test below
            // decides.
            let ids: Vec<KeyId> = match LookupKey::of_rule(switch, rule) {
                Some(keys) => {
                    let mut ids = Vec::new();
                    for k in &keys {
                        if let Some(list) = self.by_lookup.get_mut(k) {
                            let entries = &self.entries;
                            let from = ids.len();
                            ids.extend(list.iter().copied().filter(|&id| {
                                entries[id as usize].alive && entries[id as usize].switch == switch
                            }));
                            // Compact once mostly dead (dead, moved and
                            // repeated ids are harmless: the test below
                            // skips them), so the pass stays amortized.
                            if 2 * (ids.len() - from) + 16 < list.len() {
                                list.clear();
                                list.extend_from_slice(&ids[from..]);
                                list.sort_unstable();
                                list.dedup();
                            }
                        }
                    }
                    ids
                }
                None => {
                    // May hold dead or repeated ids: the test below skips
                    // dead ones, and a killed id is not alive the second time.
                    self.by_switch[switch.index()].clone()
                }
            };
            for id in ids {
                let e = &self.entries[id as usize];
                if e.alive && e.switch == switch && e.lookups.iter().any(|sig| sig.compatible(rule))
                {
                    users.extend_from_slice(&e.users);
                    self.kill(id);
                }
            }
        }
        users
    }

    /// Drops dead and moved ids from `switch`'s key list once it has
    /// doubled since it was last compacted (amortized constant per key).
    fn compact_by_switch(&mut self, switch: SwitchId) {
        let i = switch.index();
        if self.by_switch[i].len() <= 2 * self.by_switch_compacted[i] + 64 {
            return;
        }
        let entries = &self.entries;
        let list = &mut self.by_switch[i];
        list.retain(|&id| entries[id as usize].alive && entries[id as usize].switch == switch);
        // A reused id can be listed twice.
        list.sort_unstable();
        list.dedup();
        self.by_switch_compacted[i] = list.len();
    }

    /// Users of results with a delivery at `port`.
    pub(crate) fn delivering_to(&mut self, port: PortKey) -> Vec<ClassIdx> {
        let mut users = Vec::new();
        if let Some(ids) = self.deliveries.get_mut(&port) {
            let entries = &self.entries;
            ids.retain(|&id| {
                let e = &entries[id as usize];
                e.alive
                    && e.switch == port.switch
                    && e.outcomes.iter().any(|o| {
                        matches!(o.event, LocalEvent::Deliver { port: p, .. } if p == port.port)
                    })
            });
            ids.sort_unstable();
            ids.dedup();
            for &id in ids.iter() {
                users.extend_from_slice(&self.entries[id as usize].users);
            }
        }
        users
    }
}

/// An index key of a lookup: one field it knew exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LookupKey {
    Metadata(SwitchId, TableId, u64),
    TunId(SwitchId, TableId, u64),
    /// Lookups that did not know the tunnel id.
    TunWild(SwitchId, TableId),
    InPort(SwitchId, TableId, PortNo),
}

impl LookupKey {
    fn of_sig(switch: SwitchId, sig: &LookupSig) -> [LookupKey; 3] {
        let t = sig.table;
        [
            LookupKey::Metadata(switch, t, sig.metadata),
            match sig.tun_id {
                Some(v) => LookupKey::TunId(switch, t, v),
                None => LookupKey::TunWild(switch, t),
            },
            LookupKey::InPort(switch, t, sig.in_port),
        ]
    }

    /// Where to find every lookup `rule` could be compatible with; `None`:
    /// anywhere on the switch.
    fn of_rule(switch: SwitchId, rule: &Rule) -> Option<SmallVec<[LookupKey; 2]>> {
        let t = rule.table;
        let m = &rule.matches;
        if let Some(v) = m.metadata {
            return Some(smallvec::smallvec![LookupKey::Metadata(switch, t, v)]);
        }
        if let Some(v) = m.tun_id {
            return Some(smallvec::smallvec![
                LookupKey::TunId(switch, t, v),
                LookupKey::TunWild(switch, t)
            ]);
        }
        m.in_port
            .map(|p| smallvec::smallvec![LookupKey::InPort(switch, t, p)])
    }
}
