//! Prometheus metrics on their own port, plain HTTP, no certificate.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::rid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_proto::v1::*;

async fn scrape(addr: SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: weftd\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body
}

fn value(text: &str, metric: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(metric) && l[metric.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{metric} not in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_mutations_sessions_and_denials() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), true, true);
    cfg.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let running = weftd::start(cfg).await.unwrap();
    let h = common::Harness { dir, running };
    let addr = h.running.metrics_addr.unwrap();
    let mut alpha = h.operator("alpha").await;
    let created = alpha
        .nets
        .create_network(CreateNetworkRequest {
            parent: "operators/alpha".into(),
            network_id: "metered".into(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut req = tonic::Request::new(GetFabricStatusRequest {
        wait_for_revision: created.revision,
    });
    req.set_timeout(std::time::Duration::from_secs(20));
    alpha.fabric.get_fabric_status(req).await.unwrap();
    let _ = alpha
        .nets
        .list_networks(ListNetworksRequest {
            parent: "operators/beta".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let text = scrape(addr).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(value(&text, "weft_mutations_total"), 1.0);
    assert_eq!(value(&text, "weft_denials_total"), 1.0);
    assert_eq!(value(&text, "weft_controller_epoch"), 1.0);
    assert_eq!(value(&text, "weft_agent_sessions"), 2.0);
    assert_eq!(
        value(&text, "weft_store_revision"),
        value(&text, "weft_programmed_revision")
    );
    assert!(value(&text, "weft_mutation_duration_seconds_count") >= 1.0);
    h.stop().await;
}
