//! Re-verification after a change, re-walking only the ingress classes the
//! change can affect, with results identical to a full check.
//!
//! What a class's verdict depends on, and how a change reaches it:
//!
//! | dependency | recorded as | invalidated by |
//! |---|---|---|
//! | the rules its walk looked up | the memo keys it used; each key's lookups | an added or removed rule that one of the key's lookups could have seen |
//! | the policy of ports it delivered to | memo keys with a delivery at the port | the port's lessee or attachments changing |
//! | its own network, identifiers on the wire | `Dep`s | the network (or VLAN) changing |
//! | its own definition | its ingress point's class list | the port's attachments, the network's member switches |
//!
//! Everything else a walk reads is the topology, which never changes here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use weft_model::{Effect, Intent, PortKey, PortNo, SwitchId, Topology};
use weft_rules::{FabricRules, Rule, SwitchRules, TableId};

use crate::engine::{Engine, VerifyOptions, assemble};
use crate::fabric::PortLead;
use crate::interp::LookupSig;
use crate::memo::{ClassIdx, FxMap};
use crate::policy::{self, ClassDesc, Point, Policy, TunnelSub};
use crate::report::VerificationReport;
use crate::tables::{diff_rules, rule_order};
use crate::walk::{ClassResult, Dep};

type ClassKey = (Point, ClassDesc);

/// A server class's unmemoized first-switch lookup, by what every lookup
/// knows exactly: switch, table, metadata.
type RootKey = (SwitchId, TableId, u64);

