//! Weft's topology and intent files: YAML in, validated values or
//! diagnostics out.
//!
//! Layer: the boundary between files and the model. [`parse_topology`] and
//! [`parse_intent`] parse a document strictly (serde-saphyr: unknown keys,
//! duplicate keys, several documents, wrong types are errors; budgets bound
//! time and memory on hostile input), validate it with
//! [`Topology::from_spec`] / [`Intent::from_spec`], and on failure return
//! [`Diagnostics`]: **every** validation problem at once, each with its
//! `file:line:col`, a labelled source snippet, the rule code and a hint.
//! A structural error stops parsing, so it comes alone.
//!
//! The parse functions are pure. [`load_topology`] and [`load_intent`] are
//! thin helpers that read a file (refusing more than [`MAX_FILE_BYTES`])
//! and call them.
//!
//! This crate does **not** decide anything about fabrics: every rule lives
//! in `weft-model`; here they are only placed in the file.
//!
//! ```
//! let text = "fabric: {name: lab}\nswitches: []\nbogus: 1\n";
//! let err = weft_config::parse_topology("lab.yaml", text).unwrap_err();
//! let p = &err.problems()[0];
//! assert_eq!((p.code(), p.line_col()), ("unknown-key", Some((3, 1))));
//! ```
//!
//! [`Topology::from_spec`]: weft_model::Topology::from_spec
//! [`Intent::from_spec`]: weft_model::Intent::from_spec

mod diagnostics;
mod fs;
mod positions;
mod source;
mod yaml;

use std::sync::Arc;

use weft_model::spec::{IntentSpec, TopologySpec};
use weft_model::{Intent, Topology};

pub use diagnostics::{Diagnostics, MAX_PROBLEMS, Problem, Record};
pub use fs::{load_intent, load_topology};
pub use yaml::MAX_FILE_BYTES;

/// Codes of problems found before validation: the file cannot be read, is
/// not UTF-8 YAML of the expected shape, or breaks a parsing limit. The
/// validation rules' codes are [`weft_model::ViolationKind::CODES`].
pub const PARSE_CODES: &[&str] = &[
    "io-error",
    "file-too-large",
    "not-utf8",
    "yaml-syntax",
    "multiple-documents",
    "unknown-key",
    "duplicate-key",
    "missing-key",
    "unknown-value",
    "wrong-type",
    "alias-limit",
    "input-too-complex",
];

use diagnostics::Source;

/// Parses and validates a topology document. `source_name` names it in
/// diagnostics (usually the path).
pub fn parse_topology(source_name: &str, text: &str) -> Result<Topology, Diagnostics> {
    let source = source(source_name, text);
    let spec = yaml::parse::<TopologySpec>(&source, text)
        .map_err(|p| Diagnostics::new(source_name, "topology", vec![*p]))?;
    Topology::from_spec(&spec)
        .map_err(|violations| placed(source_name, "topology", &source, text, &violations))
}

/// Parses and validates an intent document against `topology`.
pub fn parse_intent(
    source_name: &str,
    text: &str,
    topology: &Topology,
) -> Result<Intent, Diagnostics> {
    let source = source(source_name, text);
    let spec = yaml::parse::<IntentSpec>(&source, text)
        .map_err(|p| Diagnostics::new(source_name, "intent", vec![*p]))?;
    Intent::from_spec(topology, &spec)
        .map_err(|violations| placed(source_name, "intent", &source, text, &violations))
}

/// [`parse_topology`] for raw bytes: refuses oversized input and invalid
/// UTF-8 (with the position of the first bad byte) before parsing.
pub fn parse_topology_bytes(source_name: &str, bytes: &[u8]) -> Result<Topology, Diagnostics> {
    let text = text_of(source_name, "topology", bytes)?;
    parse_topology(source_name, text)
}

/// [`parse_intent`] for raw bytes; see [`parse_topology_bytes`].
pub fn parse_intent_bytes(
    source_name: &str,
    bytes: &[u8],
    topology: &Topology,
) -> Result<Intent, Diagnostics> {
    let text = text_of(source_name, "intent", bytes)?;
    parse_intent(source_name, text, topology)
}

/// Violations placed in the file (the first [`MAX_PROBLEMS`] of them).
fn placed(
    name: &str,
    what: &'static str,
    source: &Source,
    text: &str,
    violations: &[weft_model::Violation],
) -> Diagnostics {
    // Positions are only needed to report problems: valid files are
    // parsed once.
    let tree = yaml::positions(text);
    let tree = tree.as_ref();
    let problems = violations
        .iter()
        .take(MAX_PROBLEMS)
        .map(|v| Problem::from_violation(source, tree, v))
        .collect();
    Diagnostics::new(name, what, problems)
        .with_omitted(violations.len().saturating_sub(MAX_PROBLEMS))
}

fn source(name: &str, text: &str) -> Source {
    Arc::new(source::SourceFile::new(name, text))
}

fn text_of<'a>(name: &str, what: &'static str, bytes: &'a [u8]) -> Result<&'a str, Diagnostics> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Diagnostics::new(
            name,
            what,
            vec![yaml::too_large(bytes.len())],
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = e.valid_up_to();
        // The valid prefix is text: show the bad byte's place in it.
        let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let (line, col) = source::SourceFile::new(name, prefix).line_col(valid);
        let problem = Problem::unplaced(
            "not-utf8",
            format!(
                "the file is not UTF-8 text: invalid byte 0x{:02x} at line {line}, column {col}",
                bytes[valid]
            ),
            Some(
                "save the file as UTF-8; binary files are not topology or intent files".to_owned(),
            ),
        );
        Diagnostics::new(name, what, vec![problem])
    })
}
