//! Replicas: several `weftd` processes on one etcd store, one of them
//! leading.
//!
//! Layer: between the election (`weft_store::etcd`, which says who leads
//! and fences the store's writes) and the controller (which serves). This
//! module owns the *role machine*: it follows
//! [`Election::subscribe`](weft_store::etcd::Election::subscribe) and moves
//! the [`Controller`] between two roles.
//!
//! * **Leader**: reloads the state from the store, begins a new epoch (a
//!   fenced write, so a replica that lost the race learns it here), seeds
//!   the store if it is empty, then accepts mutations and agent sessions.
//!   Health reports the write services `SERVING`.
//! * **Follower**: refuses mutations and agent sessions with `UNAVAILABLE`,
//!   naming the leader in the message and in the `weft-leader` trailer
//!   ([`LEADER_METADATA`]); serves reads and watches from a copy of the
//!   state that it reloads from the store after every revision the leader
//!   commits (a full reload: at the scale of one facility's intent this is
//!   milliseconds, and it cannot drift from the leader the way replaying
//!   deltas could). Health reports the write services `NOT_SERVING`.
//!
//! Not here: campaigning, leases and fencing (`weft-store`), the mutation
//! path itself ([`crate::controller`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::Status;
use tonic::metadata::MetadataValue;
use tonic_health::server::HealthReporter;
use weft_proto::v1::agent_service_server::AgentServiceServer;
use weft_proto::v1::fabric_service_server::FabricServiceServer;
use weft_proto::v1::network_service_server::NetworkServiceServer;
use weft_proto::v1::operator_service_server::OperatorServiceServer;
use weft_store::StoreError;
use weft_store::etcd::{Election, EtcdStore, Leadership};

use crate::api::Api;
use crate::controller::Controller;

/// Trailing metadata on a follower's `UNAVAILABLE`: the leader's advertised
/// `HOST:PORT`, empty while no leader is known.
pub const LEADER_METADATA: &str = "weft-leader";

/// Pause before a replica that won the election but could not take office
/// (store unavailable) tries again.
const RETRY_OFFICE: Duration = Duration::from_millis(500);

/// Where `weftd` keeps its state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreConfig {
    /// The embedded redb store in the data directory: one controller.
    #[default]
    Embedded,
    /// An etcd cluster shared by several replicas.
    Etcd(EtcdReplica),
}

/// How a replica joins an etcd-backed group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdReplica {
    /// `etcd://HOST:PORT[,HOST:PORT…][/PREFIX]`.
    pub url: String,
    /// What followers tell clients to reach this replica at; `None`: the
    /// bound gRPC address.
    pub advertise: Option<String>,
    /// The election lease's TTL: how long a dead leader keeps its office.
    pub lease_ttl: Duration,
}

/// This replica's role as the controller acts on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Role {
    /// The fencing token of the term this replica leads, once it has taken
    /// office (reloaded, begun its epoch).
    pub term: Option<u64>,
    /// The leader's advertised address, when one is known.
    pub leader: Option<String>,
}

impl Role {
    /// The role of a controller on the embedded store: it always leads.
    pub fn sole() -> Role {
        Role {
            term: Some(0),
            leader: None,
        }
    }
}

/// `UNAVAILABLE` for a request only the leader serves, naming it.
pub fn not_leader(leader: Option<&str>) -> Status {
    let message = match leader {
        Some(addr) => format!(
            "this weftd replica is not the leader; send this request to the leader at {addr}"
        ),
        None => "no weftd replica leads at the moment (an election is under way); retry shortly"
            .to_owned(),
    };
    let mut status = Status::unavailable(message);
    if let Ok(v) = MetadataValue::try_from(leader.unwrap_or("")) {
        status.metadata_mut().insert(LEADER_METADATA, v);
    }
    status
}

/// The status for a failed store call: leadership lost → [`not_leader`];
/// no quorum → `UNAVAILABLE` (retry later); anything else is internal.
pub fn store_status(e: &StoreError, leader: Option<&str>) -> Status {
    match e {
        StoreError::NotLeader { .. } | StoreError::Fenced { .. } => not_leader(leader),
        StoreError::Unavailable { .. } => Status::unavailable(format!(
            "store unavailable; retry later with the same request_id (a change is made at most once): {e}"
        )),
        other => crate::errors::store_failed(other),
    }
}

