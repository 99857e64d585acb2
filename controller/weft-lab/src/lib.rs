//! `weft-lab`: a Weft fabric on one machine.
//!
//! The building blocks (network namespaces, private Open vSwitch
//! instances, processes stopped by pid) are used by `weftctl lab` and by
//! the end-to-end tests. Everything made is named after the lab and
//! recorded, so `weftctl lab down` removes it even after a crash.

mod cmd;
pub mod etcd;
pub mod frames;
pub mod lab;
pub mod netns;
pub mod ovs;
pub mod process;

pub use cmd::{LabError, Result, have, is_root, ovs_unavailable, run, skip_for};
pub use lab::{AgentLaunch, Endpoint, Lab, LabSpec, LabState, NicInfo, down};
pub use netns::Netns;
pub use ovs::{Datapath, OvsInstance};
