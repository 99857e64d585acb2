//! What to send to reach a desired rule set from what a switch reports:
//! pure functions over the rule model, tested without a switch.

use std::collections::{BTreeMap, HashSet};

use weft_model::Vni;
use weft_openflow::{FlowMod, FlowModCommand, FlowStats};
use weft_rules::{Cookie, Match, Rule, SwitchRules, TableId};

/// The flow-mods of one reconcile, by rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowPlan {
    /// Desired rules the switch lacks, in desired order.
    pub add: Vec<Rule>,
    /// Indices (into the installed list) of stale Weft flows to delete.
    pub delete: Vec<usize>,
    /// Stale Weft flows not deleted because an add with the same table,
    /// priority and match replaces them in place (OpenFlow allows one flow
    /// per key; a strict delete would remove the new one).
    pub replaced: usize,
}

impl FlowPlan {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.delete.is_empty()
    }

    /// Stale Weft flows that disappear, deleted or replaced.
    pub fn removed(&self) -> usize {
        self.delete.len() + self.replaced
    }
}

type Key<'a> = (TableId, u16, &'a Match);

fn key(r: &Rule) -> Key<'_> {
    (r.table, r.priority, &r.matches)
}

/// Mark and sweep over flows: add what `desired` has and the switch lacks;
/// delete Weft's flows (by cookie) that `desired` does not have. Foreign
/// flows are left alone, except that OpenFlow lets an add of a desired
/// rule overwrite a foreign flow with the very same table, priority and
/// match.
pub fn plan(installed: &[Rule], desired: &SwitchRules) -> FlowPlan {
    let want: HashSet<&Rule> = desired.rules().iter().collect();
    let weft: Vec<(usize, &Rule)> = installed
        .iter()
        .enumerate()
        .filter(|(_, r)| Cookie::is_weft(r.cookie))
        .collect();
    let have: HashSet<&Rule> = weft.iter().map(|(_, r)| *r).collect();
    let add: Vec<Rule> = desired
        .rules()
        .iter()
        .filter(|r| !have.contains(r))
        .cloned()
        .collect();
    let add_keys: HashSet<Key<'_>> = add.iter().map(key).collect();
    let mut delete = Vec::new();
    let mut replaced = 0;
    for (i, r) in weft {
        if want.contains(r) {
            continue;
        }
        if add_keys.contains(&key(r)) {
            replaced += 1;
        } else {
            delete.push(i);
        }
    }
    FlowPlan {
        add,
        delete,
        replaced,
    }
}

/// A strict delete of exactly the flow a switch reported: its table,
/// priority and match as the switch wrote them, and its cookie under a
/// full mask.
pub fn delete_reported(s: &FlowStats) -> FlowMod {
    let mut fm = FlowMod::new(
        FlowModCommand::DeleteStrict,
        s.table_id,
        s.priority,
        s.matches.clone(),
    );
    fm.cookie = s.cookie;
    fm.cookie_mask = u64::MAX;
    fm
}

/// Per-network (packets, bytes): the counters of Weft's table-0 classify
/// flows, whose cookie's low 32 bits are the VNI. Every network with a
/// classify flow appears, with zeros if nothing matched yet.
pub fn counters(flows: &[FlowStats]) -> BTreeMap<Vni, (u64, u64)> {
    let mut out: BTreeMap<Vni, (u64, u64)> = BTreeMap::new();
    for f in flows {
        if f.table_id != weft_pipeline::lower::TABLE_CLASSIFY || !Cookie::is_weft(f.cookie) {
            continue;
        }
        let low = f.cookie & !Cookie::PREFIX_MASK;
        let Ok(vni) = Vni::new(low) else {
            continue;
        };
        let c = out.entry(vni).or_default();
        c.0 = c.0.saturating_add(f.packet_count);
        c.1 = c.1.saturating_add(f.byte_count);
    }
    out
}

#[cfg(test)]
mod tests {
    use weft_model::PortNo;
    use weft_openflow::{OfMatch, OxmField};
    use weft_rules::{Action, OutPort};

