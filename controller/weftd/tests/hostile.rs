//! Hostile and careless clients: oversize messages, invalid fields,
//! expired deadlines, the wrong role or the wrong CA, and many idle
//! streams and connections. Each is refused with the documented status
//! and none stops the controller from answering everyone else.

// Helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Clients, Harness, rid};
use tokio::time::timeout;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::*;

const PROD: &str = "operators/alpha/networks/prod";
/// Generous bound for "the server still answers".
const ANSWER: Duration = Duration::from_secs(10);

fn bad_fields(s: &Status) -> Vec<String> {
    s.get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

async fn revision(c: &mut Clients) -> u64 {
    c.fabric
        .get_fabric_status(GetFabricStatusRequest::default())
        .await
        .unwrap()
        .into_inner()
        .revision
}

async fn get_prod(c: &mut Clients) -> Result<Network, Status> {
    let r = timeout(
        ANSWER,
        c.nets.get_network(GetNetworkRequest { name: PROD.into() }),
    )
    .await
    .map_err(|_| Status::deadline_exceeded("no answer in time"))??;
    Ok(r.into_inner().network.unwrap_or_default())
}

fn create(op: &str, id: &str) -> CreateNetworkRequest {
    CreateNetworkRequest {
        parent: format!("operators/{op}"),
        network_id: id.into(),
        network: None,
        request_id: rid(),
        validate_only: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_messages_are_refused_while_others_are_served() {
    let h = Harness::start(true, false).await;
    let admin = h.admin().await;
    let mut alpha = h.operator("alpha").await;
    let big_yaml = "#".repeat(5 * 1024 * 1024);
    let big_lease = Lease {
        name: "operators/alpha/lease".into(),
        ports: (0..300_000).map(|i| format!("rack1-leaf/eth{i}")).collect(),
        vni_range: "1000-1999".into(),
        ..Default::default()
    };
    assert!(prost::Message::encoded_len(&big_lease) > weftd::server::MAX_MESSAGE_BYTES);
    let rev = revision(&mut alpha).await;

    let mut fabric = admin.fabric.clone();
    let topo = tokio::spawn(async move {
        fabric
            .apply_topology(ApplyTopologyRequest {
                yaml: big_yaml,
                request_id: rid(),
                ..Default::default()
            })
            .await
    });
    let mut ops = admin.ops.clone();
    let lease = tokio::spawn(async move {
        ops.set_lease(SetLeaseRequest {
            lease: Some(big_lease),
            request_id: rid(),
            validate_only: false,
        })
        .await
    });
    // Another client is served meanwhile.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while !(topo.is_finished() && lease.is_finished()) {
        assert!(
            std::time::Instant::now() < until,
            "the oversize calls never finished"
        );
        get_prod(&mut alpha)
            .await
            .expect("a concurrent Get is served");
    }
    for (what, res) in [
        ("ApplyTopology", topo.await.unwrap().map(|_| ())),
        ("SetLease", lease.await.unwrap().map(|_| ())),
    ] {
        let err = res.expect_err(what);
        // tonic's decoder refuses a message over the limit with OUT_OF_RANGE.
        assert_eq!(err.code(), Code::OutOfRange, "{what}: {err:?}");
    }
    // Nothing was stored; the same connection and the others still work.
    assert_eq!(revision(&mut alpha).await, rev);
    let mut admin = admin;
    admin
        .fabric
        .get_topology(GetTopologyRequest {})
        .await
        .expect("the admin's connection survives");
    get_prod(&mut alpha).await.unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_fields_are_named_in_bad_request() {
    let h = Harness::start(true, false).await;
    let mut admin = h.admin().await;
    let mut alpha = h.operator("alpha").await;
    let rev = revision(&mut alpha).await;
    let mut cases: Vec<(&str, Status)> = Vec::new();

    let with_vni = |vni| CreateNetworkRequest {
        network: Some(Network {
            vni,
            ..Default::default()
        }),
        ..create("alpha", "n1")
    };
    cases.push((
        "network.vni",
        alpha
            .nets
            .create_network(with_vni(99_999_999))
            .await
            .unwrap_err(),
    ));
    // A VNI outside alpha's lease (beta's range).
    cases.push((
        "network.vni",
        alpha.nets.create_network(with_vni(2500)).await.unwrap_err(),
    ));
    cases.push((
        "network_id",
        alpha
            .nets
            .create_network(create("alpha", "Not_A_Label"))
            .await
            .unwrap_err(),
    ));
    for parent in [
        "operators/Alpha!",
        "alpha",
        "operators/alpha/networks/prod",
        "",
    ] {
        let req = CreateNetworkRequest {
            parent: parent.into(),
            ..create("alpha", "n2")
        };
        cases.push(("parent", alpha.nets.create_network(req).await.unwrap_err()));
    }
    let attach = |port: &str, mode: AttachmentMode, vlan_id| CreateAttachmentRequest {
        parent: PROD.into(),
        attachment: Some(Attachment {
            port: port.into(),
            mode: mode.into(),
            vlan_id,
            ..Default::default()
        }),
        request_id: rid(),
        validate_only: false,
    };
    cases.push((
        "attachment.vlan_id",
        alpha
            .nets
            .create_attachment(attach("rack1-leaf/eth2", AttachmentMode::Tagged, 5000))
            .await
            .unwrap_err(),
    ));
    cases.push((
        "attachment.vlan_id",
        alpha
            .nets
            .create_attachment(attach("rack1-leaf/eth2", AttachmentMode::Access, 7))
            .await
            .unwrap_err(),
    ));
    cases.push((
        "attachment.mode",
        alpha
            .nets
            .create_attachment(attach("rack1-leaf/eth2", AttachmentMode::Unspecified, 0))
            .await
            .unwrap_err(),
    ));
    cases.push((
        "attachment.port",
        alpha
            .nets
            .create_attachment(attach("rack9-leaf/eth1", AttachmentMode::Access, 0))
            .await
            .unwrap_err(),
    ));
    cases.push((
        "attachment.port",
        alpha
            .nets
            .create_attachment(attach("eth1", AttachmentMode::Access, 0))
            .await
            .unwrap_err(),
    ));
    let lease = |ports: Vec<&str>, vni: &str| SetLeaseRequest {
        lease: Some(Lease {
            name: "operators/alpha/lease".into(),
            ports: ports.into_iter().map(String::from).collect(),
            vni_range: vni.into(),
            ..Default::default()
        }),
        request_id: rid(),
        validate_only: false,
    };
    cases.push((
        "lease.ports[0]",
        admin
            .ops
            .set_lease(lease(vec!["rack1-leaf/eth99"], "1000-1999"))
            .await
            .unwrap_err(),
    ));
    cases.push((
        "lease.ports[1]",
        admin
            .ops
            .set_lease(lease(vec!["rack1-leaf/eth1", "nowhere/eth1"], "1000-1999"))
            .await
            .unwrap_err(),
    ));
    cases.push((
        "lease.vni_range",
        admin
            .ops
            .set_lease(lease(vec!["rack1-leaf/eth1"], "banana"))
            .await
            .unwrap_err(),
    ));
    cases.push((
        "page_size",
        alpha
            .nets
            .list_networks(ListNetworksRequest {
                parent: "operators/alpha".into(),
                page_size: -1,
                ..Default::default()
            })
            .await
            .unwrap_err(),
    ));
    cases.push((
        "page_token",
        alpha
            .nets
            .list_networks(ListNetworksRequest {
                parent: "operators/alpha".into(),
                page_token: "not-a-token".into(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    ));
    cases.push((
        "page_size",
        admin
            .ops
            .list_operators(ListOperatorsRequest {
                page_size: -1,
                ..Default::default()
            })
            .await
            .unwrap_err(),
    ));
    let long_id = CreateNetworkRequest {
        request_id: "x".repeat(129),
        ..create("alpha", "n3")
    };
    cases.push((
        "request_id",
        alpha.nets.create_network(long_id).await.unwrap_err(),
    ));

    let mut wrong = Vec::new();
    for (field, status) in &cases {
        let fields = bad_fields(status);
        if status.code() != Code::InvalidArgument || !fields.iter().any(|f| f == field) {
            wrong.push(format!(
                "want {field}: got {:?} {fields:?} {:?}",
                status.code(),
                status.message()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        revision(&mut alpha).await,
        rev,
        "no refused request stored anything"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_deadline_changes_nothing() {
    let h = Harness::start(true, false).await;
    let mut alpha = h.operator("alpha").await;
    let rev = revision(&mut alpha).await;
    let mut req = Request::new(create("alpha", "too-late"));
    req.set_timeout(Duration::from_nanos(1));
    let err = alpha.nets.create_network(req).await.unwrap_err();
    eprintln!("1 ns deadline: {err:?}");
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    // Let the server finish whatever it started.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let gone = alpha
        .nets
        .get_network(GetNetworkRequest {
            name: "operators/alpha/networks/too-late".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(
        revision(&mut alpha).await,
        rev,
        "the store revision did not move"
    );
    h.stop().await;
}

/// Deadlines that expire while a mutation is being stored: whatever the
/// outcome of the abandoned call, the controller stays consistent and the
/// next mutation succeeds at the next revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_expiring_mid_mutation_leave_the_controller_consistent() {
    let h = Harness::start(true, false).await;
    let mut alpha = h.operator("alpha").await;
    let micros = [
        50u64, 100, 200, 400, 700, 1_000, 1_500, 2_000, 3_000, 5_000, 8_000, 13_000, 20_000,
    ];
    for (i, us) in micros.iter().enumerate() {
        let mut req = Request::new(create("alpha", &format!("t{i}")));
        req.set_timeout(Duration::from_micros(*us));
        let outcome = alpha.nets.create_network(req).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rev = revision(&mut alpha).await;
        let exists = alpha
            .nets
            .get_network(GetNetworkRequest {
                name: format!("operators/alpha/networks/t{i}"),
            })
            .await;
        match (&outcome, &exists) {
            (Ok(_), Ok(_)) | (Err(_), Ok(_)) => {}
            (Err(_), Err(e)) if e.code() == Code::NotFound => {}
            _ => panic!("timeout {us} µs: call {outcome:?}, then Get {exists:?}"),
        }
        // A call whose deadline passes mid-mutation must not wedge the
        // controller: the mutation either completes (and the next one gets
        // the next revision) or never happened.
        let mut next = alpha
            .nets
            .create_network(create("alpha", &format!("after{i}")))
            .await;
        if next.is_err() {
            // Show whether the failure is transient.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let retry = alpha
                .nets
                .create_network(create("alpha", &format!("after{i}")))
                .await;
            next = next
                .map_err(|e| Status::internal(format!("{e:?}; retried 500 ms later: {retry:?}")));
        }
        let next = next
            .unwrap_or_else(|e| panic!("after a {us} µs deadline the next mutation fails: {e:?}"))
            .into_inner();
        assert_eq!(next.revision, rev + 1, "after a {us} µs deadline");
        // Stay under alpha's network quota (16) for the next round.
        for name in [format!("t{i}"), format!("after{i}")] {
            let _ = alpha
                .nets
                .delete_network(DeleteNetworkRequest {
                    name: format!("operators/alpha/networks/{name}"),
                    request_id: rid(),
                    ..Default::default()
                })
                .await;
        }
    }
    // The audit log holds one record per stored revision.
    let log = weft_auditlog::verify_file(&h.dir.path().join("audit.log")).unwrap();
    assert!(log.is_complete());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_role_is_denied_and_a_foreign_ca_cannot_connect() {
    let h = Harness::start(true, false).await;
    let mut agent = h.as_role(Role::Agent, "rack1-leaf").await;
    let denied = [
        agent
            .nets
            .create_network(create("alpha", "agent-net"))
            .await
            .map(|_| ()),
        agent
            .nets
            .get_network(GetNetworkRequest { name: PROD.into() })
            .await
            .map(|_| ()),
        agent
            .nets
            .list_networks(ListNetworksRequest {
                parent: "operators/alpha".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        agent
            .nets
            .delete_network(DeleteNetworkRequest {
                name: PROD.into(),
                request_id: rid(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        agent
            .ops
            .list_operators(ListOperatorsRequest::default())
            .await
            .map(|_| ()),
        agent
            .fabric
            .get_fabric_status(GetFabricStatusRequest::default())
            .await
            .map(|_| ()),
    ];
    for (i, r) in denied.into_iter().enumerate() {
        let e = r.expect_err("an agent may not use operator RPCs");
        assert_eq!(e.code(), Code::PermissionDenied, "call {i}: {e:?}");
    }
    let mut alpha = h.operator("alpha").await;
    get_prod(&mut alpha).await.expect("prod untouched");

    // A client certificate from another CA (the server's CA is trusted).
    let other = tempfile::tempdir().unwrap();
    let foreign = Pki::bootstrap(other.path(), &[]).unwrap();
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
    let endpoint = Channel::from_shared(h.endpoint())
        .unwrap()
        .tls_config(tls)
        .unwrap();
    // In TLS 1.3 the client finishes its handshake before the server has
    // checked its certificate, so the refusal may surface at connect or at
    // the first call.
    match timeout(ANSWER, endpoint.connect())
        .await
        .expect("connect must not hang")
    {
        Err(e) => eprintln!("foreign CA: connect failed: {e:?}"),
        Ok(ch) => {
            let mut c = Clients::new(ch);
            let e = timeout(
                ANSWER,
                c.ops.list_operators(ListOperatorsRequest::default()),
            )
            .await
            .expect("the call must not hang")
            .expect_err("a foreign CA's certificate must not be served");
            eprintln!("foreign CA: first call failed: {e:?}");
            assert!(
                matches!(
                    e.code(),
                    Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
                ),
                "transport-level failure expected, not an API answer: {e:?}"
            );
        }
    }
    get_prod(&mut alpha).await.expect("others are still served");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_watches_and_idle_connections_do_not_starve_others() {
    let h = Harness::start(true, false).await;
    let mut alpha = h.operator("alpha").await;

    // 50 watch streams, each on its own connection, none read after the
    // first message.
    let mut watches = Vec::new();
    for i in 0..50 {
        let (role, name, parent) = match i % 3 {
            0 => (Role::Admin, "admin", ""),
            1 => (Role::Operator, "alpha", "operators/alpha"),
            _ => (Role::Auditor, "auditor", ""),
        };
        let mut c = h.as_role(role, name).await;
        let mut s = c
            .nets
            .watch(WatchRequest {
                parent: parent.into(),
                resume_revision: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let first = timeout(ANSWER, s.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(first.r#type(), WatchEventType::Existing);
        watches.push((c, s));
    }
    // 50 raw TCP connections that never finish a TLS handshake.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut sock = tokio::net::TcpStream::connect(h.running.addr)
            .await
            .unwrap();
        // The first bytes of a TLS record header, then nothing.
        tokio::io::AsyncWriteExt::write_all(&mut sock, &[0x16, 0x03, 0x01])
            .await
            .unwrap();
        idle.push(sock);
    }

    // Existing and new clients are answered, reads and writes.
    get_prod(&mut alpha).await.unwrap();
    let mut fresh = timeout(ANSWER, h.operator("beta"))
        .await
        .expect("a new client connects");
    let made = timeout(
        ANSWER,
        fresh.nets.create_network(create("beta", "under-load")),
    )
    .await
    .expect("a mutation is answered")
    .unwrap()
    .into_inner();
    let made_alpha = timeout(
        ANSWER,
        alpha.nets.create_network(create("alpha", "under-load")),
    )
    .await
    .expect("a mutation is answered")
    .unwrap()
    .into_inner();

    // The watches are alive: the admin/auditor ones see beta's change,
    // alpha's see its own, after the initial list.
    for (i, (_, s)) in watches.iter_mut().enumerate() {
        let want = if i % 3 == 1 {
            ("operators/alpha/networks/under-load", made_alpha.revision)
        } else {
            ("operators/beta/networks/under-load", made.revision)
        };
        loop {
            let ev = timeout(ANSWER, s.message())
                .await
                .expect("watch event in time")
                .unwrap()
                .unwrap();
            if ev.r#type() == WatchEventType::Created && ev.name == want.0 {
                assert_eq!(ev.revision, want.1);
                break;
            }
            assert!(
                ev.name != "operators/beta/networks/under-load" || i % 3 != 1,
                "alpha saw beta's network"
            );
        }
    }
    drop(idle);
    drop(watches);
    get_prod(&mut alpha).await.unwrap();
    h.stop().await;
}

/// A denied caller cannot grow the audit log with huge names: names are
/// bounded before authorization, and denial records are bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_names_do_not_grow_the_audit_log() {
    let h = Harness::start(true, false).await;
    let log = h.dir.path().join("audit.log");
    let before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let mut alpha = h.operator("alpha").await;
    let huge = format!("operators/beta/networks/{}", "x".repeat(1_000_000));
    for _ in 0..3 {
        let err = alpha
            .nets
            .get_network(GetNetworkRequest { name: huge.clone() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&err), vec!["name"]);
    }
    // A denial with a name just under the limit is recorded, bounded.
    let long = format!("operators/beta/networks/{}", "y".repeat(400));
    let err = alpha
        .nets
        .get_network(GetNetworkRequest { name: long })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let after = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert!(
        after - before < 2_000,
        "the audit log grew by {} bytes",
        after - before
    );
    h.stop().await;
}

/// Field paths of refused changes are the request's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_paths_of_lease_and_plan_errors_name_request_fields() {
    let h = Harness::start(true, false).await;
    let mut admin = h.admin().await;
    // Alpha's new range overlaps beta's: found when the change applies.
    let err = admin
        .ops
        .set_lease(SetLeaseRequest {
            lease: Some(Lease {
                name: "operators/alpha/lease".into(),
                ports: vec![
                    "rack1-leaf/eth1".into(),
                    "rack1-leaf/eth2".into(),
                    "rack2-leaf/eth1".into(),
                ],
                vni_range: "1000-2500".into(),
                ..Default::default()
            }),
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        bad_fields(&err)
            .iter()
            .all(|f| f.starts_with("lease.vni_range")),
        "{:?}",
        bad_fields(&err)
    );
    // A bad change inside a plan is located by its index.
    let mut alpha = h.operator("alpha").await;
    let ok = PlannedChange {
        change: Some(planned_change::Change::CreateNetwork(create(
            "alpha", "fine",
        ))),
    };
    let bad = PlannedChange {
        change: Some(planned_change::Change::CreateNetwork(
            CreateNetworkRequest {
                network: Some(Network {
                    vni: 99_999_999,
                    ..Default::default()
                }),
                ..create("alpha", "bad")
            },
        )),
    };
    let err = alpha
        .fabric
        .plan(PlanRequest {
            changes: vec![ok.clone(), bad],
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        vec!["changes[1].create_network.network.vni"]
    );
    // …also when it is refused only when applied (outside alpha's lease).
    let outside = PlannedChange {
        change: Some(planned_change::Change::CreateNetwork(
            CreateNetworkRequest {
                network: Some(Network {
                    vni: 2500,
                    ..Default::default()
                }),
                ..create("alpha", "outside")
            },
        )),
    };
    let err = alpha
        .fabric
        .plan(PlanRequest {
            changes: vec![ok, outside],
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        vec!["changes[1].create_network.network.vni"]
    );
    h.stop().await;
}
