//! The report as data: every section of schema `weft.isolation-report/v1`.
//!
//! Plain values with `Serialize` and `Deserialize`, so that a report read
//! back from a file is the same value that was built, and its canonical
//! JSON the same bytes. Integers only (no floats); optional fields are
//! written as `null` unless noted, so every report has the same shape.
//! Verifier output is mirrored here rather than reused because the report
//! must also be *read*, and the verifier's types only serialize.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use weft_model::spec::{IntentSpec, TopologySpec};
use weft_rules::{Rule, SwitchRules};

use crate::sign::PublicKey;
use crate::usage::{SwitchEntries, UsageStatement};

/// Packets and bytes, as a data plane counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub packets: u64,
    pub bytes: u64,
}

/// What one switch's agent read back from its data plane.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The generation the agent had applied when it read back.
    pub generation: u64,
    /// Weft's rules and foreign ones, as read back.
    pub rules: SwitchRules,
    /// Per VNI, cumulative as the data plane counts them.
    pub counters: BTreeMap<u32, Traffic>,
}

/// The head of the controller's hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    pub records: u64,
    /// Hex SHA-256 of the last record.
    pub head: String,
}

/// A whole isolation report. See `docs/isolation-report.md` for every field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always [`crate::SCHEMA`].
    pub schema: String,
    pub fabric: FabricIdentity,
    pub operators: Vec<OperatorSection>,
    pub isolation: IsolationMatrix,
    pub policy: Vec<PolicyCheck>,
    pub drift: DriftSection,
    /// Every verifier finding, in the verifier's deterministic order.
    /// Other sections refer to them by index.
    pub findings: Vec<ReportFinding>,
    pub audit_log: Option<AuditHead>,
    pub usage: UsageSection,
    pub evidence: Evidence,
    pub summary: Summary,
}

impl Report {
    /// The report's canonical JSON: the bytes that are signed.
    pub fn canonical_json(&self) -> Vec<u8> {
        crate::canonical::to_canonical_json(self)
    }

    /// No leak, misdelivery or policy breach was found.
    pub fn is_isolated(&self) -> bool {
        self.summary.isolated
    }

    /// Every programmed switch answered with its installed state.
    pub fn is_complete(&self) -> bool {
        self.summary.complete
    }

    /// Findings listed in the report (drift included).
    pub fn finding_count(&self) -> usize {
        self.findings.len()
    }
}

/// Which fabric, which controller, when, and what each switch held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FabricIdentity {
    pub name: String,
    /// `vxlan` or `vlan`.
    pub encapsulation: String,
    /// Hex SHA-256 of the canonical JSON of the topology document.
    pub topology_digest: String,
    /// Hex SHA-256 of the canonical JSON of the intent document.
    pub intent_digest: String,
    pub controller_version: String,
    /// RFC 3339, UTC, whole seconds (`2024-05-01T12:00:00Z`).
    pub generated_at: String,
    /// The key the report is signed with, `ed25519:<base64>`.
    pub signing_key: PublicKey,
    /// Every programmed switch, by name.
    pub switches: Vec<SwitchIdentity>,
}

/// Where a switch's rules in the report come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    /// The switch's agent read its installed state back.
    ReadBack,
    /// The agent did not answer: the switch's intended rules stand in for
    /// it in the proof, and the report is incomplete.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchIdentity {
    pub name: String,
    /// `ovs` or `linux`.
    pub dataplane: String,
    pub evidence: EvidenceKind,
    /// The generation read back; `null` when missing.
    pub generation: Option<u64>,
    /// Hex SHA-256 of the canonical JSON of the installed rules; `null`
    /// when missing.
    pub state_digest: Option<String>,
    /// Rules read back (0 when missing).
    pub rules: u64,
}

