//! A plan as a table (people) or canonical JSON (scripts).

use std::fmt::Write as _;

use serde::Serialize;
use weft_model::{Dataplane, Encapsulation, SwitchId, SwitchRole, Topology};
use weft_pipeline::{PipelineEntry, SwitchDelta};

use super::{Plan, no_change};
use crate::table::{Align, Table};

fn role(t: &Topology, id: SwitchId) -> &'static str {
    match t.switch(id).role {
        SwitchRole::Leaf => "leaf",
        SwitchRole::Spine => "spine",
    }
}

fn dataplane(t: &Topology, id: SwitchId) -> &'static str {
    match t.switch(id).dataplane {
        Dataplane::Ovs => "ovs",
        Dataplane::Linux => "linux",
    }
}

fn encapsulation(t: &Topology) -> &'static str {
    match t.encapsulation {
        Encapsulation::Vxlan => "vxlan",
        Encapsulation::Vlan => "vlan",
    }
}

fn rule_count(plan: &Plan<'_>, id: SwitchId) -> usize {
    plan.rules
        .switches
        .get(&id)
        .map_or(0, weft_rules::SwitchRules::len)
}

fn signed(added: usize, removed: usize) -> String {
    format!("+{added} -{removed}")
}

pub fn table(plan: &Plan<'_>) -> String {
    let t = plan.topology;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fabric {} ({}): {} switches, {} operators",
        t.name,
        encapsulation(t),
        t.switches.len(),
        plan.intent.operators.len()
    );
    if let Some(source) = plan.rules_source {
        let _ = write!(out, "verifying the rule tables in {}", source.display());
        if plan.differs_from_compiled.is_empty() {
            out.push_str(" (identical to the compiled plan)\n");
        } else {
            let names: Vec<&str> = plan
                .differs_from_compiled
                .iter()
                .map(|id| t.switch(*id).name.as_str())
                .collect();
            let _ = writeln!(
                out,
                " (differ from the compiled plan on: {})",
                names.join(", ")
            );
        }
    }
    out.push('\n');

    let (mut entries, mut rules) = (0usize, 0usize);
    match &plan.delta {
        None => {
            let mut table = Table::new(&[
                ("SWITCH", Align::Left),
                ("ROLE", Align::Left),
                ("DATAPLANE", Align::Left),
                ("ENTRIES", Align::Right),
                ("RULES", Align::Right),
            ]);
            for id in t.switch_ids() {
                let (e, r) = (plan.compiled.entries(id).len(), rule_count(plan, id));
                entries += e;
                rules += r;
                table.row(vec![
                    t.switch(id).name.to_string(),
                    role(t, id).into(),
                    dataplane(t, id).into(),
                    e.to_string(),
                    r.to_string(),
                ]);
            }
            table.row(vec![
                "total".into(),
                String::new(),
                String::new(),
                entries.to_string(),
                rules.to_string(),
            ]);
            out.push_str(&table.render());
        }
        Some(delta) => {
            let mut table = Table::new(&[
                ("SWITCH", Align::Left),
                ("ROLE", Align::Left),
                ("DATAPLANE", Align::Left),
                ("ENTRIES", Align::Right),
                ("RULES", Align::Right),
                ("ENTRY DELTA", Align::Right),
                ("RULE DELTA", Align::Right),
            ]);
            let (mut ea, mut er, mut ra, mut rr) = (0, 0, 0, 0);
            for (&id, d) in &delta.entries.switches {
                let (rules_removed, rules_added) =
                    delta.rules.get(&id).copied().unwrap_or_default();
                ea += d.added.len();
                er += d.removed.len();
                ra += rules_added;
                rr += rules_removed;
                table.row(vec![
                    t.switch(id).name.to_string(),
                    role(t, id).into(),
                    dataplane(t, id).into(),
                    plan.compiled.entries(id).len().to_string(),
                    rule_count(plan, id).to_string(),
                    signed(d.added.len(), d.removed.len()),
                    signed(rules_added, rules_removed),
                ]);
            }
            if delta.entries.switches.is_empty() {
                out.push_str("no change: every switch keeps its entries\n");
            } else {
                out.push_str(&table.render());
                let _ = writeln!(
                    out,
                    "\n{} switch(es) change, {} unchanged; entries {}, rules {}",
                    delta.entries.switches.len(),
                    t.switches.len() - delta.entries.switches.len(),
                    signed(ea, er),
                    signed(ra, rr)
                );
            }
        }
    }
    out.push('\n');
    out.push_str(&verdict_text(plan));
    out
}

pub fn verdict_text(plan: &Plan<'_>) -> String {
    plan.verdict.text()
}

#[derive(Debug, Serialize)]
struct JsonPlan<'a> {
    fabric: &'a str,
    encapsulation: &'static str,
    switches: Vec<JsonSwitch<'a>>,
    totals: JsonTotals,
    #[serde(skip_serializing_if = "Option::is_none")]
    rules_source: Option<JsonRulesSource>,
    isolation: &'a super::verdict::Verdict,
}

#[derive(Debug, Serialize)]
struct JsonSwitch<'a> {
    name: &'a str,
    role: &'static str,
    dataplane: &'static str,
    entries: usize,
    rules: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<JsonDelta<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonDelta<'a> {
    entries_added: &'a [PipelineEntry],
    entries_removed: &'a [PipelineEntry],
    rules_added: usize,
    rules_removed: usize,
}

#[derive(Debug, Default, Serialize)]
struct JsonTotals {
    switches: usize,
    entries: usize,
    rules: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    switches_changed: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entries_added: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entries_removed: Option<usize>,
}

#[derive(Debug, Serialize)]
struct JsonRulesSource {
    /// Switches whose given rules differ from the compiled ones.
    differs_from_compiled: Vec<String>,
}

pub fn json(plan: &Plan<'_>) -> serde_json::Result<String> {
    let t = plan.topology;
    let switches: Vec<JsonSwitch<'_>> = t
        .switch_ids()
        .map(|id| JsonSwitch {
            name: t.switch(id).name.as_str(),
            role: role(t, id),
            dataplane: dataplane(t, id),
            entries: plan.compiled.entries(id).len(),
            rules: rule_count(plan, id),
            delta: plan.delta.as_ref().map(|delta| {
                let d: &SwitchDelta = delta.entries.switches.get(&id).unwrap_or(no_change());
                let (rules_removed, rules_added) =
                    delta.rules.get(&id).copied().unwrap_or_default();
                JsonDelta {
                    entries_added: &d.added,
                    entries_removed: &d.removed,
                    rules_added,
                    rules_removed,
                }
            }),
        })
        .collect();
    let mut totals = JsonTotals {
        switches: switches.len(),
        entries: switches.iter().map(|s| s.entries).sum(),
        rules: switches.iter().map(|s| s.rules).sum(),
        ..JsonTotals::default()
    };
    if let Some(delta) = &plan.delta {
        let (removed, added) = delta.entries.counts();
        totals.switches_changed = Some(delta.entries.switches.len());
        totals.entries_added = Some(added);
        totals.entries_removed = Some(removed);
    }
    let doc = JsonPlan {
        fabric: t.name.as_str(),
        encapsulation: encapsulation(t),
        switches,
        totals,
        rules_source: plan.rules_source.map(|_| JsonRulesSource {
            differs_from_compiled: plan
                .differs_from_compiled
                .iter()
                .map(|id| t.switch(*id).name.to_string())
                .collect(),
        }),
        isolation: &plan.verdict,
    };
    crate::json::to_canonical(&doc)
}
