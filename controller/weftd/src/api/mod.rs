//! The gRPC adapter: each service turns wire requests into domain values
//! (names, changes) once, asks [`auth`](crate::auth) and hands the change to
//! the [`Controller`]. Nothing here decides policy.

pub mod agent;
pub mod audit;
pub mod changes;
pub mod fabric;
pub mod networks;
pub mod operators;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use tonic::{Request, Status};
use weft_pki::Principal;

use crate::auth::{self, Access, Scope};
use crate::controller::{Call, Controller, digest};

/// Shared by every service.
#[derive(Debug, Clone)]
pub struct Api {
    pub c: Arc<Controller>,
    /// The local CA, when `weftd` runs one: a new operator gets its
    /// credentials in `DATA_DIR/pki/operator/` as soon as it is created.
    pub pki: Option<Arc<weft_pki::Pki>>,
    /// Signs isolation reports.
    pub report_key: Arc<weft_report::ReportKey>,
}

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;
const MAX_REQUEST_ID: usize = 128;

impl Api {
    /// The caller; an anonymous or unreadable certificate is denied (and
    /// logged).
    pub async fn who<T>(&self, req: &Request<T>, method: &str) -> Result<Principal, Status> {
        match auth::principal(req) {
            Ok(p) => Ok(p),
            Err(status) => Err(self.c.deny("anonymous", method, "", status).await),
        }
    }

    /// Authorizes, logging a denial.
    pub async fn check(
        &self,
        p: &Principal,
        access: Access,
        scope: Scope<'_>,
        method: &str,
        resource: &str,
    ) -> Result<(), Status> {
        match auth::authorize(p, access, scope) {
            Ok(()) => Ok(()),
            Err(status) => Err(self.c.deny(&p.to_string(), method, resource, status).await),
        }
    }
}

/// Agents' error texts are for the facility: they may name any tenant's
/// VNIs or ports. Operators see only that there was one.
pub fn redact_agent_errors(p: &Principal, switches: &mut [weft_proto::v1::SwitchProgramming]) {
    if matches!(p, Principal::Operator { .. }) {
        for s in switches.iter_mut().filter(|s| !s.last_error.is_empty()) {
            s.last_error = "the agent reported an error (details withheld)".to_owned();
        }
    }
}

/// The call's deadline from its `grpc-timeout` header.
pub fn deadline<T>(req: &Request<T>) -> Option<Instant> {
    let raw = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = raw.split_at(raw.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    Instant::now().checked_add(d)
}

/// What every mutation request carries.
pub trait MutationRequest: Message + Clone {
    fn request_id(&self) -> &str;
    fn validate_only(&self) -> bool;
    /// The request with `request_id` cleared: what a retry must repeat
    /// exactly.
    fn without_id(&self) -> Self;
}

macro_rules! mutation_requests {
    ($($t:ty),* $(,)?) => {$(
        impl MutationRequest for $t {
            fn request_id(&self) -> &str {
                &self.request_id
            }
            fn validate_only(&self) -> bool {
                self.validate_only
            }
            fn without_id(&self) -> Self {
                Self { request_id: String::new(), ..self.clone() }
            }
        }
    )*};
}

use weft_proto::v1 as pb;
mutation_requests!(
    pb::CreateOperatorRequest,
    pb::UpdateOperatorRequest,
    pb::DeleteOperatorRequest,
    pb::SetLeaseRequest,
    pb::DeleteLeaseRequest,
    pb::CreateNetworkRequest,
    pb::DeleteNetworkRequest,
    pb::CreateAttachmentRequest,
    pb::DeleteAttachmentRequest,
    pb::ApplyTopologyRequest,
);

/// Builds the mutation context of `req`.
pub fn call<R: MutationRequest>(
    req: &Request<R>,
    principal: &Principal,
    method: &'static str,
    resource: String,
) -> Result<Call, Status> {
    let r = req.get_ref();
    let (request_id, validate_only) = (r.request_id(), r.validate_only());
    if request_id.len() > MAX_REQUEST_ID {
        return Err(crate::errors::bad_field(
            "request_id",
            format!("longer than {MAX_REQUEST_ID} bytes"),
        ));
    }
    if request_id.chars().any(char::is_control) {
        return Err(crate::errors::bad_field(
            "request_id",
            "contains control characters",
        ));
    }
    Ok(Call {
        principal: principal.clone(),
        method,
        resource,
        request_id: request_id.to_owned(),
        digest: digest(&r.without_id().encode_to_vec()),
        deadline: deadline(req),
        validate_only,
    })
}

/// One page of `items` (sorted by key) after `token`.
pub fn paginate<T>(
    items: impl IntoIterator<Item = (String, T)>,
    page_size: i32,
    token: &str,
) -> Result<(Vec<T>, String), Status> {
    let size = match page_size {
        0 => DEFAULT_PAGE_SIZE,
        n if n < 0 => {
            return Err(crate::errors::bad_field(
                "page_size",
                "must not be negative",
            ));
        }
        n => usize::try_from(n)
            .unwrap_or(MAX_PAGE_SIZE)
            .min(MAX_PAGE_SIZE),
    };
    let after = if token.is_empty() {
        None
    } else {
        let raw = hex::decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                crate::errors::bad_field("page_token", "not a token from a previous page")
            })?;
        Some(raw)
    };
    let mut page = Vec::new();
    let mut last = None;
    let mut more = false;
    for (key, item) in items {
        if after.as_ref().is_some_and(|a| key.as_str() <= a.as_str()) {
            continue;
        }
        if page.len() == size {
            more = true;
            break;
        }
        last = Some(key);
        page.push(item);
    }
    let next = match (more, last) {
        (true, Some(k)) => hex::encode(k),
        _ => String::new(),
    };
    Ok((page, next))
}

/// Checks an etag; empty means unconditional.
pub fn check_etag(name: &str, given: &str, current: Option<u64>) -> Result<(), Status> {
    if given.is_empty() {
        return Ok(());
    }
    match current {
        Some(rev) if crate::convert::etag(rev) == given => Ok(()),
        Some(_) => Err(crate::errors::stale_etag(name)),
        None => Err(Status::not_found(format!("{name} not found"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_resume_after_the_token() {
        let items: Vec<(String, u32)> = (0..5).map(|i| (format!("k{i}"), i)).collect();
        let (p1, t1) = paginate(items.clone(), 2, "").unwrap();
        assert_eq!(p1, vec![0, 1]);
        let (p2, t2) = paginate(items.clone(), 2, &t1).unwrap();
        assert_eq!(p2, vec![2, 3]);
        let (p3, t3) = paginate(items.clone(), 2, &t2).unwrap();
        assert_eq!(p3, vec![4]);
        assert!(t3.is_empty());
        assert!(paginate(items.clone(), -1, "").is_err());
        assert!(paginate(items, 2, "zz").is_err());
    }
}
