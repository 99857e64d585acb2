//! The isolation verdict: the verifier's report, as the plan shows it.

use std::fmt::Write as _;

use serde::Serialize;
use weft_model::{Intent, Topology};
use weft_rules::FabricRules;
use weft_verifier::{Finding, FindingClass, VerificationReport};

/// The verifier's report with its one-word answer first (for `jq .isolation.isolated`).
#[derive(Debug, Serialize)]
pub struct Verdict {
    pub isolated: bool,
    #[serde(flatten)]
    pub report: VerificationReport,
}

pub fn verify(topology: &Topology, intent: &Intent, rules: &FabricRules) -> Verdict {
    let report = weft_verifier::verify(topology, intent, rules);
    Verdict {
        isolated: report.is_isolated(),
        report,
    }
}

fn class_name(class: FindingClass) -> &'static str {
    match class {
        FindingClass::Leak => "LEAK",
        FindingClass::Misdelivery => "MISDELIVERY",
        FindingClass::PolicyBreach => "POLICY BREACH",
        FindingClass::Drift => "DRIFT (connectivity, not isolation)",
    }
}

impl Verdict {
    /// The verdict line, then every finding with its counterexample.
    pub fn text(&self) -> String {
        let r = &self.report;
        let s = &r.stats;
        let mut out = String::new();
        let checked = format!(
            "{} ingress classes at {} ingress points, {} rules on {} switches",
            s.ingress_classes, s.ingress_points, s.rules, s.switches
        );
        if self.isolated {
            let _ = writeln!(
                out,
                "isolation: PROVEN: no frame crosses between operators ({checked})"
            );
        } else {
            let _ = writeln!(
                out,
                "isolation: VIOLATED: {} leak(s), {} misdelivery(ies), {} policy breach(es) ({checked})",
                r.count(FindingClass::Leak),
                r.count(FindingClass::Misdelivery),
                r.count(FindingClass::PolicyBreach),
            );
        }
        let drifts = r.count(FindingClass::Drift);
        if drifts > 0 {
            let _ = writeln!(
                out,
                "warning: {drifts} drift(s): member ports that cannot reach each other"
            );
        }
        for finding in &r.findings {
            out.push('\n');
            finding_text(&mut out, finding);
        }
        if s.findings_omitted > 0 {
            let _ = writeln!(
                out,
                "\n... and {} more finding(s) not listed",
                s.findings_omitted
            );
        }
        out
    }
}

fn finding_text(out: &mut String, f: &Finding) {
    let cx = &f.counterexample;
    let _ = writeln!(
        out,
        "{} [{}]: {}",
        class_name(f.class),
        f.kind.code(),
        f.summary
    );
    let name =
        |n: &Option<weft_model::Name>| n.as_ref().map_or("(none)".to_owned(), ToString::to_string);
    let _ = writeln!(
        out,
        "  operators: {} -> {}",
        name(&f.source_operator),
        name(&f.destination_operator)
    );
    let _ = writeln!(out, "  ingress:   {} ({})", cx.ingress, cx.class);
    let _ = writeln!(out, "  header:    {}", cx.header);
    if !cx.path.is_empty() {
        let _ = writeln!(out, "  path:");
        for (i, hop) in cx.path.iter().enumerate() {
            let _ = writeln!(out, "    {:>2}. {hop}", i + 1);
        }
    }
    if let Some(e) = &cx.egress {
        let _ = writeln!(out, "  egress:    {}: {}", e.at, e.frame);
    }
}
