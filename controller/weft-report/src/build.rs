//! Building a report from the controller's inputs: verify what the
//! switches hold, then derive every section from the verifier's findings,
//! the intent and the read-back.

use std::collections::{BTreeMap, BTreeSet};

use weft_model::{AttachMode, Encapsulation, Intent, Topology};
use weft_pipeline::lower::is_programmed;
use weft_rules::{Cookie, FabricRules, Rule, SwitchRules};

use crate::canonical::{sha256_hex, to_canonical_json};
use crate::convert::finding;
use crate::model::{
    AttachmentSection, AuditHead, Cell, CellVerdict, DriftSection, Evidence, EvidenceKind,
    FabricIdentity, FindingClass, FindingCounts, Installed, IsolationMatrix, NetworkSection,
    OperatorSection, QuotaSection, Report, ReportFinding, Summary, SwitchDrift, SwitchEvidence,
    SwitchIdentity, Traffic, UsageSection, VniTraffic,
};
use crate::policy::policy_checks;
use crate::sign::PublicKey;
use crate::time::rfc3339;
use crate::usage::{EntryCounts, leased_ports, statement, switch_entries};

/// The pseudo-operator of ports leased to nobody, in the isolation matrix.
/// Not a valid operator name (names are DNS labels), so it cannot collide.
pub const UNLEASED: &str = "(unleased)";

/// Everything a report is built from.
#[derive(Debug)]
pub struct ReportInput<'a> {
    pub topology: &'a Topology,
    pub intent: &'a Intent,
    /// Every switch the controller programs
    /// (`weft_pipeline::lower::is_programmed`), by name: its read-back, or
    /// `None` when its agent did not answer in time. Programmed switches
    /// absent from the map count as `None`; other names are ignored.
    pub installed: BTreeMap<String, Option<Installed>>,
    /// Unix seconds, `[start, end]`.
    pub usage_period: (i64, i64),
    /// Per VNI over the period, as the controller sampled it.
    pub traffic: BTreeMap<u32, Traffic>,
    pub audit_head: Option<AuditHead>,
    pub controller_version: String,
    /// Unix seconds (`SOURCE_DATE_EPOCH` when set).
    pub generated_at: i64,
    /// The key the report will be signed with, named inside the payload.
    pub signing_key: PublicKey,
}

