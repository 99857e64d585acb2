//! Fixtures shared by the report tests: the two-racks fabric with three
//! operators (one port per rack left unleased), simulated read-backs,
//! fixed keys and a fixed time, so every report is reproducible.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use weft_model::{Intent, Topology};
use weft_report::{AuditHead, Installed, ReportInput, ReportKey, Traffic};
use weft_rules::SwitchRules;

pub const INTENT: &str = r#"
operators:
  - name: alpha
    display_name: "Alpha <Cloud> & Co"
    lease:
      ports: [rack1-leaf/eth1, rack2-leaf/eth1]
      vni: 1000-1999
    networks:
      - name: prod
        vni: 1100
        attachments:
          - {port: rack1-leaf/eth1, mode: {tagged: 100}}
          - {port: rack2-leaf/eth1, mode: access}
  - name: beta
    lease:
      ports: [rack1-leaf/eth3, rack2-leaf/eth2]
      vni: 2000-2999
    networks:
      - name: web
        vni: 2000
        attachments:
          - {port: rack1-leaf/eth3, mode: {tagged: 100}}
          - {port: rack2-leaf/eth2, mode: access}
  - name: gamma
    lease:
      ports: [rack1-leaf/eth4, rack2-leaf/eth4]
      vni: 3000-3099
    networks:
      - name: lab
        vni: 3000
        attachments:
          - {port: rack1-leaf/eth4, mode: access}
          - {port: rack2-leaf/eth4, mode: access}
"#;

/// 2024-05-01T12:00:00Z.
pub const GENERATED_AT: i64 = 1_714_564_800;

pub fn topologies_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../topologies/").to_owned()
}

pub fn fabric() -> (Topology, Intent) {
    let topo = weft_config::load_topology(format!("{}two-racks.yaml", topologies_dir())).unwrap();
    let intent = weft_config::parse_intent("test-intent.yaml", INTENT, &topo).unwrap();
    (topo, intent)
}

pub fn key() -> ReportKey {
    ReportKey::from_seed(&[0x11; 32])
}

pub fn foreign_key() -> ReportKey {
    ReportKey::from_seed(&[0x99; 32])
}

/// What every programmed switch would read back if it held exactly its
/// intended rules ("simulated agents").
pub fn intended(topo: &Topology, intent: &Intent) -> BTreeMap<String, Option<Installed>> {
    let rules = weft_pipeline::lower_fabric(topo, &weft_pipeline::compile(topo, intent));
    rules
        .switches
        .into_iter()
        .map(|(id, rules)| {
            let vnis: Vec<u32> = intent
                .operators
                .values()
                .flat_map(|o| o.networks.values().map(|n| n.vni.get()))
                .collect();
            let counters = vnis
                .into_iter()
                .map(|v| {
                    (
                        v,
                        Traffic {
                            packets: u64::from(v),
                            bytes: u64::from(v) * 100,
                        },
                    )
                })
                .collect();
            (
                topo.switch(id).name.to_string(),
                Some(Installed {
                    generation: 42,
                    rules,
                    counters,
                }),
            )
        })
        .collect()
}

pub fn input<'a>(
    topo: &'a Topology,
    intent: &'a Intent,
    installed: BTreeMap<String, Option<Installed>>,
) -> ReportInput<'a> {
    ReportInput {
        topology: topo,
        intent,
        installed,
        usage_period: (GENERATED_AT - 3600, GENERATED_AT),
        traffic: BTreeMap::from([
            (
                1100,
                Traffic {
                    packets: 1200,
                    bytes: 150_000,
                },
            ),
            (
                2000,
                Traffic {
                    packets: 30,
                    bytes: 4_000,
                },
            ),
        ]),
        audit_head: Some(AuditHead {
            records: 17,
            head: "ab".repeat(32),
        }),
        controller_version: "weftd 0.1.0".to_owned(),
        generated_at: GENERATED_AT,
        signing_key: key().public_key(),
    }
}

/// `installed` with `rule` added to `switch`'s read-back.
pub fn with_rule(
    mut installed: BTreeMap<String, Option<Installed>>,
    switch: &str,
    rule: weft_rules::Rule,
) -> BTreeMap<String, Option<Installed>> {
    let entry = installed.get_mut(switch).unwrap().as_mut().unwrap();
    let mut rules = entry.rules.rules().to_vec();
    rules.push(rule);
    entry.rules = SwitchRules::new(rules);
    installed
}
