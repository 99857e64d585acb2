//! `weft-agent`: the switch side of Weft's agent session.
//!
//! One agent runs per leaf switch. It connects to `weftd` with its mTLS
//! identity (role `agent`, scoped to its switch), says hello with the
//! generation its data plane holds and the highest controller epoch it has
//! accepted, then receives a snapshot and deltas of [pipeline
//! entries](weft_pipeline::PipelineEntry), applies them through a
//! [`Backend`], and acknowledges (or nacks with the error). It reports what
//! the data plane really holds when asked, reconnects with jittered backoff,
//! and refuses messages from an older controller epoch. Given several
//! controller replicas, it tries them in turn and follows a follower's
//! `UNAVAILABLE` answer to the leader it names (`weft-leader` trailer).
//!
//! The session logic lives in [`session`] and is the same for every data
//! plane; backends only turn entries into data-plane state. This crate ships
//! the [`MemoryBackend`] (in-process, used by `weftd --simulate` and tests);
//! the Open vSwitch and Linux backends plug into the same trait.
//!
//! Not here: lowering rules (that is `weft_pipeline::lower_switch`, shared
//! with the verifier) and deciding what to install (the controller does).

mod backend;
pub mod linux;
mod memory;
pub mod ovs;
pub mod session;

pub use backend::{ApplyStats, Backend, BackendError, Observed, SwitchContext};
pub use memory::MemoryBackend;
pub use session::{AgentConfig, AgentTls, LEADER_METADATA, SessionEvent, run};