    use super::*;

    fn rule(table: u8, port: u32, out: u32, cookie: u64) -> Rule {
        Rule {
            table,
            priority: 1000,
            matches: Match {
                in_port: Some(PortNo::new(u64::from(port)).unwrap()),
                ..Match::default()
            },
            actions: vec![Action::Output(OutPort::Port(
                PortNo::new(u64::from(out)).unwrap(),
            ))],
            write_metadata: None,
            goto: None,
            cookie,
        }
    }

    #[test]
    fn equal_state_plans_nothing() {
        let w = Cookie::for_vni(10);
        let installed = vec![rule(0, 1, 2, w), rule(0, 2, 1, w), rule(0, 9, 9, 0)];
        let desired = SwitchRules::new(vec![rule(0, 2, 1, w), rule(0, 1, 2, w)]);
        let p = plan(&installed, &desired);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn adds_missing_deletes_stale_and_leaves_foreign_flows() {
        let w = Cookie::for_vni(10);
        let installed = vec![
            rule(0, 1, 2, w),
            rule(0, 3, 4, w), // stale
            rule(0, 5, 6, 0), // foreign, not desired: kept
        ];
        let desired = SwitchRules::new(vec![rule(0, 1, 2, w), rule(0, 7, 8, w)]);
        let p = plan(&installed, &desired);
        assert_eq!(p.add, vec![rule(0, 7, 8, w)]);
        assert_eq!(p.delete, vec![1]);
        assert_eq!(p.removed(), 1);
    }

    #[test]
    fn a_changed_rule_is_replaced_by_its_add_not_deleted() {
        let w = Cookie::for_vni(10);
        // Same key (table, priority, in_port=1), new output: the add
        // overwrites; a strict delete with the same cookie would remove
        // the new flow.
        let installed = vec![rule(0, 1, 2, w)];
        let desired = SwitchRules::new(vec![rule(0, 1, 3, w)]);
        let p = plan(&installed, &desired);
        assert_eq!(p.add, vec![rule(0, 1, 3, w)]);
        assert!(p.delete.is_empty());
        assert_eq!(p.replaced, 1);
        assert_eq!(p.removed(), 1);
    }

    fn stats(table: u8, cookie: u64, packets: u64, bytes: u64) -> FlowStats {
        FlowStats {
            table_id: table,
            duration_sec: 0,
            duration_nsec: 0,
            priority: 1000,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            cookie,
            packet_count: packets,
            byte_count: bytes,
            matches: OfMatch {
                fields: vec![OxmField::InPort(1)],
            },
            instructions: vec![],
        }
    }

    #[test]
    fn counters_sum_classify_flows_per_vni() {
        let flows = [
            stats(0, Cookie::for_vni(10), 2, 100),
            stats(0, Cookie::for_vni(10), 3, 50),
            stats(0, Cookie::for_vni(11), 0, 0),
            stats(0, Cookie::for_vni(0), 7, 7), // default drop: no network
            stats(2, Cookie::for_vni(10), 9, 9), // flood: not ingress
            stats(0, 10, 5, 5),                 // foreign cookie
        ];
        let c = counters(&flows);
        let vni = |v| Vni::new(v).unwrap();
        assert_eq!(
            c.into_iter().collect::<Vec<_>>(),
            vec![(vni(10), (5, 150)), (vni(11), (0, 0))]
        );
    }

    #[test]
    fn deletes_name_the_reported_flow_exactly() {
        let s = stats(3, 0x5745_4654_0000_0001, 0, 0);
        let fm = delete_reported(&s);
        assert_eq!(fm.command, FlowModCommand::DeleteStrict);
        assert_eq!((fm.table_id, fm.priority), (3, 1000));
        assert_eq!((fm.cookie, fm.cookie_mask), (s.cookie, u64::MAX));
        assert_eq!(fm.matches, s.matches);
        assert!(fm.instructions.is_empty());
    }
}
