//! Any bytes given to the intent parser, against the two-racks example
//! topology: an intent or diagnostics, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_model::Topology;

fn topology() -> &'static Topology {
    static TOPOLOGY: OnceLock<Topology> = OnceLock::new();
    TOPOLOGY.get_or_init(|| {
        let text = include_str!("../../topologies/two-racks.yaml");
        match weft_config::parse_topology("two-racks.yaml", text) {
            Ok(t) => t,
            Err(d) => panic!("the example topology is invalid:\n{}", d.render()),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let topo = topology();
    match weft_config::parse_intent_bytes("fuzz.intent.yaml", data, topo) {
        Ok(intent) => {
            // A valid intent survives the round trip through its spec.
            let again = weft_model::Intent::from_spec(topo, &intent.to_spec(topo));
            assert_eq!(again.as_ref().ok(), Some(&intent));
        }
        Err(diagnostics) => {
            assert!(!diagnostics.problems().is_empty());
            let _ = diagnostics.render();
        }
    }
});
