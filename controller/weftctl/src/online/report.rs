//! `weftctl audit report|pubkey|verify|usage`: signed isolation reports
//! (AuditService) and their offline verification with `weft-report`.
//!
//! `report` writes the controller's signed envelope as it came (JSON) or
//! renders it to one self-contained HTML file with the envelope embedded;
//! `verify` needs no controller: it checks the signature, then re-runs the
//! isolation check from the evidence inside the report.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use weft_proto::v1::{GetIsolationReportRequest, GetReportKeyRequest, GetUsageRequest};

use super::ConnArgs;
use super::error::OnlineError;
use super::operator::missing;
use super::render::{self, Format, fields};
use crate::exit::Outcome;
use crate::out::Out;

pub const REPORT_HELP: &str = "\
Exit codes:
  report:  0 every operator pair proven isolated, from every switch's read-back
           3 not isolated (the report says where; it is written anyway)
           8 incomplete: a switch did not answer in time (written anyway), or
             the controller is unavailable
           4-7 as for the other online commands (5: you are not an auditor or admin)
  verify:  0 the signature is good and every verdict follows from the evidence
           1 the report fails: the signature, a digest or a verdict (named)
           2 the file or key cannot be read
  pubkey, usage: as for the other online commands";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// From the file name: .html renders HTML, anything else is JSON.
    #[default]
    Auto,
    Json,
    Html,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Ask the controller for a signed isolation report computed from what
    /// the switches hold now (auditors and admins).
    Report(ReportArgs),
    /// Print the controller's report-signing public key.
    Pubkey {
        #[command(flatten)]
        conn: ConnArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Check a report offline: signature, digests, and every verdict re-run
    /// from the installed-state evidence it carries.
    Verify {
        /// The report (the JSON envelope or the HTML file).
        #[arg(value_name = "REPORT")]
        report: PathBuf,
        /// The key the report must be signed with: `ed25519:…` or a file
        /// holding it (from `weftctl audit pubkey`). Without it, the report
        /// is checked against the key it names, which proves integrity but
        /// not who signed it.
        #[arg(long, value_name = "KEY")]
        pubkey: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// An operator's usage statement: ports, VNIs, entries per switch and
    /// traffic per network over a period.
    Usage {
        /// The operator (ID or operators/ID).
        operator: String,
        /// Start of the period, Unix seconds (default: the oldest sample held).
        #[arg(long, value_name = "UNIX_SECS", default_value_t = 0)]
        since: i64,
        #[command(flatten)]
        conn: ConnArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Where to write the report; `-` (the default) is standard output.
    #[arg(short = 'o', long = "out", value_name = "FILE", default_value = "-")]
    out: PathBuf,
    /// JSON (the signed envelope) or HTML (rendered, envelope embedded).
    #[arg(long, value_enum, default_value_t)]
    format: ReportFormat,
    /// How long the controller waits for the agents' read-back, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    readback_timeout: u32,
    /// Start of the usage period, Unix seconds (default: the oldest sample held).
    #[arg(long, value_name = "UNIX_SECS", default_value_t = 0)]
    usage_since: i64,
    #[command(flatten)]
    conn: ConnArgs,
}

pub async fn run(command: &AuditCommand, out: &mut Out) -> Result<Outcome, OnlineError> {
    match command {
        AuditCommand::Report(args) => report(args, out).await,
        AuditCommand::Pubkey { conn, format } => pubkey(conn, *format, out).await,
        AuditCommand::Usage {
            operator,
            since,
            conn,
            format,
        } => usage(operator, *since, conn, *format, out).await,
        AuditCommand::Verify { .. } => Ok(Outcome::Ok),
    }
}

/// `verify` is offline: no runtime, no connection.
pub fn run_offline(command: &AuditCommand, out: &mut Out) -> Option<Result<Outcome, OnlineError>> {
    match command {
        AuditCommand::Verify {
            report,
            pubkey,
            format,
        } => Some(verify(report, pubkey.as_deref(), *format, out)),
        _ => None,
    }
}

async fn report(args: &ReportArgs, out: &mut Out) -> Result<Outcome, OnlineError> {
    let html = match args.format {
        ReportFormat::Html => true,
        ReportFormat::Json => false,
        ReportFormat::Auto => args
            .out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm")),
    };
    let mut session = args.conn.session()?;
    let mut request = session.request(GetIsolationReportRequest {
        readback_timeout_ms: args.readback_timeout.saturating_mul(1000),
        usage_since: args.usage_since,
    });
    // The controller waits for the agents first.
    request.set_timeout(
        session.timeout + std::time::Duration::from_secs(args.readback_timeout.into()),
    );
    let response = session
        .audit()
        .await?
        .get_isolation_report(request)
        .await?
        .into_inner();
    let bytes = if html {
        let opened = weft_report::open(&response.envelope, None).map_err(|e| {
            OnlineError::Unavailable(format!(
                "the controller sent a report that does not open: {e}"
            ))
        })?;
        weft_report::render_html(&opened.report, &response.envelope).into_bytes()
    } else {
        response.envelope.clone()
    };
    write_output(&args.out, &bytes, out)?;
    let target = if args.out.as_os_str() == "-" {
        "standard output".to_owned()
    } else {
        args.out.display().to_string()
    };
    let verdict = if !response.isolated {
        "NOT isolated"
    } else if response.complete {
        "isolated"
    } else {
        "isolated as far as evidence reaches, but INCOMPLETE"
    };
    out.error(&format!(
        "report written to {target}: {verdict}, {} finding(s)",
        response.findings
    ))?;
    Ok(if !response.isolated {
        Outcome::Violation
    } else if !response.complete {
        Outcome::Unavailable
    } else {
        Outcome::Ok
    })
}

fn write_output(path: &Path, bytes: &[u8], out: &mut Out) -> Result<(), OnlineError> {
    if path.as_os_str() == "-" {
        out.data(&String::from_utf8_lossy(bytes))?;
        return Ok(());
    }
    std::fs::write(path, bytes)
        .map_err(|e| OnlineError::Config(format!("cannot write {}: {e}", path.display())))
}

#[derive(Debug, Serialize)]
struct KeyView {
    public_key: String,
    key_id: String,
}

async fn pubkey(conn: &ConnArgs, format: Format, out: &mut Out) -> Result<Outcome, OnlineError> {
    let mut session = conn.session()?;
    let request = session.request(GetReportKeyRequest {});
    let r = session
        .audit()
        .await?
        .get_report_key(request)
        .await?
        .into_inner();
    let view = KeyView {
        public_key: r.public_key,
        key_id: r.key_id,
    };
    render::emit(out, format, &view, |v| format!("{}\n", v.public_key))?;
    Ok(Outcome::Ok)
}

async fn usage(
    operator: &str,
    since: i64,
    conn: &ConnArgs,
    format: Format,
    out: &mut Out,
) -> Result<Outcome, OnlineError> {
    let name = super::names::parse_operator(operator)?;
    let mut session = conn.session()?;
    let request = session.request(GetUsageRequest {
        operator: name.clone(),
        since,
    });
    let statement = session
        .audit()
        .await?
        .get_usage(request)
        .await?
        .into_inner()
        .statement
        .ok_or_else(|| missing("a usage statement"))?;
    let view = UsageView::from(&statement);
    render::emit(out, format, &view, usage_table)?;
    Ok(Outcome::Ok)
}

#[derive(Debug, Serialize)]
struct UsageView {
    operator: String,
    period_start: i64,
    period_end: i64,
    ports: Vec<String>,
    vni_ranges: Vec<String>,
    vlan_ranges: Vec<String>,
    networks: Vec<NetworkUsageView>,
    entries: Vec<EntriesView>,
}

#[derive(Debug, Serialize)]
struct NetworkUsageView {
    network: String,
    vni: u32,
    packets: u64,
    bytes: u64,
}

#[derive(Debug, Serialize)]
struct EntriesView {
    switch: String,
    entries: u64,
    quota: u64,
}

impl From<&weft_proto::v1::UsageStatement> for UsageView {
    fn from(s: &weft_proto::v1::UsageStatement) -> Self {
        UsageView {
            operator: s.operator.clone(),
            period_start: s.period_start,
            period_end: s.period_end,
            ports: s.ports.clone(),
            vni_ranges: s.vni_ranges.clone(),
            vlan_ranges: s.vlan_ranges.clone(),
            networks: s
                .networks
                .iter()
                .map(|n| NetworkUsageView {
                    network: n.network.clone(),
                    vni: n.vni,
                    packets: n.packets,
                    bytes: n.bytes,
                })
                .collect(),
            entries: s
                .entries
                .iter()
                .map(|e| EntriesView {
                    switch: e.switch.clone(),
                    entries: e.entries,
                    quota: e.quota,
                })
                .collect(),
        }
    }
}

fn unix(secs: i64) -> String {
    u64::try_from(secs).map_or_else(
        |_| secs.to_string(),
        |s| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
            )
            .to_string()
        },
    )
}

