//! Lowering: one switch's pipeline entries → OpenFlow 1.3 rule tables.
//!
//! A pure, deterministic function shared by the OVS agent (what to install)
//! and the verifier's expected-state path (what should be installed). See
//! `docs/pipeline.md` for the reasoning; in short:
//!
//! | table | rule | priority band |
//! |---|---|---|
//! | 0 classify | `in_port=P, vlan=none` → `write_metadata:V, goto 1` (access) | [`priority::CLASSIFY`] |
//! | 0 classify | `in_port=P, vlan=T` → `pop_vlan, write_metadata:V, goto 1` (tagged, trunk) | [`priority::CLASSIFY`] |
//! | 0 classify | `in_port=tunnel, tun_id=V, tun_src=R` → `write_metadata:V, goto 1` | [`priority::CLASSIFY`] |
//! | 0 classify | `in_port=P, vlan=T, eth_type=0x8100` or `0x88a8` → drop (a second tag, seen before the pop) | [`priority::INNER_TAG_GUARD`] |
//! | 0 classify | anything else → drop | [`priority::DEFAULT`] |
//! | 1 tag guard | `vlan=any tag` → drop (a tag left after classification: double-tagged) | [`priority::TAG_GUARD`] |
//! | 1 tag guard | anything else → `goto 2` | [`priority::DEFAULT`] |
//! | 2 flood | `metadata=V, in_port=tunnel` → local outputs only (split horizon) | [`priority::FLOOD_FROM_TUNNEL`] |
//! | 2 flood | `metadata=V` → local outputs, trunk outputs, tunnel outputs | [`priority::FLOOD`] |
//! | 2 flood | anything else → drop | [`priority::DEFAULT`] |
//!
//! Within a flood rule, outputs come in a fixed order: untagged ports, then
//! each tagged port as `push_vlan:T, output:P, pop_vlan` (so later outputs
//! see the frame untagged again), then trunk ports likewise with the fabric
//! VLAN, then `set_tunnel:V` and `set_tun_dst:R, output:tunnel` per remote
//! VTEP. OpenFlow suppresses output to the ingress port, so a frame never
//! goes back where it came from. Every rule serving a network carries
//! `Cookie::for_vni(V)`; the fabric-wide rules carry `Cookie::for_vni(0)`.

use weft_model::{
    AttachMode, Encapsulation, PortNo, SwitchId, SwitchRole, Topology, VXLAN_TUNNEL_PORT, VlanId,
    Vni,
};
use weft_rules::{
    Action, Cookie, FabricRules, Match, OutPort, Rule, SwitchRules, TableId, VlanMatch,
};

use crate::entry::PipelineEntry;
use crate::fabric::{CompiledFabric, FabricDelta, SwitchDelta};

/// Table 0: maps (in_port, tag) or (tunnel, VNI, source) to a network.
pub const TABLE_CLASSIFY: TableId = 0;
/// Table 1: drops frames that still carry a tag after classification.
pub const TABLE_TAG_GUARD: TableId = 1;
/// Table 2: floods a network's frames to its outputs.
pub const TABLE_FLOOD: TableId = 2;

/// Named priority bands. Weft's own matches never overlap within a band, so
/// one value per band suffices; the gaps leave room for later tables (MAC
/// learning, ACLs) without renumbering.
pub mod priority {
    /// Table-miss behaviour, written out (drop, or goto in the tag guard)
    /// so read-back state shows it.
    pub const DEFAULT: u16 = 0;
    /// Port, trunk and tunnel classification.
    pub const CLASSIFY: u16 = 1000;
    /// Dropping a tagged port's or trunk's frames that carry a second tag,
    /// before the first is popped: above [`CLASSIFY`].
    pub const INNER_TAG_GUARD: u16 = 1100;
    /// Dropping anything still tagged.
    pub const TAG_GUARD: u16 = 1000;
    /// Flooding a network's frames.
    pub const FLOOD: u16 = 1000;
    /// Flooding a network's frames that came from a tunnel: above
    /// [`FLOOD`] so that it wins for tunnel ingress.
    pub const FLOOD_FROM_TUNNEL: u16 = 2000;
}

/// Cookie of the rules that serve no particular network.
pub fn fabric_cookie() -> u64 {
    Cookie::for_vni(0)
}

