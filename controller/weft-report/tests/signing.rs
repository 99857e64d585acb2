//! Signed reports: a genuine one opens and rechecks; every kind of
//! tampering fails, and says what failed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{fabric, foreign_key, input, intended, key};
use weft_report::{
    CellVerdict, Envelope, PAYLOAD_TYPE, Report, ReportKey, VerifyError, build_report, open, pae,
    recheck, sign, to_canonical_json,
};

fn genuine() -> (Report, Vec<u8>) {
    let (topo, intent) = fabric();
    let report = build_report(&input(&topo, &intent, intended(&topo, &intent)));
    let envelope = sign(&report, &key());
    (report, envelope)
}

fn envelope(bytes: &[u8]) -> Envelope {
    serde_json::from_slice(bytes).unwrap()
}

fn payload(e: &Envelope) -> Vec<u8> {
    STANDARD.decode(&e.payload).unwrap()
}

/// `report` edited: the alpha→beta cell claims a violation.
fn edit_cell(mut report: Report) -> Report {
    let cell = report
        .isolation
        .cells
        .iter_mut()
        .find(|c| c.from == "alpha" && c.to == "beta")
        .unwrap();
    cell.verdict = CellVerdict::Violated;
    report
}

/// An envelope for `payload` signed by `key`, made the way an attacker
/// with that key would.
fn signed_by(payload: &[u8], key: &ReportKey) -> Vec<u8> {
    let report: Report = serde_json::from_slice(payload).unwrap();
    // Same bytes as `sign` would produce for this report.
    assert_eq!(report.canonical_json(), payload);
    sign(&report, key)
}

#[test]
fn genuine_report_opens_with_and_without_a_trusted_key() {
    let (report, env) = genuine();
    let trusted = key().public_key();
    let opened = open(&env, Some(&trusted)).unwrap();
    assert!(opened.key_trusted);
    assert_eq!(opened.report, report);
    assert_eq!(opened.payload, report.canonical_json());
    // Read back and written again: the same bytes.
    assert_eq!(opened.report.canonical_json(), opened.payload);
    let untrusted = open(&env, None).unwrap();
    assert!(!untrusted.key_trusted);
    assert_eq!(untrusted.report.fabric.signing_key, trusted);
    recheck(&opened.report).unwrap();

    let e = envelope(&env);
    assert_eq!(e.payload_type, PAYLOAD_TYPE);
    assert_eq!(e.signatures.len(), 1);
    assert_eq!(e.signatures[0].keyid, trusted.key_id());
    // The envelope itself is canonical JSON.
    assert_eq!(to_canonical_json(&e), env);
}

#[test]
fn a_flipped_payload_byte_fails_the_signature() {
    let (_, env) = genuine();
    let mut e = envelope(&env);
    let mut p = payload(&e);
    // Somewhere in the middle of the report, keeping it valid UTF-8.
    let i = p.len() / 2;
    p[i] ^= 0x01;
    e.payload = STANDARD.encode(&p);
    let tampered = to_canonical_json(&e);
    let err = open(&tampered, Some(&key().public_key())).unwrap_err();
    assert!(
        matches!(err, VerifyError::BadSignature { trusted: true, .. }),
        "{err}"
    );
    // Flipping a byte of the file itself (inside the base64 payload) fails too.
    let mut raw = env.clone();
    let at = raw
        .windows(11)
        .position(|w| w == b"\"payload\":\"")
        .unwrap()
        + 40;
    raw[at] = if raw[at] == b'A' { b'B' } else { b'A' };
    assert!(matches!(
        open(&raw, Some(&key().public_key())).unwrap_err(),
        VerifyError::BadSignature { .. }
    ));
}

