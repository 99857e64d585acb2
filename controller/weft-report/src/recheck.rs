//! Offline re-check: every verdict re-derived from the report's evidence.
//!
//! The evidence (topology and intent documents, each switch's installed
//! rules and counters, the traffic figures) is validated again, fed to the
//! same [`build_report`] the controller ran — compiler for the intended
//! state, verifier for the proof — with the report's own metadata (time,
//! controller version, key, audit head, period), and the result compared
//! field by field with the report. Anything the evidence does not support
//! (an edited verdict, an edited rule whose digest no longer matches, a
//! finding removed) is a [`Discrepancy`] naming its field.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use weft_model::{Intent, Topology};

use crate::build::{ReportInput, build_report};
use crate::model::{EvidenceKind, Installed, Report, Traffic};
use crate::time::parse_rfc3339;

/// What a successful re-check covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecheckSummary {
    /// Programmed switches in the evidence.
    pub switches: usize,
    /// Installed rules the verifier interpreted (read-back switches).
    pub rules: usize,
    /// Switches without read-back, whose intended rules stood in.
    pub missing: usize,
    pub findings: usize,
    pub cells: usize,
    pub violated_cells: usize,
    pub isolated: bool,
    pub complete: bool,
}

/// A field of the report that the evidence does not support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    /// Where, e.g. `isolation.cells[alpha→beta].verdict`.
    pub field: String,
    /// What the report says (JSON), or `(absent)`.
    pub claimed: String,
    /// What the evidence gives (JSON), or `(absent)`.
    pub recomputed: String,
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: report says {}, evidence gives {}",
            self.field, self.claimed, self.recomputed
        )
    }
}

/// At most this many discrepancies are listed; one more entry counts the
/// rest. A report that far off is rejected either way.
const MAX_LISTED: usize = 200;

/// Rebuilds the report from its own evidence and compares.
pub fn recheck(report: &Report) -> Result<RecheckSummary, Vec<Discrepancy>> {
    let mut out = Vec::new();
    if report.schema != crate::SCHEMA {
        out.push(discrepancy(
            "schema",
            &Value::from(report.schema.as_str()),
            &Value::from(crate::SCHEMA),
        ));
    }
    let ev = &report.evidence;
    let topo = Topology::from_spec(&ev.topology).map_err(|v| {
        vec![invalid(
            "evidence.topology",
            v.first().map(ToString::to_string),
        )]
    })?;
    let intent = Intent::from_spec(&topo, &ev.intent).map_err(|v| {
        vec![invalid(
            "evidence.intent",
            v.first().map(ToString::to_string),
        )]
    })?;
    let generated_at = parse_rfc3339(&report.fabric.generated_at).unwrap_or_else(|| {
        out.push(Discrepancy {
            field: "fabric.generated_at".to_owned(),
            claimed: json(&Value::from(report.fabric.generated_at.as_str())),
            recomputed: "(not an RFC 3339 UTC time in whole seconds)".to_owned(),
        });
        0
    });

    let mut installed = BTreeMap::new();
    for sw in &ev.switches {
        let got = match sw.evidence {
            EvidenceKind::Missing => None,
            EvidenceKind::ReadBack => Some(Installed {
                generation: sw.generation.unwrap_or(0),
                rules: sw.rules.clone().unwrap_or_default(),
                counters: sw
                    .counters
                    .iter()
                    .map(|c| (c.vni, traffic(c.packets, c.bytes)))
                    .collect(),
            }),
        };
        installed.insert(sw.name.clone(), got);
    }
    let input = ReportInput {
        topology: &topo,
        intent: &intent,
        installed,
        usage_period: (report.usage.period_start, report.usage.period_end),
        traffic: ev
            .traffic
            .iter()
            .map(|t| (t.vni, traffic(t.packets, t.bytes)))
            .collect(),
        audit_head: report.audit_log.clone(),
        controller_version: report.fabric.controller_version.clone(),
        generated_at,
        signing_key: report.fabric.signing_key,
    };
    let mut rebuilt = build_report(&input);
    // Already reported above if unreadable; not derived from evidence.
    rebuilt
        .fabric
        .generated_at
        .clone_from(&report.fabric.generated_at);
    rebuilt.schema.clone_from(&report.schema);

    // Field by field only when they differ: on a large fabric the JSON
    // trees cost more than the proof.
    if rebuilt != *report {
        diff("", &to_value(report), &to_value(&rebuilt), &mut out);
    }
    if out.len() > MAX_LISTED {
        let more = out.len() - MAX_LISTED;
        out.truncate(MAX_LISTED);
        out.push(Discrepancy {
            field: "…".to_owned(),
            claimed: format!("{more} more discrepancies"),
            recomputed: String::new(),
        });
    }
    if !out.is_empty() {
        return Err(out);
    }
    let read_back = || {
        ev.switches
            .iter()
            .filter(|s| s.evidence == EvidenceKind::ReadBack)
    };
    Ok(RecheckSummary {
        switches: ev.switches.len(),
        rules: read_back()
            .map(|s| s.rules.as_ref().map_or(0, weft_rules::SwitchRules::len))
            .sum(),
        missing: ev.switches.len() - read_back().count(),
        findings: rebuilt.findings.len(),
        cells: rebuilt.isolation.cells.len(),
        violated_cells: usize::try_from(rebuilt.summary.violated_cells).unwrap_or(usize::MAX),
        isolated: rebuilt.summary.isolated,
        complete: rebuilt.summary.complete,
    })
}

