//! Isolation reports and usage statements: the controller's side.
//!
//! A report is computed from evidence, not from the controller's word: the
//! controller asks every connected agent for a fresh read-back of what its
//! switch holds, waits for the answers (up to a deadline), and hands the
//! topology, the intent, the read-backs and the traffic history to
//! `weft-report`, which runs the verifier on the read-back state and
//! builds, signs and (in `weftctl`) renders the report. A switch that does
//! not answer in time is reported without evidence and makes the report
//! incomplete. Nothing here writes to the store or the audit log.
//!
//! The signing key is an ed25519 key kept in `DATA_DIR/report-signing.pk8`
//! (PKCS#8, mode 0600), made on first start; its public half is also
//! written to `DATA_DIR/report-signing.pub`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use weft_model::{Intent, Name, Topology};
use weft_report::{AuditHead, Installed, ReportKey, Traffic};
use weft_rules::SwitchRules;

use crate::controller::Controller;
use crate::sessions::Readback;

/// The file that holds the report-signing key, in the data directory.
pub const KEY_FILE: &str = "report-signing.pk8";
/// Its public half as `weftctl audit verify --pubkey` reads it, rewritten
/// at every start (for people; clients ask `GetReportKey`).
pub const PUBLIC_KEY_FILE: &str = "report-signing.pub";

/// Loads the report-signing key from `data_dir`, making one on first use,
/// and writes its public half next to it.
pub fn load_or_create_key(data_dir: &Path) -> anyhow::Result<ReportKey> {
    let key = load_or_create_private(data_dir)?;
    let public = data_dir.join(PUBLIC_KEY_FILE);
    std::fs::write(&public, format!("{}\n", key.public_key()))
        .with_context(|| format!("writing {}", public.display()))?;
    Ok(key)
}

fn load_or_create_private(data_dir: &Path) -> anyhow::Result<ReportKey> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => ReportKey::from_pkcs8(&bytes)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("reading the report-signing key {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (key, pkcs8) = ReportKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
            write_private(&path, &pkcs8)
                .with_context(|| format!("writing the report-signing key {}", path.display()))?;
            tracing::info!(key = %key.public_key(), "made a report-signing key");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a new private file: readable by its owner only, never replacing
/// an existing one.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// What the controller hands to `weft-report`, owned so that the state
/// lock is not held while the verifier runs.
#[derive(Debug)]
pub struct Gathered {
    pub topology: Topology,
    pub intent: Intent,
    pub installed: BTreeMap<String, Option<Installed>>,
    pub traffic: BTreeMap<u32, Traffic>,
    pub period: (i64, i64),
    pub audit_head: Option<AuditHead>,
    pub generated_at: i64,
}

/// A read-back as evidence; `None` (logged) when it cannot be read.
fn decode(switch: &str, r: Readback) -> Option<Installed> {
    match serde_json::from_slice::<SwitchRules>(&r.rules_json) {
        Ok(rules) => Some(Installed {
            generation: r.generation,
            rules,
            counters: r
                .counters
                .into_iter()
                .map(|(vni, (packets, bytes))| (vni, Traffic { packets, bytes }))
                .collect(),
        }),
        Err(e) => {
            tracing::warn!(%switch, error = %e, "unreadable read-back: the switch is reported without evidence");
            None
        }
    }
}

/// The traffic per VNI since `since` and the period it covers.
pub fn traffic(c: &Controller, since: i64, now: i64) -> (BTreeMap<u32, Traffic>, (i64, i64)) {
    let (raw, start) = c.sessions.traffic_since(since);
    let traffic = raw
        .into_iter()
        .map(|(vni, (packets, bytes))| (vni, Traffic { packets, bytes }))
        .collect();
    (traffic, (start.unwrap_or(now).min(now), now))
}

/// Asks every agent for its installed state and gathers what a report
/// needs.
pub async fn gather(c: &Controller, wait: Duration, usage_since: i64) -> Gathered {
    let epoch = c.epoch();
    let asked = c
        .sessions
        .request_readback(|| weft_proto::v1::SessionResponse {
            epoch,
            message: Some(weft_proto::v1::session_response::Message::Observe(
                weft_proto::v1::ObserveRequest {},
            )),
        });
    let deadline = tokio::time::Instant::now() + wait;
    let readback = c.sessions.collect_readback(&asked, deadline).await;
    let installed = readback
        .into_iter()
        .map(|(name, r)| {
            let evidence = r.and_then(|r| decode(&name, r));
            (name, evidence)
        })
        .collect();
    let now = crate::traffic::report_time();
    let (traffic, period) = traffic(c, usage_since, now);
    let (topology, intent) = {
        let core = c.core.lock().await;
        (core.topo().clone(), core.intent.clone())
    };
    Gathered {
        topology,
        intent,
        installed,
        traffic,
        period,
        audit_head: c.audit_head().await,
        generated_at: now,
    }
}

/// Builds and signs the report (CPU-bound: call it off the async
/// threads).
pub fn build_and_sign(g: &Gathered, key: &ReportKey) -> (Vec<u8>, weft_report::Report) {
    let input = weft_report::ReportInput {
        topology: &g.topology,
        intent: &g.intent,
        installed: g.installed.clone(),
        usage_period: g.period,
        traffic: g.traffic.clone(),
        audit_head: g.audit_head.clone(),
        controller_version: env!("CARGO_PKG_VERSION").to_owned(),
        generated_at: g.generated_at,
        signing_key: key.public_key(),
    };
    let report = weft_report::build_report(&input);
    (weft_report::sign(&report, key), report)
}

/// An operator's usage statement over `[since, now]`.
pub async fn usage(
    c: &Controller,
    operator: &Name,
    since: i64,
) -> Option<weft_report::UsageStatement> {
    let now = crate::traffic::report_time();
    let (traffic, period) = traffic(c, since, now);
    let core = c.core.lock().await;
    weft_report::usage_statement(core.topo(), &core.intent, operator, &traffic, period)
}
