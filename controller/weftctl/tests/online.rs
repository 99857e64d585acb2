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

/// `weftd` on two-racks with its intent and simulated agents, its data in
/// `dir/data`.
async fn start_controller(dir: &Path) -> weftd::Running {
    weftd::start(weftd::Config {
        topology: repo().join("topologies/two-racks.yaml"),
        intent: Some(repo().join("topologies/two-racks.intent.yaml")),
        data_dir: dir.join("data"),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: None,
        simulate: true,
        server_names: Vec::new(),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_walkthrough_against_a_running_controller() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_controller(dir.path()).await;
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

/// The README's audit walkthrough: report (JSON and HTML), pubkey, offline
/// verify of the genuine files and of tampered ones, usage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_walkthrough_against_a_running_controller() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_controller(dir.path()).await;
    let endpoint = format!("https://{}", running.addr);
    let pki = dir.path().join("data/pki");
    let ctl = Ctl {
        config: dir.path().join("contexts.json"),
    };
    for (role, name) in [("auditor", "auditor"), ("operator", "alpha")] {
        ctl.ok(&[
            "context",
            "import",
            pki.to_str().unwrap(),
            "--role",
            role,
            "--name",
            name,
            "--endpoint",
            &endpoint,
        ])
        .await;
    }
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let key = ctl.ok(&["audit", "pubkey", "--context", "auditor"]).await;
    assert!(key.starts_with("ed25519:"), "{key}");
    std::fs::write(file("weft.pub"), &key).unwrap();

    // The simulated agents connect just after the start: until then a
    // report is incomplete (exit 8).
    let mut code = None;
    for _ in 0..50 {
        let out = ctl
            .run(&[
                "audit",
                "report",
                "--context",
                "auditor",
                "-o",
                &file("r.json"),
            ])
            .await;
        code = out.status.code();
        if code == Some(0) {
            break;
        }
        assert_eq!(code, Some(8), "{}", String::from_utf8_lossy(&out.stderr));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(code, Some(0));
    ctl.ok(&[
        "audit",
        "report",
        "--context",
        "auditor",
        "-o",
        &file("r.html"),
    ])
    .await;
    let html = std::fs::read_to_string(file("r.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));

    for report in ["r.json", "r.html"] {
        let ok = ctl
            .ok(&[
                "audit",
                "verify",
                &file(report),
                "--pubkey",
                &file("weft.pub"),
            ])
            .await;
        assert!(ok.contains("ok:"), "{ok}");
    }
    // Without --pubkey: integrity only, and it says so.
    let ok = ctl.ok(&["audit", "verify", &file("r.json")]).await;
    assert!(ok.contains("--pubkey"), "{ok}");

    // A flipped byte in the signed payload fails, naming the signature.
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file("r.json")).unwrap()).unwrap();
    let payload = envelope["payload"].as_str().unwrap().to_owned();
    let mut flipped = payload.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    envelope["payload"] = String::from_utf8(flipped).unwrap().into();
    std::fs::write(file("bad.json"), serde_json::to_vec(&envelope).unwrap()).unwrap();
    let out = ctl.run(&["audit", "verify", &file("bad.json")]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FAILED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An unreadable key is a usage error.
    let out = ctl
        .run(&[
            "audit",
            "verify",
            &file("r.json"),
            "--pubkey",
            "ed25519:nope",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));

    // Usage: alpha's own statement; operators cannot ask for reports.
    let usage = ctl
        .ok(&[
            "audit",
            "usage",
            "alpha",
            "--context",
            "operator-alpha",
            "--format",
            "json",
        ])
        .await;
    let v: serde_json::Value = serde_json::from_str(&usage).unwrap();
    assert_eq!(v["operator"], "alpha", "{usage}");
    let out = ctl
        .run(&[
            "audit",
            "report",
            "--context",
            "operator-alpha",
            "-o",
            &file("x.json"),
        ])
        .await;
    assert_eq!(out.status.code(), Some(5));
    running.shutdown().await;
}
