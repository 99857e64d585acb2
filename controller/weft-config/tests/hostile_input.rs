//! Hostile input is refused with a clear diagnostic, never a panic, and
//! within the parser's budgets (which bound time and memory by
//! construction: no test here measures time).
//!
//! Includes the property test of arbitrary bytes and of YAML-like text that
//! runs in the normal test suite; `fuzz/` explores the same space for longer.

// Test helpers panic on broken fixtures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use weft_config::{Diagnostics, MAX_FILE_BYTES};

fn codes(d: &Diagnostics) -> Vec<&str> {
    d.problems().iter().map(|p| p.code()).collect()
}

fn base() -> weft_model::Topology {
    let text = "fabric: {name: t}\nswitches:\n  - {name: l1, role: leaf, dataplane: ovs, vtep: 10.0.0.1, ports: [{name: p1, role: server}, {name: u1, role: fabric}]}\n  - {name: s1, role: spine, dataplane: ovs, ports: [{name: d1, role: fabric}]}\nlinks: [{a: l1/u1, b: s1/d1}]\n";
    weft_config::parse_topology("base", text).unwrap()
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let mut big = String::from("fabric: {name: big}\nswitches: []\n");
    while big.len() <= MAX_FILE_BYTES {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let d = weft_config::parse_topology("big.yaml", &big).unwrap_err();
    assert_eq!(codes(&d), ["file-too-large"]);
    let d = weft_config::parse_intent_bytes("big.yaml", big.as_bytes(), &base()).unwrap_err();
    assert_eq!(codes(&d), ["file-too-large"]);
}

#[test]
fn load_refuses_endless_files_without_reading_them_whole() {
    // /dev/zero never ends; reading stops one byte past the limit.
    if std::path::Path::new("/dev/zero").exists() {
        let d = weft_config::load_topology("/dev/zero").unwrap_err();
        assert_eq!(codes(&d), ["file-too-large"]);
    }
    let d = weft_config::load_topology("/nonexistent/weft.yaml").unwrap_err();
    assert_eq!(codes(&d), ["io-error"]);
    assert!(d.problems()[0].message().contains("/nonexistent/weft.yaml"));
}

#[test]
fn billion_laughs_stops_at_the_alias_limit() {
    // Nine levels of nine-fold aliases: 387 million nodes if expanded.
    let mut text = String::from(
        "fabric: {name: lol}\nswitches:\n  - &l0 {name: a, role: leaf, dataplane: ovs, vtep: 10.0.0.1, ports: []}\n",
    );
    text.push_str("sites:\n");
    for level in 1..10 {
        let refs = vec![format!("*l{}", level - 1); 9].join(", ");
        text.push_str(&format!("  - &l{level} [{refs}]\n"));
    }
    let d = weft_config::parse_topology("lol.yaml", &text).unwrap_err();
    // Either the shape check or a budget stops it; both are immediate.
    assert!(
        matches!(
            codes(&d)[..],
            ["alias-limit" | "wrong-type" | "input-too-complex"]
        ),
        "{}",
        d.render()
    );

    // Aliases where the format accepts them: a switch repeated by alias
    // until the replay limit.
    let mut text = String::from(
        "fabric: {name: lol}\nswitches:\n  - &leaf {name: a, role: leaf, dataplane: ovs, vtep: 10.0.0.1, ports: [",
    );
    text.push_str(&vec!["{name: p, role: server}"; 50].join(", "));
    text.push_str("]}\n");
    text.push_str(&"  - *leaf\n".repeat(5_000));
    let d = weft_config::parse_topology("lol.yaml", &text).unwrap_err();
    assert_eq!(codes(&d), ["alias-limit"], "{}", d.render());
}

#[test]
fn deep_nesting_is_refused() {
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        let text = format!(
            "fabric: {{name: deep}}\nswitches: {}x{}\n",
            open.repeat(10_000),
            close.repeat(10_000)
        );
        let d = weft_config::parse_topology("deep.yaml", &text).unwrap_err();
        assert_eq!(d.problems().len(), 1, "{}", d.render());
    }
    // Block nesting.
    let mut text = String::from("fabric: {name: deep}\nswitches:\n");
    for depth in 1..5_000 {
        text.push_str(&"  ".repeat(depth));
        text.push_str("-\n");
    }
    let d = weft_config::parse_topology("deep.yaml", &text).unwrap_err();
    assert_eq!(d.problems().len(), 1);
}

