//! The agent session loop: connect, hello, snapshot, deltas, acks,
//! read-back, reconnect. See `proto/weft/v1/agent_service.proto` for the
//! protocol.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use weft_pipeline::{PipelineEntry, SwitchDelta};
use weft_proto::v1::agent_service_client::AgentServiceClient;
use weft_proto::v1::session_request::Message as Up;
use weft_proto::v1::session_response::Message as Down;
use weft_proto::v1::{
    AgentAck, AgentHello, AgentNack, Keepalive, NetworkCounters, ObservedState, SessionRequest,
    SessionResponse, VniCounters,
};
use weft_proto::{EntryError, entry_from_wire};

use crate::backend::{Backend, SwitchContext};

/// The agent's mTLS identity (PEM) and the CA it trusts for the controller.
#[derive(Clone)]
pub struct AgentTls {
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// The name the controller's certificate must carry, e.g. `localhost`.
    pub server_name: String,
}

impl std::fmt::Debug for AgentTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("AgentTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// How an agent reaches its controller.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `https://HOST:PORT` of each `weftd` replica (one for a single
    /// controller). The agent tries them in turn; a follower's answer
    /// naming the leader sends it straight there.
    pub endpoints: Vec<String>,
    /// The switch this agent programs (must match its certificate).
    pub switch: String,
    pub tls: AgentTls,
    pub keepalive: Duration,
    /// Reconnect backoff: starts at `backoff_min`, doubles up to `backoff_max`,
    /// each wait jittered by ±50% so agents do not reconnect in lockstep.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How often the agent re-reads its data plane and repairs any
    /// difference from the last desired state (a flow deleted out of band,
    /// a port un-enslaved). Backends do nothing when nothing differs.
    pub repair_interval: Duration,
    /// How often the agent sends its read-back unasked (the controller
    /// also asks for it).
    pub report_interval: Duration,
    /// A controller that answers no HTTP/2 ping for about this long is
    /// taken for dead (crashed machine, frozen process) and the agent moves
    /// on to the next replica.
    pub dead_after: Duration,
}

/// The trailer a follower names the leader in (`HOST:PORT`, empty when no
/// leader is known).
pub const LEADER_METADATA: &str = "weft-leader";

impl AgentConfig {
    /// `endpoint` is one `https://HOST:PORT`, or several separated by
    /// commas (the replicas of a controller); a missing scheme means
    /// `https://`.
    pub fn new(endpoint: String, switch: String, tls: AgentTls) -> Self {
        AgentConfig {
            endpoints: endpoint
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(with_scheme)
                .collect(),
            switch,
            tls,
            keepalive: Duration::from_secs(10),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            repair_interval: Duration::from_secs(2),
            report_interval: Duration::from_secs(10),
            dead_after: Duration::from_secs(6),
        }
    }
}

fn with_scheme(e: &str) -> String {
    if e.contains("://") {
        e.to_owned()
    } else {
        format!("https://{e}")
    }
}

/// Where to go after a session ended with `result`: the leader a follower
/// named, if it named one.
fn leader_hint(result: &Result<(), SessionError>) -> Option<String> {
    let Err(SessionError::Rpc(status)) = result else {
        return None;
    };
    if status.code() != tonic::Code::Unavailable {
        return None;
    }
    let leader = status
        .metadata()
        .get(LEADER_METADATA)?
        .to_str()
        .ok()?
        .trim();
    (!leader.is_empty()).then(|| with_scheme(leader))
}

/// The replicas an agent tries, and which one is next.
#[derive(Debug)]
struct Targets {
    list: Vec<String>,
    cursor: usize,
    /// A leader named by a follower, tried before the list.
    redirect: Option<String>,
}

impl Targets {
    fn new(list: Vec<String>) -> Targets {
        Targets {
            list,
            cursor: 0,
            redirect: None,
        }
    }

    fn current(&self) -> &str {
        match &self.redirect {
            Some(r) => r,
            None => self.list.get(self.cursor).map_or("", String::as_str),
        }
    }