/// Builds the report: verifies the installed rules (the intended rules of
/// switches without a read-back) and derives every section.
/// Deterministic: equal inputs give equal reports, hence equal bytes.
pub fn build_report(input: &ReportInput<'_>) -> Report {
    let topo = input.topology;
    let intent = input.intent;
    let compiled = weft_pipeline::compile(topo, intent);
    let intended = weft_pipeline::lower_fabric(topo, &compiled);
    let counts = EntryCounts::new(topo, intent, &compiled);

    let mut verified = FabricRules::default();
    let mut identities = Vec::new();
    let mut evidence = Vec::new();
    let mut drift = Vec::new();
    for id in topo.switch_ids().filter(|&s| is_programmed(topo, s)) {
        let sw = topo.switch(id);
        let name = sw.name.to_string();
        let want = intended.switches.get(&id).cloned().unwrap_or_default();
        let dataplane = match sw.dataplane {
            weft_model::Dataplane::Ovs => "ovs",
            weft_model::Dataplane::Linux => "linux",
        };
        match input.installed.get(&name).and_then(Option::as_ref) {
            Some(got) => {
                // Normalised: a read-back assembled out of order must not
                // change the digest or mislead the interpreter.
                let rules = SwitchRules::new(got.rules.rules().to_vec());
                if let Some(d) = switch_drift(&name, &want, &rules) {
                    drift.push(d);
                }
                identities.push(SwitchIdentity {
                    name: name.clone(),
                    dataplane: dataplane.to_owned(),
                    evidence: EvidenceKind::ReadBack,
                    generation: Some(got.generation),
                    state_digest: Some(sha256_hex(&to_canonical_json(&rules))),
                    rules: len_u64(rules.len()),
                });
                // The rules themselves join the evidence after the proof.
                evidence.push(SwitchEvidence {
                    name,
                    evidence: EvidenceKind::ReadBack,
                    generation: Some(got.generation),
                    rules: None,
                    counters: vni_traffic(&got.counters),
                });
                verified.switches.insert(id, rules);
            }
            None => {
                identities.push(SwitchIdentity {
                    name: name.clone(),
                    dataplane: dataplane.to_owned(),
                    evidence: EvidenceKind::Missing,
                    generation: None,
                    state_digest: None,
                    rules: 0,
                });
                evidence.push(SwitchEvidence {
                    name,
                    evidence: EvidenceKind::Missing,
                    generation: None,
                    rules: None,
                    counters: Vec::new(),
                });
                verified.switches.insert(id, want);
            }
        }
    }

    let verification = weft_verifier::verify(topo, intent, &verified);
    for ev in &mut evidence {
        if ev.evidence == EvidenceKind::ReadBack {
            ev.rules = topo
                .switch_id(&ev.name)
                .and_then(|id| verified.switches.remove(&id));
        }
    }
    let findings: Vec<ReportFinding> = verification.findings.iter().map(finding).collect();
    let isolation = isolation_matrix(intent, &findings);
    let policy = policy_checks(intent, &findings);
    let unreachable = indices(&findings, |f| f.class == FindingClass::Drift);

    let topology_spec = topo.to_spec();
    let intent_spec = intent.to_spec(topo);
    let complete = identities
        .iter()
        .all(|s| s.evidence == EvidenceKind::ReadBack);
    let mut counts_by_class = FindingCounts::default();
    for f in &findings {
        let n = match f.class {
            FindingClass::Leak => &mut counts_by_class.leak,
            FindingClass::Misdelivery => &mut counts_by_class.misdelivery,
            FindingClass::PolicyBreach => &mut counts_by_class.policy_breach,
            FindingClass::Drift => &mut counts_by_class.drift,
        };
        *n += 1;
    }
    let static_breaches = policy.iter().any(|c| !c.violations.is_empty());
    let summary = Summary {
        isolated: counts_by_class.leak == 0
            && counts_by_class.misdelivery == 0
            && counts_by_class.policy_breach == 0
            && !static_breaches,
        complete,
        findings: counts_by_class,
        findings_omitted: len_u64(verification.stats.findings_omitted),
        violated_cells: len_u64(
            isolation
                .cells
                .iter()
                .filter(|c| c.verdict == CellVerdict::Violated)
                .count(),
        ),
        failed_checks: len_u64(
            policy
                .iter()
                .filter(|c| c.verdict == crate::model::CheckVerdict::Fail)
                .count(),
        ),
    };

    Report {
        schema: crate::SCHEMA.to_owned(),
        fabric: FabricIdentity {
            name: topo.name.to_string(),
            encapsulation: match topo.encapsulation {
                Encapsulation::Vxlan => "vxlan",
                Encapsulation::Vlan => "vlan",
            }
            .to_owned(),
            topology_digest: sha256_hex(&to_canonical_json(&topology_spec)),
            intent_digest: sha256_hex(&to_canonical_json(&intent_spec)),
            controller_version: input.controller_version.clone(),
            generated_at: rfc3339(input.generated_at),
            signing_key: input.signing_key,
            switches: identities,
        },
        operators: intent
            .operators
            .values()
            .map(|op| operator_section(topo, op, &counts))
            .collect(),
        isolation,
        policy,
        drift: DriftSection {
            switches: drift,
            unreachable,
        },
        findings,
        audit_log: input.audit_head.clone(),
        usage: UsageSection {
            period_start: input.usage_period.0,
            period_end: input.usage_period.1,
            statements: intent
                .operators
                .values()
                .map(|op| statement(topo, op, &counts, &input.traffic, input.usage_period))
                .collect(),
        },
        evidence: Evidence {
            topology: topology_spec,
            intent: intent_spec,
            switches: evidence,
            traffic: vni_traffic(&input.traffic),
        },
        summary,
    }
}

pub(crate) fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

pub(crate) fn indices(
    findings: &[ReportFinding],
    pred: impl Fn(&ReportFinding) -> bool,
) -> Vec<u64> {
    findings
        .iter()
        .enumerate()
        .filter(|(_, f)| pred(f))
        .map(|(i, _)| len_u64(i))
        .collect()
}

fn vni_traffic(map: &BTreeMap<u32, Traffic>) -> Vec<VniTraffic> {
    map.iter()
        .map(|(&vni, t)| VniTraffic {
            vni,
            packets: t.packets,
            bytes: t.bytes,
        })
        .collect()
}