fn usage_table(v: &UsageView) -> String {
    let mut text = fields(&[
        ("operator", v.operator.clone()),
        (
            "period",
            format!("{} to {}", unix(v.period_start), unix(v.period_end)),
        ),
        ("ports", v.ports.join(", ")),
        ("VNI ranges", v.vni_ranges.join(", ")),
        ("VLAN ranges", v.vlan_ranges.join(", ")),
    ]);
    text.push_str("\nNETWORK\tVNI\tPACKETS\tBYTES\n");
    for n in &v.networks {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            n.network, n.vni, n.packets, n.bytes
        ));
    }
    text.push_str("\nSWITCH\tENTRIES\tQUOTA\n");
    for e in &v.entries {
        text.push_str(&format!("{}\t{}\t{}\n", e.switch, e.entries, e.quota));
    }
    text
}

#[derive(Debug, Serialize)]
struct VerifyView {
    file: String,
    signed_by: String,
    key_trusted: bool,
    isolated: bool,
    complete: bool,
    findings: usize,
}

fn read_key(arg: &str) -> Result<weft_report::PublicKey, OnlineError> {
    let text = if arg.starts_with("ed25519:") {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg)
            .map_err(|e| OnlineError::Config(format!("cannot read the public key {arg}: {e}")))?
    };
    text.trim()
        .parse()
        .map_err(|e| OnlineError::Config(format!("not a report public key ({arg}): {e}")))
}

