//! What the verifier says: findings, each with a concrete counterexample,
//! and the report that collects them in a deterministic order.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;
use weft_model::Name;

/// How bad a finding is, from the slices' point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingClass {
    /// A frame of one operator can reach another operator (or a port
    /// leased to nobody), or travels under another operator's identifier.
    Leak,
    /// A frame stays with its operator but reaches the wrong network, or
    /// the right port with the wrong tag.
    Misdelivery,
    /// The rules do something the policy forbids without (yet) crossing
    /// operators: a frame that must be dropped is forwarded, a network is
    /// carried where it has no member, a frame leaves the fabric, or the
    /// rules cannot be judged (ambiguous, uninterpretable, looping).
    PolicyBreach,
    /// Ports that should reach each other cannot. Connectivity, not
    /// isolation: a drift never makes a fabric non-isolated.
    Drift,
}

/// The precise rule a finding breaks. [`FindingKind::class`] gives its
/// class; [`FindingKind::code`] a stable kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Delivered at a server port not leased to the frame's operator.
    CrossOperatorDelivery,
    /// Sent between switches under a VNI or fabric VLAN of another
    /// operator's network.
    ForeignIdOnWire,
    /// Delivered at (or sent under the identifier of) another network of
    /// the same operator, or at a port not attached to the frame's network.
    WrongNetwork,
    /// Delivered at a port attached to the right network, with a tag stack
    /// the attachment does not expect.
    WrongTag,
    /// A frame from a port leased to nobody was forwarded.
    UnleasedPortForwards,
    /// An untagged frame from a port with no access attachment was forwarded.
    UntaggedNotAttached,
    /// A frame tagged with a VLAN the port is not attached with (e.g. any
    /// tag on an access port) was forwarded.
    TagNotAttached,
    /// A frame with two or more tags was forwarded.
    DoubleTagged,
    /// A VXLAN packet from a source that is not a member VTEP of its VNI
    /// was forwarded.
    TunnelFromNonMember,
    /// A VXLAN packet with a VNI that has no member on the receiving leaf
    /// was forwarded.
    TunnelUnknownVni,
    /// Sent between switches under a VNI or VLAN that belongs to no
    /// network, or untagged on a trunk.
    UnassignedIdOnWire,
    /// Sent raw on an underlay link of a VXLAN fabric, or into a tunnel in
    /// a VLAN fabric.
    ForbiddenCarrier,
    /// Sent to a switch or VTEP that has no member port of the network.
    ExcessReach,
    /// Sent out of a port or to an address outside the modelled fabric.
    LeavesFabric,
    /// Sent to the switch's controller or host stack.
    LeavesDataPlane,
    /// Two rules of equal priority in one table can match the same frame.
    Ambiguous,
    /// A rule the verifier cannot interpret is reachable.
    Uninterpretable,
    /// A frame can circulate forever (or past the hop bound).
    Loop,
    /// A member port of a network cannot reach another member port.
    Unreachable,
}

impl FindingKind {
    pub fn class(self) -> FindingClass {
        use FindingKind::*;
        match self {
            CrossOperatorDelivery | ForeignIdOnWire => FindingClass::Leak,
            WrongNetwork | WrongTag => FindingClass::Misdelivery,
            Unreachable => FindingClass::Drift,
            UnleasedPortForwards | UntaggedNotAttached | TagNotAttached | DoubleTagged
            | TunnelFromNonMember | TunnelUnknownVni | UnassignedIdOnWire | ForbiddenCarrier
            | ExcessReach | LeavesFabric | LeavesDataPlane | Ambiguous | Uninterpretable | Loop => {
                FindingClass::PolicyBreach
            }
        }
    }

    /// A stable, kebab-case identifier (as serialized).
    pub fn code(self) -> &'static str {
        use FindingKind::*;
        match self {
            CrossOperatorDelivery => "cross-operator-delivery",
            ForeignIdOnWire => "foreign-id-on-wire",
            WrongNetwork => "wrong-network",
            WrongTag => "wrong-tag",
            UnleasedPortForwards => "unleased-port-forwards",
            UntaggedNotAttached => "untagged-not-attached",
            TagNotAttached => "tag-not-attached",
            DoubleTagged => "double-tagged",
            TunnelFromNonMember => "tunnel-from-non-member",
            TunnelUnknownVni => "tunnel-unknown-vni",
            UnassignedIdOnWire => "unassigned-id-on-wire",
            ForbiddenCarrier => "forbidden-carrier",
            ExcessReach => "excess-reach",
            LeavesFabric => "leaves-fabric",
            LeavesDataPlane => "leaves-data-plane",
            Ambiguous => "ambiguous",
            Uninterpretable => "uninterpretable",
            Loop => "loop",
            Unreachable => "unreachable",
        }
    }
}

/// A concrete frame: one member of the class a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// 802.1Q tags, outermost first.
    pub vlan_tags: Vec<u16>,
    /// Destination MAC, `aa:bb:cc:dd:ee:ff`.
    pub eth_dst: String,
    /// Tunnel id (VNI), for frames received from or sent into a tunnel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tun_id: Option<u64>,
    /// Outer source address of a received VXLAN packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tun_src: Option<Ipv4Addr>,
    /// Outer destination address of a VXLAN packet being sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tun_dst: Option<Ipv4Addr>,
}