/// The distinct index keys of a server class's first-switch lookups.
fn root_keys(point: Point, sigs: &[LookupSig]) -> Vec<RootKey> {
    let Point::Server(p) = point else {
        return Vec::new();
    };
    let mut keys: Vec<RootKey> = sigs
        .iter()
        .map(|s| (p.switch, s.table, s.metadata))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

#[derive(Debug)]
struct ClassRec {
    key: ClassKey,
    result: ClassResult,
}

/// A verifier that keeps its state between changes. After
/// [`update`](IncrementalVerifier::update) its report equals what
/// [`verify`](crate::verify) returns for the same topology, intent and rules.
#[derive(Debug)]
pub struct IncrementalVerifier {
    engine: Engine,
    classes: BTreeMap<ClassKey, ClassIdx>,
    recs: Vec<Option<ClassRec>>,
    free: Vec<ClassIdx>,
    by_dep: FxMap<Dep, Vec<ClassIdx>>,
    /// Server classes by their first-switch lookups (exact: each class is
    /// listed once under each of its current keys).
    by_root: FxMap<RootKey, Vec<ClassIdx>>,
    with_findings: BTreeSet<ClassKey>,
    points: usize,
    options: VerifyOptions,
    rechecked: usize,
    report: VerificationReport,
}

impl IncrementalVerifier {
    /// Verifies the whole fabric once and keeps what later updates need.
    pub fn new(topo: &Topology, intent: &Intent, rules: &FabricRules) -> Self {
        Self::with_options(topo, intent, rules, VerifyOptions::default())
    }

    pub fn with_options(
        topo: &Topology,
        intent: &Intent,
        rules: &FabricRules,
        options: VerifyOptions,
    ) -> Self {
        let engine = Engine::new(topo, intent, rules, true);
        let points = engine.points();
        let mut v = IncrementalVerifier {
            engine,
            classes: BTreeMap::new(),
            recs: Vec::new(),
            free: Vec::new(),
            by_dep: FxMap::default(),
            by_root: FxMap::default(),
            with_findings: BTreeSet::new(),
            points: points.len(),
            options,
            rechecked: 0,
            report: VerificationReport::default(),
        };
        let mut all = Vec::new();
        for point in points {
            for desc in v.engine.classes(point) {
                all.push(v.new_class((point, desc)));
            }
        }
        v.recheck(all);
        v
    }

    /// The current verdict.
    pub fn report(&self) -> &VerificationReport {
        &self.report
    }

    /// Ingress classes re-walked by the last update (or by `new`).
    pub fn last_rechecked(&self) -> usize {
        self.rechecked
    }

    /// Takes a new intent and the new rules of the switches whose rules
    /// changed, and re-checks what they can affect. Switches not listed
    /// keep their rules.
    ///
    /// The intent is compared with the previous one as a whole (linear in
    /// its size); [`update_rules`](Self::update_rules) skips that when only
    /// rules changed.
    pub fn update(
        &mut self,
        intent: &Intent,
        changed: &[(SwitchId, SwitchRules)],
    ) -> &VerificationReport {
        let mut dirty = Vec::new();
        self.replace_rules(changed, &mut dirty);
        let policy = Policy::new(&self.engine.fabric, intent);
        let old = std::mem::replace(&mut self.engine.policy, policy);
        let d = policy::diff(&old, &self.engine.policy);
        self.policy_changed(&d, &mut dirty);
        self.recheck(dirty);
        &self.report
    }

    /// Like [`update`](Self::update) when the intent did not change: e.g.
    /// rules read back from switches for an audit.
    pub fn update_rules(&mut self, changed: &[(SwitchId, SwitchRules)]) -> &VerificationReport {
        let mut dirty = Vec::new();
        self.replace_rules(changed, &mut dirty);
        self.recheck(dirty);
        &self.report
    }

    /// The fastest path: rule deltas (removed, added) per switch, as the
    /// compiler's lowering produces them, and the intent after the change.
    /// `touched` names the ports and VNIs whose policy may have changed
    /// (the ports and VNIs of the change's effects, plus every port of an
    /// operator whose lease changed); the policy of anything else must be
    /// unchanged.
    pub fn apply_delta(
        &mut self,
        intent: &Intent,
        touched: &Touched,
        deltas: &[(SwitchId, &[Rule], &[Rule])],
    ) -> &VerificationReport {
        let mut dirty = Vec::new();
        for &(sw, removed, added) in deltas {
            let Some(tables) = self.engine.tables.get(sw.index()) else {
                continue;
            };
            // Keep only real changes: removing an absent rule or adding a
            // present one changes nothing. Removals apply first, so a rule
            // both removed and added counts as both.
            let mut removed: Vec<&Rule> = removed.iter().filter(|r| tables.contains(r)).collect();
            removed.sort_by(|a, b| rule_order(a, b));
            removed.dedup();
            let mut added: Vec<&Rule> = added
                .iter()
                .filter(|r| !tables.contains(r) || removed.contains(r))
                .collect();
            added.sort_by(|a, b| rule_order(a, b));
            added.dedup();
            self.rules_changed(sw, &added, &removed, &mut dirty);
        }
        let e = &mut self.engine;
        let d = e
            .policy
            .refresh(&e.fabric, intent, &touched.ports, &touched.vnis);
        self.policy_changed(&d, &mut dirty);
        self.recheck(dirty);
        &self.report
    }

    /// [`apply_delta`](Self::apply_delta) with what is touched worked out
    /// from the intent change's effects (`Intent::apply`'s result).
    pub fn apply_effects(
        &mut self,
        intent: &Intent,
        effects: &[Effect],
        deltas: &[(SwitchId, &[Rule], &[Rule])],
    ) -> &VerificationReport {
        let mut touched = Touched::default();
        for e in effects {
            match e {
                Effect::Attached { vni, port, .. } | Effect::Detached { vni, port, .. } => {
                    touched.ports.push(*port);
                    touched.vnis.push(vni.get());
                }
                Effect::NetworkCreated { vni, .. } | Effect::NetworkDeleted { vni, .. } => {
                    touched.vnis.push(vni.get());
                }
                Effect::LeaseSet { operator }
                | Effect::LeaseRemoved { operator }
                | Effect::OperatorCreated { operator }
                | Effect::OperatorRemoved { operator } => {
                    // The old lease's ports (from the policy) and the new
                    // one's (from the intent).
                    let policy = &self.engine.policy;
                    let old = policy.ops.iter().position(|o| o == operator);
                    touched
                        .ports
                        .extend(policy.ports.iter().filter_map(|(k, p)| {
                            (old.is_some() && p.lessee.map(|l| l as usize) == old).then_some(*k)
                        }));
                    let lease = intent
                        .operators
                        .get(operator)
                        .and_then(|o| o.lease.as_ref());
                    touched
                        .ports
                        .extend(lease.iter().flat_map(|l| l.ports.iter().copied()));
                }
                Effect::OperatorUpdated { .. } => {}
            }
        }
        touched.ports.sort_unstable();
        touched.ports.dedup();
        touched.vnis.sort_unstable();
        touched.vnis.dedup();
        self.apply_delta(intent, &touched, deltas)
    }

    fn replace_rules(&mut self, changed: &[(SwitchId, SwitchRules)], dirty: &mut Vec<ClassIdx>) {
        for (sw, rules) in changed {
            let Some(old) = self.engine.tables.get(sw.index()) else {
                continue;
            };
            let (added, removed) = diff_rules(old, rules.rules());
            let added: Vec<&Rule> = added.iter().collect();
            let removed: Vec<&Rule> = removed.iter().collect();
            self.rules_changed(*sw, &added, &removed, dirty);
        }
    }

    fn rules_changed(
        &mut self,
        sw: SwitchId,
        added: &[&Rule],
        removed: &[&Rule],
        dirty: &mut Vec<ClassIdx>,
    ) {
        if added.is_empty() && removed.is_empty() {
            return;
        }
        self.engine.index_change(sw, added, removed);
        let changed: Vec<&Rule> = added.iter().chain(removed).copied().collect();
        dirty.extend(self.engine.memo.invalidate(sw, &changed));
        // Server classes explore their first switch without the memo. A
        // rule requiring a metadata value only concerns classes whose
        // lookups had it (every lookup knows its metadata); a rule for one
        // in_port only that port's classes.
        for r in &changed {
            let Some(m) = r.matches.metadata else {
                continue;
            };
            let Some(list) = self.by_root.get(&(sw, r.table, m)) else {
                continue;
            };
            for &idx in list {
                let Some(rec) = self.recs[idx as usize].as_ref() else {
                    continue;
                };
                if rec.result.root_lookups.iter().any(|sig| sig.compatible(r)) {
                    dirty.push(idx);
                }
            }
        }
        let changed: Vec<&Rule> = changed
            .into_iter()
            .filter(|r| r.matches.metadata.is_none())
            .collect();
        if changed.is_empty() {
            return;
        }
        let ports: Option<Vec<PortNo>> = changed.iter().map(|r| r.matches.in_port).collect();
        let ranges: Vec<(PortNo, PortNo)> = match ports {
            Some(ps) => ps.into_iter().map(|p| (p, p)).collect(),
            None => vec![(PortNo::MIN, PortNo::MAX)],
        };
        for (a, b) in ranges {
            let lo = (
                Point::Server(PortKey {
                    switch: sw,
                    port: a,
                }),
                ClassDesc::Untagged,
            );
            let hi = (
                Point::Server(PortKey {
                    switch: sw,
                    port: b,
                }),
                ClassDesc::TunnelUnknownVni,
            );
            for (_, &idx) in self.classes.range(lo..=hi) {
                let Some(rec) = self.recs[idx as usize].as_ref() else {
                    continue;
                };
                let sigs = &rec.result.root_lookups;
                if sigs
                    .iter()
                    .any(|sig| changed.iter().any(|r| sig.compatible(r)))
                {
                    dirty.push(idx);
                }
            }
        }
    }

    fn policy_changed(&mut self, d: &policy::PolicyDiff, dirty: &mut Vec<ClassIdx>) {
        for p in &d.ports {
            dirty.extend(self.engine.memo.delivering_to(*p));
        }
        let deps = d
            .vnis
            .iter()
            .map(|v| Dep::Net(*v))
            .chain(d.attachments.iter().map(|v| Dep::Members(*v)))
            .chain(d.vlans.iter().map(|v| Dep::Vlan(*v)))
            .chain(d.vni_set.then_some(Dep::AnyId));
        for dep in deps.collect::<Vec<_>>() {
            dirty.extend(self.dep_users(dep));
        }
        for p in &d.ports {
            let lead = self.engine.fabric.switch(p.switch).lead(p.port);
            if lead == Some(PortLead::Server) {
                let want = self.engine.policy.server_classes(*p);
                self.sync(
                    Point::Server(*p),
                    ClassDesc::Untagged,
                    ClassDesc::TunnelUnknownVni,
                    want,
                    dirty,
                );
            }
        }
        for v in &d.vnis {
            for &m in &d.leaves {
                if !self.engine.fabric.switch(m).has_tunnel_port() {
                    continue;
                }
                let want = self.engine.policy.tunnel_group(&self.engine.fabric, m, *v);
                let lo = ClassDesc::TunnelVni {
                    vni: *v,
                    sub: TunnelSub::FromMember(Ipv4Addr::UNSPECIFIED),
                };
                let hi = ClassDesc::TunnelVni {
                    vni: *v,
                    sub: TunnelSub::NonMember,
                };
                self.sync(Point::Tunnel(m), lo, hi, want, dirty);
            }
        }
        for &m in &d.leaves {
            if self.engine.fabric.switch(m).has_tunnel_port() {
                let u = ClassDesc::TunnelUnknownVni;
                self.sync(Point::Tunnel(m), u, u, vec![u], dirty);
            }
        }
    }

    /// Makes the classes of `point` in `lo..=hi` exactly `want`; kept and
    /// new ones are marked dirty.
    fn sync(
        &mut self,
        point: Point,
        lo: ClassDesc,
        hi: ClassDesc,
        want: Vec<ClassDesc>,
        dirty: &mut Vec<ClassIdx>,
    ) {
        let existing: Vec<(ClassKey, ClassIdx)> = self
            .classes
            .range((point, lo)..=(point, hi))
            .map(|(k, i)| (*k, *i))
            .collect();
        for (key, idx) in existing {
            if want.contains(&key.1) {
                dirty.push(idx);
            } else {
                self.remove_class(idx);
            }
        }
        for desc in want {
            if !self.classes.contains_key(&(point, desc)) {
                dirty.push(self.new_class((point, desc)));
            }
        }
    }

    fn dep_users(&mut self, dep: Dep) -> Vec<ClassIdx> {
        let Some(list) = self.by_dep.get_mut(&dep) else {
            return Vec::new();
        };
        let recs = &self.recs;
        list.retain(|&i| {
            recs[i as usize]
                .as_ref()
                .is_some_and(|r| r.result.deps.binary_search(&dep).is_ok())
        });
        list.sort_unstable();
        list.dedup();
        list.clone()
    }

    /// Lists (`add`) or unlists class `idx` under its first-switch keys.
    fn index_root(&mut self, idx: ClassIdx, keys: Vec<RootKey>, add: bool) {
        for k in keys {
            if add {
                self.by_root.entry(k).or_default().push(idx);
            } else if let Some(list) = self.by_root.get_mut(&k) {
                if let Some(i) = list.iter().position(|&c| c == idx) {
                    list.swap_remove(i);
                }
                if list.is_empty() {
                    self.by_root.remove(&k);
                }
            }
        }
    }

    fn new_class(&mut self, key: ClassKey) -> ClassIdx {
        let rec = Some(ClassRec {
            key,
            result: ClassResult::default(),
        });
        let idx = match self.free.pop() {
            Some(i) => {
                self.recs[i as usize] = rec;
                i
            }
            None => {
                self.recs.push(rec);
                ClassIdx::try_from(self.recs.len() - 1).unwrap_or(ClassIdx::MAX)
            }
        };
        self.classes.insert(key, idx);
        idx
    }

    fn remove_class(&mut self, idx: ClassIdx) {
        self.unregister(idx);
        if let Some(rec) = self.recs[idx as usize].take() {
            self.index_root(idx, root_keys(rec.key.0, &rec.result.root_lookups), false);
            self.classes.remove(&rec.key);
            self.free.push(idx);
        }
    }

    /// Drops a class's links to the memo and the report.
    fn unregister(&mut self, idx: ClassIdx) {
        let Some(rec) = self.recs[idx as usize].as_mut() else {
            return;
        };
        let keys = std::mem::take(&mut rec.result.keys);
        self.with_findings.remove(&rec.key);
        for k in keys {
            self.engine.memo.remove_user(k, idx);
        }
    }

    fn recheck(&mut self, mut dirty: Vec<ClassIdx>) {
        dirty.sort_unstable();
        dirty.dedup();
        dirty.retain(|&i| self.recs[i as usize].is_some());
        // The re-walked classes let go of their old results only after the
        // new walks, so results still valid (their switch's rules did not
        // change) are reused instead of recomputed. The old ids are taken
        // now, while every live one still names the result the class used:
        // ids of results already forgotten (invalidated) are dropped, and
        // no live result is forgotten until the walks are done, so none of
        // the kept ids can be reused in between.
        let mut old_keys = Vec::with_capacity(dirty.len());
        for &i in &dirty {
            let Some(rec) = self.recs[i as usize].as_mut() else {
                continue;
            };
            let mut keys = std::mem::take(&mut rec.result.keys);
            self.with_findings.remove(&rec.key);
            let memo = &self.engine.memo;
            keys.retain(|&k| memo.entry(k).alive);
            old_keys.push((i, keys));
        }
        for &i in &dirty {
            let Some(key) = self.recs[i as usize].as_ref().map(|r| r.key) else {
                continue;
            };
            let result = self.engine.walk(key.0, key.1);
            for &k in &result.keys {
                self.engine.memo.add_user(k, i);
            }
            for &d in &result.deps {
                self.by_dep.entry(d).or_default().push(i);
            }
            if !result.findings.is_empty() || result.omitted > 0 {
                self.with_findings.insert(key);
            }
            let new_keys = root_keys(key.0, &result.root_lookups);
            let old = self.recs[i as usize]
                .as_mut()
                .map(|rec| std::mem::replace(&mut rec.result, result));
            if let Some(old) = old {
                let old_keys = root_keys(key.0, &old.root_lookups);
                if old_keys != new_keys {
                    self.index_root(i, old_keys, false);
                    self.index_root(i, new_keys, true);
                }
            }
        }
        for (i, keys) in old_keys {
            for k in keys {
                self.engine.memo.remove_user(k, i);
            }
        }
        self.rechecked = dirty.len();
        self.rebuild_report();
    }

    fn rebuild_report(&mut self) {
        let recs = &self.recs;
        let classes = &self.classes;
        let results: Vec<&ClassResult> = self
            .with_findings
            .iter()
            .filter_map(|k| recs[classes[k] as usize].as_ref().map(|r| &r.result))
            .collect();
        let omitted = results.iter().map(|r| r.omitted).sum();
        let stats = self.engine.base_stats(self.points, self.classes.len());
        self.report = assemble(
            results.iter().flat_map(|r| r.findings.iter()),
            omitted,
            stats,
            &self.options,
        );
    }
}

/// What a change may have touched in the policy, for
/// [`IncrementalVerifier::apply_delta`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    pub ports: Vec<PortKey>,
    pub vnis: Vec<u32>,
}
