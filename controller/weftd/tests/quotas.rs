//! Quotas and pools through the API: a change that would exceed one is
//! refused with RESOURCE_EXHAUSTED and a QuotaFailure naming it, and
//! changes nothing.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Clients, Harness, rid};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use weft_proto::v1::*;

fn quota_subjects(s: &Status) -> Vec<String> {
    s.get_details_quota_failure()
        .map(|q| q.violations.iter().map(|v| v.subject.clone()).collect())
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

fn create(op: &str, id: &str) -> CreateNetworkRequest {
    CreateNetworkRequest {
        parent: format!("operators/{op}"),
        network_id: id.into(),
        request_id: rid(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_and_pools_refuse_and_change_nothing() {
    let h = Harness::start(true, false).await;
    let mut admin = h.admin().await;
    // A new operator with a 2-VNI pool, 3 networks at most, and 5 entries
    // per switch.
    admin
        .ops
        .create_operator(CreateOperatorRequest {
            operator_id: "small".into(),
            operator: None,
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap();
    admin
        .ops
        .set_lease(SetLeaseRequest {
            lease: Some(Lease {
                name: "operators/small/lease".into(),
                ports: vec![],
                vni_range: "7000-7001".into(),
                quotas: Some(Quotas {
                    networks: Some(3),
                    attachments: None,
                    entries_per_switch: None,
                }),
                ..Default::default()
            }),
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap();
    let mut small = h.operator("small").await;
    small
        .nets
        .create_network(create("small", "a"))
        .await
        .unwrap();
    small
        .nets
        .create_network(create("small", "b"))
        .await
        .unwrap();
    let before = revision(&mut small).await;
    let pool = small
        .nets
        .create_network(create("small", "c"))
        .await
        .unwrap_err();
    assert_eq!(pool.code(), Code::ResourceExhausted, "{pool:?}");
    assert_eq!(quota_subjects(&pool), vec!["pool:vni"]);
    assert_eq!(revision(&mut small).await, before, "nothing stored");

    // Networks quota: gamma may have at most 1 network here.
    admin
        .ops
        .set_lease(SetLeaseRequest {
            lease: Some(Lease {
                name: "operators/gamma/lease".into(),
                ports: vec!["rack1-leaf/eth4".into(), "rack2-leaf/eth4".into()],
                vni_range: "3000-3099".into(),
                quotas: Some(Quotas {
                    networks: Some(1),
                    attachments: None,
                    entries_per_switch: Some(5),
                }),
                ..Default::default()
            }),
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap();
    let mut gamma = h.operator("gamma").await;
    let err = gamma
        .nets
        .create_network(create("gamma", "second"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(quota_subjects(&err), vec!["quota:networks"]);

    // Entries per switch: lab already uses 4 entries on rack1-leaf; one more
    // (tagged) attachment there needs 2 more.
    let before = revision(&mut gamma).await;
    let err = gamma
        .nets
        .create_attachment(CreateAttachmentRequest {
            parent: "operators/gamma/networks/lab".into(),
            attachment: None,
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::InvalidArgument,
        "an attachment is required"
    );
    // Detach and re-attach tagged: the re-attach fits, a second tag does not.
    gamma
        .nets
        .delete_attachment(DeleteAttachmentRequest {
            name: "operators/gamma/networks/lab/attachments/rack1-leaf:eth4".into(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap();
    let tagged = |vlan: u32| CreateAttachmentRequest {
        parent: "operators/gamma/networks/lab".into(),
        attachment: Some(Attachment {
            port: "rack1-leaf/eth4".into(),
            mode: AttachmentMode::Tagged.into(),
            vlan_id: vlan,
            ..Default::default()
        }),
        request_id: rid(),
        validate_only: false,
    };
    gamma.nets.create_attachment(tagged(10)).await.unwrap();
    assert!(revision(&mut gamma).await > before);
    admin
        .ops
        .set_lease(SetLeaseRequest {
            lease: Some(Lease {
                name: "operators/gamma/lease".into(),
                ports: vec!["rack1-leaf/eth4".into(), "rack2-leaf/eth4".into()],
                vni_range: "3000-3099".into(),
                quotas: Some(Quotas {
                    networks: Some(2),
                    attachments: None,
                    entries_per_switch: Some(5),
                }),
                ..Default::default()
            }),
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap();
    let second = gamma
        .nets
        .create_network(create("gamma", "second"))
        .await
        .unwrap()
        .into_inner();
    let before = revision(&mut gamma).await;
    let mut over = tagged(20);
    over.parent = second.network.unwrap().name;
    let err = gamma.nets.create_attachment(over).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(quota_subjects(&err), vec!["quota:entries_per_switch"]);
    assert_eq!(revision(&mut gamma).await, before, "nothing stored");
    let atts = gamma
        .nets
        .list_attachments(ListAttachmentsRequest {
            parent: "operators/gamma/networks/second".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        atts.attachments.is_empty(),
        "the refused attachment is not there"
    );
    h.stop().await;
}
