//! The client against in-process fake controllers: the convergence wait
//! (with a controller that answers at once and one that holds each call to
//! its deadline) and mutual TLS with certificates from `weft-pki`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status};
use weft_proto::v1::fabric_service_server::{FabricService, FabricServiceServer};
use weft_proto::v1::{
    ApplyTopologyRequest, ApplyTopologyResponse, GetFabricStatusRequest, GetFabricStatusResponse,
    GetTopologyRequest, GetTopologyResponse, PlanRequest, PlanResponse, SwitchProgramming,
};

use super::client::{Session, Target, TlsFiles};
use super::error::OnlineError;
use super::wait::wait_for_revision;

/// Two switches at revision 10; `rack2-leaf` acknowledges one revision per
/// status call, up to `reaches`.
#[derive(Debug)]
struct Fake {
    calls: AtomicU64,
    reaches: u64,
    /// Hold a call that waits for a revision past its deadline, as a
    /// controller implementing the wait server-side does.
    hold: bool,
}

impl Fake {
    fn status(&self) -> GetFabricStatusResponse {
        let rack2 = (10 + self.calls.fetch_add(1, Ordering::SeqCst)).min(self.reaches);
        let sw = |name: &str, acked: u64| SwitchProgramming {
            switch: name.into(),
            desired_generation: 12,
            acked_generation: acked,
            connected: true,
            last_error: String::new(),
            backend: "memory".into(),
            ..Default::default()
        };
        GetFabricStatusResponse {
            revision: 12,
            programmed_revision: rack2,
            epoch: 1,
            switches: vec![sw("rack1-leaf", 12), sw("rack2-leaf", rack2)],
            isolated: true,
            topology_digest: "d".into(),
        }
    }
}

#[tonic::async_trait]
impl FabricService for Fake {
    async fn get_topology(
        &self,
        _: Request<GetTopologyRequest>,
    ) -> Result<Response<GetTopologyResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn apply_topology(
        &self,
        _: Request<ApplyTopologyRequest>,
    ) -> Result<Response<ApplyTopologyResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn plan(&self, _: Request<PlanRequest>) -> Result<Response<PlanResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_fabric_status(
        &self,
        request: Request<GetFabricStatusRequest>,
    ) -> Result<Response<GetFabricStatusResponse>, Status> {
        let status = self.status();
        let wanted = request.get_ref().wait_for_revision;
        if self.hold && wanted > status.programmed_revision {
            // Longer than any deadline the client sets while waiting.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Ok(Response::new(status))
    }
}

async fn serve(fake: Fake, tls: Option<ServerTlsConfig>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut builder = Server::builder();
    let scheme = if let Some(tls) = tls {
        builder = builder.tls_config(tls).unwrap();
        "https"
    } else {
        "http"
    };
    let router = builder.add_service(FabricServiceServer::new(fake));
    tokio::spawn(router.serve_with_incoming(TcpListenerStream::new(listener)));
    format!("{scheme}://{addr}")
}

fn plain(endpoint: String, timeout: Duration) -> Session {
    Session::new(
        Target {
            endpoint,
            tls: None,
        },
        timeout,
    )
}

#[tokio::test]
async fn waits_until_the_revision_is_programmed() {
    for hold in [false, true] {
        let url = serve(
            Fake {
                calls: AtomicU64::new(0),
                reaches: 12,
                hold,
            },
            None,
        )
        .await;
        let mut session = plain(url, Duration::from_secs(10));
        let p = wait_for_revision(&mut session, 12, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!((p.done, p.total), (2, 2), "hold: {hold}");
    }
}

#[tokio::test]
async fn gives_up_after_the_timeout_naming_the_pending_switch() {
    let url = serve(
        Fake {
            calls: AtomicU64::new(0),
            reaches: 11,
            hold: true,
        },
        None,
    )
    .await;
    let mut session = plain(url, Duration::from_secs(10));
    let err = wait_for_revision(&mut session, 12, Duration::from_millis(800))
        .await
        .unwrap_err();
    assert_eq!(err.outcome().code(), 8);
    let text = err.to_string();
    assert!(text.contains("timed out"), "{text}");
    assert!(
        text.contains("1/2 acknowledged (rack2-leaf pending)"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unreachable_controller_is_exit_8() {
    // Bound, then closed: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut session = plain(format!("http://{addr}"), Duration::from_secs(2));
    let err = session.fabric().await.unwrap_err();
    assert!(matches!(err, OnlineError::Unavailable(_)), "{err}");
    assert!(
        err.to_string().contains("cannot reach the controller"),
        "{err}"
    );
}

#[tokio::test]
async fn mutual_tls_with_weft_pki_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let pki = weft_pki::Pki::bootstrap(dir.path(), &[]).unwrap();
    let server = pki.server();
    let admin = weft_pki::Principal::new(weft_pki::Role::Admin, "admin").unwrap();
    let client = pki.ensure_client(&admin).unwrap();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(read(&server.cert), read(&server.key)))
        .client_ca_root(Certificate::from_pem(read(&server.ca)));
    let url = serve(
        Fake {
            calls: AtomicU64::new(0),
            reaches: 12,
            hold: false,
        },
        Some(tls),
    )
    .await;
    let files = TlsFiles {
        ca: client.ca.clone(),
        cert: client.cert.clone(),
        key: client.key.clone(),
        server_name: "localhost".into(),
    };
    let mut session = Session::new(
        Target {
            endpoint: url.clone(),
            tls: Some(files.clone()),
        },
        Duration::from_secs(5),
    );
    let request = session.request(GetFabricStatusRequest::default());
    let status = session
        .fabric()
        .await
        .unwrap()
        .get_fabric_status(request)
        .await
        .unwrap();
    assert_eq!(status.get_ref().revision, 12);

    // A server name the certificate does not carry is refused.
    let mut wrong = Session::new(
        Target {
            endpoint: url,
            tls: Some(TlsFiles {
                server_name: "weftd.invalid".into(),
                ..files
            }),
        },
        Duration::from_secs(5),
    );
    let request = wrong.request(GetFabricStatusRequest::default());
    let refused = match wrong.fabric().await {
        Err(e) => e.outcome().code(),
        Ok(mut c) => {
            let status = c.get_fabric_status(request).await.unwrap_err();
            assert_ne!(status.code(), Code::Ok);
            super::error::status_outcome(&status).code()
        }
    };
    assert_eq!(refused, 8);
}
