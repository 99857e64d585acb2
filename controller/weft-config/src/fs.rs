//! Reading files: the only I/O of the crate, kept to a size-limited read.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use weft_model::{Intent, Topology};

use crate::diagnostics::{Diagnostics, Problem};
use crate::yaml::MAX_FILE_BYTES;

/// Reads and validates a topology file.
pub fn load_topology(path: impl AsRef<Path>) -> Result<Topology, Diagnostics> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = read_limited(path, &name, "topology")?;
    crate::parse_topology_bytes(&name, &bytes)
}

/// Reads and validates an intent file against `topology`.
pub fn load_intent(path: impl AsRef<Path>, topology: &Topology) -> Result<Intent, Diagnostics> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = read_limited(path, &name, "intent")?;
    crate::parse_intent_bytes(&name, &bytes, topology)
}

/// Reads at most one byte more than the limit, so an oversized file (or
/// an endless one like `/dev/zero`) is refused without reading it all.
fn read_limited(path: &Path, name: &str, what: &'static str) -> Result<Vec<u8>, Diagnostics> {
    let io_error = |e: std::io::Error| {
        let problem = Problem::unplaced(
            "io-error",
            format!("cannot read {name}: {e}"),
            Some("check the path and its permissions".to_owned()),
        );
        Diagnostics::new(name, what, vec![problem])
    };
    let file = File::open(path).map_err(io_error)?;
    let limit = u64::try_from(MAX_FILE_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes).map_err(io_error)?;
    Ok(bytes)
}