fn vni_cookie(vni: Vni) -> u64 {
    Cookie::for_vni(vni.get())
}

fn metadata(vni: Vni) -> u64 {
    u64::from(vni.get())
}

/// Whether Weft programs this switch at all: every leaf, and spines in
/// `vlan` fabrics (they carry trunks). Spines of a `vxlan` fabric only
/// route the underlay; Weft leaves them alone.
pub fn is_programmed(topo: &Topology, switch: SwitchId) -> bool {
    topo.switches
        .get(switch.index())
        .is_some_and(|sw| sw.role == SwitchRole::Leaf || topo.encapsulation == Encapsulation::Vlan)
}

/// The fixed rules of every programmed switch: the default drops and the
/// tag guard.
pub fn base_rules() -> [Rule; 4] {
    let rule = |table, priority, matches, goto| Rule {
        table,
        priority,
        matches,
        actions: Vec::new(),
        write_metadata: None,
        goto,
        cookie: fabric_cookie(),
    };
    [
        rule(TABLE_CLASSIFY, priority::DEFAULT, Match::default(), None),
        rule(
            TABLE_TAG_GUARD,
            priority::TAG_GUARD,
            Match {
                vlan: VlanMatch::AnyTagged,
                ..Match::default()
            },
            None,
        ),
        rule(
            TABLE_TAG_GUARD,
            priority::DEFAULT,
            Match::default(),
            Some(TABLE_FLOOD),
        ),
        rule(TABLE_FLOOD, priority::DEFAULT, Match::default(), None),
    ]
}

/// The rule tables of one switch for its entries (normally sorted, as the
/// compiler gives them; other orders give the same rules). Unprogrammed
/// switches (see [`is_programmed`]) get no rules.
pub fn lower_switch(topo: &Topology, switch: SwitchId, entries: &[PipelineEntry]) -> SwitchRules {
    if !is_programmed(topo, switch) {
        return SwitchRules::default();
    }
    // The grouping below relies on canonical order; entries read back or
    // assembled by hand may not be in it.
    let sorted;
    let entries = if entries.is_sorted() {
        entries
    } else {
        let mut copy = entries.to_vec();
        copy.sort_unstable();
        copy.dedup();
        sorted = copy;
        &sorted
    };
    let mut rules: Vec<Rule> = base_rules().into();
    rules.extend(entries.iter().filter_map(|e| classify_rule(*e)));
    rules.extend(entries.iter().flat_map(|e| inner_tag_guards(*e)).flatten());
    for group in flood_groups(entries) {
        rules.extend(group.rules());
    }
    SwitchRules::new(rules)
}

/// Lowers every switch of a compiled fabric.
pub fn lower_fabric(topo: &Topology, fabric: &CompiledFabric) -> FabricRules {
    FabricRules {
        switches: topo
            .switch_ids()
            .filter(|&s| is_programmed(topo, s))
            .map(|s| (s, lower_switch(topo, s, fabric.entries(s))))
            .collect(),
    }
}

/// The table-0 rule of an ingress entry; `None` for flood entries.
pub fn classify_rule(entry: PipelineEntry) -> Option<Rule> {
    let (vni, matches, pop) = match entry {
        PipelineEntry::PortIngress {
            port,
            mode: AttachMode::Access,
            vni,
        } => (vni, port_match(port, VlanMatch::Untagged), false),
        PipelineEntry::PortIngress {
            port,
            mode: AttachMode::Tagged(tag),
            vni,
        } => (vni, port_match(port, VlanMatch::Vid(tag)), true),
        PipelineEntry::TrunkIngress {
            port,
            fabric_vlan,
            vni,
        } => (vni, port_match(port, VlanMatch::Vid(fabric_vlan)), true),
        PipelineEntry::TunnelIngress { vni, remote } => {
            let m = Match {
                in_port: Some(VXLAN_TUNNEL_PORT),
                tun_id: Some(u64::from(vni.get())),
                tun_src: Some(remote),
                ..Match::default()
            };
            (vni, m, false)
        }
        PipelineEntry::FloodPort { .. }
        | PipelineEntry::FloodTunnel { .. }
        | PipelineEntry::FloodTrunk { .. } => return None,
    };
    Some(Rule {
        table: TABLE_CLASSIFY,
        priority: priority::CLASSIFY,
        matches,
        actions: if pop {
            vec![Action::PopVlan]
        } else {
            Vec::new()
        },
        write_metadata: Some(metadata(vni)),
        goto: Some(TABLE_TAG_GUARD),
        cookie: vni_cookie(vni),
    })
}

