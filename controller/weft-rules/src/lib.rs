//! Match/action rule tables: the common language of Weft's data plane.
//!
//! Layer: pure core, beside `weft-model`. A [`SwitchRules`] is what one
//! switch does to a frame, written as OpenFlow 1.3-style prioritized tables.
//! Three parties speak it:
//!
//! * the pipeline lowering (`weft-pipeline`) writes compiled entries as rules;
//! * agents translate rules to flow-mods (OVS) and read installed state back
//!   into rules (OpenFlow flow stats, or netlink objects lowered to rules);
//! * the verifier (`weft-verifier`) interprets rules, never pipeline entries.
//!
//! The model is deliberately small and exact. Anything read back from a
//! switch that it cannot express is kept as [`Match::opaque`] or
//! [`Action::Opaque`], so an interpreter can treat it conservatively instead
//! of silently ignoring it. This crate does not encode OpenFlow bytes.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use weft_model::{PortNo, VlanId};

/// An OpenFlow table id.
pub type TableId = u8;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// A port a rule can match or output to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutPort {
    /// A numbered port (physical, or a tunnel port).
    Port(PortNo),
    /// OFPP_IN_PORT: back out of the ingress port (plain `Port(in_port)` is
    /// suppressed, as OpenFlow requires).
    InPort,
    /// OFPP_ALL / OFPP_FLOOD: every port but the ingress one.
    Flood,
    /// OFPP_NORMAL: the switch's own L2 learning; may reach any port.
    Normal,
    /// OFPP_LOCAL: the switch's own host stack.
    Local,
    /// OFPP_CONTROLLER: sent to a controller.
    Controller,
}

/// What a rule requires of the outermost VLAN tag.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VlanMatch {
    /// No requirement.
    #[default]
    Any,
    /// No tag at all (OFPVID_NONE).
    Untagged,
    /// Some tag, whatever its id (OFPVID_PRESENT/OFPVID_PRESENT).
    AnyTagged,
    /// An outermost tag with this id.
    Vid(VlanId),
}

/// A conjunction of field tests; `None` is a wildcard.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Match {
    pub in_port: Option<PortNo>,
    pub vlan: VlanMatch,
    /// Tunnel id (the VNI for VXLAN), as set by decapsulation or `SetTunnelId`.
    pub tun_id: Option<u64>,
    /// Outer IPv4 source of a decapsulated packet.
    pub tun_src: Option<Ipv4Addr>,
    /// OpenFlow metadata, exact.
    pub metadata: Option<u64>,
    pub eth_dst: Option<MacAddr>,
    /// The EtherType that follows the outermost VLAN tag: the payload's
    /// type for an untagged or single-tagged frame, the next tag's TPID
    /// (0x8100, 0x88a8) for a frame with two or more tags. One tag is
    /// parsed, as Open vSwitch does with its default `vlan-limit=1`; this
    /// is how a rule sees a second tag before the first is popped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eth_type: Option<u16>,
    /// Tests on fields this model does not interpret (e.g. `nw_src=…` in a
    /// flow someone else installed), as the switch printed them. A rule with
    /// any of these may or may not match a given frame; interpreters must
    /// consider both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opaque: Vec<String>,
}

/// One apply-action, executed in order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Remove the outermost VLAN tag.
    PopVlan,
    /// Push a new outermost 802.1Q tag with this id.
    PushVlan(VlanId),
    /// Rewrite the outermost tag's id (no effect on an untagged frame).
    SetVlanVid(VlanId),
    SetTunnelId(u64),
    SetTunnelDst(Ipv4Addr),
    /// Send a copy of the frame, as it is now, to a port.
    Output(OutPort),
    /// An action this model does not interpret, as the switch printed it.
    Opaque(String),
}

/// One flow entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    pub table: TableId,
    pub priority: u16,
    pub matches: Match,
    /// Apply-actions, in order.
    pub actions: Vec<Action>,
    /// Write-metadata instruction (full mask), executed after the actions.
    pub write_metadata: Option<u64>,
    /// Goto-table instruction; must name a later table.
    pub goto: Option<TableId>,
    /// OpenFlow cookie; Weft's rules carry [`Cookie::is_weft`] cookies.
    pub cookie: u64,
}

/// Cookie layout for Weft's flows: the high 32 bits spell `WEFT`, the low
/// 32 bits carry the VNI the flow serves (0 for fabric-wide flows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie;

impl Cookie {
    pub const PREFIX: u64 = 0x5745_4654 << 32;
    pub const PREFIX_MASK: u64 = 0xFFFF_FFFF << 32;

    pub fn for_vni(vni: u32) -> u64 {
        Self::PREFIX | u64::from(vni)
    }

    pub fn is_weft(cookie: u64) -> bool {
        cookie & Self::PREFIX_MASK == Self::PREFIX
    }
}

/// What a port of a switch leads to, for interpreters that follow frames
/// across the fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortKind {
    /// A server-facing port.
    Server,
    /// A fabric port cabled to another switch (VLAN trunks).
    Fabric,
    /// The VXLAN tunnel port: output goes to the VTEP named by the tunnel
    /// destination, ingress comes from the underlay.
    Tunnel,
}

/// The rule tables of one switch. Rules are kept sorted (table, then
/// descending priority, then content) so equal states compare and
/// serialize equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchRules {
    rules: Vec<Rule>,
}

impl SwitchRules {
    pub fn new(mut rules: Vec<Rule>) -> Self {
        rules.sort_by(rule_order);
        rules.dedup();
        SwitchRules { rules }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Rules of one table, highest priority first.
    pub fn table(&self, table: TableId) -> &[Rule] {
        let start = self.rules.partition_point(|r| r.table < table);
        let end = self.rules.partition_point(|r| r.table <= table);
        &self.rules[start..end]
    }

    pub fn insert(&mut self, rule: Rule) {
        match self.rules.binary_search_by(|r| rule_order(r, &rule)) {
            Ok(_) => {}
            Err(i) => self.rules.insert(i, rule),
        }
    }

    pub fn remove(&mut self, rule: &Rule) -> bool {
        match self.rules.binary_search_by(|r| rule_order(r, rule)) {
            Ok(i) => {
                self.rules.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn rule_order(a: &Rule, b: &Rule) -> std::cmp::Ordering {
    a.table
        .cmp(&b.table)
        .then(b.priority.cmp(&a.priority))
        .then_with(|| a.cmp(b))
}

/// The rule tables of every programmed switch of a fabric, by switch.
/// Switches absent from the map have no rules (they drop everything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FabricRules {
    pub switches: std::collections::BTreeMap<weft_model::SwitchId, SwitchRules>,
}