#[test]
fn an_edited_verdict_fails_the_signature() {
    let (report, env) = genuine();
    let mut e = envelope(&env);
    e.payload = STANDARD.encode(edit_cell(report).canonical_json());
    let tampered = to_canonical_json(&e);
    let err = open(&tampered, Some(&key().public_key())).unwrap_err();
    assert!(
        matches!(err, VerifyError::BadSignature { trusted: true, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("the trusted key"));
    // Without a trusted key, the key the report names still refuses it.
    assert!(matches!(
        open(&tampered, None).unwrap_err(),
        VerifyError::BadSignature { trusted: false, .. }
    ));
}

#[test]
fn an_edited_verdict_resigned_with_a_foreign_key() {
    let (report, _) = genuine();
    let edited = edit_cell(report);
    // Re-signed, but the payload still names the controller's key.
    let env = signed_by(&edited.canonical_json(), &foreign_key());
    assert!(matches!(
        open(&env, Some(&key().public_key())).unwrap_err(),
        VerifyError::BadSignature { trusted: true, .. }
    ));
    assert!(matches!(
        open(&env, None).unwrap_err(),
        VerifyError::BadSignature { trusted: false, .. }
    ));

    // Re-signed, and the payload names the forger's key: the signature
    // checks out against that key (untrusted), but the verdict does not.
    let mut forged = edited;
    forged.fabric.signing_key = foreign_key().public_key();
    let env = sign(&forged, &foreign_key());
    assert!(matches!(
        open(&env, Some(&key().public_key())).unwrap_err(),
        VerifyError::BadSignature { trusted: true, .. }
    ));
    let opened = open(&env, None).unwrap();
    assert!(!opened.key_trusted);
    let discrepancies = recheck(&opened.report).unwrap_err();
    let fields: Vec<&str> = discrepancies.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["isolation.cells[alpha→beta].verdict"]);
    assert_eq!(discrepancies[0].claimed, "\"violated\"");
    assert_eq!(discrepancies[0].recomputed, "\"isolated\"");
}

#[test]
fn removed_and_foreign_signatures_fail() {
    let (_, env) = genuine();
    let mut e = envelope(&env);
    e.signatures.clear();
    assert_eq!(
        open(&to_canonical_json(&e), None).unwrap_err(),
        VerifyError::NoSignature
    );

    // A foreign key's valid signature over the genuine payload.
    let mut e = envelope(&env);
    let p = payload(&e);
    let other = envelope(&signed_by(&p, &foreign_key()));
    e.signatures = other.signatures;
    let swapped = to_canonical_json(&e);
    assert!(matches!(
        open(&swapped, Some(&key().public_key())).unwrap_err(),
        VerifyError::BadSignature { trusted: true, .. }
    ));
    assert!(matches!(
        open(&swapped, None).unwrap_err(),
        VerifyError::BadSignature { trusted: false, .. }
    ));
    // Garbage in the signature field.
    let mut e = envelope(&env);
    e.signatures[0].sig = "not base64!".to_owned();
    assert!(matches!(
        open(&to_canonical_json(&e), None).unwrap_err(),
        VerifyError::BadSignature { .. }
    ));
}

#[test]
fn payload_type_is_bound_into_the_signature() {
    let (_, env) = genuine();
    let mut e = envelope(&env);
    e.payload_type = "application/json".to_owned();
    assert!(matches!(
        open(&to_canonical_json(&e), None).unwrap_err(),
        VerifyError::PayloadType { .. }
    ));
    // The signature covers the PAE of type and payload, not the payload alone.
    let e = envelope(&env);
    let sig = STANDARD.decode(&e.signatures[0].sig).unwrap();
    let p = payload(&e);
    assert!(key().public_key().verifies(&pae(PAYLOAD_TYPE, &p), &sig));
    assert!(!key().public_key().verifies(&p, &sig));
}

#[test]
fn other_schemas_and_non_envelopes_are_refused() {
    let (report, _) = genuine();
    let mut value: serde_json::Value = serde_json::from_slice(&report.canonical_json()).unwrap();
    value["schema"] = "weft.isolation-report/v2".into();
    let payload = to_canonical_json(&value);
    let sig = STANDARD.encode(ring_sign(&pae(PAYLOAD_TYPE, &payload)));
    let e = Envelope {
        payload: STANDARD.encode(&payload),
        payload_type: PAYLOAD_TYPE.to_owned(),
        signatures: vec![weft_report::EnvelopeSignature {
            keyid: key().public_key().key_id(),
            sig,
        }],
    };
    assert!(matches!(
        open(&to_canonical_json(&e), Some(&key().public_key())).unwrap_err(),
        VerifyError::Schema { found } if found == "weft.isolation-report/v2"
    ));
    assert!(matches!(
        open(b"[1,2]", None).unwrap_err(),
        VerifyError::Envelope(_)
    ));
    assert!(matches!(
        open(b"hello", None).unwrap_err(),
        VerifyError::Envelope(_)
    ));
    assert_eq!(
        open(b"<html><body>nothing here</body></html>", None).unwrap_err(),
        VerifyError::NoEnvelopeInHtml
    );
}

/// Signs arbitrary bytes with the test key's seed (the crate itself only
/// signs reports, and this payload must not be one).
fn ring_sign(message: &[u8]) -> Vec<u8> {
    use ring::signature::Ed25519KeyPair;
    let pair = Ed25519KeyPair::from_seed_unchecked(&[0x11; 32]).unwrap();
    pair.sign(message).as_ref().to_vec()
}

#[test]
fn an_edited_evidence_rule_breaks_its_digest() {
    let (mut report, _) = genuine();
    let sw = &mut report.evidence.switches[0];
    let mut rules = sw.rules.clone().unwrap().rules().to_vec();
    // Keep it a plausible rule: only its priority moves.
    let last = rules.len() - 1;
    rules[last].priority = rules[last].priority.saturating_add(1);
    sw.rules = Some(weft_rules::SwitchRules::new(rules));
    let discrepancies = recheck(&report).unwrap_err();
    let fields: Vec<&str> = discrepancies.iter().map(|d| d.field.as_str()).collect();
    assert!(
        fields.contains(&"fabric.switches[rack1-leaf].state_digest"),
        "{fields:?}"
    );
}

#[test]
fn recheck_names_an_edited_cell_and_an_edited_summary() {
    let (report, _) = genuine();
    let d = recheck(&edit_cell(report.clone())).unwrap_err();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].field, "isolation.cells[alpha→beta].verdict");
    assert!(d[0].to_string().contains("report says \"violated\""));

    let mut r = report;
    r.summary.isolated = false;
    let d = recheck(&r).unwrap_err();
    assert_eq!(d[0].field, "summary.isolated");
}
