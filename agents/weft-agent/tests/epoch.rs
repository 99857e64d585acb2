//! The agent side of epoch fencing, against a scripted controller: a
//! message from an older epoch than one already accepted is refused — not
//! applied, not acknowledged — and the session is dropped.

#![allow(clippy::unwrap_used)]

use std::pin::Pin;
use std::sync::Mutex;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};
use weft_agent::{AgentConfig, AgentTls, Backend, MemoryBackend, SessionEvent};
use weft_pki::{Pki, Principal, Role};
use weft_proto::v1::agent_service_server::{AgentService, AgentServiceServer};
use weft_proto::v1::session_request::Message as Up;
use weft_proto::v1::session_response::Message as Down;
use weft_proto::v1::*;

/// Sends a snapshot at epoch 5, then a delta claiming epoch 4, and reports
/// every agent message it receives.
struct Scripted {
    topology: String,
    seen: Mutex<Option<mpsc::UnboundedSender<Up>>>,
}

type Out = Pin<Box<dyn Stream<Item = Result<SessionResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AgentService for Scripted {
    type SessionStream = Out;

    async fn session(
        &self,
        req: Request<Streaming<SessionRequest>>,
    ) -> Result<Response<Out>, Status> {
        let seen = self.seen.lock().unwrap().clone().unwrap();
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(8);
        let topology = self.topology.clone();
        tokio::spawn(async move {
            let entry = PipelineEntry {
                entry: Some(pipeline_entry::Entry::PortIngress(
                    pipeline_entry::PortIngress {
                        port: 1,
                        vlan_id: 0,
                        vni: 1000,
                    },
                )),
            };
            while let Ok(Some(m)) = inbound.message().await {
                let Some(m) = m.message else { continue };
                let first = matches!(m, Up::Hello(_));
                let acked_snapshot = matches!(&m, Up::Ack(a) if a.generation == 7);
                let _ = seen.send(m);
                if first {
                    let _ = tx
                        .send(Ok(SessionResponse {
                            epoch: 5,
                            message: Some(Down::Snapshot(Snapshot {
                                generation: 7,
                                topology_yaml: topology.clone(),
                                topology_digest: "t".into(),
                                entries: vec![entry.clone()],
                            })),
                        }))
                        .await;
                }
                if acked_snapshot {
                    let _ = tx
                        .send(Ok(SessionResponse {
                            epoch: 4,
                            message: Some(Down::Delta(Delta {
                                from_generation: 7,
                                generation: 8,
                                added: vec![],
                                removed: vec![entry.clone()],
                            })),
                        }))
                        .await;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_from_an_older_epoch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::bootstrap(dir.path(), &[]).unwrap();
    let server = pki.server();
    let agent = pki
        .ensure_client(&Principal::new(Role::Agent, "rack1-leaf").unwrap())
        .unwrap();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let svc = Scripted {
        topology: std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../topologies/two-racks.yaml"),
        )
        .unwrap(),
        seen: Mutex::new(Some(seen_tx)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            std::fs::read(&server.cert).unwrap(),
            std::fs::read(&server.key).unwrap(),
        ))
        .client_ca_root(Certificate::from_pem(pki.ca_cert_pem().unwrap()));
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(
        Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(AgentServiceServer::new(svc))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );

    let config = AgentConfig::new(
        format!("https://{addr}"),
        "rack1-leaf".into(),
        AgentTls {
            ca_pem: std::fs::read(&agent.ca).unwrap(),
            cert_pem: std::fs::read(&agent.cert).unwrap(),
            key_pem: std::fs::read(&agent.key).unwrap(),
            server_name: "localhost".into(),
        },
    );
    let backend = MemoryBackend::new();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(weft_agent::run(
        config,
        backend.clone(),
        async {
            let _ = agent_stopped.await;
        },
        Some(events_tx),
    ));

    // The snapshot (epoch 5) is applied and acknowledged…
    let deadline = std::time::Duration::from_secs(10);
    loop {
        match tokio::time::timeout(deadline, events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            SessionEvent::Applied { generation: 7, .. } => break,
            SessionEvent::Disconnected { reason } => panic!("{reason}"),
            _ => {}
        }
    }
    // …the delta claiming epoch 4 is refused.
    loop {
        match tokio::time::timeout(deadline, events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            SessionEvent::RefusedEpoch { got: 4, seen: 5 } => break,
            e @ SessionEvent::Applied { .. } => panic!("applied a stale-epoch delta: {e:?}"),
            _ => {}
        }
    }
    assert_eq!(
        backend.installed().len(),
        1,
        "the stale delta removed nothing"
    );
    assert_eq!(backend.installed_generation(), 7);
    // The agent said hello, acked the snapshot, and never acked generation 8.
    let mut acked = Vec::new();
    while let Ok(m) = seen.try_recv() {
        if let Up::Ack(a) = m {
            acked.push(a.generation);
        }
    }
    assert!(acked.contains(&7) && !acked.contains(&8), "{acked:?}");
    let _ = stop_agent.send(());
    running.await.unwrap();
    let _ = stop_server.send(());
    serving.await.unwrap().unwrap();
}
