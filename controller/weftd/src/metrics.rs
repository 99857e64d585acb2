//! Prometheus metrics, served on their own port (`--metrics-listen`) so
//! that scraping needs no client certificate and never competes with the
//! API's connection limits.

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The controller's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub mutations: Counter,
    pub denials: Counter,
    pub mutation_seconds: Histogram,
    pub revision: Gauge,
    pub epoch: Gauge,
    pub agent_sessions: Gauge,
    pub programmed_revision: Gauge,
    /// 1 while this replica leads (always, on the embedded store).
    pub leader: Gauge,
    /// Changes of the leader this replica has observed.
    pub leader_changes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("weft");
        let m = Metrics {
            mutations: Counter::default(),
            denials: Counter::default(),
            // 50 µs … ~1.6 s.
            mutation_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            revision: Gauge::default(),
            epoch: Gauge::default(),
            agent_sessions: Gauge::default(),
            programmed_revision: Gauge::default(),
            leader: Gauge::default(),
            leader_changes: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("mutations", "Stored mutations", m.mutations.clone());
        registry.register(
            "denials",
            "Requests denied by authorization",
            m.denials.clone(),
        );
        registry.register(
            "mutation_duration_seconds",
            "Time from request to durable commit, per mutation",
            m.mutation_seconds.clone(),
        );
        registry.register(
            "store_revision",
            "Latest store revision",
            m.revision.clone(),
        );
        registry.register(
            "controller_epoch",
            "This controller's epoch",
            m.epoch.clone(),
        );
        registry.register(
            "agent_sessions",
            "Open agent sessions",
            m.agent_sessions.clone(),
        );
        registry.register(
            "programmed_revision",
            "Every change up to this revision is acknowledged by its switches",
            m.programmed_revision.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica leads (mutations, agent sessions), else 0",
            m.leader.clone(),
        );
        // The same gauge as controller_epoch, under the name the HA docs
        // use; the old name stays for existing dashboards.
        registry.register(
            "epoch",
            "The controller epoch this replica serves agents with",
            m.epoch.clone(),
        );
        registry.register(
            "leader_changes",
            "Changes of leader observed by this replica",
            m.leader_changes.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` on `addr` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    controller: Arc<crate::controller::Controller>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let c = Arc::clone(&controller);
            async move {
                c.metrics
                    .agent_sessions
                    .set(i64::try_from(c.sessions.connected_count()).unwrap_or(i64::MAX));
                c.metrics
                    .programmed_revision
                    .set(i64::try_from(c.sessions.programmed_revision()).unwrap_or(i64::MAX));
                (
                    [(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    c.metrics.render(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
