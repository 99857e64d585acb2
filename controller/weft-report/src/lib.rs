//! Weft's isolation reports: what an auditor gets, signs off on, and can
//! re-check without trusting the controller.
//!
//! Layer: pure core, beside the verifier. `weftd` gathers the inputs (the
//! topology, the intent, every programmed switch's read-back of its
//! installed rules and counters, traffic samples, the audit log's head) and
//! calls [`build_report`]; this crate turns them into a [`Report`], writes
//! its canonical JSON ([`Report::canonical_json`]), signs it into a DSSE
//! envelope ([`sign`]) and renders one self-contained HTML page
//! ([`render_html`]). On the auditor's side, [`open`] checks an envelope (or
//! the HTML page carrying one) and [`recheck`] re-derives every verdict from
//! the evidence embedded in the report.
//!
//! Why the evidence travels inside the report: an auditor must be able to
//! confirm the verdicts offline, from what the switches said they hold, not
//! from what the controller meant to install. The report therefore carries
//! the topology and intent documents and each switch's installed rules
//! (foreign rules included), and [`recheck`] rebuilds everything else from
//! them with the same verifier.
//!
//! `docs/isolation-report.md` gives the schema, the canonicalisation rules,
//! the signature format and why DSSE was chosen.
//!
//! This crate does not talk to agents or switches, read or write files,
//! keep keys on disk or know the time: callers pass all of that in.

mod build;
mod canonical;
mod convert;
mod html;
mod model;
mod open;
mod policy;
mod recheck;
mod sign;
mod time;
mod usage;

pub use build::{ReportInput, UNLEASED, build_report};
pub use canonical::{sha256_hex, to_canonical_json, to_canonical_json_checked};
pub use html::render_html;
pub use model::*;
pub use open::{Opened, VerifyError, open};
pub use recheck::{Discrepancy, RecheckSummary, recheck};
pub use sign::{Envelope, EnvelopeSignature, KeyError, PublicKey, ReportKey, pae, sign};
pub use usage::{NetworkUsage, SwitchEntries, UsageStatement, usage_statement};

/// The report schema this crate writes and reads.
pub const SCHEMA: &str = "weft.isolation-report/v1";

/// The DSSE payload type of a signed report.
pub const PAYLOAD_TYPE: &str = "application/vnd.weft.isolation-report.v1+json";
