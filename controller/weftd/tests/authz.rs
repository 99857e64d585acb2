//! The authorization matrix: {admin, operator alpha, operator beta,
//! auditor, agent, no certificate} × every RPC × {alpha's, beta's, a
//! nonexistent operator's} resource, the expected status asserted for each
//! cell; no error text names another operator; every denial is in the
//! audit log. A certificate from another CA cannot connect at all.

mod common;

use common::{Clients, Harness, rid};
use tonic::{Code, Status};
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Alpha,
    Beta,
    Auditor,
    Agent,
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An operator's record or lease: admin writes, owner and auditor read.
    TenantRead,
    TenantWrite,
    /// Networks and attachments: owner and admin write, auditor reads.
    SliceRead,
    SliceWrite,
    /// No target: topology.
    FabricRead,
    FabricWrite,
    /// No target: any role but agents.
    Open,
}

#[derive(Debug, Clone, Copy)]
struct Rpc {
    name: &'static str,
    kind: Kind,
    /// What an allowed caller gets on an existing operator's resource.
    allowed: Code,
    /// What an allowed caller gets on a nonexistent operator's.
    missing: Code,
}

const fn rpc(name: &'static str, kind: Kind, allowed: Code, missing: Code) -> Rpc {
    Rpc {
        name,
        kind,
        allowed,
        missing,
    }
}

const RPCS: &[Rpc] = &[
    rpc("GetOperator", Kind::TenantRead, Code::Ok, Code::NotFound),
    rpc(
        "UpdateOperator",
        Kind::TenantWrite,
        Code::Ok,
        Code::NotFound,
    ),
    rpc(
        "DeleteOperator",
        Kind::TenantWrite,
        Code::Ok,
        Code::NotFound,
    ),
    rpc("GetLease", Kind::TenantRead, Code::Ok, Code::NotFound),
    rpc("SetLease", Kind::TenantWrite, Code::Ok, Code::NotFound),
    rpc(
        "DeleteLease",
        Kind::TenantWrite,
        Code::FailedPrecondition,
        Code::NotFound,
    ),
    rpc("CreateNetwork", Kind::SliceWrite, Code::Ok, Code::NotFound),
    rpc("GetNetwork", Kind::SliceRead, Code::Ok, Code::NotFound),
    rpc("ListNetworks", Kind::SliceRead, Code::Ok, Code::NotFound),
    rpc("DeleteNetwork", Kind::SliceWrite, Code::Ok, Code::NotFound),
    rpc(
        "CreateAttachment",
        Kind::SliceWrite,
        Code::Ok,
        Code::NotFound,
    ),
    rpc("GetAttachment", Kind::SliceRead, Code::Ok, Code::NotFound),
    rpc("ListAttachments", Kind::SliceRead, Code::Ok, Code::NotFound),
    rpc(
        "DeleteAttachment",
        Kind::SliceWrite,
        Code::Ok,
        Code::NotFound,
    ),
    rpc(
        "GetNetworkStatus",
        Kind::SliceRead,
        Code::Ok,
        Code::NotFound,
    ),
    rpc("Watch", Kind::SliceRead, Code::Ok, Code::Ok),
    rpc("Plan", Kind::SliceWrite, Code::Ok, Code::NotFound),
    rpc("ListOperators", Kind::Open, Code::Ok, Code::Ok),
    rpc("GetFabricStatus", Kind::Open, Code::Ok, Code::Ok),
    rpc("GetTopology", Kind::FabricRead, Code::Ok, Code::Ok),
    rpc("ApplyTopology", Kind::FabricWrite, Code::Ok, Code::Ok),
];

/// Whose resources a cell targets.
const OWNERS: &[&str] = &["alpha", "beta", "ghost"];

