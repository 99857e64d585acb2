//! `weft.v1.AgentService`: the controller side of agent sessions.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use weft_pki::Principal;
use weft_proto::v1::agent_service_server::AgentService;
use weft_proto::v1::session_request::Message as Up;
use weft_proto::v1::session_response::Message as Down;
use weft_proto::v1::*;

use super::Api;
use crate::auth::{Access, Scope};

const METHOD: &str = "/weft.v1.AgentService/Session";
/// How long an agent has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Keepalives and read-back requests.
const KEEPALIVE: Duration = Duration::from_secs(10);
const OBSERVE_EVERY: Duration = Duration::from_secs(30);

type SessionStream = Pin<Box<dyn Stream<Item = Result<SessionResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AgentService for Api {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        req: Request<Streaming<SessionRequest>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let p = self.who(&req, METHOD).await?;
        let Principal::Agent { switch } = &p else {
            return Err(self
                .c
                .deny(
                    &p.to_string(),
                    METHOD,
                    "",
                    Status::permission_denied(format!(
                        "permission denied: {p} may not open an agent session"
                    )),
                )
                .await);
        };
        // Only the leader programs switches: a follower sends the agent on.
        self.c.ensure_leading()?;
        let switch = switch.clone();
        let mut inbound = req.into_inner();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Err(_) => return Err(Status::deadline_exceeded("no hello within 10 s")),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(None)) => return Err(Status::cancelled("session closed before hello")),
            Ok(Ok(Some(SessionRequest {
                message: Some(Up::Hello(h)),
            }))) => h,
            Ok(Ok(Some(_))) => {
                return Err(crate::errors::bad_field(
                    "message",
                    "the first message must be a hello",
                ));
            }
        };
        self.check(
            &p,
            Access::Write,
            Scope::AgentSwitch(&hello.switch),
            METHOD,
            &hello.switch,
        )
        .await?;
        let (tx, rx) = mpsc::channel(256);
        let (id, epoch) = {
            let core = self.c.core.lock().await;
            // Checked under the state lock, which taking office also holds,
            // so the epoch is this term's.
            self.c.ensure_leading()?;
            let epoch = self.c.epoch();
            if hello.last_epoch > epoch {
                return Err(Status::failed_precondition(format!(
                    "this agent has seen controller epoch {}, newer than this controller's {epoch}: it is not the leader",
                    hello.last_epoch
                )));
            }
            let id = self
                .c
                .sessions
                .connect(
                    &switch,
                    &hello.backend,
                    hello.installed_generation,
                    tx,
                    |g| self.c.snapshot(&core, &switch, g),
                )
                .ok_or_else(|| {
                    Status::failed_precondition(format!(
                        "switch {switch} runs no agent in this topology"
                    ))
                })?;
            (id, epoch)
        };
        tracing::info!(%switch, backend = %hello.backend, installed = hello.installed_generation, "agent connected");
        let c = std::sync::Arc::clone(&self.c);
        let closed = self.c.closed();
        let term_ended = self.c.term_ended(epoch);
        tokio::spawn(async move {
            tokio::pin!(closed);
            tokio::pin!(term_ended);
            let mut keepalive = tokio::time::interval(KEEPALIVE);
            let mut observe = tokio::time::interval(OBSERVE_EVERY);
            loop {
                tokio::select! {
                    () = &mut closed => break,
                    // Leadership lost or a new term: this session's epoch
                    // is over; the agent reconnects to the leader.
                    () = &mut term_ended => break,
                    msg = inbound.message() => match msg {
                        Ok(Some(SessionRequest { message: Some(m) })) => handle(&c, &switch, id, m).await,
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    },
                    // A deposed leader that resumes (after a freeze) must not
                    // speak for a term that is over, even before it is told.
                    _ = keepalive.tick() => {
                        if !c.leading() {
                            break;
                        }
                        c.sessions.broadcast_to(&switch, id, SessionResponse {
                            epoch,
                            message: Some(Down::Keepalive(Keepalive {})),
                        });
                    }
                    _ = observe.tick() => {
                        if !c.leading() {
                            break;
                        }
                        c.sessions.broadcast_to(&switch, id, SessionResponse {
                            epoch,
                            message: Some(Down::Observe(ObserveRequest {})),
                        });
                    }
                }
            }
            c.sessions.disconnect(&switch, id);
            tracing::info!(%switch, "agent disconnected");
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

async fn handle(c: &crate::controller::Controller, switch: &str, id: u64, m: Up) {
    match m {
        Up::Ack(a) => c.sessions.ack(switch, id, a.generation),
        Up::Nack(n) => {
            tracing::warn!(%switch, generation = n.generation, error = %n.error, resync = n.resync, "agent nack");
            c.sessions.nack(switch, id, n.error);
            if n.resync {
                let core = c.core.lock().await;
                c.sessions
                    .resync(switch, id, |g| c.snapshot(&core, switch, g));
            }
        }
        Up::Observed(o) => {
            let counters: BTreeMap<u32, (u64, u64)> = o
                .counters
                .iter()
                .map(|v| {
                    let n = v.counters.clone().unwrap_or_default();
                    (v.vni, (n.packets, n.bytes))
                })
                .collect();
            c.sessions.observed(
                switch,
                id,
                crate::traffic::report_time(),
                o.generation,
                o.rules_json,
                counters,
            );
        }
        Up::Hello(_) | Up::Keepalive(_) => {}
    }
}
