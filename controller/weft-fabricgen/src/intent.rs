//! The intent half: operators' leases, networks and attachments.
//!
//! Layout, in three steps:
//!
//! 1. The fabric's server ports, in (leaf, port) order, are cut into one
//!    contiguous lease per operator.
//! 2. An operator's leaves are grouped `span` at a time; inside a group its
//!    ports are ordered so that consecutive slots cycle over the group's
//!    leaves a few ports at a time.
//! 3. That order is cut into one contiguous piece per network, so each
//!    network lands on about `span` leaves with the same number of ports on
//!    each — the shape that makes tunnel entries (which grow with the
//!    square of a network's leaves) realistic.

use std::collections::BTreeMap;

use weft_model::spec::{
    AttachModeSpec, AttachmentSpec, EncapsulationSpec, IntentSpec, LeaseSpec, NetworkSpec,
    OperatorSpec, QuotasSpec,
};

use crate::names::{Names, width};
use crate::params::FabricParams;
use crate::rng::SplitMix64;
use crate::topology::RESERVED_VNI_END;
use crate::{FabricStats, TAGS};

/// Spare networks per operator in its quota and delegated ranges, so that
/// benches and tests can create networks on top of a generated intent.
pub const NETWORK_HEADROOM: usize = 16;

/// An operator's share of the fabric.
#[derive(Debug, Clone)]
pub(crate) struct OperatorLayout {
    /// Global port indexes (`leaf * server_ports + position`), `first..end`.
    pub(crate) ports: std::ops::Range<usize>,
    /// Each network's attached global port indexes.
    pub(crate) networks: Vec<Vec<usize>>,
}

pub(crate) fn layout(params: &FabricParams) -> Vec<OperatorLayout> {
    let total_ports = params.leaves * params.server_ports;
    let operators = params.operators;
    (0..operators)
        .map(|op| {
            let ports = op * total_ports / operators..(op + 1) * total_ports / operators;
            let network_count = share(params.networks, operators, op);
            let slots = slot_order(params, ports.clone(), network_count);
            let networks = (0..network_count)
                .map(|net| {
                    let piece = &slots[net * slots.len() / network_count
                        ..(net + 1) * slots.len() / network_count];
                    let wanted = params
                        .attachments_per_network
                        .map_or(piece.len(), |a| a.min(piece.len()));
                    // The slot order cycles over the group's leaves `run`
                    // ports at a time, so a piece's first slots already
                    // spread over `span` leaves.
                    piece[..wanted].to_vec()
                })
                .collect();
            OperatorLayout { ports, networks }
        })
        .collect()
}

/// `total` split over `parts`: the first `total % parts` parts get one more.
fn share(total: usize, parts: usize, index: usize) -> usize {
    total / parts + usize::from(index < total % parts)
}

/// The operator's ports in the order networks take them (see the module docs).
fn slot_order(params: &FabricParams, ports: std::ops::Range<usize>, networks: usize) -> Vec<usize> {
    let per_leaf = params.server_ports;
    let Some(first_leaf) = ports.clone().next().map(|g| g / per_leaf) else {
        return Vec::new();
    };
    let span = params.span;
    let per_network = if networks == 0 {
        1
    } else {
        ports.len().div_ceil(networks)
    };
    let per_network = params
        .attachments_per_network
        .map_or(per_network, |a| a.min(per_network));
    // Ports a network takes on each leaf it spans.
    let run = per_network.div_ceil(span).max(1);
    let start = ports.start;
    let mut slots: Vec<usize> = ports.collect();
    slots.sort_by_key(|&g| {
        let leaf = g / per_leaf;
        let in_op = leaf - first_leaf;
        // Position among this operator's ports on that leaf (its lease may
        // start mid-leaf).
        let position = g - (leaf * per_leaf).max(start);
        (in_op / span, position / run, in_op % span, position)
    });
    slots
}

pub(crate) struct IntentOutput {
    pub(crate) spec: IntentSpec,
    pub(crate) attachments: usize,
    pub(crate) tagged: usize,
    pub(crate) expected_entries: Option<u64>,
}