fn expected(who: Who, r: &Rpc, owner: &str) -> Code {
    let natural = if owner == "ghost" {
        r.missing
    } else {
        r.allowed
    };
    let own = match who {
        Who::Alpha => owner == "alpha",
        Who::Beta => owner == "beta",
        _ => false,
    };
    let allowed = match (who, r.kind) {
        (Who::Anonymous, _) => return Code::Unauthenticated,
        (Who::Agent, _) => false,
        (Who::Admin, _) => true,
        (Who::Auditor, k) => matches!(
            k,
            Kind::TenantRead | Kind::SliceRead | Kind::FabricRead | Kind::Open
        ),
        (Who::Alpha | Who::Beta, Kind::Open) => true,
        (Who::Alpha | Who::Beta, Kind::FabricRead | Kind::FabricWrite | Kind::TenantWrite) => false,
        (Who::Alpha | Who::Beta, Kind::TenantRead | Kind::SliceRead | Kind::SliceWrite) => own,
    };
    if allowed {
        natural
    } else {
        Code::PermissionDenied
    }
}

fn network(owner: &str) -> &'static str {
    match owner {
        "alpha" => "prod",
        "beta" => "web",
        _ => "n",
    }
}

fn attachment(owner: &str) -> String {
    let port = match owner {
        "alpha" => "rack2-leaf:eth1",
        "beta" => "rack2-leaf:eth2",
        _ => "rack1-leaf:eth1",
    };
    format!(
        "operators/{owner}/networks/{}/attachments/{port}",
        network(owner)
    )
}

fn lease(owner: &str) -> Lease {
    let (ports, vni, quotas) = match owner {
        "alpha" => (
            vec!["rack1-leaf/eth1", "rack1-leaf/eth2", "rack2-leaf/eth1"],
            "1000-1999",
            Some(Quotas {
                networks: Some(16),
                attachments: Some(64),
                entries_per_switch: None,
            }),
        ),
        "beta" => (
            vec!["rack1-leaf/eth3", "rack2-leaf/eth2", "rack2-leaf/eth3"],
            "2000-2999",
            None,
        ),
        _ => (vec![], "5000-5099", None),
    };
    Lease {
        name: format!("operators/{owner}/lease"),
        ports: ports.into_iter().map(String::from).collect(),
        vni_range: vni.into(),
        quotas,
        ..Default::default()
    }
}

fn new_attachment(owner: &str) -> CreateAttachmentRequest {
    let (port, vlan) = match owner {
        "alpha" => ("rack1-leaf/eth2", 300),
        "beta" => ("rack2-leaf/eth3", 400),
        _ => ("rack1-leaf/eth1", 0),
    };
    CreateAttachmentRequest {
        parent: format!("operators/{owner}/networks/{}", network(owner)),
        attachment: Some(Attachment {
            port: port.into(),
            mode: if vlan == 0 {
                AttachmentMode::Access
            } else {
                AttachmentMode::Tagged
            }
            .into(),
            vlan_id: vlan,
            ..Default::default()
        }),
        request_id: rid(),
        validate_only: true,
    }
}

