//! A log verifies as written, and every kind of tampering is reported at
//! the line where it shows.

// Helpers outside #[test] functions panic on setup failures too.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use weft_auditlog::{
    AuditChain, AuditEntry, AuditError, AuditRecord, GENESIS_PREV, MAX_LINE_BYTES, Outcome,
    append_record, verify_file, verify_lines,
};

fn entry(i: u64) -> AuditEntry {
    let denied = i % 7 == 3;
    AuditEntry {
        time: format!("2025-06-01T12:{:02}:{:02}Z", i / 60 % 60, i % 60),
        principal: if i.is_multiple_of(5) {
            "anonymous".into()
        } else {
            format!("operator op{}", i % 3)
        },
        method: "/weft.v1.NetworkService/CreateNetwork".into(),
        resource: format!("operators/op{}/networks/n{i}", i % 3),
        outcome: if denied { Outcome::Denied } else { Outcome::Ok }.to_string(),
        code: if denied { "PERMISSION_DENIED" } else { "OK" }.into(),
        request_id: format!("req-{i}"),
        revision: if denied { 0 } else { i * 2 },
    }
}

fn records(n: u64) -> Vec<AuditRecord> {
    let mut chain = AuditChain::genesis();
    (1..=n).map(|i| chain.append(entry(i))).collect()
}

fn lines(records: &[AuditRecord]) -> Vec<String> {
    records.iter().map(AuditRecord::to_line).collect()
}

