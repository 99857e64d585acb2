//! Any bytes given to the topology parser: a topology or diagnostics,
//! never a panic, and diagnostics that render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match weft_config::parse_topology_bytes("fuzz.yaml", data) {
        Ok(topology) => {
            // A valid topology survives the round trip through its spec.
            let again = weft_model::Topology::from_spec(&topology.to_spec());
            assert_eq!(again.as_ref().ok(), Some(&topology));
        }
        Err(diagnostics) => {
            assert!(!diagnostics.problems().is_empty());
            let _ = diagnostics.render();
        }
    }
});