    /// Moves on after a session ended; true when the next attempt starts
    /// the list over (every replica was tried: time to back off).
    fn advance(&mut self, hint: Option<String>) -> bool {
        if let Some(leader) = hint {
            self.redirect = Some(leader);
            return false;
        }
        if self.redirect.take().is_some() {
            // The named leader failed too: resume the list where it was.
            return false;
        }
        self.cursor = (self.cursor + 1) % self.list.len().max(1);
        self.cursor == 0
    }
}

/// What happened in a session, for observers (tests, `weftd --simulate`
/// logs). Sending is best effort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    Connected {
        epoch: u64,
    },
    Applied {
        generation: u64,
        added: u64,
        removed: u64,
    },
    Nacked {
        generation: u64,
        error: String,
    },
    /// The periodic check found the data plane different from the desired
    /// state and put it back.
    Repaired {
        generation: u64,
        added: u64,
        removed: u64,
    },
    /// A message from an older controller epoch was refused.
    RefusedEpoch {
        got: u64,
        seen: u64,
    },
    Disconnected {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("session failed: {0}")]
    Rpc(#[from] tonic::Status),
    #[error("controller closed the session")]
    Closed,
    #[error("controller epoch {got} is older than epoch {seen} already seen")]
    StaleEpoch { got: u64, seen: u64 },
    #[error("controller protocol error: {0}")]
    Protocol(String),
    #[error("the controller did not open a session within {0:?}")]
    Timeout(Duration),
}

/// What survives reconnects.
struct AgentState {
    switch: String,
    last_epoch: u64,
    ctx: Option<SwitchContext>,
    /// The entries last installed (snapshot plus deltas): what the periodic
    /// repair restores. Survives reconnects, so a controller outage does not
    /// stop repairs.
    desired: Option<std::collections::BTreeSet<PipelineEntry>>,
    /// The last session got at least one controller message.
    reached: bool,
}

/// Runs the agent until `shutdown` resolves, reconnecting as needed.
/// Returns the backend (with its data plane untouched: stopping an agent
/// never removes state).
pub async fn run<B: Backend>(
    config: AgentConfig,
    mut backend: B,
    shutdown: impl Future<Output = ()>,
    events: Option<mpsc::UnboundedSender<SessionEvent>>,
) -> B {
    let mut state = AgentState {
        switch: config.switch.clone(),
        last_epoch: 0,
        ctx: None,
        desired: None,
        reached: false,
    };
    let emit = |e: SessionEvent| {
        if let Some(tx) = &events {
            let _ = tx.send(e);
        }
    };
    tokio::pin!(shutdown);
    let mut backoff = config.backoff_min;
    let mut targets = Targets::new(config.endpoints.clone());
    loop {
        let endpoint = targets.current().to_owned();
        let result = tokio::select! {
            () = &mut shutdown => return backend,
            r = session(&config, &endpoint, &mut backend, &mut state, &emit) => r,
        };
        let hint = leader_hint(&result);
        let reason = match result {
            Ok(()) => "session ended".to_owned(),
            Err(e) => e.to_string(),
        };
        if std::mem::take(&mut state.reached) {
            // The controller answered: start the backoff over.
            backoff = config.backoff_min;
        }
        tracing::info!(switch = %config.switch, %endpoint, %reason, leader = ?hint, "agent session closed; reconnecting");
        emit(SessionEvent::Disconnected { reason });
        // Another replica may answer at once; only a full round of
        // failures backs off further.
        let wait = if targets.advance(hint) {
            let w = jitter(backoff);
            backoff = (backoff * 2).min(config.backoff_max);
            w
        } else {
            jitter(config.backoff_min)
        };
        // Headless: while the controller is away the data plane keeps the
        // last desired state, repaired as usual.
        let resume = tokio::time::sleep(wait);
        tokio::pin!(resume);
        let mut repair = repair_timer(&config);
        loop {
            tokio::select! {
                () = &mut shutdown => return backend,
                () = &mut resume => break,
                _ = repair.tick() => repair_once(&mut backend, &state, &emit).await,
            }
        }
    }
}

