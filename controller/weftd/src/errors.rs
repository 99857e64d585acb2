//! The one place where domain errors become gRPC statuses, with rich
//! details (`google.rpc.BadRequest`, `QuotaFailure`, `PreconditionFailure`).
//!
//! Messages never name another operator's resources: change errors only
//! ever mention the caller's own operator, ports and networks (a VNI or
//! port outside the caller's lease is refused before anything is looked up
//! elsewhere), and isolation findings are redacted for operators by the
//! caller of [`isolation_broken`].

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use weft_model::{ChangeError, QuotaKind, Violation};
use weft_pipeline::EntryQuotaExceeded;

use crate::names::NameError;

/// INVALID_ARGUMENT naming one field.
pub fn bad_field(field: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid {field}: {description}"),
        ErrorDetails::with_bad_request_violation(field, description),
    )
}

/// INVALID_ARGUMENT naming every field at fault.
pub fn bad_fields(violations: Vec<(String, String)>) -> Status {
    let message = violations
        .iter()
        .map(|(f, d)| format!("{f}: {d}"))
        .collect::<Vec<_>>()
        .join("; ");
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {message}"),
        ErrorDetails::with_bad_request(
            violations
                .into_iter()
                .map(|(f, d)| FieldViolation::new(f, d))
                .collect::<Vec<_>>(),
        ),
    )
}

impl From<NameError> for Status {
    fn from(e: NameError) -> Status {
        bad_field(&e.field, e.reason)
    }
}

fn quota_name(q: QuotaKind) -> &'static str {
    match q {
        QuotaKind::Networks => "networks",
        QuotaKind::Attachments => "attachments",
        QuotaKind::EntriesPerSwitch => "entries_per_switch",
    }
}

/// Maps a rejected change. `field_prefix` is where the request's resource
/// sits (e.g. `network`), so model field paths become request field paths.
pub fn change_error(e: &ChangeError, field_prefix: &str) -> Status {
    let msg = e.to_string();
    match e {
        ChangeError::NotFound { .. } => Status::not_found(msg),
        ChangeError::AlreadyExists { .. } => Status::already_exists(msg),
        ChangeError::QuotaExceeded { quota, .. } => Status::with_error_details(
            Code::ResourceExhausted,
            msg.clone(),
            ErrorDetails::with_quota_failure_violation(
                format!("quota:{}", quota_name(*quota)),
                msg,
            ),
        ),
        ChangeError::PoolExhausted(_) => Status::with_error_details(
            Code::ResourceExhausted,
            msg.clone(),
            ErrorDetails::with_quota_failure_violation("pool:vni", msg),
        ),
        ChangeError::OutsideLease { kind, .. } => {
            let field = if *kind == "VNI" || kind.eq_ignore_ascii_case("vni") {
                "vni"
            } else {
                "fabric_vlan"
            };
            bad_field(&join(field_prefix, field), msg)
        }
        ChangeError::FabricVlanNotApplicable => bad_field(&join(field_prefix, "fabric_vlan"), msg),
        ChangeError::Invalid(violations) => bad_fields(
            violations
                .iter()
                .map(|v| (violation_field(v, field_prefix), v.to_string()))
                .collect(),
        ),
        ChangeError::NoLease { .. }
        | ChangeError::LeaseInUse { .. }
        | ChangeError::PortNotLeased { .. }
        | ChangeError::IdInUse { .. }
        | ChangeError::AttachmentConflict { .. } => Status::with_error_details(
            Code::FailedPrecondition,
            msg.clone(),
            ErrorDetails::with_precondition_failure_violation(precondition_type(e), "", msg),
        ),
        _ => Status::failed_precondition(msg),
    }
}

