//! Agents outside the controller (as on real switches): a controller
//! restart re-programs nothing, a change after it is applied, and an agent
//! that has seen a newer epoch is not taken over by an older controller.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{Clients, config, rid};
use tokio::sync::mpsc;
use weft_agent::{MemoryBackend, SessionEvent};
use weft_pki::{Principal, Role};
use weft_proto::v1::*;

struct Agent {
    backend: MemoryBackend,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<MemoryBackend>,
}

fn spawn_agent(pki: &weft_pki::Pki, addr: SocketAddr, switch: &str) -> Agent {
    let cfg = weftd::simulate::agent_config(pki, addr, switch).unwrap();
    let backend = MemoryBackend::new();
    let (tx, events) = mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(weft_agent::run(
        cfg,
        backend.clone(),
        async move {
            let _ = stopped.await;
        },
        Some(tx),
    ));
    Agent {
        backend,
        events,
        stop,
        task,
    }
}

async fn start_at(dir: &Path, addr: SocketAddr) -> weftd::Running {
    let mut c = config(dir, true, false);
    c.listen = addr;
    // The previous controller just released the port.
    for _ in 0..50 {
        match weftd::start(c.clone()).await {
            Ok(r) => return r,
            Err(e) if format!("{e:#}").contains("binding") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:#}"),
        }
    }
    panic!("could not bind {addr} again");
}

async fn admin(r: &weftd::Running) -> Clients {
    let p = Principal::new(Role::Admin, "admin").unwrap();
    Clients::new(common::connect(&r.pki, r.addr, &p).await)
}

async fn programmed(c: &mut Clients) -> GetFabricStatusResponse {
    let now = c
        .fabric
        .get_fabric_status(GetFabricStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut req = tonic::Request::new(GetFabricStatusRequest {
        wait_for_revision: now.revision.max(1),
    });
    req.set_timeout(Duration::from_secs(20));
    c.fabric.get_fabric_status(req).await.unwrap().into_inner()
}

async fn wait_event(a: &mut Agent, what: &str, f: impl Fn(&SessionEvent) -> bool) -> SessionEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, a.events.recv()).await {
            Ok(Some(e)) if f(&e) => return e,
            Ok(Some(_)) => {}
            _ => panic!("no {what} event"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_restart_reprograms_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_at(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let addr = first.addr;
    let mut agents: Vec<Agent> = ["rack1-leaf", "rack2-leaf"]
        .iter()
        .map(|s| spawn_agent(&first.pki, addr, s))
        .collect();
    programmed(&mut admin(&first).await).await;
    let before: Vec<(u64, usize)> = agents
        .iter()
        .map(|a| (a.backend.operations(), a.backend.installed().len()))
        .collect();
    assert!(
        before.iter().all(|&(ops, n)| ops > 0 && n > 0),
        "{before:?}"
    );

    first.shutdown().await;
    let second = start_at(dir.path(), addr).await;
    for a in &mut agents {
        wait_event(a, "reconnect at epoch 2", |e| {
            matches!(e, SessionEvent::Connected { epoch: 2 })
        })
        .await;
    }
    let mut c = admin(&second).await;
    let status = programmed(&mut c).await;
    assert_eq!(status.epoch, 2);
    let after: Vec<(u64, usize)> = agents
        .iter()
        .map(|a| (a.backend.operations(), a.backend.installed().len()))
        .collect();
    assert_eq!(
        before, after,
        "a restarted controller must not make agents change anything"
    );

    // A change after the restart reaches the data plane.
    let p = Principal::new(Role::Operator, "alpha").unwrap();
    let mut alpha = Clients::new(common::connect(&second.pki, addr, &p).await);
    alpha
        .nets
        .delete_attachment(DeleteAttachmentRequest {
            name: "operators/alpha/networks/prod/attachments/rack2-leaf:eth1".into(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .unwrap();
    programmed(&mut c).await;
    assert!(
        agents[1].backend.operations() > after[1].0,
        "rack2-leaf applied the detach"
    );
    assert!(agents[1].backend.installed().len() < after[1].1);

    for a in agents {
        let _ = a.stop.send(());
        a.task.await.unwrap();
    }
    second.shutdown().await;
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_not_taken_over_by_an_older_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current");
    let stale = dir.path().join("stale");
    // Epoch 1, then a copy of that state (a controller that will come back
    // from an old disk), then epochs 2 and 3 on the real one.
    let r = start_at(&current, SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let addr = r.addr;
    r.shutdown().await;
    copy_dir(&current, &stale);
    start_at(&current, addr).await.shutdown().await;
    let newest = start_at(&current, addr).await;
    let mut agent = spawn_agent(&newest.pki, addr, "rack1-leaf");
    wait_event(&mut agent, "connect at epoch 3", |e| {
        matches!(e, SessionEvent::Connected { epoch: 3 })
    })
    .await;
    wait_event(&mut agent, "snapshot applied", |e| {
        matches!(e, SessionEvent::Applied { .. })
    })
    .await;
    let ops = agent.backend.operations();
    let installed = agent.backend.installed();
    newest.shutdown().await;

    // The old controller (epoch 2) comes back at the same address.
    let old = start_at(&stale, addr).await;
    assert_eq!(old.controller.epoch(), 2);
    let refused = wait_event(&mut agent, "refusal", |e| match e {
        SessionEvent::Disconnected { reason } => reason.contains("newer"),
        SessionEvent::Applied { .. } | SessionEvent::Connected { .. } => {
            panic!("the agent accepted an older controller: {e:?}")
        }
        _ => false,
    })
    .await;
    assert!(matches!(refused, SessionEvent::Disconnected { .. }));
    assert_eq!(agent.backend.operations(), ops);
    assert_eq!(agent.backend.installed(), installed);
    let _ = agent.stop.send(());
    agent.task.await.unwrap();
    old.shutdown().await;
}
