//! Every fixture in `topologies/invalid/` fails with the rule codes it
//! announces (`# expect: CODE, ...`), and its rendered diagnostics are
//! pinned as snapshots (`tests/snapshots/`). Intent fixtures
//! (`*.intent.yaml`) are checked against `base.yaml`, or the file named by
//! a `# against: FILE` line.
//!
//! To review changed snapshots: `cargo insta review`, or run with
//! `INSTA_UPDATE=always` and read the `.snap` diff.

// Test helpers panic on broken fixtures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use weft_model::ViolationKind;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies/invalid")
}

/// The value of a `# key: value` header line.
fn header(text: &str, key: &str) -> Option<String> {
    let prefix = format!("# {key}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
}

struct Fixture {
    name: String,
    diagnostics: weft_config::Diagnostics,
    expected: BTreeSet<String>,
}

fn fixtures() -> Vec<Fixture> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml") && !n.starts_with("base"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir().join(&name)).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let expected: BTreeSet<String> = header(&text, "expect")
                .unwrap_or_else(|| panic!("{name}: no `# expect:` line"))
                .split(',')
                .map(|c| c.trim().to_owned())
                .collect();
            let shown = format!("invalid/{name}");
            let diagnostics = if name.ends_with(".intent.yaml") {
                let against = header(&text, "against").unwrap_or_else(|| "base.yaml".to_owned());
                let topology = weft_config::load_topology(dir().join(&against))
                    .unwrap_or_else(|d| panic!("{against}: {}", d.render()));
                weft_config::parse_intent_bytes(&shown, &bytes, &topology).err()
            } else {
                weft_config::parse_topology_bytes(&shown, &bytes).err()
            };
            let diagnostics = diagnostics.unwrap_or_else(|| panic!("{name} was accepted"));
            Fixture {
                name,
                diagnostics,
                expected,
            }
        })
        .collect()
}

#[test]
fn bases_are_valid() {
    let topology = weft_config::load_topology(dir().join("base.yaml")).unwrap();
    assert_eq!(topology.leaves().count(), 2);
    weft_config::load_topology(dir().join("base-vlan.yaml")).unwrap();
}

#[test]
fn each_fixture_fails_with_its_rule_and_snapshot() {
    let fixtures = fixtures();
    let wrong: Vec<String> = fixtures
        .iter()
        .filter_map(|f| {
            let got: BTreeSet<String> = f
                .diagnostics
                .problems()
                .iter()
                .map(|p| p.code().to_owned())
                .collect();
            (got != f.expected).then(|| {
                format!(
                    "{}: expected {:?}\n{}",
                    f.name,
                    f.expected,
                    f.diagnostics.render()
                )
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for f in fixtures {
        for p in f.diagnostics.problems() {
            assert!(p.hint().is_some(), "{}: {} has no hint", f.name, p.code());
            if f.diagnostics.problems().len() > 1 || p.code() != "not-utf8" {
                assert!(
                    p.line_col().is_some(),
                    "{}: {} has no position",
                    f.name,
                    p.code()
                );
            }
        }
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(f.name.clone(), f.diagnostics.render());
        });
    }
}

#[test]
fn every_rule_has_a_fixture() {
    let covered: BTreeSet<String> = fixtures().into_iter().flat_map(|f| f.expected).collect();
    let hard_to_stage = ["io-error", "file-too-large"];
    for code in ViolationKind::CODES.iter().chain(weft_config::PARSE_CODES) {
        assert!(
            covered.contains(*code) || hard_to_stage.contains(code),
            "no fixture in topologies/invalid/ expects `{code}`"
        );
    }
    for code in &covered {
        assert!(
            ViolationKind::CODES.contains(&code.as_str())
                || weft_config::PARSE_CODES.contains(&code.as_str()),
            "fixtures expect unknown code `{code}`"
        );
    }
}

#[test]
fn every_rule_is_documented() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/topology-format.md"),
    )
    .unwrap();
    for code in ViolationKind::CODES.iter().chain(weft_config::PARSE_CODES) {
        assert!(
            doc.contains(&format!("`{code}`")),
            "docs/topology-format.md does not explain `{code}`"
        );
    }
}

#[test]
fn json_records_carry_the_place() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.name == "duplicate-vtep.yaml")
        .unwrap();
    let records = f.diagnostics.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (
            r.file.as_str(),
            r.code.as_str(),
            r.path.as_str(),
            r.line,
            r.column
        ),
        (
            "invalid/duplicate-vtep.yaml",
            "duplicate-vtep",
            "switches[1].vtep",
            16,
            11
        )
    );
    assert!(
        f.diagnostics
            .render_short()
            .starts_with("invalid/duplicate-vtep.yaml:16:11: error[duplicate-vtep]")
    );
}
