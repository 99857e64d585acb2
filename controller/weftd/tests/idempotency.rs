//! Idempotent mutations: one `request_id` retried by many clients at once
//! creates one network and yields one answer; reusing a `request_id` for a
//! different request is refused; a stale etag makes a delete fail without
//! deleting anything.

// Helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, rid};
use prost::Message;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use weft_proto::v1::*;

const ALPHA: &str = "operators/alpha";

/// The fields a status's `BadRequest` details name.
fn bad_fields(s: &Status) -> Vec<String> {
    s.get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

async fn revision(c: &mut common::Clients) -> u64 {
    c.fabric
        .get_fabric_status(GetFabricStatusRequest::default())
        .await
        .unwrap()
        .into_inner()
        .revision
}

async fn network_names(c: &mut common::Clients) -> Vec<String> {
    c.nets
        .list_networks(ListNetworksRequest {
            parent: ALPHA.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .networks
        .into_iter()
        .map(|n| n.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_request_id_sent_100_times_concurrently_creates_one_network() {
    let h = Harness::start(true, false).await;
    let mut alpha = h.operator("alpha").await;
    let before_names = network_names(&mut alpha).await;
    let before_rev = revision(&mut alpha).await;

    let req = CreateNetworkRequest {
        parent: ALPHA.into(),
        network_id: "idem".into(),
        network: None,
        request_id: rid(),
        validate_only: false,
    };
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let mut nets = alpha.nets.clone();
        let req = req.clone();
        tasks.push(tokio::spawn(async move { nets.create_network(req).await }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        let resp = t
            .await
            .unwrap()
            .unwrap_or_else(|s| panic!("a retry failed: {s:?}"));
        answers.push(resp.into_inner().encode_to_vec());
    }
    assert_eq!(answers.len(), 100);
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "every retry gets the first answer, byte for byte"
    );
    let first = CreateNetworkResponse::decode(answers[0].as_slice()).unwrap();
    let net = first.network.unwrap();
    assert_eq!(net.name, "operators/alpha/networks/idem");
    assert_eq!(first.revision, before_rev + 1);

    // Exactly one network more, and exactly one store revision.
    let after_names = network_names(&mut alpha).await;
    assert_eq!(after_names.len(), before_names.len() + 1, "{after_names:?}");
    assert_eq!(
        after_names
            .iter()
            .filter(|n| n.as_str() == net.name)
            .count(),
        1
    );
    assert_eq!(
        revision(&mut alpha).await,
        before_rev + 1,
        "the retries stored nothing"
    );

    // A retry after the fact still gets the same answer.
    let id = req.request_id.clone();
    let again = alpha.nets.create_network(req).await.unwrap().into_inner();
    assert_eq!(again.encode_to_vec(), answers[0]);

    // One audit record carries the request id, at the answer's revision.
    let audit = std::fs::read_to_string(h.dir.path().join("audit.log")).unwrap();
    let records: Vec<_> = audit
        .lines()
        .map(|l| weft_auditlog::AuditRecord::from_line(l).unwrap())
        .filter(|r| r.request_id == id)
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].revision, first.revision);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_request_id_with_another_body_is_invalid_argument_on_request_id() {
    let h = Harness::start(true, false).await;
    let mut alpha = h.operator("alpha").await;
    let id = rid();
    let req = CreateNetworkRequest {
        parent: ALPHA.into(),
        network_id: "first".into(),
        network: None,
        request_id: id.clone(),
        validate_only: false,
    };
    alpha.nets.create_network(req.clone()).await.unwrap();
    let rev = revision(&mut alpha).await;

    // Another body.
    let other = CreateNetworkRequest {
        network_id: "second".into(),
        ..req.clone()
    };
    let err = alpha.nets.create_network(other).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(bad_fields(&err), vec!["request_id"], "{err:?}");

    // The same body with only a VNI added is another request too.
    let with_vni = CreateNetworkRequest {
        network: Some(Network {
            vni: 1500,
            ..Default::default()
        }),
        ..req.clone()
    };
    let err = alpha.nets.create_network(with_vni).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(bad_fields(&err), vec!["request_id"], "{err:?}");

    // Another method with the same id.
    let del = DeleteNetworkRequest {
        name: "operators/alpha/networks/first".into(),
        request_id: id.clone(),
        ..Default::default()
    };
    let err = alpha.nets.delete_network(del).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(bad_fields(&err), vec!["request_id"], "{err:?}");

    // Nothing changed; the original retry still answers.
    assert_eq!(revision(&mut alpha).await, rev);
    let names = network_names(&mut alpha).await;
    assert!(names.contains(&"operators/alpha/networks/first".to_owned()));
    assert!(!names.contains(&"operators/alpha/networks/second".to_owned()));
    alpha.nets.create_network(req).await.unwrap();

    // Request ids are per principal: beta may use the same id for its own.
    let mut beta = h.operator("beta").await;
    beta.nets
        .create_network(CreateNetworkRequest {
            parent: "operators/beta".into(),
            network_id: "first".into(),
            network: None,
            request_id: id,
            validate_only: false,
        })
        .await
        .unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_etag_on_delete_is_aborted_and_deletes_nothing() {
    let h = Harness::start(true, false).await;
    let mut alpha = h.operator("alpha").await;
    let create = |id: &str| CreateNetworkRequest {
        parent: ALPHA.into(),
        network_id: id.into(),
        network: None,
        request_id: rid(),
        validate_only: false,
    };
    let name = "operators/alpha/networks/etagged".to_owned();
    let old = alpha
        .nets
        .create_network(create("etagged"))
        .await
        .unwrap()
        .into_inner()
        .network
        .unwrap();
    // Delete and recreate: same name, new incarnation, new etag.
    alpha
        .nets
        .delete_network(DeleteNetworkRequest {
            name: name.clone(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap();
    let new = alpha
        .nets
        .create_network(create("etagged"))
        .await
        .unwrap()
        .into_inner()
        .network
        .unwrap();
    assert_ne!(old.etag, new.etag);
    let rev = revision(&mut alpha).await;

    for stale in [old.etag.clone(), "r999999".to_owned(), "garbage".to_owned()] {
        let err = alpha
            .nets
            .delete_network(DeleteNetworkRequest {
                name: name.clone(),
                etag: stale.clone(),
                request_id: rid(),
                validate_only: false,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Aborted, "etag {stale}: {err:?}");
        let got = alpha
            .nets
            .get_network(GetNetworkRequest { name: name.clone() })
            .await
            .unwrap();
        assert_eq!(
            got.into_inner().network.unwrap(),
            new,
            "still there, unchanged"
        );
    }
    assert_eq!(
        revision(&mut alpha).await,
        rev,
        "a refused delete stores nothing"
    );

    // The current etag works.
    let done = alpha
        .nets
        .delete_network(DeleteNetworkRequest {
            name: name.clone(),
            etag: new.etag.clone(),
            request_id: rid(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.revision, rev + 1);
    let err = alpha
        .nets
        .get_network(GetNetworkRequest { name })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    h.stop().await;
}