pub(crate) fn intent(
    params: &FabricParams,
    names: &Names,
    layouts: &[OperatorLayout],
) -> IntentOutput {
    let vxlan = params.encapsulation == EncapsulationSpec::Vxlan;
    let per_leaf = params.server_ports;
    let max_networks = layouts.iter().map(|l| l.networks.len()).max().unwrap_or(0);
    let vni_stride = vni_stride(max_networks);
    let vlan_stride = vlan_stride(params.operators, max_networks);
    let net_width = width(max_networks + NETWORK_HEADROOM, 3);
    let mut rng = SplitMix64::new(params.seed);
    let (mut attachments, mut tagged, mut entries) = (0usize, 0usize, 0u64);

    let mut operators = Vec::with_capacity(layouts.len());
    for (op, layout) in layouts.iter().enumerate() {
        let vni_first = first_vni() + op * vni_stride;
        let vlan_first = 2 + op * vlan_stride;
        // Pipeline entries per switch for this operator, to size its quota.
        let mut per_switch: BTreeMap<usize, u64> = BTreeMap::new();
        let mut networks = Vec::with_capacity(layout.networks.len());
        for (net, ports) in layout.networks.iter().enumerate() {
            let mut on_leaf: BTreeMap<usize, u64> = BTreeMap::new();
            let attachment_specs = ports
                .iter()
                .map(|&g| {
                    *on_leaf.entry(g / per_leaf).or_default() += 1;
                    let mode = if rng.below(100) < u64::from(params.tagged_percent) {
                        tagged += 1;
                        AttachModeSpec::Tagged(
                            u64::from(TAGS.0) + rng.below(u64::from(TAGS.1 - TAGS.0) + 1),
                        )
                    } else {
                        AttachModeSpec::Access
                    };
                    AttachmentSpec {
                        port: names.leaf_port_ref(g / per_leaf, g % per_leaf),
                        mode,
                    }
                })
                .collect::<Vec<_>>();
            attachments += attachment_specs.len();
            let members = as_u64(on_leaf.len());
            for (&leaf, &count) in &on_leaf {
                // Ingress + flood per attachment; in vxlan mode tunnel ingress
                // + flood per other member leaf, in vlan mode at most a trunk
                // pair per uplink.
                let fabric = if vxlan {
                    members - 1
                } else {
                    as_u64(params.spines)
                };
                *per_switch.entry(leaf).or_default() += 2 * count + 2 * fabric;
            }
            if vxlan {
                entries += 2 * as_u64(ports.len()) + 2 * members * members.saturating_sub(1);
            } else {
                for spine in 0..params.spines {
                    *per_switch.entry(params.leaves + spine).or_default() += 2 * members;
                }
            }
            networks.push(NetworkSpec {
                name: Names::network(net, net_width),
                vni: Some(as_u64(vni_first + net)),
                fabric_vlan: (!vxlan).then(|| as_u64(vlan_first + net)),
                attachments: attachment_specs,
            });
        }
        let busiest = per_switch.values().copied().max().unwrap_or(0);
        operators.push(OperatorSpec {
            name: names.operator(op),
            display_name: Some(format!("Operator {}", op + 1)),
            lease: Some(LeaseSpec {
                ports: layout
                    .ports
                    .clone()
                    .map(|g| names.leaf_port_ref(g / per_leaf, g % per_leaf))
                    .collect(),
                vni: format!("{vni_first}-{}", vni_first + vni_stride - 1),
                vlan: (!vxlan).then(|| format!("{vlan_first}-{}", vlan_first + vlan_stride - 1)),
                quotas: QuotasSpec {
                    networks: Some(as_u64(layout.networks.len() + NETWORK_HEADROOM)),
                    // Room for one tagged attachment more per leased port.
                    attachments: Some(2 * as_u64(layout.ports.len()) + 64),
                    entries_per_switch: Some((2 * busiest + 1024).next_multiple_of(1024)),
                },
            }),
            networks,
        });
    }
    IntentOutput {
        spec: IntentSpec { operators },
        attachments,
        tagged,
        expected_entries: vxlan.then_some(entries),
    }
}

fn first_vni() -> usize {
    RESERVED_VNI_END as usize + 1
}

/// Each operator's delegated VNI range: room for its networks and the
/// headroom, rounded up to a thousand so ranges read well.
pub(crate) fn vni_stride(max_networks: usize) -> usize {
    (max_networks + NETWORK_HEADROOM).next_multiple_of(1000)
}

/// Each operator's delegated fabric VLAN range (`vlan` fabrics), out of
/// VLANs 2..=4094: its networks plus what headroom fits.
pub(crate) fn vlan_stride(operators: usize, max_networks: usize) -> usize {
    let fair = VLANS_AVAILABLE / operators.max(1);
    (max_networks + NETWORK_HEADROOM)
        .min(fair)
        .max(max_networks)
}

/// Fabric VLANs 2..=4094 (VLAN 1 is reserved).
pub(crate) const VLANS_AVAILABLE: usize = 4093;

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl IntentOutput {
    pub(crate) fn stats(&self, params: &FabricParams) -> FabricStats {
        FabricStats {
            switches: params.leaves + params.spines,
            server_ports: params.leaves * params.server_ports,
            operators: params.operators,
            networks: params.networks,
            attachments: self.attachments,
            tagged: self.tagged,
            expected_entries: self.expected_entries,
        }
    }
}