#[test]
fn binary_junk_is_refused() {
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| u8::try_from((i * 7919) % 251).unwrap_or(0))
        .collect();
    let d = weft_config::parse_topology_bytes("junk.bin", &junk).unwrap_err();
    assert_eq!(d.problems().len(), 1, "{}", d.render());
    // Valid UTF-8 but control characters: a parse error whose message
    // shows them escaped, never raw.
    let d = weft_config::parse_topology("ctl.yaml", "fabric:\u{1b}[2J\u{7}\n").unwrap_err();
    let rendered = d.render();
    assert!(
        !rendered.contains('\u{1b}') && !rendered.contains('\u{7}'),
        "{rendered:?}"
    );
}

#[test]
fn a_huge_one_line_file_does_not_flood_the_output() {
    let text = format!(
        "fabric: {{name: x, bogus: 1}}\nswitches: [{}]\n",
        "0".repeat(1 << 16)
    );
    let d = weft_config::parse_topology("long.yaml", &text).unwrap_err();
    assert!(
        d.render().len() < 4096,
        "rendered {} bytes",
        d.render().len()
    );
    let text = format!(
        "fabric: {{name: x}}\nswitches: []\nlinks: [{}{{bad]\n",
        "{a: x, b: y}, ".repeat(2_000)
    );
    let d = weft_config::parse_topology("long.yaml", &text).unwrap_err();
    assert!(
        d.render().len() < 4096,
        "rendered {} bytes",
        d.render().len()
    );
}

#[test]
fn thousands_of_problems_on_one_line_are_capped() {
    // 20,000 malformed link ends on one long line: each is a violation;
    // only the first MAX_PROBLEMS are placed and shown.
    let text = format!(
        "fabric: {{name: x}}\nswitches: []\nlinks: [{}]\n",
        "{a: x, b: y}, ".repeat(10_000)
    );
    let d = weft_config::parse_topology("many.yaml", &text).unwrap_err();
    assert_eq!(d.problems().len(), weft_config::MAX_PROBLEMS);
    assert_eq!(d.omitted(), 20_000 - weft_config::MAX_PROBLEMS);
    assert!(d.to_string().ends_with("20000 problems"), "{d}");
    assert!(d.render().contains("19800 more problems not shown"));
}

/// YAML-ish text built from the format's own keys and values, so that
/// many cases get past the syntax and exercise validation.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("fabric:".to_owned()),
        Just("name:".to_owned()),
        Just("switches:".to_owned()),
        Just("ports:".to_owned()),
        Just("role: leaf".to_owned()),
        Just("role: server".to_owned()),
        Just("dataplane: ovs".to_owned()),
        Just("vtep: 10.0.0.1".to_owned()),
        Just("links:".to_owned()),
        Just("operators:".to_owned()),
        Just("lease:".to_owned()),
        Just("vni: 1000-1999".to_owned()),
        Just("networks:".to_owned()),
        Just("attachments:".to_owned()),
        Just("mode: {tagged: 100}".to_owned()),
        Just("port: l1/p1".to_owned()),
        Just("- ".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("<<: *a".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("---".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("!tag ".to_owned()),
        "[a-z0-9/_.-]{0,12}",
        "[0-9]{1,25}",
    ];
    let line = (0usize..6, proptest::collection::vec(token, 0..5))
        .prop_map(|(indent, toks)| format!("{}{}", "  ".repeat(indent), toks.join(" ")));
    proptest::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
}

fn check_no_panic(bytes: &[u8], topo: &weft_model::Topology) -> Result<(), TestCaseError> {
    for result in [
        weft_config::parse_topology_bytes("p.yaml", bytes).map(drop),
        weft_config::parse_intent_bytes("p.yaml", bytes, topo).map(drop),
    ] {
        if let Err(d) = result {
            prop_assert!(!d.problems().is_empty());
            for p in d.problems() {
                prop_assert!(!p.code().is_empty() && !p.message().is_empty());
            }
            // Rendering must not panic either (spans inside the text).
            let _ = d.render();
            let _ = d.records();
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_no_panic(&bytes, &base())?;
    }

    #[test]
    fn yaml_like_text_never_panics(text in yamlish()) {
        check_no_panic(text.as_bytes(), &base())?;
    }

    /// Mutations of a real example: one byte changed, inserted or deleted.
    #[test]
    fn mutated_examples_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), op in 0u8..3) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies/two-racks.intent.yaml");
        let mut bytes = std::fs::read(path).unwrap();
        let i = pos.index(bytes.len());
        match op {
            0 => bytes[i] = byte,
            1 => bytes.insert(i, byte),
            _ => { bytes.remove(i); }
        }
        let topo = weft_config::load_topology(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies/two-racks.yaml"),
        ).unwrap();
        check_no_panic(&bytes, &topo)?;
    }
}
