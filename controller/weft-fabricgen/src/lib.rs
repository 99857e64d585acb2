//! Deterministic generator of large Weft fabrics and their intents.
//!
//! Layer: beside the pure core, used by benches, tests and
//! `weftctl generate`. It produces *documents* ([`TopologySpec`],
//! [`IntentSpec`]) exactly as an engineer would write them, so that generated
//! fabrics go through the same validation as hand-written ones; and, for
//! benches, ready-made changes to apply to a validated fabric ([`moves`]).
//!
//! The same [`FabricParams`] (seed included) always produce the same
//! documents: splitmix64 instead of `rand`, ordered maps, no clock. This
//! crate does no I/O and does not serialize: `weftctl generate` writes the
//! YAML.
//!
//! ```
//! let params = weft_fabricgen::FabricParams::small();
//! let fabric = weft_fabricgen::generate(&params).unwrap();
//! assert_eq!(fabric.topology.switches.len(), 10); // 8 leaves, 2 spines
//! assert_eq!(fabric.stats.attachments, 64); // every server port attached
//! ```

mod intent;
pub mod moves;
mod names;
mod params;
mod rng;
pub mod small;
mod topology;

use weft_model::spec::{EncapsulationSpec, IntentSpec, TopologySpec};

pub use intent::NETWORK_HEADROOM;
pub use params::FabricParams;
pub use topology::RESERVED_VNI_END;

/// The operator VLAN ids that generated `tagged` attachments use
/// (inclusive). Tags above it (4000..=4094) are never generated, so a
/// bench can attach an extra tagged network to any port.
pub const TAGS: (u16, u16) = (100, 3999);

/// Physical port numbers must stay below the VXLAN tunnel port (65000).
const MAX_PHYSICAL_PORTS: usize = 64_999;

/// A generated fabric: the two documents and what they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFabric {
    pub topology: TopologySpec,
    pub intent: IntentSpec,
    pub stats: FabricStats,
}

/// Counts of a generated fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FabricStats {
    pub switches: usize,
    pub server_ports: usize,
    pub operators: usize,
    pub networks: usize,
    pub attachments: usize,
    /// Attachments in `tagged` mode.
    pub tagged: usize,
    /// Pipeline entries a full compile yields, in `vxlan` fabrics (where
    /// it follows from the attachments alone: ingress and flood per
    /// attachment, tunnel ingress and flood per ordered pair of a network's
    /// leaves). `None` in `vlan` fabrics, where the trunk tree decides.
    pub expected_entries: Option<u64>,
}

/// Parameters that cannot make a valid fabric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenError {
    #[error("{what} must be at least {min} (got {got})")]
    TooFew {
        what: &'static str,
        min: usize,
        got: usize,
    },
    #[error("{what} must be at most {max} (got {got}): {why}")]
    TooMany {
        what: &'static str,
        max: usize,
        got: usize,
        why: &'static str,
    },
    #[error(
        "invalid fabric name {0:?}: use lowercase letters, digits and '-', starting with a letter"
    )]
    InvalidName(String),
}

/// Generates a fabric and its intent.
pub fn generate(params: &FabricParams) -> Result<GeneratedFabric, GenError> {
    check(params)?;
    let names = names::Names::new(
        params.leaves,
        params.spines,
        topology::servers_per_leaf(params),
        params.operators,
    );
    let topology = topology::topology(params, &names);
    let layouts = intent::layout(params);
    let intent = intent::intent(params, &names, &layouts);
    let stats = intent.stats(params);
    Ok(GeneratedFabric {
        topology,
        intent: intent.spec,
        stats,
    })
}

fn check(p: &FabricParams) -> Result<(), GenError> {
    let at_least = |what, min, got| {
        if got < min {
            Err(GenError::TooFew { what, min, got })
        } else {
            Ok(())
        }
    };
    let at_most = |what, max, got, why| {
        if got > max {
            Err(GenError::TooMany {
                what,
                max,
                got,
                why,
            })
        } else {
            Ok(())
        }
    };
    if weft_model::Name::new(p.name.as_str()).is_err() {
        return Err(GenError::InvalidName(p.name.clone()));
    }
    at_least("leaves", 1, p.leaves)?;
    at_least("server ports per leaf", 1, p.server_ports)?;
    // A leaf without an uplink is invalid.
    at_least("spines", 1, p.spines)?;
    at_least("span", 1, p.span)?;
    at_least("operators", usize::from(p.networks > 0), p.operators)?;
    at_most(
        "tagged percent",
        100,
        usize::from(p.tagged_percent),
        "it is a percentage",
    )?;
    let why_ports = "port numbers must stay below the VXLAN tunnel port 65000";
    at_most(
        "server ports + spines",
        MAX_PHYSICAL_PORTS,
        p.server_ports + p.spines,
        why_ports,
    )?;
    at_most(
        "leaves",
        MAX_PHYSICAL_PORTS,
        p.leaves,
        "each is a port on every spine",
    )?;
    at_most(
        "operators",
        p.leaves * p.server_ports,
        p.operators,
        "each operator leases at least one server port",
    )?;
    let max_networks = p.networks.div_ceil(p.operators.max(1));
    let vni_space = 0x00FF_FFFF - RESERVED_VNI_END as usize;
    at_most(
        "operators × VNI range",
        vni_space,
        p.operators * intent::vni_stride(max_networks),
        "the delegated VNI ranges must fit in 24 bits",
    )?;
    if p.encapsulation == EncapsulationSpec::Vlan {
        at_most(
            "networks",
            intent::VLANS_AVAILABLE,
            p.operators * intent::vlan_stride(p.operators, max_networks),
            "a vlan fabric gives each network one of VLANs 2-4094",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
