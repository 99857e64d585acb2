//! What to generate: the knobs of a fabric and its intent.

use weft_model::spec::EncapsulationSpec;

/// Parameters of a generated fabric. Every field matters to the output;
/// the same parameters (seed included) always give the same documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FabricParams {
    /// The fabric's name (a resource name: lowercase, digits, `-`).
    pub name: String,
    /// Leaf switches, one per rack.
    pub leaves: usize,
    /// Server-facing ports per leaf (`swp1`…); uplinks follow them.
    pub server_ports: usize,
    /// Spine switches; every leaf has one uplink to each.
    pub spines: usize,
    pub encapsulation: EncapsulationSpec,
    /// Operators. The fabric's server ports, in (leaf, port) order, are cut
    /// into this many contiguous leases, so an operator holds whole racks
    /// and, where the cut falls inside a rack, shares that leaf with its
    /// neighbour.
    pub operators: usize,
    /// Networks, over all operators (spread as evenly as possible).
    pub networks: usize,
    /// Attachments per network; `None` attaches every leased port (each to
    /// exactly one network).
    pub attachments_per_network: Option<usize>,
    /// How many leaves a network's attachments are spread over.
    pub span: usize,
    /// Share of attachments that are `tagged` (the operator's own VLAN id,
    /// drawn from 100..=3999), in percent.
    pub tagged_percent: u8,
    /// Whether to describe the servers cabled to the server ports (two NICs
    /// per server). Compilation does not need them; drawings do.
    pub servers: bool,
    pub seed: u64,
}

impl FabricParams {
    /// The benchmark workload of `DESIGN.md`: 1,000 leaves × 48 server
    /// ports, 2 spines, 16 operators, 4,000 networks each spread over 6
    /// leaves, every server port attached (48,000 attachments; about
    /// 330,000 pipeline entries in `vxlan` mode).
    pub fn bench() -> Self {
        FabricParams {
            name: "bench".to_owned(),
            leaves: 1000,
            server_ports: 48,
            spines: 2,
            encapsulation: EncapsulationSpec::Vxlan,
            operators: 16,
            networks: 4000,
            attachments_per_network: None,
            span: 6,
            tagged_percent: 10,
            servers: true,
            seed: 1,
        }
    }

    /// A fabric small enough to read: 8 leaves × 8 ports, 2 spines,
    /// 3 operators, 12 networks over 2 leaves each.
    pub fn small() -> Self {
        FabricParams {
            name: "small".to_owned(),
            leaves: 8,
            server_ports: 8,
            spines: 2,
            encapsulation: EncapsulationSpec::Vxlan,
            operators: 3,
            networks: 12,
            attachments_per_network: None,
            span: 2,
            tagged_percent: 25,
            servers: true,
            seed: 1,
        }
    }
}

impl Default for FabricParams {
    fn default() -> Self {
        Self::bench()
    }
}
