//! `weft.v1.AuditService`: signed isolation reports, the key that signs
//! them, usage statements. See [`crate::reports`].

use std::time::Duration;

use tonic::{Request, Response, Status};
use weft_proto::v1::audit_service_server::AuditService;
use weft_proto::v1::*;

use super::Api;
use crate::auth::{Access, Scope};
use crate::names::{Expect, ResourceName};
use crate::reports;

macro_rules! method {
    ($name:literal) => {
        concat!("/weft.v1.AuditService/", $name)
    };
}

const DEFAULT_READBACK: Duration = Duration::from_secs(10);
const MAX_READBACK: Duration = Duration::from_secs(60);

fn readback_wait(ms: u32) -> Duration {
    if ms == 0 {
        DEFAULT_READBACK
    } else {
        Duration::from_millis(u64::from(ms)).min(MAX_READBACK)
    }
}

fn since(field: &str, value: i64) -> Result<i64, Status> {
    if value < 0 {
        return Err(crate::errors::bad_field(
            field,
            "must be Unix seconds (>= 0), or 0 for the oldest sample",
        ));
    }
    Ok(value)
}

pub fn usage_to_wire(u: &weft_report::UsageStatement) -> UsageStatement {
    UsageStatement {
        operator: u.operator.clone(),
        period_start: u.period_start,
        period_end: u.period_end,
        ports: u.ports.clone(),
        vni_ranges: u.vni_ranges.clone(),
        vlan_ranges: u.vlan_ranges.clone(),
        networks: u
            .networks
            .iter()
            .map(|n| NetworkUsage {
                network: n.network.clone(),
                vni: n.vni,
                packets: n.packets,
                bytes: n.bytes,
            })
            .collect(),
        entries: u
            .entries
            .iter()
            .map(|e| SwitchEntries {
                switch: e.switch.clone(),
                entries: e.entries,
                quota: e.quota,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl AuditService for Api {
    async fn get_isolation_report(
        &self,
        req: Request<GetIsolationReportRequest>,
    ) -> Result<Response<GetIsolationReportResponse>, Status> {
        const M: &str = method!("GetIsolationReport");
        let p = self.who(&req, M).await?;
        self.check(&p, Access::Read, Scope::Fabric, M, "fabric")
            .await?;
        // Only the leader has agent sessions to read back from: a follower
        // sends the auditor there rather than sign a report with no evidence.
        self.c.ensure_leading()?;
        let r = req.into_inner();
        let since = since("usage_since", r.usage_since)?;
        let gathered = reports::gather(&self.c, readback_wait(r.readback_timeout_ms), since).await;
        let key = std::sync::Arc::clone(&self.report_key);
        let (envelope, report) =
            tokio::task::spawn_blocking(move || reports::build_and_sign(&gathered, &key))
                .await
                .map_err(|e| Status::internal(format!("building the report failed: {e}")))?;
        tracing::info!(
            caller = %p,
            isolated = report.is_isolated(),
            complete = report.is_complete(),
            findings = report.finding_count(),
            "isolation report"
        );
        Ok(Response::new(GetIsolationReportResponse {
            envelope,
            isolated: report.is_isolated(),
            complete: report.is_complete(),
            findings: u32::try_from(report.finding_count()).unwrap_or(u32::MAX),
        }))
    }

    async fn get_report_key(
        &self,
        req: Request<GetReportKeyRequest>,
    ) -> Result<Response<GetReportKeyResponse>, Status> {
        const M: &str = method!("GetReportKey");
        let p = self.who(&req, M).await?;
        self.check(&p, Access::Read, Scope::FabricStatus, M, "report-key")
            .await?;
        let key = self.report_key.public_key();
        Ok(Response::new(GetReportKeyResponse {
            public_key: key.to_string(),
            key_id: key.key_id(),
        }))
    }

    async fn get_usage(
        &self,
        req: Request<GetUsageRequest>,
    ) -> Result<Response<GetUsageResponse>, Status> {
        const M: &str = method!("GetUsage");
        let p = self.who(&req, M).await?;
        let r = req.into_inner();
        // "alpha" or "operators/alpha".
        let raw = if r.operator.contains('/') {
            r.operator.clone()
        } else {
            format!("operators/{}", r.operator)
        };
        let ResourceName::Operator(operator) =
            ResourceName::parse("operator", &raw, Expect::Operator)?
        else {
            return Err(crate::errors::bad_field(
                "operator",
                "must name an operator",
            ));
        };
        self.check(
            &p,
            Access::Read,
            Scope::Tenant(&operator),
            M,
            &format!("operators/{operator}"),
        )
        .await?;
        let since = since("since", r.since)?;
        // Traffic samples come with read-backs, which only the leader gets.
        self.c.ensure_leading()?;
        let statement = reports::usage(&self.c, &operator, since)
            .await
            .ok_or_else(|| Status::not_found(format!("operator {operator} does not exist")))?;
        Ok(Response::new(GetUsageResponse {
            statement: Some(usage_to_wire(&statement)),
        }))
    }
}