async fn call(c: &mut Clients, rpc: &str, owner: &str, topology_yaml: &str) -> Result<(), Status> {
    let op = format!("operators/{owner}");
    let net = format!("{op}/networks/{}", network(owner));
    let v = true; // validate_only: the matrix changes nothing
    match rpc {
        "GetOperator" => c
            .ops
            .get_operator(GetOperatorRequest { name: op })
            .await
            .map(drop),
        "UpdateOperator" => c
            .ops
            .update_operator(UpdateOperatorRequest {
                operator: Some(Operator {
                    name: op,
                    display_name: "x".into(),
                    etag: String::new(),
                }),
                request_id: rid(),
                validate_only: v,
            })
            .await
            .map(drop),
        "DeleteOperator" => c
            .ops
            .delete_operator(DeleteOperatorRequest {
                name: op,
                request_id: rid(),
                validate_only: v,
                ..Default::default()
            })
            .await
            .map(drop),
        "GetLease" => c
            .ops
            .get_lease(GetLeaseRequest {
                name: format!("{op}/lease"),
            })
            .await
            .map(drop),
        "SetLease" => c
            .ops
            .set_lease(SetLeaseRequest {
                lease: Some(lease(owner)),
                request_id: rid(),
                validate_only: v,
            })
            .await
            .map(drop),
        "DeleteLease" => c
            .ops
            .delete_lease(DeleteLeaseRequest {
                name: format!("{op}/lease"),
                request_id: rid(),
                validate_only: v,
                ..Default::default()
            })
            .await
            .map(drop),
        "CreateNetwork" => c
            .nets
            .create_network(CreateNetworkRequest {
                parent: op,
                network_id: "matrix".into(),
                network: None,
                request_id: rid(),
                validate_only: v,
            })
            .await
            .map(drop),
        "GetNetwork" => c
            .nets
            .get_network(GetNetworkRequest { name: net })
            .await
            .map(drop),
        "ListNetworks" => c
            .nets
            .list_networks(ListNetworksRequest {
                parent: op,
                ..Default::default()
            })
            .await
            .map(drop),
        "DeleteNetwork" => c
            .nets
            .delete_network(DeleteNetworkRequest {
                name: net,
                request_id: rid(),
                validate_only: v,
                ..Default::default()
            })
            .await
            .map(drop),
        "CreateAttachment" => c
            .nets
            .create_attachment(new_attachment(owner))
            .await
            .map(drop),
        "GetAttachment" => c
            .nets
            .get_attachment(GetAttachmentRequest {
                name: attachment(owner),
            })
            .await
            .map(drop),
        "ListAttachments" => c
            .nets
            .list_attachments(ListAttachmentsRequest {
                parent: net,
                ..Default::default()
            })
            .await
            .map(drop),
        "DeleteAttachment" => c
            .nets
            .delete_attachment(DeleteAttachmentRequest {
                name: attachment(owner),
                request_id: rid(),
                validate_only: v,
                ..Default::default()
            })
            .await
            .map(drop),
        "GetNetworkStatus" => c
            .nets
            .get_network_status(GetNetworkStatusRequest { name: net })
            .await
            .map(drop),
        "Watch" => c
            .nets
            .watch(WatchRequest {
                parent: op,
                resume_revision: 0,
            })
            .await
            .map(drop),
        "Plan" => c
            .fabric
            .plan(PlanRequest {
                changes: vec![PlannedChange {
                    change: Some(planned_change::Change::CreateNetwork(
                        CreateNetworkRequest {
                            parent: op,
                            network_id: "planned".into(),
                            ..Default::default()
                        },
                    )),
                }],
            })
            .await
            .map(drop),
        "ListOperators" => c
            .ops
            .list_operators(ListOperatorsRequest::default())
            .await
            .map(drop),
        "GetFabricStatus" => c
            .fabric
            .get_fabric_status(GetFabricStatusRequest::default())
            .await
            .map(drop),
        "GetTopology" => c.fabric.get_topology(GetTopologyRequest {}).await.map(drop),
        "ApplyTopology" => c
            .fabric
            .apply_topology(ApplyTopologyRequest {
                yaml: topology_yaml.into(),
                request_id: rid(),
                validate_only: v,
                ..Default::default()
            })
            .await
            .map(drop),
        other => panic!("no such rpc {other}"),
    }
}

