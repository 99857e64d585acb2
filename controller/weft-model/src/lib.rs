//! Weft's domain model: the pure core everything else stands on.
//!
//! Layer: innermost. Identifiers that cannot hold illegal values
//! ([`Vni`], [`VlanId`], [`PortNo`], [`Name`]), the physical fabric
//! ([`Topology`]), operators' intent ([`Intent`]), their validation from
//! documents ([`spec`]), the identifier allocator and quota checks, and
//! one-step intent changes.
//!
//! This crate does **not** read files, parse YAML, speak gRPC, compile
//! pipeline entries or touch a switch: it has no I/O at all. Parsing lives
//! in `weft-config`, compilation in `weft-pipeline`.

pub mod alloc;
pub mod change;
pub mod ids;
pub mod intent;
pub mod path;
pub mod spec;
pub mod topology;
mod validate;
pub mod violation;

pub use alloc::{AllocError, IdPool, PoolId, QuotaExceeded, QuotaKind};
pub use change::{ChangeError, Effect, IntentChange, ResourceKind};
pub use ids::{IdError, IdRange, Label, Name, PortNo, VlanId, VlanRange, Vni, VniRange};
pub use intent::{AttachMode, Intent, Lease, Network, Operator, Quotas};
pub use path::{FieldPath, PathSegment};
pub use topology::{
    Dataplane, Encapsulation, Link, Nic, Port, PortKey, PortRole, Server, Site, Switch, SwitchId,
    SwitchRole, Topology, VXLAN_TUNNEL_PORT,
};
pub use violation::{Violation, ViolationKind};
