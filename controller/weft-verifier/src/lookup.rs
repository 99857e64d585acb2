//! Lookup signatures: what one table lookup of the interpreter depended
//! on, so that the incremental verifier can tell which cached per-switch
//! results a rule change could alter (and which it provably cannot).

use std::net::Ipv4Addr;

use weft_model::PortNo;
use weft_rules::{Rule, TableId, VlanMatch};

/// What a table lookup knew of its state, so a later rule change can tell
/// whether the lookup could come out differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LookupSig {
    pub table: TableId,
    pub in_port: PortNo,
    pub metadata: u64,
    pub tun_id: Option<u64>,
    pub tun_src: Option<u64>,
    /// `None`: untagged; `Some(None)`: tagged or unknown, tag unknown.
    pub outer: Option<Option<u64>>,
    pub eth_dst: Option<u64>,
    /// The lowest priority at which some frame of the lookup stopped
    /// looking (the rule it matched); 0 if some frame missed the table.
    /// A rule below it is shadowed for every frame the lookup examined by
    /// a rule that matched them all, so adding or removing it cannot
    /// change the outcome (equal priorities still can: ambiguity).
    pub floor: u16,
}

impl LookupSig {
    /// The same lookup, whatever it found.
    pub(crate) fn same_state(&self, o: &LookupSig) -> bool {
        self.table == o.table
            && self.in_port == o.in_port
            && self.metadata == o.metadata
            && self.tun_id == o.tun_id
            && self.tun_src == o.tun_src
            && self.outer == o.outer
            && self.eth_dst == o.eth_dst
    }

    /// Whether adding or removing `rule` could change what this lookup
    /// found for some frame it examined.
    pub(crate) fn compatible(&self, rule: &Rule) -> bool {
        let m = &rule.matches;
        if rule.priority < self.floor {
            return false;
        }
        let eq = |want: Option<u64>, have: Option<u64>| match (want, have) {
            (Some(w), Some(h)) => w == h,
            _ => true,
        };
        rule.table == self.table
            && m.in_port.is_none_or(|p| p == self.in_port)
            && m.metadata.is_none_or(|v| v == self.metadata)
            && eq(m.tun_id, self.tun_id)
            && eq(m.tun_src.map(ip), self.tun_src)
            && eq(m.eth_dst.map(mac), self.eth_dst)
            && match (m.vlan, self.outer) {
                (VlanMatch::Any, _) => true,
                // `Some(None)` may still be untagged (an unknown stack).
                (VlanMatch::Untagged, outer) => outer.is_none_or(|o| o.is_none()),
                (VlanMatch::AnyTagged, outer) => outer.is_some(),
                (VlanMatch::Vid(v), outer) => {
                    outer.is_some_and(|o| o.is_none_or(|t| t == u64::from(v.get())))
                }
            }
    }
}

pub(crate) fn ip(a: Ipv4Addr) -> u64 {
    u64::from(u32::from(a))
}

pub(crate) fn mac(m: weft_rules::MacAddr) -> u64 {
    m.0.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}