fn denied_lines(h: &Harness) -> usize {
    std::fs::read_to_string(h.dir.path().join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"outcome\":\"denied\""))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_every_rpc_every_target() {
    let h = Harness::start(true, false).await;
    let yaml = std::fs::read_to_string(common::two_racks()).unwrap();
    let mut clients = vec![
        (Who::Admin, h.admin().await),
        (Who::Alpha, h.operator("alpha").await),
        (Who::Beta, h.operator("beta").await),
        (Who::Auditor, h.as_role(Role::Auditor, "auditor").await),
        (Who::Agent, h.as_role(Role::Agent, "rack1-leaf").await),
        (Who::Anonymous, Clients::new(h.anonymous().await)),
    ];
    let before = denied_lines(&h);
    let mut denials = 0;
    let mut cells = 0;
    let mut failures = Vec::new();
    for (who, c) in &mut clients {
        for r in RPCS {
            let owners: &[&str] =
                if matches!(r.kind, Kind::Open | Kind::FabricRead | Kind::FabricWrite) {
                    &["alpha"]
                } else {
                    OWNERS
                };
            for owner in owners {
                cells += 1;
                let want = expected(*who, r, owner);
                let got = call(c, r.name, owner, &yaml).await;
                let code = got.as_ref().err().map_or(Code::Ok, Status::code);
                if code != want {
                    failures.push(format!(
                        "{who:?} {} on {owner}: want {want:?}, got {got:?}",
                        r.name
                    ));
                }
                if matches!(code, Code::PermissionDenied | Code::Unauthenticated) {
                    denials += 1;
                }
                if let Err(s) = &got {
                    let others: &[&str] = match who {
                        Who::Alpha => &["beta", "gamma"],
                        Who::Beta => &["alpha", "gamma"],
                        _ => &[],
                    };
                    for o in others {
                        if s.message().contains(o) {
                            failures.push(format!(
                                "{who:?} {} on {owner}: error names {o}: {}",
                                r.name,
                                s.message()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cells > 300, "the matrix covers {cells} cells");
    assert_eq!(
        denied_lines(&h) - before,
        denials,
        "every denial is in the audit log"
    );
    let log = weft_auditlog::verify_file(&h.dir.path().join("audit.log")).unwrap();
    assert!(usize::try_from(log.records).unwrap() >= denials);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sessions_are_scoped_to_their_switch() {
    use tokio_stream::StreamExt as _;
    let h = Harness::start(true, false).await;
    let hello = |switch: &str| SessionRequest {
        message: Some(session_request::Message::Hello(AgentHello {
            switch: switch.into(),
            ..Default::default()
        })),
    };
    let open = |p: Principal, switch: &'static str| {
        let h = &h;
        async move {
            let ch = h.channel(&p).await;
            let mut c = agent_service_client::AgentServiceClient::new(ch);
            let s = tokio_stream::iter(vec![hello(switch)]).chain(tokio_stream::pending());
            c.session(s).await.map(drop)
        }
    };
    assert!(
        open(
            Principal::new(Role::Agent, "rack1-leaf").unwrap(),
            "rack1-leaf"
        )
        .await
        .is_ok()
    );
    let other = open(
        Principal::new(Role::Agent, "rack1-leaf").unwrap(),
        "rack2-leaf",
    )
    .await
    .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let op = open(
        Principal::new(Role::Operator, "alpha").unwrap(),
        "rack1-leaf",
    )
    .await
    .unwrap_err();
    assert_eq!(op.code(), Code::PermissionDenied);
    let admin = open(Principal::new(Role::Admin, "admin").unwrap(), "rack1-leaf")
        .await
        .unwrap_err();
    assert_eq!(admin.code(), Code::PermissionDenied);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_cannot_connect() {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
    let h = Harness::start(true, false).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let foreign = Pki::bootstrap(elsewhere.path(), &[]).unwrap();
    let creds = foreign
        .ensure_client(&Principal::new(Role::Admin, "admin").unwrap())
        .unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(h.pki().ca_cert_pem().unwrap()))
        .identity(Identity::from_pem(
            std::fs::read(&creds.cert).unwrap(),
            std::fs::read(&creds.key).unwrap(),
        ))
        .domain_name("localhost");
    let ch = Channel::from_shared(h.endpoint())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await;
    let outcome = match ch {
        Err(e) => Err(e.to_string()),
        Ok(ch) => Clients::new(ch)
            .ops
            .list_operators(ListOperatorsRequest::default())
            .await
            .map(drop)
            .map_err(|s| s.to_string()),
    };
    assert!(
        outcome.is_err(),
        "a foreign certificate must not be served: {outcome:?}"
    );
    h.stop().await;
}
