//! `weftctl audit-log verify FILE`: checks a copy of the controller's
//! hash-chained audit log, offline, with `weft-auditlog`'s verifier.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;
use weft_auditlog::{AuditError, VerifiedLog};

use super::OutputArgs;
use super::error::OnlineError;
use super::render::{self, fields};
use crate::exit::Outcome;
use crate::out::Out;

pub const AUDIT_HELP: &str = "\
Exit codes:
  0  the log verifies (and its head is --expect-head, when given)
  1  the log is broken: the first bad line is named (a record altered,
     removed, duplicated or reordered), or its head is not --expect-head
  2  usage error, or the file cannot be read";

#[derive(Debug, Subcommand)]
pub enum AuditLogCommand {
    /// Verify the hash chain of an audit log file (JSON lines).
    Verify {
        /// The log, e.g. DATA_DIR/audit.log.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The head hash recorded elsewhere earlier: detects a log cut short.
        #[arg(long, value_name = "HASH")]
        expect_head: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct VerifiedView {
    file: String,
    records: u64,
    first_seq: u64,
    /// False when the log is a suffix of a longer chain whose start was
    /// not checked.
    complete: bool,
    head: String,
}

impl VerifiedView {
    fn new(file: &Path, log: &VerifiedLog) -> Self {
        VerifiedView {
            file: file.display().to_string(),
            records: log.records,
            first_seq: log.first_seq,
            complete: log.is_complete(),
            head: log.head.clone(),
        }
    }
}

fn table(v: &VerifiedView) -> String {
    let mut text = format!("ok: {} verifies\n\n", v.file);
    text.push_str(&fields(&[
        ("records", v.records.to_string()),
        ("first seq", v.first_seq.to_string()),
        ("head", v.head.clone()),
    ]));
    if !v.complete {
        text.push_str(
            "\nnote: the log starts after seq 1: it is the end of a longer chain, \
             whose earlier records were not checked\n",
        );
    }
    text
}

pub fn run(command: &AuditLogCommand, out: &mut Out) -> Result<Outcome, OnlineError> {
    let AuditLogCommand::Verify {
        file,
        expect_head,
        output,
    } = command;
    let view = verify(file, expect_head.as_deref())?;
    render::emit(out, output.output, &view, table)?;
    Ok(Outcome::Ok)
}

fn verify(file: &Path, expect_head: Option<&str>) -> Result<VerifiedView, OnlineError> {
    let log = weft_auditlog::verify_file(file).map_err(|e| match e {
        AuditError::File { .. } | AuditError::Read { .. } => OnlineError::Config(e.to_string()),
        broken => OnlineError::Input(format!("{}: {broken}", file.display())),
    })?;
    if let Some(expected) = expect_head
        && !expected.eq_ignore_ascii_case(&log.head)
    {
        return Err(OnlineError::Input(format!(
            "{}: the chain verifies but its head is {}, not the expected {expected}: \
             records were removed from the end, or it is another log",
            file.display(),
            log.head
        )));
    }
    Ok(VerifiedView::new(file, &log))
}

#[cfg(test)]
mod tests {
    use super::*;

    use weft_auditlog::{AuditChain, AuditEntry, append_record};

    #[test]
    fn verifies_a_log_and_names_the_broken_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut chain = AuditChain::genesis();
        for i in 0..3 {
            let record = chain.append(AuditEntry {
                time: "2026-01-01T00:00:00Z".into(),
                principal: "admin admin".into(),
                method: "/weft.v1.OperatorService/CreateOperator".into(),
                resource: format!("operators/op{i}"),
                outcome: "ok".into(),
                code: "OK".into(),
                request_id: format!("r{i}"),
                revision: i + 1,
            });
            append_record(&path, &record).unwrap();
        }
        let view = verify(&path, None).unwrap();
        assert_eq!((view.records, view.complete), (3, true));
        assert!(verify(&path, Some(&view.head.to_uppercase())).is_ok());
        assert_eq!(verify(&path, Some("00")).unwrap_err().outcome().code(), 1);

        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("operators/op1", "operators/opX", 1)).unwrap();
        let err = verify(&path, None).unwrap_err();
        assert_eq!(err.outcome().code(), 1);
        assert!(err.to_string().contains("line 2"), "{err}");

        let missing = verify(&dir.path().join("none.log"), None).unwrap_err();
        assert_eq!(missing.outcome().code(), 2);
    }

    #[test]
    fn partial_logs_are_flagged() {
        let v = VerifiedView {
            file: "audit.log".into(),
            records: 2,
            first_seq: 5,
            complete: false,
            head: "ab".into(),
        };
        let text = table(&v);
        assert!(
            text.starts_with("ok: audit.log verifies\n\nrecords    2\n"),
            "{text}"
        );
        assert!(text.contains("note: the log starts after seq 1"), "{text}");
    }
}