/// One hop of a counterexample's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "hop", rename_all = "kebab-case")]
pub enum Hop {
    /// A rule applied: where, which rule, and the actions it ran up to the
    /// point that matters (the output that sent this copy, or all).
    Rule {
        switch: String,
        in_port: String,
        table: u8,
        priority: u16,
        cookie: u64,
        actions: String,
        /// Set when the rule tests fields the verifier cannot read and the
        /// path assumes they held.
        #[serde(skip_serializing_if = "Option::is_none")]
        assumes: Option<String>,
    },
    /// Across a cable, `SWITCH/PORT` to `SWITCH/PORT`.
    Link { from: String, to: String },
    /// Through the underlay from one VTEP to another.
    Tunnel {
        from: String,
        to: String,
        vni: u64,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    },
}

/// A frame that shows the finding, and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counterexample {
    /// Where the frame enters: `SWITCH/PORT`, or `SWITCH/vxlan` for a VXLAN
    /// packet from the underlay.
    pub ingress: String,
    /// The ingress class the frame belongs to (e.g. `untagged`,
    /// `tagged 100`, `vni 5001 from member 10.0.0.2`).
    pub class: String,
    /// The frame as injected.
    pub header: Frame,
    /// Every rule and every hop between switches, in order.
    pub path: Vec<Hop>,
    /// Where the frame ends up for this finding (a port, a wire, a
    /// controller), and how it looks there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<Egress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Egress {
    pub at: String,
    pub frame: Frame,
}

/// One thing wrong with the rules, with a counterexample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub class: FindingClass,
    pub kind: FindingKind,
    pub summary: String,
    /// The operator the frame belongs to (lessee of the ingress port, or
    /// owner of the VNI it arrived with), if any.
    pub source_operator: Option<Name>,
    /// The operator reached (lessee of the egress port, or owner of the
    /// identifier on the wire), if any.
    pub destination_operator: Option<Name>,
    pub counterexample: Counterexample,
}

/// Counts that say how much was checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VerifyStats {
    pub switches: usize,
    pub rules: usize,
    /// Server ports and tunnel ports frames were injected at.
    pub ingress_points: usize,
    /// Header classes injected; together they cover every possible frame.
    pub ingress_classes: usize,
    /// Distinct (switch, symbolic state) transfer results computed and kept.
    pub switch_states: usize,
    /// Findings before the report's limit.
    pub findings_total: usize,
    /// Findings left out of the report because of its limit.
    pub findings_omitted: usize,
}

/// The verdict: findings (sorted: class, kind, ingress, then discovery
/// order) and statistics. Equal inputs give byte-identical reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerificationReport {
    pub findings: Vec<Finding>,
    pub stats: VerifyStats,
}

impl VerificationReport {
    /// No leak, no misdelivery and no policy breach: the isolation
    /// invariant holds for every frame. Drift does not count.
    pub fn is_isolated(&self) -> bool {
        self.findings.iter().all(|f| f.class == FindingClass::Drift)
    }

    pub fn count(&self, class: FindingClass) -> usize {
        self.findings.iter().filter(|f| f.class == class).count()
    }

    pub fn of_class(&self, class: FindingClass) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.class == class)
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.vlan_tags.as_slice() {
            [] => write!(f, "untagged")?,
            tags => {
                let t: Vec<String> = tags.iter().map(u16::to_string).collect();
                write!(f, "vlan {}", t.join("/"))?;
            }
        }
        write!(f, ", dst {}", self.eth_dst)?;
        if let Some(id) = self.tun_id {
            write!(f, ", vni {id}")?;
        }
        if let Some(a) = self.tun_src {
            write!(f, ", from {a}")?;
        }
        if let Some(a) = self.tun_dst {
            write!(f, ", to {a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hop::Rule {
                switch,
                in_port,
                table,
                priority,
                cookie,
                actions,
                assumes,
            } => {
                write!(
                    f,
                    "{switch} in_port={in_port} table={table} priority={priority} cookie={cookie:#x}: {actions}"
                )?;
                if let Some(a) = assumes {
                    write!(f, " (assuming {a})")?;
                }
                Ok(())
            }
            Hop::Link { from, to } => write!(f, "link {from} -> {to}"),
            Hop::Tunnel {
                from,
                to,
                vni,
                src,
                dst,
            } => {
                write!(f, "tunnel {from} ({src}) -> {to} ({dst}), vni {vni}")
            }
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cx = &self.counterexample;
        let class = serde_name(self.class);
        writeln!(f, "{class} [{}]: {}", self.kind.code(), self.summary)?;
        writeln!(f, "  ingress {} ({}): {}", cx.ingress, cx.class, cx.header)?;
        for hop in &cx.path {
            writeln!(f, "    {hop}")?;
        }
        if let Some(e) = &cx.egress {
            writeln!(f, "  egress {}: {}", e.at, e.frame)?;
        }
        Ok(())
    }
}

fn serde_name(c: FindingClass) -> &'static str {
    match c {
        FindingClass::Leak => "leak",
        FindingClass::Misdelivery => "misdelivery",
        FindingClass::PolicyBreach => "policy-breach",
        FindingClass::Drift => "drift",
    }
}

impl fmt::Display for VerificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        if self.is_isolated() {
            write!(f, "isolated")?;
        } else {
            write!(f, "NOT isolated")?;
        }
        writeln!(
            f,
            ": {} leak(s), {} misdelivery(ies), {} policy breach(es), {} drift(s); \
             {} ingress classes at {} points over {} rules on {} switches",
            self.count(FindingClass::Leak),
            self.count(FindingClass::Misdelivery),
            self.count(FindingClass::PolicyBreach),
            self.count(FindingClass::Drift),
            s.ingress_classes,
            s.ingress_points,
            s.rules,
            s.switches,
        )?;
        for finding in &self.findings {
            write!(f, "{finding}")?;
        }
        if s.findings_omitted > 0 {
            writeln!(
                f,
                "... and {} more finding(s) not listed",
                s.findings_omitted
            )?;
        }
        Ok(())
    }
}
