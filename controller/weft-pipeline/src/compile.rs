//! Full compilation: intent → every switch's sorted entries, in one pass
//! over the networks.
//!
//! The fabric is compiled into one flat buffer laid out switch by switch,
//! and within a switch region by region in [`PipelineEntry`]'s order
//! (port-ingress, tunnel-ingress, trunk-ingress, flood-port, flood-tunnel,
//! flood-trunk). A first pass counts each region, a second writes each entry
//! straight into its slot. Visiting networks in VNI order makes four of the
//! six regions come out sorted for free; only the two keyed by port first
//! (port- and trunk-ingress, a few dozen entries per switch) are sorted
//! afterwards. No per-entry allocation, no global sort.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use weft_model::{
    AttachMode, Encapsulation, Intent, PortKey, PortNo, SwitchId, Topology, VlanId, Vni,
};

use crate::entry::PipelineEntry;
use crate::fabric::CompiledFabric;
use crate::tree::TreeBuilder;

/// Region indexes, in entry order.
const PORT_IN: usize = 0;
const TUNNEL_IN: usize = 1;
const TRUNK_IN: usize = 2;
const FLOOD_PORT: usize = 3;
const FLOOD_TUNNEL: usize = 4;
const FLOOD_TRUNK: usize = 5;
const REGIONS: usize = 6;

/// A member leaf of one network.
#[derive(Debug, Clone, Copy)]
struct Member {
    switch: SwitchId,
    vtep: Option<Ipv4Addr>,
}

/// One network, with its members and trunk tree located in shared buffers.
struct Net<'a> {
    vni: Vni,
    fabric_vlan: Option<VlanId>,
    attachments: &'a BTreeMap<PortKey, AttachMode>,
    members: std::ops::Range<usize>,
    /// How many of `members` (a prefix, sorted by address) have a VTEP.
    tunnel_members: usize,
    tree: std::ops::Range<usize>,
}