fn verify(
    path: &Path,
    pubkey: Option<&str>,
    format: Format,
    out: &mut Out,
) -> Result<Outcome, OnlineError> {
    let trusted = pubkey.map(read_key).transpose()?;
    let bytes = std::fs::read(path)
        .map_err(|e| OnlineError::Config(format!("cannot read {}: {e}", path.display())))?;
    let opened = match weft_report::open(&bytes, trusted.as_ref()) {
        Ok(o) => o,
        Err(e) => {
            out.error(&format!("FAILED: {}: {e}", path.display()))?;
            return Ok(Outcome::Invalid);
        }
    };
    if let Err(discrepancies) = weft_report::recheck(&opened.report) {
        out.error(&format!(
            "FAILED: {}: the signature is good, but {} statement(s) do not follow from the evidence:",
            path.display(),
            discrepancies.len()
        ))?;
        for d in &discrepancies {
            out.error(&format!("  {d}"))?;
        }
        return Ok(Outcome::Invalid);
    }
    let view = VerifyView {
        file: path.display().to_string(),
        signed_by: opened.report.fabric.signing_key.to_string(),
        key_trusted: opened.key_trusted,
        isolated: opened.report.is_isolated(),
        complete: opened.report.is_complete(),
        findings: opened.report.finding_count(),
    };
    render::emit(out, format, &view, |v| {
        let mut text = format!(
            "ok: {} is signed and every verdict follows from its evidence\n\n",
            v.file
        );
        text.push_str(&fields(&[
            ("signed by", v.signed_by.clone()),
            ("isolated", v.isolated.to_string()),
            ("complete", v.complete.to_string()),
            ("findings", v.findings.to_string()),
        ]));
        if !v.key_trusted {
            text.push_str(
                "\nnote: checked against the key the report names; pass --pubkey \
                 (from `weftctl audit pubkey`) to check who signed it\n",
            );
        }
        text
    })?;
    Ok(Outcome::Ok)
}
