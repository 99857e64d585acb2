//! List-then-watch with a resume revision, filtered to the caller's slice;
//! pagination over real lists; topology replacement through the API.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Harness, rid};
use tokio_stream::StreamExt;
use tonic::Code;
use weft_proto::v1::*;

async fn next(s: &mut tonic::Streaming<WatchResponse>) -> WatchResponse {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("a watch event in time")
        .expect("the stream is open")
        .expect("no error")
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
async fn an_operator_watches_its_own_slice_and_resumes() {
    let h = Harness::start(true, false).await;
    let mut alpha = h.operator("alpha").await;
    let mut beta = h.operator("beta").await;
    let mut s = alpha
        .nets
        .watch(WatchRequest {
            parent: "operators/alpha".into(),
            resume_revision: 0,
        })
        .await
        .unwrap()
        .into_inner();
    // The initial list: alpha's operator, lease, 2 networks, 4 attachments.
    let mut existing = Vec::new();
    let bookmark = loop {
        let e = next(&mut s).await;
        if e.r#type == WatchEventType::Bookmark as i32 {
            break e.revision;
        }
        assert_eq!(e.r#type, WatchEventType::Existing as i32);
        existing.push(e.name);
    };
    assert_eq!(existing.len(), 8, "{existing:?}");
    assert!(
        existing
            .iter()
            .all(|n| n == "operators/alpha" || n.starts_with("operators/alpha/"))
    );

    // Beta's change is not visible; alpha's is.
    beta.nets
        .create_network(create("beta", "hidden"))
        .await
        .unwrap();
    let made = alpha
        .nets
        .create_network(create("alpha", "seen"))
        .await
        .unwrap()
        .into_inner();
    let e = next(&mut s).await;
    assert_eq!(e.r#type, WatchEventType::Created as i32);
    assert_eq!(e.name, "operators/alpha/networks/seen");
    assert_eq!(e.revision, made.revision);
    match e.resource {
        Some(watch_response::Resource::Network(n)) => assert_eq!(n.vni, made.network.unwrap().vni),
        other => panic!("{other:?}"),
    }
    alpha
        .nets
        .delete_network(DeleteNetworkRequest {
            name: "operators/alpha/networks/seen".into(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap();
    let e = next(&mut s).await;
    assert_eq!(e.r#type, WatchEventType::Deleted as i32);
    drop(s);

    // Resume from the bookmark: the two changes replay, nothing of beta's.
    let mut r = alpha
        .nets
        .watch(WatchRequest {
            parent: "operators/alpha".into(),
            resume_revision: bookmark,
        })
        .await
        .unwrap()
        .into_inner();
    let a = next(&mut r).await;
    let b = next(&mut r).await;
    assert_eq!(
        (a.r#type, b.r#type),
        (
            WatchEventType::Created as i32,
            WatchEventType::Deleted as i32
        )
    );
    assert!(a.revision > bookmark && b.revision > a.revision);

    // A revision the store has not reached is out of range.
    let ahead = alpha
        .nets
        .watch(WatchRequest {
            parent: "operators/alpha".into(),
            resume_revision: 1_000_000,
        })
        .await
        .unwrap_err();
    assert_eq!(ahead.code(), Code::OutOfRange);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_through_every_item_once() {
    let h = Harness::start(true, false).await;
    let mut alpha = h.operator("alpha").await;
    for i in 0..7 {
        alpha
            .nets
            .create_network(create("alpha", &format!("p{i}")))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = alpha
            .nets
            .list_networks(ListNetworksRequest {
                parent: "operators/alpha".into(),
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.networks.len() <= 2);
        pages += 1;
        seen.extend(page.networks.into_iter().map(|n| n.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 9, "2 from the intent file + 7: {seen:?}");
    assert_eq!(pages, 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "sorted, each once");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_replaces_the_topology_and_agents_follow() {
    let h = Harness::start(true, true).await;
    let mut admin = h.admin().await;
    let old = admin
        .fabric
        .get_topology(GetTopologyRequest {})
        .await
        .unwrap()
        .into_inner();
    // Dropping a leased port is refused, naming why; nothing changes.
    // (rack1-leaf/eth4 is leased to gamma; its server goes with it.)
    let without_port = old
        .yaml
        .replacen("      - {name: eth4, role: server}\n", "", 1)
        .replacen(
            "  - name: r1-srv3\n    rack: rack1\n    nics:\n      - {name: eth0, port: rack1-leaf/eth4}\n",
            "",
            1,
        );
    assert_eq!(
        without_port.len() + 35 + 88,
        old.yaml.len(),
        "both edits applied"
    );
    let err = admin
        .fabric
        .apply_topology(ApplyTopologyRequest {
            yaml: without_port,
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("rack1-leaf/eth4"),
        "{}",
        err.message()
    );
    // A broken file is refused as invalid.
    let broken = admin
        .fabric
        .apply_topology(ApplyTopologyRequest {
            yaml: "fabric: [".into(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(broken.code(), Code::InvalidArgument);
    // A stale etag is refused.
    let stale = admin
        .fabric
        .apply_topology(ApplyTopologyRequest {
            yaml: old.yaml.clone(),
            etag: "0".repeat(64),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    // The same fabric, renamed: applied, agents re-snapshot and acknowledge.
    let renamed = old.yaml.replacen("name: two-racks", "name: two-racks-b", 1);
    assert_ne!(
        renamed, old.yaml,
        "the test needs the fabric name in the file"
    );
    let apply = ApplyTopologyRequest {
        yaml: renamed,
        etag: old.digest.clone(),
        request_id: rid(),
        ..Default::default()
    };
    let applied = admin
        .fabric
        .apply_topology(apply.clone())
        .await
        .unwrap()
        .into_inner();
    // A retry of the applied request gets the same answer (its etag is stale
    // by now, but the request was already applied).
    let retried = admin
        .fabric
        .apply_topology(apply)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, applied);
    let plan = applied.plan.unwrap();
    assert!(plan.isolated);
    assert_eq!(
        plan.entries_added + plan.entries_removed,
        0,
        "same cabling, same entries"
    );
    let mut req = tonic::Request::new(GetFabricStatusRequest {
        wait_for_revision: applied.revision,
    });
    req.set_timeout(Duration::from_secs(20));
    let status = admin
        .fabric
        .get_fabric_status(req)
        .await
        .unwrap()
        .into_inner();
    assert_ne!(status.topology_digest, old.digest);
    let now = admin
        .fabric
        .get_topology(GetTopologyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.fabric_name, "two-racks-b");
    h.stop().await;
}