/// Compiles the whole fabric. Pure and deterministic: the same topology and
/// intent give the same entries, byte for byte.
///
/// `vxlan` fabrics: every leaf with an attachment of network `V` gets
/// port-ingress and flood-port entries for its attached ports, and
/// tunnel-ingress and flood-tunnel entries towards every other member leaf's
/// VTEP. Spines get nothing. `vlan` fabrics: leaves get the port entries,
/// and every switch on the network's trunk tree (see [`crate::tree`]) gets
/// trunk-ingress and flood-trunk entries for its tree ports.
///
/// The intent is trusted to be valid for the topology (as built by
/// `Intent::from_spec` or `Intent::apply`); attachments on switches the
/// topology does not have are skipped rather than panicking.
pub fn compile(topo: &Topology, intent: &Intent) -> CompiledFabric {
    let n = topo.switches.len();
    let vxlan = topo.encapsulation == Encapsulation::Vxlan;

    let mut nets: Vec<Net<'_>> = intent
        .operators
        .values()
        .flat_map(|op| op.networks.values())
        .map(|net| Net {
            vni: net.vni,
            fabric_vlan: net.fabric_vlan,
            attachments: &net.attachments,
            members: 0..0,
            tunnel_members: 0,
            tree: 0..0,
        })
        .collect();
    nets.sort_unstable_by_key(|net| net.vni);

    // Pass 1: members, trees and region sizes.
    let mut counts = vec![[0usize; REGIONS]; n];
    let mut members: Vec<Member> = Vec::new();
    let mut trees: Vec<(SwitchId, PortNo)> = Vec::new();
    let mut member_ids: Vec<SwitchId> = Vec::new();
    let mut builder = TreeBuilder::default();
    for net in &mut nets {
        let start = members.len();
        // Attachments are ordered by (switch, port): members come out grouped.
        for port in net.attachments.keys().filter(|p| p.switch.index() < n) {
            counts[port.switch.index()][PORT_IN] += 1;
            counts[port.switch.index()][FLOOD_PORT] += 1;
            if members
                .get(start..)
                .and_then(<[Member]>::last)
                .map(|m| m.switch)
                != Some(port.switch)
            {
                members.push(Member {
                    switch: port.switch,
                    vtep: topo.switch(port.switch).vtep,
                });
            }
        }
        net.members = start..members.len();
        if vxlan {
            let ms = &mut members[start..];
            // Members with a VTEP first, by address: the order of the
            // tunnel entries they produce.
            ms.sort_unstable_by_key(|m| (m.vtep.is_none(), m.vtep));
            let k = ms.iter().filter(|m| m.vtep.is_some()).count();
            net.tunnel_members = k;
            for m in &ms[..k] {
                counts[m.switch.index()][TUNNEL_IN] += k - 1;
                counts[m.switch.index()][FLOOD_TUNNEL] += k - 1;
            }
        } else if net.fabric_vlan.is_some() {
            member_ids.clear();
            member_ids.extend(members[start..].iter().map(|m| m.switch));
            let t0 = trees.len();
            builder.build(topo, &member_ids, &mut trees);
            net.tree = t0..trees.len();
            for &(s, _) in &trees[t0..] {
                counts[s.index()][TRUNK_IN] += 1;
                counts[s.index()][FLOOD_TRUNK] += 1;
            }
        }
    }

    // Layout: a cursor per (switch, region), and each switch's offset.
    let mut cursor = vec![[0usize; REGIONS]; n];
    let mut offsets = Vec::with_capacity(n + 1);
    let mut total = 0usize;
    for (c, sizes) in cursor.iter_mut().zip(&counts) {
        offsets.push(total);
        for r in 0..REGIONS {
            c[r] = total;
            total += sizes[r];
        }
    }
    offsets.push(total);

    // Pass 2: write every entry into its slot.
    let filler = PipelineEntry::FloodTunnel {
        vni: Vni::MIN,
        remote: Ipv4Addr::UNSPECIFIED,
    };
    let mut out = vec![filler; total];
    let mut put = |s: SwitchId, region: usize, e: PipelineEntry| {
        let slot = &mut cursor[s.index()][region];
        out[*slot] = e;
        *slot += 1;
    };
    for net in &nets {
        let vni = net.vni;
        for (&port, &mode) in net.attachments.iter().filter(|(p, _)| p.switch.index() < n) {
            put(
                port.switch,
                PORT_IN,
                PipelineEntry::PortIngress {
                    port: port.port,
                    mode,
                    vni,
                },
            );
            put(
                port.switch,
                FLOOD_PORT,
                PipelineEntry::FloodPort {
                    vni,
                    port: port.port,
                    mode,
                },
            );
        }
        let tunnel_members = &members[net.members.clone()][..net.tunnel_members];
        for local in tunnel_members {
            for remote in tunnel_members {
                if let (true, Some(addr)) = (remote.switch != local.switch, remote.vtep) {
                    put(
                        local.switch,
                        TUNNEL_IN,
                        PipelineEntry::TunnelIngress { vni, remote: addr },
                    );
                    put(
                        local.switch,
                        FLOOD_TUNNEL,
                        PipelineEntry::FloodTunnel { vni, remote: addr },
                    );
                }
            }
        }
        if let Some(fabric_vlan) = net.fabric_vlan {
            for &(s, port) in &trees[net.tree.clone()] {
                put(
                    s,
                    TRUNK_IN,
                    PipelineEntry::TrunkIngress {
                        port,
                        fabric_vlan,
                        vni,
                    },
                );
                put(
                    s,
                    FLOOD_TRUNK,
                    PipelineEntry::FloodTrunk {
                        vni,
                        port,
                        fabric_vlan,
                    },
                );
            }
        }
    }

    // The two port-keyed regions were filled in VNI order: sort them.
    for (s, sizes) in counts.iter().enumerate() {
        let base = offsets[s];
        let port_in = base..base + sizes[PORT_IN];
        out[port_in].sort_unstable();
        let trunk_start = base + sizes[PORT_IN] + sizes[TUNNEL_IN];
        out[trunk_start..trunk_start + sizes[TRUNK_IN]].sort_unstable();
    }
    CompiledFabric::from_parts(out, offsets)
}
