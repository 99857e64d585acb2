//! One place that sorts etcd client failures into [`StoreError`]s.
//!
//! The split that matters to `weftd`: "the cluster cannot answer now"
//! ([`StoreError::Unavailable`], a retryable condition mapped to gRPC
//! `UNAVAILABLE`) against "this request can never succeed as configured"
//! ([`StoreError::Backend`], with the etcd flag to change).

use std::time::Duration;

use tonic::Code;

use crate::StoreError;

/// Sorts an etcd client error. `location` names the cluster and prefix.
pub(crate) fn from_etcd(location: &str, err: etcd_client::Error) -> StoreError {
    use etcd_client::Error as E;
    let unavailable = |reason: String| StoreError::Unavailable {
        location: location.to_owned(),
        reason,
    };
    match err {
        E::GRpcStatus(status) => from_status(location, &status),
        e @ (E::TransportError(_)
        | E::IoError(_)
        | E::WatchError(_)
        | E::LeaseKeepAliveError(_)
        | E::EndpointError(_)) => unavailable(e.to_string()),
        other => StoreError::Backend(format!("etcd {location}: {other}")),
    }
}

fn from_status(location: &str, status: &tonic::Status) -> StoreError {
    let message = status.message();
    let backend = |hint: &str| {
        StoreError::Backend(format!(
            "etcd {location} refused the request ({message}); {hint}"
        ))
    };
    if message.contains("too many operations in txn request") {
        return backend("raise the members' --max-txn-ops (see docs/etcd.md)");
    }
    if message.contains("request is too large") {
        return backend("raise the members' --max-request-bytes (see docs/etcd.md)");
    }
    if message.contains("database space exceeded") {
        return backend(
            "the cluster hit its space quota: compact, defragment and disarm the NOSPACE alarm \
             (see docs/etcd.md)",
        );
    }
    match status.code() {
        // etcd answers "no leader", "leader changed", "request timed out"
        // and "too many requests" with these codes: all pass with time.
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Aborted
        | Code::ResourceExhausted
        | Code::Unknown => StoreError::Unavailable {
            location: location.to_owned(),
            reason: format!("{message} ({:?})", status.code()),
        },
        _ => backend("this is a bug or a misconfigured cluster"),
    }
}

/// The error of a call that did not finish in time.
pub(crate) fn timed_out(location: &str, what: &str, after: Duration) -> StoreError {
    StoreError::Unavailable {
        location: location.to_owned(),
        reason: format!("{what} got no answer within {after:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_trouble_is_unavailable_and_limits_name_their_flag() {
        let e = from_status("l", &tonic::Status::unavailable("etcdserver: no leader"));
        assert!(matches!(e, StoreError::Unavailable { .. }), "{e:?}");
        let e = from_status(
            "l",
            &tonic::Status::invalid_argument("etcdserver: too many operations in txn request"),
        );
        assert!(e.to_string().contains("--max-txn-ops"), "{e}");
        let e = from_status(
            "l",
            &tonic::Status::invalid_argument("etcdserver: request is too large"),
        );
        assert!(e.to_string().contains("--max-request-bytes"), "{e}");
        let e = from_status("l", &tonic::Status::permission_denied("auth"));
        assert!(matches!(e, StoreError::Backend(_)), "{e:?}");
    }
}