/// Sets the write services' health for `leading`.
async fn set_write_health(health: &HealthReporter, leading: bool) {
    use tonic_health::ServingStatus::{NotServing, Serving};
    let s = if leading { Serving } else { NotServing };
    health
        .set_service_status(
            <OperatorServiceServer<Api> as tonic::server::NamedService>::NAME,
            s,
        )
        .await;
    health
        .set_service_status(
            <NetworkServiceServer<Api> as tonic::server::NamedService>::NAME,
            s,
        )
        .await;
    health
        .set_service_status(
            <FabricServiceServer<Api> as tonic::server::NamedService>::NAME,
            s,
        )
        .await;
    health
        .set_service_status(
            <AgentServiceServer<Api> as tonic::server::NamedService>::NAME,
            s,
        )
        .await;
}

/// Runs the role machine until `stop` is set; then resigns, so another
/// replica takes over without waiting for the lease to expire.
pub(crate) fn spawn_role_machine(
    controller: Arc<Controller>,
    election: Election,
    store: Arc<EtcdStore>,
    health: HealthReporter,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stopping = crate::server::stopped(stop);
        tokio::pin!(stopping);
        set_write_health(&health, false).await;
        let mut leadership = election.subscribe();
        let mut follow = store.watch(controller.revision().await);
        let mut seen: Option<u64> = None;
        loop {
            let now: Leadership = leadership.borrow_and_update().clone();
            let token = now.leader.as_ref().map(|l| l.token);
            if token.is_some() && token != seen {
                controller.metrics.leader_changes.inc();
                seen = token;
            }
            controller.set_leader(now.leader.as_ref().map(|l| l.address.clone()));
            let mut retry = false;
            match now.token {
                Some(t) if controller.term() != Some(t) => match controller.take_office(t).await {
                    Ok(()) => {
                        set_write_health(&health, true).await;
                        tracing::info!(token = t, epoch = controller.epoch(), "this replica leads");
                    }
                    Err(e) => {
                        tracing::warn!(error = format!("{e:#}"), "could not take office; retrying");
                        retry = true;
                    }
                },
                Some(_) => {}
                None => {
                    if controller.term().is_some() {
                        controller.step_down().await;
                        set_write_health(&health, false).await;
                        tracing::warn!(leader = ?now.leader, "this replica no longer leads");
                    }
                }
            }
            let pause = tokio::time::sleep(if retry {
                RETRY_OFFICE
            } else {
                Duration::from_secs(3600)
            });
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    () = &mut stopping => {
                        if controller.term().is_some() {
                            controller.step_down().await;
                        }
                        if let Err(e) = election.resign().await {
                            tracing::warn!(error = %e, "could not resign; the lease will expire");
                        }
                        return;
                    }
                    changed = leadership.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        break;
                    }
                    update = follow.next() => match update {
                        Some(Ok(u)) => controller.follow(u).await,
                        Some(Err(e)) => tracing::debug!(error = %e, "store watch interrupted"),
                        None => {
                            follow = store.watch(controller.revision().await);
                        }
                    },
                    () = &mut pause, if retry => break,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_names_the_leader() {
        let s = not_leader(Some("10.0.0.2:50051"));
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert!(s.message().contains("10.0.0.2:50051"));
        assert_eq!(
            s.metadata().get(LEADER_METADATA).unwrap().to_str().unwrap(),
            "10.0.0.2:50051"
        );
        let s = not_leader(None);
        assert_eq!(
            s.metadata().get(LEADER_METADATA).unwrap().to_str().unwrap(),
            ""
        );
    }

    #[test]
    fn store_errors_map_to_statuses() {
        let fenced = StoreError::Fenced {
            location: "etcd://x/".into(),
            token: 7,
        };
        let s = store_status(&fenced, Some("a:1"));
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert_eq!(
            s.metadata().get(LEADER_METADATA).unwrap().to_str().unwrap(),
            "a:1"
        );
        let gone = StoreError::Unavailable {
            location: "etcd://x/".into(),
            reason: "no quorum".into(),
        };
        let s = store_status(&gone, Some("a:1"));
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert!(s.message().contains("store unavailable"));
        assert!(s.metadata().get(LEADER_METADATA).is_none());
        let other = StoreError::Backend("boom".into());
        assert_eq!(store_status(&other, None).code(), tonic::Code::Internal);
    }
}