fn precondition_type(e: &ChangeError) -> &'static str {
    match e {
        ChangeError::NoLease { .. } => "NO_LEASE",
        ChangeError::LeaseInUse { .. } => "LEASE_IN_USE",
        ChangeError::PortNotLeased { .. } => "PORT_NOT_LEASED",
        ChangeError::IdInUse { .. } => "ID_IN_USE",
        ChangeError::AttachmentConflict { .. } => "ATTACHMENT_CONFLICT",
        _ => "PRECONDITION",
    }
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// A model violation's path (`operators[0].lease.ports[1]`) as a request
/// field path (`lease.ports[1]`).
fn violation_field(v: &Violation, prefix: &str) -> String {
    let path = v.path.to_string();
    let rest = path
        .strip_prefix("operators[0]")
        .map(|r| r.trim_start_matches('.'))
        .unwrap_or(&path);
    let rest = rest
        .strip_prefix("lease")
        .map(|r| r.trim_start_matches('.'))
        .unwrap_or(rest);
    wire_lease_field(join(prefix, rest).trim_end_matches('.'))
}

/// Model field paths of a lease (`lease.vni`, `lease.vlan`) as the wire
/// message names them (`lease.vni_range`, `lease.vlan_range`).
pub fn wire_lease_field(path: &str) -> String {
    for (model, wire) in [
        ("lease.vni", "lease.vni_range"),
        ("lease.vlan", "lease.vlan_range"),
    ] {
        if let Some(rest) = path.strip_prefix(model)
            && (rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
        {
            return format!("{wire}{rest}");
        }
    }
    path.to_owned()
}

/// `status` with every `BadRequest` field path under `prefix` (e.g. the
/// `changes[2].create_network` of a `Plan` request).
pub fn with_field_prefix(status: Status, prefix: &str) -> Status {
    let Some(bad) = status.get_details_bad_request() else {
        return status;
    };
    let violations: Vec<FieldViolation> = bad
        .field_violations
        .iter()
        .map(|v| FieldViolation::new(join(prefix, &v.field), v.description.clone()))
        .collect();
    Status::with_error_details(
        status.code(),
        status.message().to_owned(),
        ErrorDetails::with_bad_request(violations),
    )
}

/// RESOURCE_EXHAUSTED for an operator over its entries-per-switch quota.
pub fn entry_quota(e: &EntryQuotaExceeded) -> Status {
    let msg = format!(
        "quota entries_per_switch exceeded on switch {}: {} entries, limit {}",
        e.switch_name, e.entries, e.limit
    );
    Status::with_error_details(
        Code::ResourceExhausted,
        msg.clone(),
        ErrorDetails::with_quota_failure_violation("quota:entries_per_switch", msg),
    )
}

/// FAILED_PRECONDITION: the change would break isolation. `details` are
/// the findings as the caller may see them.
pub fn isolation_broken(details: &[String]) -> Status {
    let msg = format!(
        "refused: the change would break cross-operator isolation ({} finding(s)); nothing was changed",
        details.len()
    );
    Status::with_error_details(
        Code::FailedPrecondition,
        msg,
        ErrorDetails::with_precondition_failure(
            details
                .iter()
                .map(|d| tonic_types::PreconditionViolation::new("ISOLATION", "fabric", d.clone()))
                .collect::<Vec<_>>(),
        ),
    )
}

/// ABORTED for a stale etag.
pub fn stale_etag(name: &str) -> Status {
    Status::with_error_details(
        Code::Aborted,
        format!("{name} changed since it was read (stale etag): read it again and retry"),
        ErrorDetails::with_precondition_failure_violation("ETAG", name, "etag does not match"),
    )
}

/// INTERNAL for a store failure: the change was not made.
pub fn store_failed(e: &dyn std::fmt::Display) -> Status {
    Status::internal(format!("store write failed, nothing was changed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_fields_use_the_wire_names() {
        assert_eq!(wire_lease_field("lease.vni"), "lease.vni_range");
        assert_eq!(wire_lease_field("lease.vlan"), "lease.vlan_range");
        assert_eq!(wire_lease_field("lease.ports[1]"), "lease.ports[1]");
        assert_eq!(wire_lease_field("lease.vni_range"), "lease.vni_range");
    }

    #[test]
    fn plan_errors_point_into_the_change() {
        let s = with_field_prefix(
            bad_field("network.vni", "too big"),
            "changes[2].create_network",
        );
        let bad = s.get_details_bad_request().unwrap();
        assert_eq!(
            bad.field_violations[0].field,
            "changes[2].create_network.network.vni"
        );
        assert_eq!(s.code(), Code::InvalidArgument);
    }
}