fn traffic(packets: u64, bytes: u64) -> Traffic {
    Traffic { packets, bytes }
}

fn invalid(field: &str, why: Option<String>) -> Discrepancy {
    Discrepancy {
        field: field.to_owned(),
        claimed: "(as embedded)".to_owned(),
        recomputed: format!("invalid: {}", why.unwrap_or_default()),
    }
}

fn to_value(report: &Report) -> Value {
    // Report types always serialize (string keys, no floats).
    serde_json::to_value(report).unwrap_or(Value::Null)
}

fn json(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 300 {
        let cut: String = s.chars().take(300).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn discrepancy(field: &str, claimed: &Value, recomputed: &Value) -> Discrepancy {
    Discrepancy {
        field: field.to_owned(),
        claimed: json(claimed),
        recomputed: json(recomputed),
    }
}

fn absent(field: String, claimed: Option<&Value>, recomputed: Option<&Value>) -> Discrepancy {
    Discrepancy {
        field,
        claimed: claimed.map_or_else(|| "(absent)".to_owned(), json),
        recomputed: recomputed.map_or_else(|| "(absent)".to_owned(), json),
    }
}

/// A stable name for an array element, so that a discrepancy reads
/// `cells[alpha→beta]` rather than `cells[7]`.
fn label(v: &Value) -> Option<String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    if let (Some(from), Some(to)) = (s("from"), s("to")) {
        return Some(format!("{from}→{to}"));
    }
    for key in ["check", "name", "switch", "operator", "network"] {
        if let Some(x) = s(key) {
            return Some(x.to_owned());
        }
    }
    v.get("vni").and_then(Value::as_u64).map(|n| n.to_string())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn diff(path: &str, claimed: &Value, recomputed: &Value, out: &mut Vec<Discrepancy>) {
    if claimed == recomputed {
        return;
    }
    match (claimed, recomputed) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = join(path, k);
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(&p, x, y, out),
                    (x, y) => out.push(absent(p, x, y)),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => diff_arrays(path, a, b, out),
        _ => out.push(discrepancy(path, claimed, recomputed)),
    }
}

fn diff_arrays(path: &str, a: &[Value], b: &[Value], out: &mut Vec<Discrepancy>) {
    let labels = |xs: &[Value]| -> Option<Vec<String>> {
        let ls: Option<Vec<String>> = xs.iter().map(label).collect();
        let ls = ls?;
        let unique: std::collections::BTreeSet<&String> = ls.iter().collect();
        (unique.len() == ls.len()).then_some(ls)
    };
    if let (Some(la), Some(lb)) = (labels(a), labels(b)) {
        let ia: BTreeMap<&String, &Value> = la.iter().zip(a).collect();
        let ib: BTreeMap<&String, &Value> = lb.iter().zip(b).collect();
        // Claimed order first, then what only the evidence has.
        for (l, x) in la.iter().zip(a) {
            let p = format!("{path}[{l}]");
            match ib.get(l) {
                Some(y) => diff(&p, x, y, out),
                None => out.push(absent(p, Some(x), None)),
            }
        }
        for (l, y) in lb.iter().zip(b) {
            if !ia.contains_key(l) {
                out.push(absent(format!("{path}[{l}]"), None, Some(y)));
            }
        }
        if la != lb && la.len() == lb.len() && ia.keys().eq(ib.keys()) {
            out.push(Discrepancy {
                field: path.to_owned(),
                claimed: "elements in another order".to_owned(),
                recomputed: "canonical order".to_owned(),
            });
        }
        return;
    }
    for i in 0..a.len().max(b.len()) {
        let p = format!("{path}[{i}]");
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => diff(&p, x, y, out),
            (x, y) => out.push(absent(p, x, y)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn diff_names_cells_and_checks_by_key() {
        let a = json!({"isolation": {"cells": [
            {"from": "alpha", "to": "beta", "verdict": "violated"},
            {"from": "beta", "to": "alpha", "verdict": "isolated"}
        ]}, "policy": [{"check": "double-tags-dropped", "verdict": "pass"}]});
        let b = json!({"isolation": {"cells": [
            {"from": "alpha", "to": "beta", "verdict": "isolated"},
            {"from": "beta", "to": "alpha", "verdict": "isolated"}
        ]}, "policy": [{"check": "double-tags-dropped", "verdict": "fail"}]});
        let mut out = Vec::new();
        diff("", &a, &b, &mut out);
        let fields: Vec<&str> = out.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "isolation.cells[alpha→beta].verdict",
                "policy[double-tags-dropped].verdict"
            ]
        );
        assert_eq!(out[0].claimed, "\"violated\"");
        assert_eq!(out[0].recomputed, "\"isolated\"");
    }

    #[test]
    fn diff_reports_missing_and_extra_elements() {
        let a = json!({"findings": [1, 2]});
        let b = json!({"findings": [1, 2, 3]});
        let mut out = Vec::new();
        diff("", &a, &b, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].field, "findings[2]");
        assert_eq!(out[0].claimed, "(absent)");
        assert_eq!(out[0].recomputed, "3");
    }

    #[test]
    fn reordered_keyed_elements_are_flagged() {
        let a = json!([{"name": "b"}, {"name": "a"}]);
        let b = json!([{"name": "a"}, {"name": "b"}]);
        let mut out = Vec::new();
        diff("switches", &a, &b, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].field, "switches");
    }
}
