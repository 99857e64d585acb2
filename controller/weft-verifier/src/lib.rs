//! Weft's isolation verifier: rule tables in, a proof of isolation or
//! counterexamples out.
//!
//! Layer: pure core, beside the compiler and independent of it. It reads
//! the [`Topology`](weft_model::Topology), the [`Intent`](weft_model::Intent)
//! (the policy: who leases which port, which network each attachment
//! carries) and per-switch rule tables ([`weft_rules::FabricRules`]), as
//! compiled and lowered or as read back from switches, foreign rules
//! included. It never looks at pipeline entries: a bug in the compiler or
//! in the lowering shows up here as a finding, not as a shared blind spot.
//!
//! # What it interprets
//!
//! OpenFlow 1.3 semantics over the `weft-rules` model: tables from 0,
//! highest-priority match wins (equal-priority overlaps are reported as
//! ambiguous and both followed), apply-actions in order (push/pop/set VLAN,
//! set tunnel id and destination, output of a copy of the frame as it is),
//! write-metadata, goto, table miss drops; no output back to the ingress
//! port except through `IN_PORT`; `ALL`/`FLOOD`, `NORMAL` (any port),
//! `LOCAL`/`CONTROLLER` (leaving the data plane). Frames are followed across
//! the fabric: into the VXLAN tunnel port with a tunnel destination that is
//! a leaf's VTEP, out to that leaf's tunnel port with the sender's VTEP as
//! source; across cabled fabric ports to the peer switch (VLAN trunks); out
//! of server ports to whatever is cabled there.
//!
//! # What it proves
//!
//! The isolation invariant of DESIGN.md, as stated in `docs/verifier.md`:
//! for every frame at every server port (any tag stack) and every VXLAN
//! packet at every leaf (any VNI, any source), delivery happens only at
//! ports of the same operator, on the network the ingress attachment maps
//! to, with the tag the egress attachment expects; frames that must be
//! dropped are; nothing travels under another operator's VNI or fabric
//! VLAN, or to a switch with no member of its network. Findings are
//! classified [`FindingClass::Leak`], [`FindingClass::Misdelivery`],
//! [`FindingClass::PolicyBreach`] or [`FindingClass::Drift`] (connectivity
//! only), each with a concrete counterexample.
//!
//! # Why it is a proof and not a sample
//!
//! Every ingress point's frames are partitioned into classes that together
//! cover all frames (e.g. untagged / each attached tag / any other single
//! tag / two or more tags). Each class starts as a *symbolic* header: free
//! fields are variables. Rules only ever compare a field with a constant
//! (exact match or wildcard; no masks in this model) and only ever write
//! constants, so each variable's set of possible values can always be
//! written as "one of these constants" or "anything but these constants";
//! whenever a rule's test depends on a variable, the state splits into the
//! two cases, and both are followed. The VLAN stack is a list of tag terms
//! plus an unknown tail that splits into "ends here" or "one more tag" only
//! when a rule looks that deep, so no stack depth is assumed. Since every
//! branch's frames take exactly the same path, checking one branch checks
//! all of its frames; since the branches partition each class, nothing is
//! left out. A counterexample is any frame of the offending branch; the
//! verifier picks a readable one (VLAN 1, broadcast destination, source
//! 192.0.2.1 for an unknown VTEP).
//!
//! # What it does not do
//!
//! * No I/O: reading rules back from switches is the agents' job.
//! * It does not model MAC learning, meters, groups, write-actions or
//!   masked matches (the rule model has none). Anything read back that the
//!   model cannot express arrives as `Match::opaque` (both outcomes are
//!   followed) or `Action::Opaque` (reported as uninterpretable).
//! * It does not inject frames at fabric ports (only switches send there)
//!   nor at spines' underlay in VXLAN fabrics; a tenant frame that reaches
//!   either is already a finding.
//! * It judges where frames go, not rates, ordering or timing.
//!
//! # Performance
//!
//! Per-switch results are memoized by canonical state (a frame of network
//! V tunnelled from leaf L to leaf M is interpreted at M once, whatever
//! port it came from); rules are indexed by table, `in_port` and exact
//! values. [`IncrementalVerifier`] keeps which classes used which results
//! and re-walks only those a change can affect.

mod engine;
mod fabric;
mod incremental;
mod interp;
mod lookup;
mod memo;
mod policy;
mod render;
mod report;
mod sym;
mod tables;
mod walk;

pub use engine::{VerifyOptions, verify, verify_with};
pub use incremental::{IncrementalVerifier, Touched};
pub use report::{
    Counterexample, Egress, Finding, FindingClass, FindingKind, Frame, Hop, VerificationReport,
    VerifyStats,
};
pub use weft_rules::FabricRules;

#[cfg(test)]
mod tests;