fn repair_timer(config: &AgentConfig) -> tokio::time::Interval {
    let mut t = tokio::time::interval_at(
        tokio::time::Instant::now() + config.repair_interval,
        config.repair_interval,
    );
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

/// Re-reads the data plane and restores the last desired state. Does
/// nothing before the first snapshot was installed.
async fn repair_once<B: Backend>(
    backend: &mut B,
    state: &AgentState,
    emit: &impl Fn(SessionEvent),
) {
    let (Some(ctx), Some(desired)) = (&state.ctx, &state.desired) else {
        return;
    };
    let desired: Vec<PipelineEntry> = desired.iter().copied().collect();
    let generation = backend.installed_generation();
    match backend.reconcile(ctx, generation, &desired).await {
        Ok(stats) if stats.added + stats.removed > 0 => {
            tracing::warn!(
                switch = %state.switch, generation, added = stats.added, removed = stats.removed,
                "data plane differed from the desired state; repaired"
            );
            emit(SessionEvent::Repaired {
                generation,
                added: stats.added,
                removed: stats.removed,
            });
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(switch = %state.switch, error = %e, "repair failed"),
    }
}

fn jitter(d: Duration) -> Duration {
    use rand::Rng;
    d.mul_f64(rand::rng().random_range(0.5..1.5))
}

async fn connect(config: &AgentConfig, endpoint: &str) -> Result<Channel, SessionError> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&config.tls.ca_pem))
        .identity(Identity::from_pem(
            &config.tls.cert_pem,
            &config.tls.key_pem,
        ))
        .domain_name(config.tls.server_name.clone());
    let ping = config.dead_after / 2;
    Ok(Channel::from_shared(endpoint.to_owned())
        .map_err(|e| SessionError::Protocol(format!("bad endpoint {endpoint:?}: {e}")))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5).min(config.dead_after))
        .http2_keep_alive_interval(ping)
        .keep_alive_timeout(ping)
        .keep_alive_while_idle(true)
        .connect()
        .await?)
}