/// The TPIDs of 802.1Q and 802.1ad tags.
pub const VLAN_TPIDS: [u16; 2] = [0x8100, 0x88a8];

/// The table-0 drops that go with a tagged port or trunk ingress entry:
/// frames of that (port, tag) whose next EtherType is another tag.
///
/// The tag guard in table 1 already drops what is still tagged after the
/// pop. These rules drop it *before* the pop as well, because Open vSwitch
/// parses one tag by default (`vlan-limit=1`), so after `pop_vlan` it no
/// longer sees a second tag — and with `vlan-limit=2` its userspace
/// datapath was seen to reuse a cached megaflow of a single-tagged frame
/// for a double-tagged one. Before the pop, the second tag is simply the
/// EtherType, which every datapath matches exactly.
pub fn inner_tag_guards(entry: PipelineEntry) -> Option<[Rule; 2]> {
    let (port, tag, vni) = match entry {
        PipelineEntry::PortIngress {
            port,
            mode: AttachMode::Tagged(tag),
            vni,
        } => (port, tag, vni),
        PipelineEntry::TrunkIngress {
            port,
            fabric_vlan,
            vni,
        } => (port, fabric_vlan, vni),
        _ => return None,
    };
    Some(VLAN_TPIDS.map(|tpid| Rule {
        table: TABLE_CLASSIFY,
        priority: priority::INNER_TAG_GUARD,
        matches: Match {
            eth_type: Some(tpid),
            ..port_match(port, VlanMatch::Vid(tag))
        },
        actions: Vec::new(),
        write_metadata: None,
        goto: None,
        cookie: vni_cookie(vni),
    }))
}

fn port_match(port: PortNo, vlan: VlanMatch) -> Match {
    Match {
        in_port: Some(port),
        vlan,
        ..Match::default()
    }
}

/// The flood entries of one network on one switch, plus whether the switch
/// accepts the network from tunnels (which calls for a split-horizon rule).
/// Also the unit the Linux lowering works with (one bridge per network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodGroup {
    pub vni: Vni,
    pub ports: Vec<(PortNo, AttachMode)>,
    pub trunks: Vec<(PortNo, VlanId)>,
    pub remotes: Vec<std::net::Ipv4Addr>,
    pub from_tunnel: bool,
}

impl FloodGroup {
    /// The network's table-2 rules: the flood rule and, when the network is
    /// accepted from tunnels, the split-horizon rule. No rules when the
    /// group has no outputs and no tunnel ingress.
    pub fn rules(&self) -> Vec<Rule> {
        let vni = self.vni;
        let mut local = Vec::new();
        for &(port, mode) in &self.ports {
            if mode == AttachMode::Access {
                local.push(Action::Output(OutPort::Port(port)));
            }
        }
        for &(port, mode) in &self.ports {
            if let AttachMode::Tagged(tag) = mode {
                local.extend(tagged_output(port, tag));
            }
        }
        for &(port, fabric_vlan) in &self.trunks {
            local.extend(tagged_output(port, fabric_vlan));
        }
        let mut all = local.clone();
        if !self.remotes.is_empty() {
            all.push(Action::SetTunnelId(u64::from(vni.get())));
            for &remote in &self.remotes {
                all.push(Action::SetTunnelDst(remote));
                all.push(Action::Output(OutPort::Port(VXLAN_TUNNEL_PORT)));
            }
        }
        let flood = |priority, matches, actions| Rule {
            table: TABLE_FLOOD,
            priority,
            matches,
            actions,
            write_metadata: None,
            goto: None,
            cookie: vni_cookie(vni),
        };
        let mut rules = Vec::with_capacity(2);
        if !all.is_empty() {
            let m = Match {
                metadata: Some(metadata(vni)),
                ..Match::default()
            };
            rules.push(flood(priority::FLOOD, m, all));
        }
        if self.from_tunnel {
            let m = Match {
                in_port: Some(VXLAN_TUNNEL_PORT),
                metadata: Some(metadata(vni)),
                ..Match::default()
            };
            rules.push(flood(priority::FLOOD_FROM_TUNNEL, m, local));
        }
        rules
    }
}

