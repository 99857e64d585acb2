//! `weftctl` against a real `weftd` (in-process, real mTLS, simulated
//! agents): the README's operator walkthrough, with its exit codes.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Ctl {
    config: PathBuf,
}

impl Ctl {
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_weftctl"));
        cmd.args(args)
            .env("WEFT_CONFIG", &self.config)
            .env_remove("WEFT_ENDPOINT");
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "weftctl {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_walkthrough_against_a_running_controller() {
    let dir = tempfile::tempdir().unwrap();
    let running = weftd::start(weftd::Config {
        topology: repo().join("topologies/two-racks.yaml"),
        intent: Some(repo().join("topologies/two-racks.intent.yaml")),
        data_dir: dir.path().join("data"),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: None,
        simulate: true,
        server_names: Vec::new(),
    })
    .await
    .unwrap();
    let endpoint = format!("https://{}", running.addr);
    let pki = dir.path().join("data/pki");
    let pki = pki.to_str().unwrap();
    let ctl = Ctl {
        config: dir.path().join("contexts.json"),
    };
    ctl.ok(&[
        "context",
        "import",
        pki,
        "--role",
        "operator",
        "--name",
        "alpha",
        "--endpoint",
        &endpoint,
    ])
    .await;
    ctl.ok(&[
        "context",
        "import",
        pki,
        "--role",
        "admin",
        "--endpoint",
        &endpoint,
    ])
    .await;
    ctl.ok(&["context", "use", "operator-alpha"]).await;

    let list = ctl.ok(&["network", "list", "alpha"]).await;
    assert!(
        list.contains("alpha/prod") && list.contains("1100"),
        "{list}"
    );
    let created = ctl.ok(&["network", "create", "alpha/dev"]).await;
    assert!(created.contains("vni 1001"), "lowest free VNI: {created}");
    // --plan shows per-switch deltas and the verdict, and changes nothing.
    let plan = ctl
        .ok(&[
            "attach",
            "alpha/dev",
            "rack1-leaf/eth2",
            "--tag",
            "300",
            "--plan",
            "-o",
            "json",
        ])
        .await;
    let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(v["isolated"], true, "{plan}");
    assert!(v["entries_added"].as_u64().unwrap() > 0, "{plan}");
    let before = ctl.ok(&["network", "get", "alpha/dev", "-o", "json"]).await;
    assert!(
        !before.contains("rack1-leaf/eth2"),
        "a plan attaches nothing: {before}"
    );
    ctl.ok(&["attach", "alpha/dev", "rack1-leaf/eth2", "--tag", "300"])
        .await;
    let status = ctl
        .ok(&["network", "status", "alpha/dev", "-o", "json"])
        .await;
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["programmed"], true, "{status}");

    // Another operator's slice: permission denied (exit 5), no names leaked.
    let denied = ctl.run(&["network", "list", "beta"]).await;
    assert_eq!(denied.status.code(), Some(5));
    assert!(!String::from_utf8_lossy(&denied.stderr).contains("web"));
    // Own, but missing: not found (exit 4).
    let missing = ctl.run(&["network", "get", "alpha/nope"]).await;
    assert_eq!(missing.status.code(), Some(4));
    // A port leased to beta: a precondition (exit 6), nothing attached.
    let foreign_port = ctl.run(&["attach", "alpha/dev", "rack1-leaf/eth3"]).await;
    assert_eq!(
        foreign_port.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&foreign_port.stderr)
    );
    // Invalid input names the field (exit 1): a VNI outside alpha's lease.
    let bad_vni = ctl
        .run(&["network", "create", "alpha/x", "--vni", "2500"])
        .await;
    assert_eq!(
        bad_vni.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad_vni.stderr)
    );
    assert!(String::from_utf8_lossy(&bad_vni.stderr).contains("network.vni"));

    // The admin sees every switch programmed and the fabric isolated.
    let fabric = ctl
        .ok(&["status", "--context", "admin", "-o", "json"])
        .await;
    let v: serde_json::Value = serde_json::from_str(&fabric).unwrap();
    assert_eq!(v["isolated"], true);
    assert_eq!(v["programmed_revision"], v["revision"], "{fabric}");

    ctl.ok(&["detach", "alpha/dev", "rack1-leaf/eth2"]).await;
    ctl.ok(&["network", "delete", "alpha/dev"]).await;
    let audit = ctl
        .ok(&[
            "audit-log",
            "verify",
            dir.path().join("data/audit.log").to_str().unwrap(),
        ])
        .await;
    assert!(audit.contains("verifies"), "{audit}");
    running.shutdown().await;
}
