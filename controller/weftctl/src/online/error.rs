//! Why an online command failed, and the one place that turns that into an
//! exit code and the lines printed on stderr.
//!
//! The controller's answer is a `tonic::Status` whose rich details
//! (`google.rpc.BadRequest`, `QuotaFailure`, `PreconditionFailure`) say
//! which field, quota or precondition is at fault: they are printed under
//! the message, and a precondition of type `ISOLATION` gets its own exit
//! code, because "this would break isolation" is what scripts most need to
//! tell apart.

use std::io;

use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::exit::Outcome;

#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// A malformed name or value on the command line.
    #[error("{0}")]
    Input(String),
    /// No endpoint, an unreadable certificate or context file, a bad URL.
    #[error("{0}")]
    Config(String),
    /// The controller cannot be reached, or the switches did not program a
    /// change in time.
    #[error("{0}")]
    Unavailable(String),
    /// The controller refused or failed the call. Boxed: a `Status` is big
    /// and this error travels through every `Result`.
    #[error("{}", .0.message())]
    Status(Box<Status>),
    /// Writing the command's own output failed (e.g. a closed pipe); not
    /// reported here but handed to `main`, which knows about broken pipes.
    #[error(transparent)]
    Output(#[from] io::Error),
}

impl From<Status> for OnlineError {
    fn from(s: Status) -> Self {
        OnlineError::Status(Box::new(s))
    }
}

impl OnlineError {
    pub fn outcome(&self) -> Outcome {
        match self {
            OnlineError::Input(_) => Outcome::Invalid,
            OnlineError::Config(_) | OnlineError::Output(_) => Outcome::Usage,
            OnlineError::Unavailable(_) => Outcome::Unavailable,
            OnlineError::Status(s) => status_outcome(s),
        }
    }

    /// What to print on stderr: `error: …` and, for a status, its details.
    pub fn report(&self) -> Vec<String> {
        match self {
            OnlineError::Status(s) => describe_status(s),
            other => vec![format!("error: {other}")],
        }
    }
}

/// The exit code contract of the online commands (see `exit.rs`).
pub fn status_outcome(status: &Status) -> Outcome {
    match status.code() {
        Code::Ok => Outcome::Ok,
        Code::InvalidArgument | Code::OutOfRange => Outcome::Invalid,
        Code::FailedPrecondition if is_isolation(status) => Outcome::Violation,
        Code::NotFound => Outcome::NotFound,
        Code::PermissionDenied | Code::Unauthenticated => Outcome::Denied,
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => Outcome::Conflict,
        Code::ResourceExhausted => Outcome::Exhausted,
        // The controller did not do what was asked, for reasons of its own:
        // down, overloaded, too old to know the call, or broken.
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Unknown
        | Code::Internal
        | Code::Unimplemented
        | Code::DataLoss => Outcome::Unavailable,
    }
}

fn is_isolation(status: &Status) -> bool {
    status
        .get_error_details()
        .precondition_failure()
        .is_some_and(|p| p.violations.iter().any(|v| v.r#type == "ISOLATION"))
}

/// The canonical gRPC name of a code, as in the gRPC documentation and
/// server logs (tonic's `Debug` is CamelCase).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// `error: MESSAGE (CODE)` and one indented line per detail.
pub fn describe_status(status: &Status) -> Vec<String> {
    let message = if status.message().is_empty() {
        "the controller gave no message"
    } else {
        status.message()
    };
    let mut lines = vec![format!("error: {message} ({})", code_name(status.code()))];
    let details = status.get_error_details();
    if let Some(bad) = details.bad_request() {
        for v in &bad.field_violations {
            lines.push(format!("  {}: {}", v.field, v.description));
        }
    }
    if let Some(quota) = details.quota_failure() {
        for v in &quota.violations {
            lines.push(format!("  {}: {}", v.subject, v.description));
        }
    }
    if let Some(pre) = details.precondition_failure() {
        for v in &pre.violations {
            let subject = if v.subject.is_empty() {
                String::new()
            } else {
                format!(" {}", v.subject)
            };
            lines.push(format!("  {}{subject}: {}", v.r#type, v.description));
        }
    }
    if status.code() == Code::Unauthenticated || status.code() == Code::PermissionDenied {
        lines.push(
            "  hint: check which certificate is in use with `weftctl context show`".to_owned(),
        );
    }
    lines
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, PreconditionViolation};

    use super::*;

    fn precondition(kind: &str) -> Status {
        Status::with_error_details(
            Code::FailedPrecondition,
            "refused",
            ErrorDetails::with_precondition_failure(vec![PreconditionViolation::new(
                kind, "fabric", "leak",
            )]),
        )
    }

    #[test]
    fn codes_map_to_the_documented_exit_codes() {
        let cases = [
            (Status::invalid_argument("x"), 1),
            (Status::out_of_range("x"), 1),
            (precondition("ISOLATION"), 3),
            (Status::not_found("x"), 4),
            (Status::permission_denied("x"), 5),
            (Status::unauthenticated("x"), 5),
            (Status::already_exists("x"), 6),
            (Status::aborted("x"), 6),
            (precondition("LEASE_IN_USE"), 6),
            (Status::failed_precondition("x"), 6),
            (Status::resource_exhausted("x"), 7),
            (Status::unavailable("x"), 8),
            (Status::deadline_exceeded("x"), 8),
            (Status::internal("x"), 8),
        ];
        for (status, code) in cases {
            assert_eq!(status_outcome(&status).code(), code, "{status:?}");
        }
    }

    #[test]
    fn local_errors_map_too() {
        assert_eq!(OnlineError::Input(String::new()).outcome().code(), 1);
        assert_eq!(OnlineError::Config(String::new()).outcome().code(), 2);
        assert_eq!(OnlineError::Unavailable(String::new()).outcome().code(), 8);
    }

    #[test]
    fn details_are_listed_under_the_message() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "invalid request: network.vni: outside the lease",
            ErrorDetails::with_bad_request_violation("network.vni", "5000 is outside 1000-1999"),
        );
        assert_eq!(
            describe_status(&status),
            [
                "error: invalid request: network.vni: outside the lease (INVALID_ARGUMENT)",
                "  network.vni: 5000 is outside 1000-1999",
            ]
        );
        let quota = Status::with_error_details(
            Code::ResourceExhausted,
            "quota networks exceeded",
            ErrorDetails::with_quota_failure_violation("quota:networks", "64 networks, limit 64"),
        );
        assert_eq!(
            describe_status(&quota)[1],
            "  quota:networks: 64 networks, limit 64"
        );
        assert_eq!(
            describe_status(&precondition("ISOLATION"))[1],
            "  ISOLATION fabric: leak"
        );
    }
}