async fn session<B: Backend>(
    config: &AgentConfig,
    endpoint: &str,
    backend: &mut B,
    state: &mut AgentState,
    emit: &impl Fn(SessionEvent),
) -> Result<(), SessionError> {
    let (tx, rx) = mpsc::channel::<SessionRequest>(64);
    let hello = Up::Hello(AgentHello {
        switch: config.switch.clone(),
        installed_generation: backend.installed_generation(),
        last_epoch: state.last_epoch,
        backend: backend.kind().to_owned(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    });
    send(&tx, hello).await?;
    // A frozen controller accepts TCP connections (the kernel does) but
    // never finishes a handshake: bound the whole opening, not just TCP.
    let open = async {
        let channel = connect(config, endpoint).await?;
        let mut client = AgentServiceClient::new(channel);
        Ok::<_, SessionError>(client.session(ReceiverStream::new(rx)).await?.into_inner())
    };
    let mut inbound = tokio::time::timeout(config.dead_after, open)
        .await
        .map_err(|_| SessionError::Timeout(config.dead_after))??;
    let mut keepalive = tokio::time::interval(config.keepalive);
    keepalive.tick().await;
    let mut repair = repair_timer(config);
    let mut report = tokio::time::interval_at(
        tokio::time::Instant::now() + config.report_interval,
        config.report_interval,
    );
    loop {
        tokio::select! {
            _ = repair.tick() => repair_once(backend, state, emit).await,
            _ = report.tick() => report_observed(backend, state, &tx, state.last_epoch).await?,
            msg = inbound.message() => {
                let Some(msg) = msg? else { return Err(SessionError::Closed) };
                if !state.reached {
                    state.reached = true;
                    emit(SessionEvent::Connected { epoch: msg.epoch });
                }
                handle(msg, backend, state, &tx, emit).await?;
            }
            _ = keepalive.tick() => send(&tx, Up::Keepalive(Keepalive {})).await?,
        }
    }
}

async fn send(tx: &mpsc::Sender<SessionRequest>, message: Up) -> Result<(), SessionError> {
    tx.send(SessionRequest {
        message: Some(message),
    })
    .await
    .map_err(|_| SessionError::Closed)
}

fn entries(wire: &[weft_proto::v1::PipelineEntry]) -> Result<Vec<PipelineEntry>, EntryError> {
    let mut out = wire
        .iter()
        .map(entry_from_wire)
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

async fn handle<B: Backend>(
    msg: SessionResponse,
    backend: &mut B,
    state: &mut AgentState,
    tx: &mpsc::Sender<SessionRequest>,
    emit: &impl Fn(SessionEvent),
) -> Result<(), SessionError> {
    let epoch = msg.epoch;
    if epoch < state.last_epoch {
        // A deposed controller: obey nothing it says.
        emit(SessionEvent::RefusedEpoch {
            got: epoch,
            seen: state.last_epoch,
        });
        return Err(SessionError::StaleEpoch {
            got: epoch,
            seen: state.last_epoch,
        });
    }
    state.last_epoch = epoch;
    let nack = |generation: u64, error: String, resync: bool| {
        emit(SessionEvent::Nacked {
            generation,
            error: error.clone(),
        });
        Up::Nack(AgentNack {
            generation,
            epoch,
            error,
            resync,
        })
    };
    match msg.message {
        Some(Down::Snapshot(snap)) => {
            let reply = match snapshot_context(&snap, state) {
                Err(e) => nack(snap.generation, e, false),
                Ok(ctx) => match entries(&snap.entries) {
                    Err(e) => nack(snap.generation, e.to_string(), false),
                    Ok(desired) => match backend.reconcile(&ctx, snap.generation, &desired).await {
                        Ok(stats) => {
                            state.desired = Some(desired.iter().copied().collect());
                            emit(SessionEvent::Applied {
                                generation: snap.generation,
                                added: stats.added,
                                removed: stats.removed,
                            });
                            Up::Ack(AgentAck {
                                generation: snap.generation,
                                epoch,
                                added: stats.added,
                                removed: stats.removed,
                            })
                        }
                        Err(e) => nack(snap.generation, e.to_string(), false),
                    },
                },
            };
            send(tx, reply).await
        }
        Some(Down::Delta(d)) => {
            let reply = match (&state.ctx, backend.installed_generation()) {
                (Some(ctx), installed) if installed == d.from_generation => {
                    let ctx = ctx.clone();
                    match (entries(&d.added), entries(&d.removed)) {
                        (Ok(added), Ok(removed)) => {
                            let delta = SwitchDelta { removed, added };
                            match backend.apply_delta(&ctx, d.generation, &delta).await {
                                Ok(stats) => {
                                    if let Some(set) = state.desired.as_mut() {
                                        for e in &delta.removed {
                                            set.remove(e);
                                        }
                                        set.extend(delta.added.iter().copied());
                                    }
                                    emit(SessionEvent::Applied {
                                        generation: d.generation,
                                        added: stats.added,
                                        removed: stats.removed,
                                    });
                                    Up::Ack(AgentAck {
                                        generation: d.generation,
                                        epoch,
                                        added: stats.added,
                                        removed: stats.removed,
                                    })
                                }
                                Err(e) => nack(d.generation, e.to_string(), true),
                            }
                        }
                        (Err(e), _) | (_, Err(e)) => nack(d.generation, e.to_string(), true),
                    }
                }
                (_, installed) => nack(
                    d.generation,
                    format!(
                        "delta from generation {} does not apply on installed generation {installed}",
                        d.from_generation
                    ),
                    true,
                ),
            };
            send(tx, reply).await
        }
        Some(Down::Observe(_)) => report_observed(backend, state, tx, epoch).await,
        Some(Down::Keepalive(_)) => Ok(()),
        None => Err(SessionError::Protocol("empty controller message".into())),
    }
}

/// Sends the data plane's read-back (rules and counters) to the controller.
/// A read-back failure is reported as a nack of the installed generation.
async fn report_observed<B: Backend>(
    backend: &mut B,
    state: &AgentState,
    tx: &mpsc::Sender<SessionRequest>,
    epoch: u64,
) -> Result<(), SessionError> {
    let Some(ctx) = state.ctx.clone() else {
        return Ok(());
    };
    let message = match backend.observe(&ctx).await {
        Ok(obs) => {
            let rules_json = serde_json::to_vec(&obs.rules)
                .map_err(|e| SessionError::Protocol(e.to_string()))?;
            let counters = obs
                .counters
                .iter()
                .map(|(vni, &(packets, bytes))| VniCounters {
                    vni: vni.get(),
                    counters: Some(NetworkCounters {
                        switch: String::new(),
                        packets,
                        bytes,
                    }),
                })
                .collect();
            Up::Observed(ObservedState {
                generation: backend.installed_generation(),
                rules_json,
                counters,
            })
        }
        Err(e) => Up::Nack(AgentNack {
            generation: backend.installed_generation(),
            epoch,
            error: e.to_string(),
            resync: false,
        }),
    };
    send(tx, message).await
}

/// The switch context a snapshot describes, reusing the parsed topology
/// when its digest is unchanged.
fn snapshot_context(
    snap: &weft_proto::v1::Snapshot,
    state: &mut AgentState,
) -> Result<SwitchContext, String> {
    if let Some(ctx) = state
        .ctx
        .as_ref()
        .filter(|c| c.topology_digest == snap.topology_digest)
    {
        return Ok(ctx.clone());
    }
    let topology = weft_config::parse_topology("controller snapshot", &snap.topology_yaml)
        .map_err(|d| format!("snapshot topology does not parse: {d}"))?;
    let switch = topology.switch_id(&state.switch).ok_or_else(|| {
        format!(
            "switch {} is not in the controller's topology",
            state.switch
        )
    })?;
    let ctx = SwitchContext {
        switch,
        topology: Arc::new(topology),
        topology_digest: snap.topology_digest.clone(),
    };
    state.ctx = Some(ctx.clone());
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_lists_split_and_get_a_scheme() {
        let tls = AgentTls {
            ca_pem: Vec::new(),
            cert_pem: Vec::new(),
            key_pem: Vec::new(),
            server_name: "localhost".into(),
        };
        let c = AgentConfig::new("https://a:1, b:2,,https://c:3".into(), "leaf".into(), tls);
        assert_eq!(c.endpoints, ["https://a:1", "https://b:2", "https://c:3"]);
    }

    fn unavailable(leader: Option<&str>) -> Result<(), SessionError> {
        let mut s = tonic::Status::unavailable("not the leader");
        if let Some(l) = leader {
            s.metadata_mut().insert(LEADER_METADATA, l.parse().unwrap());
        }
        Err(SessionError::Rpc(s))
    }

    #[test]
    fn a_named_leader_is_tried_next() {
        assert_eq!(
            leader_hint(&unavailable(Some("10.0.0.3:50051"))),
            Some("https://10.0.0.3:50051".to_owned())
        );
        assert_eq!(leader_hint(&unavailable(Some(""))), None);
        assert_eq!(leader_hint(&unavailable(None)), None);
        let other = Err(SessionError::Rpc(tonic::Status::internal("x")));
        assert_eq!(leader_hint(&other), None);
        assert_eq!(leader_hint(&Ok(())), None);
    }

    #[test]
    fn targets_rotate_and_follow_redirects() {
        let mut t = Targets::new(vec![
            "https://a".into(),
            "https://b".into(),
            "https://c".into(),
        ]);
        assert_eq!(t.current(), "https://a");
        assert!(!t.advance(None));
        assert_eq!(t.current(), "https://b");
        assert!(!t.advance(Some("https://c".into())));
        assert_eq!(t.current(), "https://c");
        // The named leader fails: back to the list where it was.
        assert!(!t.advance(None));
        assert_eq!(t.current(), "https://b");
        assert!(!t.advance(None));
        assert_eq!(t.current(), "https://c");
        // A full round without an answer: back off.
        assert!(t.advance(None));
        assert_eq!(t.current(), "https://a");
    }
}
