//! Every RPC over a real socket, as the role that uses it: the admin onboards
//! an operator, the operator builds a network and attaches ports, simulated
//! agents install it and acknowledge, status reports it programmed.

mod common;

use common::{Harness, rid};
use tonic::Code;
use weft_proto::v1::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_onboards_operator_builds_and_agents_acknowledge() {
    let h = Harness::start(false, true).await;
    let mut admin = h.admin().await;

    // Health: every Weft service reports SERVING.
    let mut health = tonic_health::pb::health_client::HealthClient::new(h.anonymous().await);
    for svc in [
        "weft.v1.OperatorService",
        "weft.v1.NetworkService",
        "weft.v1.FabricService",
        "weft.v1.AgentService",
    ] {
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: svc.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{svc}"
        );
    }

    // Topology (admin and auditor read it).
    let topo = admin
        .fabric
        .get_topology(GetTopologyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(topo.encapsulation, "vxlan");
    assert_eq!(topo.programmed_switches, vec!["rack1-leaf", "rack2-leaf"]);

    // Operator and lease.
    let created = admin
        .ops
        .create_operator(CreateOperatorRequest {
            operator_id: "delta".into(),
            operator: Some(Operator {
                display_name: "Delta Cloud".into(),
                ..Default::default()
            }),
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner();
    let op = created.operator.unwrap();
    assert_eq!(op.name, "operators/delta");
    assert!(
        h.dir.path().join("pki/operator/delta.pem").exists(),
        "a new operator gets credentials from the local CA"
    );
    assert!(created.revision > 0);
    let lease = admin
        .ops
        .set_lease(SetLeaseRequest {
            lease: Some(Lease {
                name: "operators/delta/lease".into(),
                ports: vec!["rack1-leaf/eth1".into(), "rack2-leaf/eth1".into()],
                vni_range: "5000-5009".into(),
                ..Default::default()
            }),
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .lease
        .unwrap();
    assert_eq!(lease.ports, vec!["rack1-leaf/eth1", "rack2-leaf/eth1"]);
    assert_eq!(lease.quotas.unwrap().networks, Some(64));
    let got = admin
        .ops
        .get_lease(GetLeaseRequest {
            name: "operators/delta/lease".into(),
        })
        .await
        .unwrap();
    assert_eq!(got.into_inner().lease.unwrap().vni_range, "5000-5009");

    // Update with the etag; a stale etag is refused.
    let updated = admin
        .ops
        .update_operator(UpdateOperatorRequest {
            operator: Some(Operator {
                display_name: "Delta".into(),
                ..op.clone()
            }),
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .operator
        .unwrap();
    assert_eq!(updated.display_name, "Delta");
    assert_ne!(updated.etag, op.etag);
    let stale = admin
        .ops
        .update_operator(UpdateOperatorRequest {
            operator: Some(Operator {
                display_name: "X".into(),
                ..op.clone()
            }),
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");

    // The operator builds.
    let mut delta = h.operator("delta").await;
    let listed = delta
        .ops
        .list_operators(ListOperatorsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.operators.len(), 1, "an operator lists only itself");
    let net = delta
        .nets
        .create_network(CreateNetworkRequest {
            parent: "operators/delta".into(),
            network_id: "prod".into(),
            network: None,
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .network
        .unwrap();
    assert_eq!(net.vni, 5000, "lowest free VNI of the lease");
    let mut last_rev = 0;
    for port in ["rack1-leaf/eth1", "rack2-leaf/eth1"] {
        let a = delta
            .nets
            .create_attachment(CreateAttachmentRequest {
                parent: net.name.clone(),
                attachment: Some(Attachment {
                    port: port.into(),
                    mode: AttachmentMode::Access.into(),
                    ..Default::default()
                }),
                request_id: rid(),
                validate_only: false,
            })
            .await
            .unwrap()
            .into_inner();
        last_rev = a.revision;
    }
    // Wait until both agents acknowledged the last change.
    let mut req = tonic::Request::new(GetFabricStatusRequest {
        wait_for_revision: last_rev,
    });
    req.set_timeout(std::time::Duration::from_secs(20));
    let status = delta
        .fabric
        .get_fabric_status(req)
        .await
        .unwrap()
        .into_inner();
    assert!(status.programmed_revision >= last_rev);
    assert!(status.isolated);
    assert!(
        status
            .switches
            .iter()
            .all(|s| s.connected && s.backend == "memory"),
        "{status:?}"
    );
    let ns = delta
        .nets
        .get_network_status(GetNetworkStatusRequest {
            name: net.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ns.programmed);
    assert_eq!(ns.switches.len(), 2, "both leaves carry the network");

    // Reads.
    let nets = delta
        .nets
        .list_networks(ListNetworksRequest {
            parent: "operators/delta".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nets.networks.len(), 1);
    let atts = delta
        .nets
        .list_attachments(ListAttachmentsRequest {
            parent: net.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = atts.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "operators/delta/networks/prod/attachments/rack1-leaf:eth1",
            "operators/delta/networks/prod/attachments/rack2-leaf:eth1"
        ]
    );
    let one = delta
        .nets
        .get_attachment(GetAttachmentRequest {
            name: names[0].into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.attachment.unwrap().port, "rack1-leaf/eth1");
    let got = delta
        .nets
        .get_network(GetNetworkRequest {
            name: net.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(got.into_inner().network.unwrap().vni, 5000);
    let me = delta
        .ops
        .get_operator(GetOperatorRequest {
            name: "operators/delta".into(),
        })
        .await
        .unwrap();
    assert_eq!(me.into_inner().operator.unwrap().display_name, "Delta");

    // A plan for a detach: deltas on both leaves, isolated, nothing applied.
    let plan = delta
        .fabric
        .plan(PlanRequest {
            changes: vec![PlannedChange {
                change: Some(planned_change::Change::DeleteAttachment(
                    DeleteAttachmentRequest {
                        name: names[1].into(),
                        ..Default::default()
                    },
                )),
            }],
        })
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert!(plan.isolated);
    assert!(plan.entries_removed > 0);
    assert_eq!(plan.switches.len(), 2);
    let still = delta
        .nets
        .list_attachments(ListAttachmentsRequest {
            parent: net.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        still.into_inner().attachments.len(),
        2,
        "plan applies nothing"
    );

    // A plan holds changes to the same expectations as the RPCs: creating
    // an operator that exists is refused, not turned into an update.
    let exists = admin
        .fabric
        .plan(PlanRequest {
            changes: vec![PlannedChange {
                change: Some(planned_change::Change::CreateOperator(
                    CreateOperatorRequest {
                        operator_id: "delta".into(),
                        ..Default::default()
                    },
                )),
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(exists.code(), Code::AlreadyExists, "{exists:?}");

    // validate_only changes nothing either.
    let v = delta
        .nets
        .delete_attachment(DeleteAttachmentRequest {
            name: names[1].into(),
            validate_only: true,
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.revision, 0);

    // Tear down: detach, delete network, admin deletes lease and operator.
    delta
        .nets
        .delete_attachment(DeleteAttachmentRequest {
            name: names[1].into(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap();
    delta
        .nets
        .delete_network(DeleteNetworkRequest {
            name: net.name.clone(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .ops
        .delete_lease(DeleteLeaseRequest {
            name: "operators/delta/lease".into(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap();
    let gone = admin
        .ops
        .delete_operator(DeleteOperatorRequest {
            name: "operators/delta".into(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut req = tonic::Request::new(GetFabricStatusRequest {
        wait_for_revision: gone.revision,
    });
    req.set_timeout(std::time::Duration::from_secs(20));
    admin.fabric.get_fabric_status(req).await.unwrap();
    let err = admin
        .ops
        .get_operator(GetOperatorRequest {
            name: "operators/delta".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    h.stop().await;
}
