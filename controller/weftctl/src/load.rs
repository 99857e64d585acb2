//! Reading and validating input files, with diagnostics rendered on failure.
//!
//! Reading (size-limited), parsing and validation are `weft-config`'s; this
//! module hands the problems to the renderer. A file that cannot be read is
//! invalid input like one that does not validate (exit 1), not a crash.

use std::path::{Path, PathBuf};

use weft_model::{Intent, Topology};

use crate::out::Out;

/// A validated topology, or `None` after its diagnostics were printed.
pub fn topology(path: &Path, out: &mut Out) -> std::io::Result<Option<Topology>> {
    match weft_config::load_topology(path) {
        Ok(t) => Ok(Some(t)),
        Err(diagnostics) => {
            out.diagnostics(&diagnostics)?;
            Ok(None)
        }
    }
}

/// A validated intent, or `None` after its diagnostics were printed.
pub fn intent(path: &Path, topology: &Topology, out: &mut Out) -> std::io::Result<Option<Intent>> {
    match weft_config::load_intent(path, topology) {
        Ok(i) => Ok(Some(i)),
        Err(diagnostics) => {
            out.diagnostics(&diagnostics)?;
            Ok(None)
        }
    }
}

/// Whether a path names an intent file (`NAME.intent.yaml` or `.yml`).
pub fn is_intent_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with(".intent.yaml") || name.ends_with(".intent.yml")
}

/// The topology file beside an intent file: `NAME.intent.yaml` → `NAME.yaml`.
pub fn sibling_topology(intent: &Path) -> Option<PathBuf> {
    let name = intent.file_name()?.to_string_lossy().into_owned();
    let topo = name
        .strip_suffix(".intent.yaml")
        .map(|stem| format!("{stem}.yaml"))
        .or_else(|| {
            name.strip_suffix(".intent.yml")
                .map(|stem| format!("{stem}.yml"))
        })?;
    Some(intent.with_file_name(topo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_files_find_their_topology() {
        let p = Path::new("topologies/two-racks.intent.yaml");
        assert!(is_intent_file(p));
        assert!(!is_intent_file(Path::new("topologies/two-racks.yaml")));
        assert_eq!(
            sibling_topology(p),
            Some(PathBuf::from("topologies/two-racks.yaml"))
        );
        assert_eq!(
            sibling_topology(Path::new("a.intent.yml")),
            Some(PathBuf::from("a.yml"))
        );
        assert_eq!(sibling_topology(Path::new("a.yaml")), None);
    }
}