/// Missing, unexpected and foreign rules of one read-back switch, or
/// `None` when it holds exactly what was intended.
fn switch_drift(name: &str, want: &SwitchRules, got: &SwitchRules) -> Option<SwitchDrift> {
    // The common case, in one linear pass.
    if want == got {
        return None;
    }
    let wanted: BTreeSet<&Rule> = want.rules().iter().collect();
    let held: BTreeSet<&Rule> = got.rules().iter().collect();
    let missing: Vec<Rule> = want
        .rules()
        .iter()
        .filter(|r| !held.contains(r))
        .cloned()
        .collect();
    let (ours, foreign): (Vec<&Rule>, Vec<&Rule>) =
        got.rules().iter().partition(|r| Cookie::is_weft(r.cookie));
    let unexpected: Vec<Rule> = ours
        .into_iter()
        .filter(|r| !wanted.contains(r))
        .cloned()
        .collect();
    let foreign: Vec<Rule> = foreign.into_iter().cloned().collect();
    if missing.is_empty() && unexpected.is_empty() && foreign.is_empty() {
        return None;
    }
    Some(SwitchDrift {
        switch: name.to_owned(),
        missing,
        unexpected,
        foreign,
    })
}

/// Which cell of the matrix a finding breaks, if any: leaks, by their
/// source and destination operators (a port leased to nobody standing for
/// [`UNLEASED`]); and frames from unleased ports delivered at an
/// operator's port.
fn cell_of(f: &ReportFinding) -> Option<(&str, &str)> {
    let src = f.source_operator.as_deref().unwrap_or(UNLEASED);
    let dst = f.destination_operator.as_deref().unwrap_or(UNLEASED);
    let counts = match f.class {
        FindingClass::Leak => true,
        _ => f.kind == "unleased-port-forwards" && f.destination_operator.is_some(),
    };
    (counts && src != dst).then_some((src, dst))
}

fn isolation_matrix(intent: &Intent, findings: &[ReportFinding]) -> IsolationMatrix {
    let mut operators: Vec<String> = intent.operators.keys().map(|n| n.to_string()).collect();
    operators.push(UNLEASED.to_owned());
    let mut hits: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        if let Some(cell) = cell_of(f) {
            hits.entry(cell).or_default().push(i);
        }
    }
    let mut cells = Vec::with_capacity(operators.len() * operators.len());
    for from in &operators {
        for to in &operators {
            if from == to {
                continue;
            }
            let found = hits
                .get(&(from.as_str(), to.as_str()))
                .map_or(&[][..], Vec::as_slice);
            cells.push(Cell {
                from: from.clone(),
                to: to.clone(),
                verdict: if found.is_empty() {
                    CellVerdict::Isolated
                } else {
                    CellVerdict::Violated
                },
                findings: found.iter().map(|&i| len_u64(i)).collect(),
                counterexamples: found
                    .iter()
                    .map(|&i| findings[i].counterexample.clone())
                    .collect(),
            });
        }
    }
    IsolationMatrix { operators, cells }
}

fn operator_section(
    topo: &Topology,
    op: &weft_model::Operator,
    counts: &EntryCounts,
) -> OperatorSection {
    let lease = op.lease.as_ref();
    OperatorSection {
        name: op.name.to_string(),
        display_name: op.display_name.clone(),
        ports: leased_ports(topo, op),
        vni_ranges: lease.map(|l| vec![l.vni.to_string()]).unwrap_or_default(),
        vlan_ranges: lease
            .and_then(|l| l.vlan)
            .map(|r| vec![r.to_string()])
            .unwrap_or_default(),
        quotas: lease.map(|l| QuotaSection {
            networks: l.quotas.networks,
            attachments: l.quotas.attachments,
            entries_per_switch: l.quotas.entries_per_switch,
        }),
        networks: op
            .networks
            .values()
            .map(|n| NetworkSection {
                name: n.name.to_string(),
                vni: n.vni.get(),
                fabric_vlan: n.fabric_vlan.map(|v| v.get()),
                attachments: n
                    .attachments
                    .iter()
                    .map(|(port, mode)| AttachmentSection {
                        port: topo.port_ref(*port),
                        mode: match mode {
                            AttachMode::Access => "access",
                            AttachMode::Tagged(_) => "tagged",
                        }
                        .to_owned(),
                        vlan: match mode {
                            AttachMode::Access => None,
                            AttachMode::Tagged(t) => Some(t.get()),
                        },
                    })
                    .collect(),
            })
            .collect(),
        entries: switch_entries(topo, op, counts),
    }
}