/// One operator's slice: what it rents and what it built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSection {
    pub name: String,
    pub display_name: Option<String>,
    /// Leased server ports, `SWITCH/PORT`.
    pub ports: Vec<String>,
    pub vni_ranges: Vec<String>,
    pub vlan_ranges: Vec<String>,
    /// `null` for an operator without a lease.
    pub quotas: Option<QuotaSection>,
    pub networks: Vec<NetworkSection>,
    /// Pipeline entries of the operator's networks per switch, against the
    /// per-switch quota.
    pub entries: Vec<SwitchEntries>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSection {
    pub networks: u32,
    pub attachments: u32,
    pub entries_per_switch: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    pub name: String,
    pub vni: u32,
    pub fabric_vlan: Option<u16>,
    pub attachments: Vec<AttachmentSection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSection {
    /// `SWITCH/PORT`.
    pub port: String,
    /// `access` or `tagged`.
    pub mode: String,
    /// The operator's tag, for `tagged`.
    pub vlan: Option<u16>,
}

/// Operator × operator isolation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationMatrix {
    /// Operators by name, then [`crate::UNLEASED`].
    pub operators: Vec<String>,
    /// Every ordered pair of distinct entries of `operators`, in that order.
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellVerdict {
    Isolated,
    Violated,
}

/// Whether frames of `from` can reach `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    pub from: String,
    pub to: String,
    pub verdict: CellVerdict,
    /// Indices into [`Report::findings`].
    pub findings: Vec<u64>,
    pub counterexamples: Vec<Counterexample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckVerdict {
    Pass,
    Fail,
}

/// One policy rule of the isolation invariant, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyCheck {
    /// Stable kebab-case name, e.g. `access-ports-drop-tagged`.
    pub check: String,
    pub description: String,
    pub verdict: CheckVerdict,
    /// Indices into [`Report::findings`].
    pub findings: Vec<u64>,
    /// Breaches found in the intent itself rather than in rules (only
    /// `no-shared-vni` has these).
    pub violations: Vec<String>,
}

/// Intended against installed, per switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSection {
    /// Switches whose read-back differs from their intended rules, by name.
    pub switches: Vec<SwitchDrift>,
    /// Indices into [`Report::findings`] of connectivity findings (member
    /// ports that cannot reach each other).
    pub unreachable: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchDrift {
    pub switch: String,
    /// Intended Weft rules not installed.
    pub missing: Vec<Rule>,
    /// Installed rules with a Weft cookie that are not intended.
    pub unexpected: Vec<Rule>,
    /// Installed rules with another cookie: state Weft does not own.
    pub foreign: Vec<Rule>,
}

/// How bad a finding is (the verifier's classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingClass {
    Leak,
    Misdelivery,
    PolicyBreach,
    Drift,
}

/// A verifier finding, as written in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportFinding {
    pub class: FindingClass,
    /// The verifier's kebab-case kind, e.g. `cross-operator-delivery`.
    pub kind: String,
    pub summary: String,
    pub source_operator: Option<String>,
    pub destination_operator: Option<String>,
    pub counterexample: Counterexample,
}

/// A concrete frame and its path (mirrors `weft_verifier::Counterexample`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counterexample {
    /// `SWITCH/PORT`, or `SWITCH/vxlan` for a packet from the underlay.
    pub ingress: String,
    pub class: String,
    pub header: Frame,
    pub path: Vec<Hop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Egress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// Outermost first.
    pub vlan_tags: Vec<u16>,
    pub eth_dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tun_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tun_src: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tun_dst: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "hop", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Hop {
    Rule {
        switch: String,
        in_port: String,
        table: u8,
        priority: u16,
        cookie: u64,
        actions: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assumes: Option<String>,
    },
    Link {
        from: String,
        to: String,
    },
    Tunnel {
        from: String,
        to: String,
        vni: u64,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Egress {
    pub at: String,
    pub frame: Frame,
}

/// Usage statements of every operator over one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSection {
    pub period_start: i64,
    pub period_end: i64,
    pub statements: Vec<UsageStatement>,
}

/// What the verdicts were computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub topology: TopologySpec,
    pub intent: IntentSpec,
    /// Every programmed switch, by name.
    pub switches: Vec<SwitchEvidence>,
    /// Per VNI over the usage period, as the controller sampled it.
    pub traffic: Vec<VniTraffic>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchEvidence {
    pub name: String,
    pub evidence: EvidenceKind,
    pub generation: Option<u64>,
    /// Installed rules as read back; `null` when missing.
    pub rules: Option<SwitchRules>,
    /// Cumulative data-plane counters per VNI, by VNI.
    pub counters: Vec<VniTraffic>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VniTraffic {
    pub vni: u32,
    pub packets: u64,
    pub bytes: u64,
}

/// The verdict in a few numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// No leak, misdelivery or policy breach (drift does not count).
    pub isolated: bool,
    /// Every programmed switch's installed state is in the evidence.
    pub complete: bool,
    pub findings: FindingCounts,
    /// Findings past the verifier's limit, counted but not listed.
    pub findings_omitted: u64,
    pub violated_cells: u64,
    pub failed_checks: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingCounts {
    pub leak: u64,
    pub misdelivery: u64,
    pub policy_breach: u64,
    pub drift: u64,
}
