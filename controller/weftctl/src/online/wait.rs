//! Waiting for the switches to program a change: a mutation is stored at a
//! revision; it is in force once every switch it touched has acknowledged
//! that revision (the controller's `programmed_revision` reaches it).
//!
//! The wait is a loop of short `GetFabricStatus(wait_for_revision)` calls,
//! each with its own deadline, so progress can be shown between them and
//! `--timeout` bounds the whole wait, whether the controller holds each
//! call until the revision is programmed or answers at once.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tonic::{Code, Request};
use weft_proto::v1::{GetFabricStatusRequest, GetFabricStatusResponse};

use super::client::Session;
use super::error::OnlineError;

/// The deadline of each status call while waiting.
const POLL: Duration = Duration::from_millis(250);
/// Extra time before the client gives up on a call whose deadline the
/// server should already have enforced.
const SLACK: Duration = Duration::from_millis(250);

/// How far the switches are with one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub revision: u64,
    pub total: usize,
    pub done: usize,
    /// Switches still to acknowledge, with why, when known.
    pub pending: Vec<String>,
}

/// A switch is done when it acknowledged the revision, or when its desired
/// state is older than the revision (the change does not touch it).
pub fn progress(status: &GetFabricStatusResponse, revision: u64) -> Progress {
    let mut pending = Vec::new();
    for s in &status.switches {
        if s.acked_generation >= revision || s.desired_generation < revision {
            continue;
        }
        let why = if !s.last_error.is_empty() {
            format!("{}: {}", s.switch, s.last_error)
        } else if !s.connected {
            format!("{}: agent not connected", s.switch)
        } else {
            s.switch.clone()
        };
        pending.push(why);
    }
    Progress {
        revision,
        total: status.switches.len(),
        done: status.switches.len().saturating_sub(pending.len()),
        pending,
    }
}

impl Progress {
    /// `1/2 acknowledged (rack2-leaf pending)`; long lists are cut.
    pub fn describe(&self) -> String {
        const SHOWN: usize = 3;
        let mut text = format!("{}/{} acknowledged", self.done, self.total);
        if !self.pending.is_empty() {
            let mut names = self.pending[..self.pending.len().min(SHOWN)].join(", ");
            if self.pending.len() > SHOWN {
                names.push_str(&format!(" and {} more", self.pending.len() - SHOWN));
            }
            text.push_str(&format!(" ({names} pending)"));
        }
        text
    }
}

/// A progress line on stderr, rewritten in place; only on a terminal.
#[derive(Debug)]
struct Display {
    enabled: bool,
    width: usize,
}

impl Display {
    fn show(&mut self, p: &Progress) {
        if !self.enabled {
            return;
        }
        let line = format!(
            "waiting for switches to program revision {}: {}",
            p.revision,
            p.describe()
        );
        let pad = " ".repeat(self.width.saturating_sub(line.chars().count()));
        self.width = line.chars().count();
        let mut err = std::io::stderr();
        let _ = write!(err, "\r{line}{pad}");
        let _ = err.flush();
    }

    fn clear(&mut self) {
        if self.enabled && self.width > 0 {
            let _ = write!(std::io::stderr(), "\r{}\r", " ".repeat(self.width));
            self.width = 0;
        }
    }
}

/// One status call with a deadline; `Ok(None)` when the deadline passed.
async fn status_call(
    session: &mut Session,
    wait_for_revision: u64,
    deadline: Duration,
) -> Result<Option<GetFabricStatusResponse>, OnlineError> {
    let mut request = Request::new(GetFabricStatusRequest { wait_for_revision });
    request.set_timeout(deadline);
    let mut client = session.fabric().await?;
    let call = client.get_fabric_status(request);
    match tokio::time::timeout(deadline + SLACK, call).await {
        Ok(Ok(response)) => Ok(Some(response.into_inner())),
        Ok(Err(s)) if matches!(s.code(), Code::DeadlineExceeded | Code::Cancelled) => Ok(None),
        Ok(Err(s)) => Err(s.into()),
        Err(_elapsed) => Ok(None),
    }
}

/// Waits until `revision` is programmed, or `timeout` passes (exit 8).
pub async fn wait_for_revision(
    session: &mut Session,
    revision: u64,
    timeout: Duration,
) -> Result<Progress, OnlineError> {
    let start = Instant::now();
    let mut display = Display {
        enabled: std::io::stderr().is_terminal(),
        width: 0,
    };
    let mut last: Option<Progress> = None;
    loop {
        let remaining = timeout.saturating_sub(start.elapsed());
        if remaining.is_zero() {
            display.clear();
            let where_ = last
                .map(|p| format!(": {}", p.describe()))
                .unwrap_or_default();
            return Err(OnlineError::Unavailable(format!(
                "timed out after {}s waiting for the switches to program revision {revision}{where_}; \
                 the change is stored: follow it with `weftctl status`",
                timeout.as_secs_f32()
            )));
        }
        let call_started = Instant::now();
        let per_call = POLL.min(remaining);
        let mut answer = status_call(session, revision, per_call).await?;
        if answer.is_none() {
            // The controller held the call for the whole deadline: ask
            // where things stand without waiting, to show progress.
            answer = status_call(session, 0, POLL.min(remaining)).await?;
        }
        if let Some(status) = answer {
            let p = progress(&status, revision);
            if status.programmed_revision >= revision {
                display.clear();
                return Ok(p);
            }
            display.show(&p);
            last = Some(p);
        }
        // A controller that answers at once must not be polled in a spin.
        let spent = call_started.elapsed();
        if spent < POLL {
            let rest = timeout.saturating_sub(start.elapsed());
            tokio::time::sleep((POLL - spent).min(rest)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use weft_proto::v1::SwitchProgramming;

    use super::*;

    fn sw(name: &str, desired: u64, acked: u64, connected: bool) -> SwitchProgramming {
        SwitchProgramming {
            switch: name.into(),
            desired_generation: desired,
            acked_generation: acked,
            connected,
            last_error: String::new(),
            backend: "memory".into(),
            ..Default::default()
        }
    }

    #[test]
    fn untouched_and_acknowledged_switches_are_done() {
        let status = GetFabricStatusResponse {
            revision: 12,
            programmed_revision: 10,
            switches: vec![
                sw("rack1-leaf", 12, 12, true),
                sw("rack2-leaf", 12, 10, true),
                sw("spine", 7, 7, true),
                sw("rack3-leaf", 12, 0, false),
            ],
            ..GetFabricStatusResponse::default()
        };
        let p = progress(&status, 12);
        assert_eq!((p.done, p.total), (2, 4));
        assert_eq!(
            p.describe(),
            "2/4 acknowledged (rack2-leaf, rack3-leaf: agent not connected pending)"
        );
    }

    #[test]
    fn long_pending_lists_are_cut_and_errors_named() {
        let mut switches: Vec<_> = (1..=5)
            .map(|i| sw(&format!("leaf{i}"), 3, 2, true))
            .collect();
        switches[0].last_error = "flow-mod refused".into();
        let status = GetFabricStatusResponse {
            switches,
            ..GetFabricStatusResponse::default()
        };
        assert_eq!(
            progress(&status, 3).describe(),
            "0/5 acknowledged (leaf1: flow-mod refused, leaf2, leaf3 and 2 more pending)"
        );
        assert_eq!(progress(&status, 2).describe(), "5/5 acknowledged");
    }
}
