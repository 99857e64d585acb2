//! Usage statements: what an operator used, for the facility's bill.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use weft_model::{Intent, Name, Operator, SwitchId, Topology};
use weft_pipeline::CompiledFabric;

use crate::model::Traffic;

/// One operator's usage over a period. Mirrors `weft.v1.UsageStatement`
/// (proto/weft/v1/audit_service.proto) field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageStatement {
    pub operator: String,
    pub period_start: i64,
    pub period_end: i64,
    /// Leased server ports, `SWITCH/PORT`.
    pub ports: Vec<String>,
    /// Delegated ranges as written in the lease (`100-199`).
    pub vni_ranges: Vec<String>,
    pub vlan_ranges: Vec<String>,
    pub networks: Vec<NetworkUsage>,
    pub entries: Vec<SwitchEntries>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkUsage {
    pub network: String,
    pub vni: u32,
    /// Frames the data plane counted for this network over the period.
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchEntries {
    pub switch: String,
    /// Pipeline entries of the operator's networks on that switch.
    pub entries: u64,
    /// The lease's per-switch entry quota.
    pub quota: u64,
}

/// `operator`'s usage statement, or `None` when the intent has no such
/// operator. Compiles the fabric to count entries: callers that need every
/// operator's statement should build a report (or call this once per
/// operator only on small fabrics).
pub fn usage_statement(
    topology: &Topology,
    intent: &Intent,
    operator: &Name,
    traffic: &BTreeMap<u32, Traffic>,
    period: (i64, i64),
) -> Option<UsageStatement> {
    let op = intent.operators.get(operator)?;
    let compiled = weft_pipeline::compile(topology, intent);
    let counts = EntryCounts::new(topology, intent, &compiled);
    Some(statement(topology, op, &counts, traffic, period))
}

/// Pipeline entries per (operator, switch), counted once over a compiled
/// fabric. A VNI names its operator: delegated ranges are disjoint.
#[derive(Debug)]
pub(crate) struct EntryCounts {
    /// Per operator name: (switch, entries) for switches with any, in
    /// switch order.
    per_operator: BTreeMap<Name, Vec<(SwitchId, u64)>>,
}

impl EntryCounts {
    pub(crate) fn new(topo: &Topology, intent: &Intent, compiled: &CompiledFabric) -> Self {
        let owners: Vec<&Name> = intent.operators.keys().collect();
        let mut by_vni: HashMap<u32, usize> = HashMap::new();
        for (i, op) in intent.operators.values().enumerate() {
            for net in op.networks.values() {
                by_vni.insert(net.vni.get(), i);
            }
        }
        let mut per_operator: Vec<Vec<(SwitchId, u64)>> = vec![Vec::new(); owners.len()];
        let mut on_switch = vec![0u64; owners.len()];
        for (switch, entries) in compiled.switches() {
            if switch.index() >= topo.switches.len() {
                break;
            }
            on_switch.fill(0);
            for e in entries {
                if let Some(&i) = by_vni.get(&e.vni().get()) {
                    on_switch[i] += 1;
                }
            }
            for (i, &n) in on_switch.iter().enumerate() {
                if n > 0 {
                    per_operator[i].push((switch, n));
                }
            }
        }
        EntryCounts {
            per_operator: owners.into_iter().cloned().zip(per_operator).collect(),
        }
    }

    fn of(&self, op: &Name) -> &[(SwitchId, u64)] {
        self.per_operator.get(op).map_or(&[], Vec::as_slice)
    }
}

pub(crate) fn leased_ports(topo: &Topology, op: &Operator) -> Vec<String> {
    op.lease
        .as_ref()
        .map(|l| l.ports.iter().map(|p| topo.port_ref(*p)).collect())
        .unwrap_or_default()
}

pub(crate) fn switch_entries(
    topo: &Topology,
    op: &Operator,
    counts: &EntryCounts,
) -> Vec<SwitchEntries> {
    let quota = op
        .lease
        .as_ref()
        .map_or(0, |l| u64::from(l.quotas.entries_per_switch));
    counts
        .of(&op.name)
        .iter()
        .map(|&(switch, entries)| SwitchEntries {
            switch: topo.switch(switch).name.to_string(),
            entries,
            quota,
        })
        .collect()
}

pub(crate) fn statement(
    topo: &Topology,
    op: &Operator,
    counts: &EntryCounts,
    traffic: &BTreeMap<u32, Traffic>,
    period: (i64, i64),
) -> UsageStatement {
    let lease = op.lease.as_ref();
    UsageStatement {
        operator: op.name.to_string(),
        period_start: period.0,
        period_end: period.1,
        ports: leased_ports(topo, op),
        vni_ranges: lease.map(|l| vec![l.vni.to_string()]).unwrap_or_default(),
        vlan_ranges: lease
            .and_then(|l| l.vlan)
            .map(|r| vec![r.to_string()])
            .unwrap_or_default(),
        networks: op
            .networks
            .values()
            .map(|n| {
                let t = traffic.get(&n.vni.get()).copied().unwrap_or_default();
                NetworkUsage {
                    network: n.name.to_string(),
                    vni: n.vni.get(),
                    packets: t.packets,
                    bytes: t.bytes,
                }
            })
            .collect(),
        entries: switch_entries(topo, op, counts),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn two_racks() -> (Topology, Intent) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../topologies/");
        let topo = weft_config::load_topology(format!("{dir}two-racks.yaml")).unwrap();
        let intent =
            weft_config::load_intent(format!("{dir}two-racks.intent.yaml"), &topo).unwrap();
        (topo, intent)
    }

    #[test]
    fn statement_counts_ports_entries_and_traffic() {
        let (topo, intent) = two_racks();
        let traffic = BTreeMap::from([(
            1100,
            Traffic {
                packets: 7,
                bytes: 700,
            },
        )]);
        let alpha = Name::new("alpha").unwrap();
        let s = usage_statement(&topo, &intent, &alpha, &traffic, (10, 20)).unwrap();
        assert_eq!(s.operator, "alpha");
        assert_eq!((s.period_start, s.period_end), (10, 20));
        assert_eq!(
            s.ports,
            ["rack1-leaf/eth1", "rack1-leaf/eth2", "rack2-leaf/eth1"]
        );
        assert_eq!(s.vni_ranges, ["1000-1999"]);
        assert!(s.vlan_ranges.is_empty());
        let prod = s.networks.iter().find(|n| n.network == "prod").unwrap();
        assert_eq!((prod.vni, prod.packets, prod.bytes), (1100, 7, 700));
        let backup = s.networks.iter().find(|n| n.network == "backup").unwrap();
        assert_eq!((backup.vni, backup.packets), (1000, 0));
        // rack1-leaf: prod (eth1 tagged) + backup (eth1 tagged, eth2 access),
        // each with an ingress and a flood entry, plus prod's tunnel pair
        // towards rack2-leaf: 2 * 3 + 2 = 8. rack2-leaf: prod's access port
        // and tunnel pair: 4.
        let entries: Vec<(&str, u64, u64)> = s
            .entries
            .iter()
            .map(|e| (e.switch.as_str(), e.entries, e.quota))
            .collect();
        assert_eq!(entries, [("rack1-leaf", 8, 4096), ("rack2-leaf", 4, 4096)]);
    }

    #[test]
    fn unknown_operator_has_no_statement() {
        let (topo, intent) = two_racks();
        let nobody = Name::new("nobody").unwrap();
        assert!(usage_statement(&topo, &intent, &nobody, &BTreeMap::new(), (0, 0)).is_none());
    }
}