fn join(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn verify(text: &str) -> Result<weft_auditlog::VerifiedLog, AuditError> {
    verify_lines(text.as_bytes())
}

#[test]
fn a_chain_of_100_verifies() {
    let recs = records(100);
    let verified = verify(&join(&lines(&recs))).unwrap();
    assert_eq!(verified.records, 100);
    assert_eq!(verified.first_seq, 1);
    assert!(verified.is_complete());
    assert_eq!(verified.head, recs[99].hash);
    assert_eq!(verified.last.as_ref(), Some(&recs[99]));
    for pair in recs.windows(2) {
        assert_eq!(pair[1].prev, pair[0].hash);
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
}

#[test]
fn empty_logs_and_a_missing_final_newline_are_fine() {
    let empty = verify("").unwrap();
    assert_eq!(
        (empty.records, empty.first_seq, empty.head.as_str()),
        (0, 0, GENESIS_PREV)
    );
    assert_eq!(empty.chain(), AuditChain::genesis());

    let text = join(&lines(&records(3)));
    let verified = verify(text.trim_end()).unwrap();
    assert_eq!(verified.records, 3);
}

/// Every byte of a small log, flipped three ways: always an error, always
/// at the line holding the byte (a flipped newline belongs to its line).
#[test]
fn any_flipped_byte_is_caught_on_its_line() {
    let text = join(&lines(&records(5)));
    let bytes = text.as_bytes();
    let mut line = 1;
    for (i, &b) in bytes.iter().enumerate() {
        for mask in [0x01, 0x20, 0x80] {
            let mut damaged = bytes.to_vec();
            damaged[i] ^= mask;
            let err = verify_lines(&damaged[..]).unwrap_err();
            assert_eq!(err.line(), Some(line), "byte {i} ^ {mask:#x}: {err}");
        }
        if b == b'\n' {
            line += 1;
        }
    }
}

#[test]
fn a_flipped_byte_in_any_line_of_100_is_caught() {
    let original = lines(&records(100));
    for k in 0..original.len() {
        let mut damaged = original.clone();
        let mut bytes = damaged[k].clone().into_bytes();
        let pos = (k * 31 + 7) % bytes.len();
        bytes[pos] ^= 0x01;
        damaged[k] = String::from_utf8(bytes).unwrap();
        let err = verify(&join(&damaged)).unwrap_err();
        assert_eq!(err.line(), Some(k as u64 + 1), "line {}: {err}", k + 1);
    }
}

#[test]
fn an_edited_field_is_a_hash_mismatch() {
    let mut recs = records(100);
    recs[41].principal = "admin root".into();
    let err = verify(&join(&lines(&recs))).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::HashMismatch {
                line: Some(42),
                seq: 42,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("line 42: seq 42: stored hash"),
        "{err}"
    );
}

#[test]
fn an_edited_field_with_its_hash_recomputed_breaks_the_next_link() {
    let mut recs = records(100);
    recs[41].revision = 999_999;
    recs[41].hash = recs[41].compute_hash();
    let err = verify(&join(&lines(&recs))).unwrap_err();
    match err {
        AuditError::BrokenLink {
            line,
            seq,
            ref expected,
            ref found,
        } => {
            assert_eq!((line, seq), (43, 43));
            assert_eq!(expected, &recs[41].hash);
            assert_eq!(found, &recs[42].prev);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_deleted_line_is_a_seq_gap() {
    let original = lines(&records(100));
    for k in [1, 2, 50, 98] {
        let mut damaged = original.clone();
        damaged.remove(k);
        let err = verify(&join(&damaged)).unwrap_err();
        let line = k as u64 + 1;
        assert!(
            matches!(err, AuditError::SeqMismatch { line: l, expected, found }
                if l == line && expected == line && found == line + 1),
            "deleting line {line}: {err}"
        );
    }
}

/// Removing records at either end leaves a valid chain: the log says so
/// through `first_seq` and `head`, which callers compare with what they
/// expect.
#[test]
fn deleting_at_the_ends_shows_in_first_seq_and_head() {
    let recs = records(100);
    let all = lines(&recs);

    let without_first = verify(&join(&all[1..])).unwrap();
    assert_eq!((without_first.first_seq, without_first.records), (2, 99));
    assert!(!without_first.is_complete());

    let without_last = verify(&join(&all[..99])).unwrap();
    assert_eq!(without_last.records, 99);
    assert_ne!(without_last.head, recs[99].hash);
}

#[test]
fn reordered_lines_are_a_seq_mismatch() {
    let original = lines(&records(100));
    for (a, b) in [(9, 10), (2, 6), (98, 99)] {
        let mut damaged = original.clone();
        damaged.swap(a, b);
        let err = verify(&join(&damaged)).unwrap_err();
        let line = a as u64 + 1;
        assert!(
            matches!(err, AuditError::SeqMismatch { line: l, expected, found }
                if l == line && expected == line && found == b as u64 + 1),
            "swapping lines {} and {}: {err}",
            a + 1,
            b + 1
        );
    }
}

/// A log may start above seq 1 (an archived prefix), so swapping the first
/// two lines shows at the second.
#[test]
fn swapping_the_first_two_lines_shows_at_the_second() {
    let mut damaged = lines(&records(10));
    damaged.swap(0, 1);
    let err = verify(&join(&damaged)).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::SeqMismatch {
                line: 2,
                expected: 3,
                found: 1
            }
        ),
        "{err}"
    );
}

#[test]
fn a_duplicated_line_is_a_seq_mismatch() {
    let mut damaged = lines(&records(10));
    damaged.insert(4, damaged[3].clone());
    let err = verify(&join(&damaged)).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::SeqMismatch {
                line: 5,
                expected: 5,
                found: 4
            }
        ),
        "{err}"
    );
}

#[test]
fn the_first_record_must_link_to_genesis() {
    let mut chain = AuditChain::genesis();
    let mut first = chain.append(entry(1));
    first.prev = "1".repeat(64);
    first.hash = first.compute_hash();
    let err = verify(&format!("{}\n", first.to_line())).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::BrokenLink {
                line: 1,
                seq: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn junk_lines_are_malformed_with_their_line() {
    let mut damaged = lines(&records(4));
    damaged.insert(2, String::new());
    let err = verify(&join(&damaged)).unwrap_err();
    assert!(
        matches!(err, AuditError::Malformed { line: Some(3), .. }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("line 3: not an audit record"),
        "{err}"
    );

    let mut long = lines(&records(2));
    long.push("x".repeat(usize::try_from(MAX_LINE_BYTES).unwrap() + 1));
    let err = verify(&join(&long)).unwrap_err();
    assert!(
        matches!(err, AuditError::LineTooLong { line: 3, .. }),
        "{err}"
    );
}

#[test]
fn resume_continues_a_chain_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");

    let mut chain = AuditChain::genesis();
    for i in 1..=50 {
        append_record(&path, &chain.append(entry(i))).unwrap();
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // A restarted writer picks up from the file, both ways.
    let verified = verify_file(&path).unwrap();
    let mut resumed = verified.chain();
    assert_eq!(
        resumed,
        AuditChain::resume(verified.last.as_ref().unwrap()).unwrap()
    );
    assert_eq!(resumed.next_seq(), 51);
    for i in 51..=100 {
        append_record(&path, &resumed.append(entry(i))).unwrap();
    }

    let verified = verify_file(&path).unwrap();
    assert_eq!(verified.records, 100);
    // Same entries written in one go give the same chain.
    assert_eq!(verified.head, records(100)[99].hash);
}

#[test]
fn a_missing_file_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nope.jsonl");
    let err = verify_file(&path).unwrap_err();
    assert!(matches!(err, AuditError::File { .. }));
    assert!(err.to_string().contains("nope.jsonl: cannot open"), "{err}");
}