fn tagged_output(port: PortNo, tag: VlanId) -> [Action; 3] {
    [
        Action::PushVlan(tag),
        Action::Output(OutPort::Port(port)),
        Action::PopVlan,
    ]
}

/// The flood groups of a switch's sorted entries, in VNI order.
pub fn flood_groups(entries: &[PipelineEntry]) -> impl Iterator<Item = FloodGroup> + '_ {
    FloodGroups::new(entries)
}

/// Iterates the flood groups of a sorted entry slice in VNI order, merging
/// the four VNI-keyed regions (tunnel-ingress, flood-port, flood-tunnel,
/// flood-trunk) without allocating per entry beyond the groups themselves.
struct FloodGroups<'a> {
    tunnel_in: &'a [PipelineEntry],
    ports: &'a [PipelineEntry],
    remotes: &'a [PipelineEntry],
    trunks: &'a [PipelineEntry],
}

impl<'a> FloodGroups<'a> {
    fn new(entries: &'a [PipelineEntry]) -> Self {
        let region = |pred: fn(&PipelineEntry) -> bool| {
            let start = entries.iter().position(pred).unwrap_or(entries.len());
            let len = entries[start..].iter().take_while(|e| pred(e)).count();
            &entries[start..start + len]
        };
        FloodGroups {
            tunnel_in: region(|e| matches!(e, PipelineEntry::TunnelIngress { .. })),
            ports: region(|e| matches!(e, PipelineEntry::FloodPort { .. })),
            remotes: region(|e| matches!(e, PipelineEntry::FloodTunnel { .. })),
            trunks: region(|e| matches!(e, PipelineEntry::FloodTrunk { .. })),
        }
    }
}

/// Splits off the prefix of `slice` whose entries serve `vni`.
fn take_vni<'a>(slice: &mut &'a [PipelineEntry], vni: Vni) -> &'a [PipelineEntry] {
    let n = slice.iter().take_while(|e| e.vni() == vni).count();
    let (head, tail) = slice.split_at(n);
    *slice = tail;
    head
}

impl Iterator for FloodGroups<'_> {
    type Item = FloodGroup;

    fn next(&mut self) -> Option<FloodGroup> {
        let vni = [self.tunnel_in, self.ports, self.remotes, self.trunks]
            .iter()
            .filter_map(|s| s.first().map(PipelineEntry::vni))
            .min()?;
        Some(group_of(
            vni,
            take_vni(&mut self.tunnel_in, vni),
            [
                take_vni(&mut self.ports, vni),
                take_vni(&mut self.remotes, vni),
                take_vni(&mut self.trunks, vni),
            ],
        ))
    }
}

fn group_of(vni: Vni, tunnel_in: &[PipelineEntry], floods: [&[PipelineEntry]; 3]) -> FloodGroup {
    let mut g = FloodGroup {
        vni,
        ports: Vec::new(),
        trunks: Vec::new(),
        remotes: Vec::new(),
        from_tunnel: !tunnel_in.is_empty(),
    };
    for e in floods.iter().flat_map(|s| s.iter()) {
        match *e {
            PipelineEntry::FloodPort { port, mode, .. } => g.ports.push((port, mode)),
            PipelineEntry::FloodTunnel { remote, .. } => g.remotes.push(remote),
            PipelineEntry::FloodTrunk {
                port, fabric_vlan, ..
            } => g.trunks.push((port, fabric_vlan)),
            _ => {}
        }
    }
    g
}

/// A change of one switch's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleDelta {
    pub removed: Vec<Rule>,
    pub added: Vec<Rule>,
}

impl RuleDelta {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }

    /// Applies the delta to installed rules.
    pub fn apply_to(&self, rules: &mut SwitchRules) {
        for r in &self.removed {
            rules.remove(r);
        }
        for r in &self.added {
            rules.insert(r.clone());
        }
    }
}

