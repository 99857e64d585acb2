//! AuditService over real gRPC: isolation reports computed from the
//! agents' read-back (simulated agents here; the namespace lab's real
//! switches in `audit_lab.rs`), signed with the controller's key, checked
//! offline; who may ask; usage statements; reproducible bytes.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::Harness;
use common::process::WeftdProcess;
use tonic::Code;
use tonic::transport::Channel;
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::audit_service_client::AuditServiceClient;
use weft_proto::v1::*;

async fn audit_client(h: &Harness, role: Role, name: &str) -> AuditServiceClient<Channel> {
    AuditServiceClient::new(h.channel(&Principal::new(role, name).unwrap()).await)
}

/// Waits until every simulated agent has acknowledged the current revision.
async fn programmed(h: &Harness) {
    let mut admin = h.admin().await;
    let now = admin
        .fabric
        .get_fabric_status(GetFabricStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut req = tonic::Request::new(GetFabricStatusRequest {
        wait_for_revision: now.revision.max(1),
    });
    req.set_timeout(Duration::from_secs(20));
    admin.fabric.get_fabric_status(req).await.unwrap();
}

async fn report(
    client: &mut AuditServiceClient<Channel>,
    readback_timeout_ms: u32,
) -> GetIsolationReportResponse {
    client
        .get_isolation_report(GetIsolationReportRequest {
            readback_timeout_ms,
            usage_since: 0,
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_report_from_read_back_is_signed_and_rechecks_offline() {
    let h = Harness::start(true, true).await;
    programmed(&h).await;
    let mut auditor = audit_client(&h, Role::Auditor, "audit").await;
    let r = report(&mut auditor, 5000).await;
    assert!(r.isolated && r.complete, "{r:?}");
    assert_eq!(r.findings, 0);

    let key = auditor
        .get_report_key(GetReportKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    let trusted: weft_report::PublicKey = key.public_key.parse().unwrap();
    assert_eq!(trusted.key_id(), key.key_id);
    let opened = weft_report::open(&r.envelope, Some(&trusted)).unwrap();
    assert!(opened.key_trusted);
    weft_report::recheck(&opened.report).unwrap();
    let switches = &opened.report.fabric.switches;
    assert_eq!(switches.len(), 2, "{switches:?}");
    for s in switches {
        assert_eq!(s.evidence, weft_report::EvidenceKind::ReadBack, "{s:?}");
        assert!(s.rules > 0 && s.state_digest.is_some(), "{s:?}");
    }
    let ops: Vec<&str> = opened
        .report
        .operators
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(ops, ["alpha", "beta", "gamma"]);

    // Another controller's key does not vouch for this report.
    let (other, _) = weft_report::ReportKey::generate().unwrap();
    let err = weft_report::open(&r.envelope, Some(&other.public_key())).unwrap_err();
    assert!(err.to_string().contains("key"), "{err}");

    // The key survives a restart: it is the controller's identity.
    let Harness { dir: tmp, running } = h;
    let dir = tmp.path().to_path_buf();
    let before = std::fs::read(dir.join(weftd::reports::KEY_FILE)).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(weftd::reports::KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is the owner's only");
    }
    let published = std::fs::read_to_string(dir.join(weftd::reports::PUBLIC_KEY_FILE)).unwrap();
    assert_eq!(published.trim(), key.public_key);
    running.shutdown().await;
    let running = weftd::start(common::config(&dir, false, false))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.join(weftd::reports::KEY_FILE)).unwrap(),
        before
    );
    running.shutdown().await;
}

#[tokio::test]
async fn only_auditors_and_admins_get_reports() {
    let h = Harness::start(true, false).await;
    let mut alpha = audit_client(&h, Role::Operator, "alpha").await;
    let err = alpha
        .get_isolation_report(GetIsolationReportRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // Anyone who may call Weft may read the public key.
    alpha.get_report_key(GetReportKeyRequest {}).await.unwrap();
    let mut admin = audit_client(&h, Role::Admin, "admin").await;
    let r = report(&mut admin, 200).await;
    // No agent is connected: every switch is reported without evidence.
    assert!(!r.complete, "{r:?}");
    let opened = weft_report::open(&r.envelope, None).unwrap();
    assert!(!opened.key_trusted);
    assert!(
        opened
            .report
            .fabric
            .switches
            .iter()
            .all(|s| s.evidence == weft_report::EvidenceKind::Missing)
    );
    weft_report::recheck(&opened.report).unwrap();
    h.stop().await;
}

#[tokio::test]
async fn usage_statements_are_per_operator() {
    let h = Harness::start(true, true).await;
    programmed(&h).await;
    let mut alpha = audit_client(&h, Role::Operator, "alpha").await;
    let own = alpha
        .get_usage(GetUsageRequest {
            operator: "alpha".into(),
            since: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .statement
        .unwrap();
    assert_eq!(own.operator, "alpha");
    assert!(own.ports.iter().any(|p| p == "rack1-leaf/eth1"), "{own:?}");
    let nets: Vec<(&str, u32)> = own
        .networks
        .iter()
        .map(|n| (n.network.as_str(), n.vni))
        .collect();
    assert!(nets.contains(&("backup", 1000)), "{nets:?}");
    assert!(own.period_start <= own.period_end);
    assert!(
        own.entries.iter().any(|e| e.entries > 0 && e.quota > 0),
        "{own:?}"
    );

    let err = alpha
        .get_usage(GetUsageRequest {
            operator: "operators/beta".into(),
            since: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    let mut auditor = audit_client(&h, Role::Auditor, "audit").await;
    for (operator, since, code) in [
        ("nobody", 0, Code::NotFound),
        ("alpha", -1, Code::InvalidArgument),
        ("Not A Name!", 0, Code::InvalidArgument),
        ("", 0, Code::InvalidArgument),
    ] {
        let err = auditor
            .get_usage(GetUsageRequest {
                operator: operator.into(),
                since,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{operator:?} since {since}: {err:?}");
    }
    h.stop().await;
}

/// With `SOURCE_DATE_EPOCH`, two reports of unchanged state are the same
/// bytes (signature included: ed25519 signatures are deterministic).
#[test]
fn reports_of_unchanged_state_are_byte_identical() {
    let mut weftd = WeftdProcess::new(&["--simulate"]);
    weftd.env("SOURCE_DATE_EPOCH", "1700000000");
    let addr = weftd.start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pki = Pki::bootstrap(&weftd.path().join("pki"), &[]).unwrap();
    rt.block_on(async {
        let p = Principal::new(Role::Auditor, "audit").unwrap();
        let mut client = AuditServiceClient::new(common::connect(&pki, addr, &p).await);
        // Until every simulated agent has connected, a report is incomplete.
        let mut first = report(&mut client, 2000).await;
        for _ in 0..50 {
            if first.complete {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            first = report(&mut client, 2000).await;
        }
        assert!(first.complete && first.isolated, "{first:?}");
        let second = report(&mut client, 2000).await;
        assert_eq!(first.envelope, second.envelope);
        let opened = weft_report::open(&first.envelope, None).unwrap();
        assert_eq!(opened.report.fabric.generated_at, "2023-11-14T22:13:20Z");
    });
}
