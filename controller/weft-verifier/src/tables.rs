//! An index of one switch's rules, so a lookup examines only the rules
//! that could match a state instead of the whole table.
//!
//! Rules are bucketed by table and `in_port` (always known in a state),
//! and inside a bucket by the exact value they require of `metadata`,
//! `tun_id` or the outermost VLAN id. A lookup takes, for the fields its
//! state knows, the smallest of those candidate lists. Rules left out can
//! never match the state, so the index changes speed, not results.

use std::cmp::Ordering;
use std::sync::Arc;

use smallvec::SmallVec;
use weft_model::PortNo;
use weft_rules::{Rule, TableId, VlanMatch};

use crate::memo::FxMap;
use crate::sym::{Outer, State, Val};

/// OpenFlow order: higher priority first; ties in content order, so the
/// exploration order (and thus every result) is deterministic.
pub(crate) fn rule_order(a: &Rule, b: &Rule) -> Ordering {
    b.priority.cmp(&a.priority).then_with(|| a.cmp(b))
}

#[derive(Debug, Default, Clone)]
struct ByValue {
    exact: FxMap<u64, Vec<Arc<Rule>>>,
    /// Rules with no exact requirement on the field.
    wild: Vec<Arc<Rule>>,
}

impl ByValue {
    fn list_mut(&mut self, key: Option<u64>) -> &mut Vec<Arc<Rule>> {
        match key {
            Some(k) => self.exact.entry(k).or_default(),
            None => &mut self.wild,
        }
    }

    fn candidates(&self, key: Option<u64>) -> (&[Arc<Rule>], &[Arc<Rule>]) {
        let exact = key
            .and_then(|k| self.exact.get(&k))
            .map_or(&[][..], |v| v.as_slice());
        (self.wild.as_slice(), exact)
    }
}

#[derive(Debug, Default, Clone)]
struct Bucket {
    all: Vec<Arc<Rule>>,
    by_metadata: ByValue,
    by_tun_id: ByValue,
    by_vid: ByValue,
}

fn vid_key(m: VlanMatch) -> Option<u64> {
    match m {
        VlanMatch::Vid(v) => Some(u64::from(v.get())),
        _ => None,
    }
}

fn insert_sorted(list: &mut Vec<Arc<Rule>>, rule: &Arc<Rule>) {
    if let Err(i) = list.binary_search_by(|r| rule_order(r, rule)) {
        list.insert(i, Arc::clone(rule));
    }
}

fn remove_sorted(list: &mut Vec<Arc<Rule>>, rule: &Rule) {
    if let Ok(i) = list.binary_search_by(|r| rule_order(r, rule)) {
        list.remove(i);
    }
}

impl Bucket {
    fn lists_mut(&mut self, rule: &Rule) -> [&mut Vec<Arc<Rule>>; 4] {
        [
            &mut self.all,
            self.by_metadata.list_mut(rule.matches.metadata),
            self.by_tun_id.list_mut(rule.matches.tun_id),
            self.by_vid.list_mut(vid_key(rule.matches.vlan)),
        ]
    }
}

/// One switch's rules, indexed.
#[derive(Debug, Default, Clone)]
pub(crate) struct SwitchTables {
    buckets: FxMap<(TableId, Option<PortNo>), Bucket>,
    len: usize,
}

impl SwitchTables {
    pub(crate) fn new(rules: &[Rule]) -> Self {
        let mut t = SwitchTables::default();
        let order = |a: &Rule, b: &Rule| a.table.cmp(&b.table).then_with(|| rule_order(a, b));
        let sorted = rules
            .windows(2)
            .all(|w| order(&w[0], &w[1]) == Ordering::Less);
        for r in rules {
            let r = Arc::new(r.clone());
            if sorted {
                // `SwitchRules` order is this index's order: append.
                let b = t.buckets.entry((r.table, r.matches.in_port)).or_default();
                for list in b.lists_mut(&r) {
                    list.push(Arc::clone(&r));
                }
                t.len += 1;
            } else {
                t.insert(&r);
            }
        }
        t
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, rule: &Arc<Rule>) {
        let b = self
            .buckets
            .entry((rule.table, rule.matches.in_port))
            .or_default();
        let before = b.all.len();
        for list in b.lists_mut(rule) {
            insert_sorted(list, rule);
        }
        self.len += b.all.len() - before;
    }

    pub(crate) fn remove(&mut self, rule: &Rule) {
        if let Some(b) = self.buckets.get_mut(&(rule.table, rule.matches.in_port)) {
            let before = b.all.len();
            for list in b.lists_mut(rule) {
                remove_sorted(list, rule);
            }
            self.len -= before - b.all.len();
        }
    }

    /// Whether `rule` is indexed.
    pub(crate) fn contains(&self, rule: &Rule) -> bool {
        self.buckets
            .get(&(rule.table, rule.matches.in_port))
            .is_some_and(|b| b.all.binary_search_by(|r| rule_order(r, rule)).is_ok())
    }

    /// Every indexed rule, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.buckets.values().flat_map(|b| b.all.iter())
    }

    /// The rules of `table` that may match `s`, in OpenFlow order.
    pub(crate) fn candidates(&self, table: TableId, s: &State) -> SmallVec<[&Arc<Rule>; 8]> {
        let mut lists: SmallVec<[&[Arc<Rule>]; 4]> = SmallVec::new();
        for key in [Some(s.h.in_port), None] {
            if let Some(b) = self.buckets.get(&(table, key)) {
                let (w, e) = best_lists(b, s);
                lists.push(w);
                lists.push(e);
            }
        }
        let mut out: SmallVec<[&Arc<Rule>; 8]> = lists.iter().flat_map(|l| l.iter()).collect();
        if lists.iter().filter(|l| !l.is_empty()).count() > 1 {
            out.sort_by(|a, b| rule_order(a, b));
        }
        out
    }
}

/// The smallest candidate lists of a bucket for the fields `s` knows.
fn best_lists<'a>(b: &'a Bucket, s: &State) -> (&'a [Arc<Rule>], &'a [Arc<Rule>]) {
    let mut best: (&[Arc<Rule>], &[Arc<Rule>]) = (&b.all, &[]);
    let mut consider = |pair: (&'a [Arc<Rule>], &'a [Arc<Rule>])| {
        if pair.0.len() + pair.1.len() < best.0.len() + best.1.len() {
            best = pair;
        }
    };
    consider(b.by_metadata.candidates(Some(s.h.metadata)));
    if let Val::Const(t) = s.h.tun_id {
        consider(b.by_tun_id.candidates(Some(t)));
    }
    match s.outer() {
        // An untagged frame matches no `vlan=V` rule.
        Outer::Untagged => consider(b.by_vid.candidates(None)),
        Outer::Tag(Val::Const(v)) => consider(b.by_vid.candidates(Some(v))),
        Outer::Tag(Val::Var(_)) | Outer::Unknown(_) => {}
    }
    best
}

/// Rules of `new` that `old` does not index, and rules `old` indexes that
/// are not in `new` (sorted as [`weft_rules::SwitchRules`] keeps them).
pub(crate) fn diff_rules(old: &SwitchTables, new: &[Rule]) -> (Vec<Rule>, Vec<Rule>) {
    let order = |a: &Rule, b: &Rule| a.table.cmp(&b.table).then_with(|| rule_order(a, b));
    let added = new.iter().filter(|r| !old.contains(r)).cloned().collect();
    let removed = old
        .iter()
        .filter(|r| new.binary_search_by(|n| order(n, r)).is_err())
        .map(|r| Rule::clone(r))
        .collect();
    (added, removed)
}