/// The rule change for an entry change on one switch, without re-lowering
/// the switch: each ingress entry maps to one rule, and only the networks
/// whose flood or tunnel-ingress entries changed get their table-2 rules
/// recomputed. `after` is the switch's entries *after* the delta.
///
/// `lower_switch(before)` with `lower_delta(...)` applied equals
/// `lower_switch(after)`. A rule that is removed and re-added unchanged
/// appears in neither list.
pub fn lower_delta(
    topo: &Topology,
    switch: SwitchId,
    after: &[PipelineEntry],
    delta: &SwitchDelta,
) -> RuleDelta {
    let mut out = RuleDelta::default();
    if !is_programmed(topo, switch) {
        return out;
    }
    out.removed
        .extend(delta.removed.iter().filter_map(|e| classify_rule(*e)));
    out.removed.extend(
        delta
            .removed
            .iter()
            .flat_map(|e| inner_tag_guards(*e))
            .flatten(),
    );
    out.added
        .extend(delta.added.iter().filter_map(|e| classify_rule(*e)));
    out.added.extend(
        delta
            .added
            .iter()
            .flat_map(|e| inner_tag_guards(*e))
            .flatten(),
    );

    let mut vnis: Vec<Vni> = delta
        .removed
        .iter()
        .chain(&delta.added)
        .filter(|e| {
            !matches!(
                e,
                PipelineEntry::PortIngress { .. } | PipelineEntry::TrunkIngress { .. }
            )
        })
        .map(PipelineEntry::vni)
        .collect();
    vnis.sort_unstable();
    vnis.dedup();
    for vni in vnis {
        let new = vni_entries(after, vni);
        // before = after − added + removed, restricted to this VNI.
        let mut old: Vec<PipelineEntry> = new
            .iter()
            .filter(|e| delta.added.binary_search(e).is_err())
            .copied()
            .chain(delta.removed.iter().filter(|e| e.vni() == vni).copied())
            .filter(|e| {
                !matches!(
                    e,
                    PipelineEntry::PortIngress { .. } | PipelineEntry::TrunkIngress { .. }
                )
            })
            .collect();
        old.sort_unstable();
        let old_rules = FloodGroups::new(&old)
            .next()
            .map(|g| g.rules())
            .unwrap_or_default();
        let new_rules = FloodGroups::new(&new)
            .next()
            .map(|g| g.rules())
            .unwrap_or_default();
        for r in &old_rules {
            if !new_rules.contains(r) {
                out.removed.push(r.clone());
            }
        }
        for r in new_rules {
            if !old_rules.contains(&r) {
                out.added.push(r);
            }
        }
    }
    out
}

/// The tunnel-ingress and flood entries of `vni` in a sorted entry slice.
fn vni_entries(entries: &[PipelineEntry], vni: Vni) -> Vec<PipelineEntry> {
    let lows = [
        PipelineEntry::TunnelIngress {
            vni,
            remote: std::net::Ipv4Addr::UNSPECIFIED,
        },
        PipelineEntry::FloodPort {
            vni,
            port: PortNo::MIN,
            mode: AttachMode::Access,
        },
        PipelineEntry::FloodTunnel {
            vni,
            remote: std::net::Ipv4Addr::UNSPECIFIED,
        },
        PipelineEntry::FloodTrunk {
            vni,
            port: PortNo::MIN,
            fabric_vlan: VlanId::MIN,
        },
    ];
    let mut out = Vec::new();
    for low in lows {
        let start = entries.partition_point(|e| e < &low);
        out.extend(entries[start..].iter().take_while(|e| {
            std::mem::discriminant(*e) == std::mem::discriminant(&low) && e.vni() == vni
        }));
    }
    out
}

/// Rule deltas for every switch of a fabric delta; `compiled` gives each
/// switch's entries after the delta (e.g. `Compiler::entries`).
pub fn lower_fabric_delta<'a>(
    topo: &Topology,
    delta: &FabricDelta,
    entries_after: impl Fn(SwitchId) -> &'a [PipelineEntry],
) -> Vec<(SwitchId, RuleDelta)> {
    delta
        .switches
        .iter()
        .map(|(&s, d)| (s, lower_delta(topo, s, entries_after(s), d)))
        .filter(|(_, d)| !d.is_empty())
        .collect()
}
