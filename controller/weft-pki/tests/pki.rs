//! The PKI directory end to end: bootstrap, issuance, reuse, damage, and
//! an independent chain check with webpki (what rustls will do).

// Helpers outside #[test] functions panic on setup failures too.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rcgen::{CertificateParams, KeyPair, SanType};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use weft_pki::{Pki, PkiError, Principal, Role, principal_from_der};

fn der_of(path: &Path) -> Vec<u8> {
    let pem = fs::read(path).unwrap();
    x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn self_signed_with(sans: Vec<SanType>) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    params.self_signed(&key).unwrap().der().to_vec()
}

fn uri(s: &str) -> SanType {
    SanType::URI(s.to_owned().try_into().unwrap())
}

#[test]
fn bootstrap_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let pki = Pki::bootstrap(&dir, &[]).unwrap();
    let files = ["ca.pem", "ca.key", "server.pem", "server.key"];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect();
    let ca_pem = pki.ca_cert_pem().unwrap();

    let again = Pki::bootstrap(&dir, &[]).unwrap();
    let after: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(again.ca_cert_pem().unwrap(), ca_pem);
    assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
}

#[test]
fn keys_and_directories_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let pki = Pki::bootstrap(&dir, &[]).unwrap();
    let agent = Principal::new(Role::Agent, "rack1-leaf").unwrap();
    let creds = pki.ensure_client(&agent).unwrap();
    assert_eq!(creds.cert, dir.join("agent/rack1-leaf.pem"));
    assert_eq!(creds.key, dir.join("agent/rack1-leaf.key"));
    assert_eq!(creds.ca, dir.join("ca.pem"));
    for key in [dir.join("ca.key"), pki.server().key, creds.key] {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
    }
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("agent")), 0o700);
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn issued_certificates_name_their_principal() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::bootstrap(tmp.path(), &[]).unwrap();
    for (role, name) in [
        (Role::Admin, "admin"),
        (Role::Operator, "alpha"),
        (Role::Auditor, "audit-1"),
        (Role::Agent, "rack1-leaf"),
    ] {
        let p = Principal::new(role, name).unwrap();
        let creds = pki.ensure_client(&p).unwrap();
        assert!(creds.cert.ends_with(format!("{role}/{name}.pem")));
        assert_eq!(principal_from_der(&der_of(&creds.cert)).unwrap(), p);
    }
}

#[test]
fn ensure_client_reuses_existing_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::bootstrap(tmp.path(), &[]).unwrap();
    let p = Principal::new(Role::Operator, "alpha").unwrap();
    let first = pki.ensure_client(&p).unwrap();
    let bytes = (
        fs::read(&first.cert).unwrap(),
        fs::read(&first.key).unwrap(),
    );
    let second = pki.ensure_client(&p).unwrap();
    assert_eq!(first, second);
    assert_eq!(
        bytes,
        (
            fs::read(&second.cert).unwrap(),
            fs::read(&second.key).unwrap()
        )
    );
    assert_eq!(pki.client(&p), first);
}

#[test]
fn ensure_client_refuses_invalid_names_without_touching_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::bootstrap(tmp.path(), &[]).unwrap();
    let p = Principal::Operator {
        name: "../ca".into(),
    };
    let err = pki.ensure_client(&p).unwrap_err();
    assert!(matches!(err, PkiError::InvalidPrincipal { .. }), "{err}");
    assert!(!tmp.path().join("operator").exists());
}

#[test]
fn certificates_without_exactly_one_weft_uri_are_rejected() {
    let none = self_signed_with(vec![]);
    assert!(matches!(
        principal_from_der(&none),
        Err(PkiError::NoPrincipal)
    ));

    let dns_only = self_signed_with(vec![SanType::DnsName("alpha".try_into().unwrap())]);
    assert!(matches!(
        principal_from_der(&dns_only),
        Err(PkiError::NoPrincipal)
    ));

    let other_uri = self_signed_with(vec![uri("spiffe://example.org/alpha")]);
    assert!(matches!(
        principal_from_der(&other_uri),
        Err(PkiError::NoPrincipal)
    ));

    let two = self_signed_with(vec![uri("weft://operator/alpha"), uri("weft://admin/root")]);
    let err = principal_from_der(&two).unwrap_err();
    assert!(matches!(err, PkiError::SeveralPrincipals { ref uris } if uris.len() == 2));
    assert!(err.to_string().contains("weft://admin/root"), "{err}");

    // A differently-cased scheme still counts, so it cannot hide a second identity.
    let cased = self_signed_with(vec![uri("weft://operator/alpha"), uri("WEFT://admin/root")]);
    assert!(matches!(
        principal_from_der(&cased),
        Err(PkiError::SeveralPrincipals { .. })
    ));

    for bad in [
        "weft://root/alpha",
        "weft://operator/Alpha",
        "weft://operator/a/b",
    ] {
        let cert = self_signed_with(vec![uri(bad)]);
        let err = principal_from_der(&cert).unwrap_err();
        assert!(
            matches!(err, PkiError::InvalidPrincipal { ref uri, .. } if uri == bad),
            "{err}"
        );
    }

    // Other SANs next to the one weft URI are ignored.
    let mixed = self_signed_with(vec![
        SanType::DnsName("alpha.example".try_into().unwrap()),
        uri("spiffe://example.org/x"),
        uri("weft://auditor/carol"),
    ]);
    assert_eq!(
        principal_from_der(&mixed).unwrap(),
        Principal::Auditor {
            name: "carol".into()
        }
    );
}

#[test]
fn garbage_is_not_a_certificate() {
    for bad in [&b""[..], b"\x30\x03\x02\x01\x01", b"not der at all"] {
        assert!(matches!(
            principal_from_der(bad),
            Err(PkiError::BadCertificate { .. })
        ));
    }
    let mut trailing = self_signed_with(vec![uri("weft://admin/a")]);
    trailing.push(0);
    assert!(matches!(
        principal_from_der(&trailing),
        Err(PkiError::BadCertificate { .. })
    ));
}

#[test]
fn issued_certificates_chain_to_the_ca_for_their_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::bootstrap(tmp.path(), &["ctl.example.net".into(), "192.0.2.7".into()]).unwrap();
    let ca_der = CertificateDer::from(der_of(&pki.server().ca));
    let anchors = [webpki::anchor_from_trusted_cert(&ca_der).unwrap()];
    let now = UnixTime::now();
    let verify = |leaf: &CertificateDer<'_>, usage: webpki::KeyUsage| {
        let ee = webpki::EndEntityCert::try_from(leaf).unwrap();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &[],
            now,
            usage,
            None,
            None,
        )
        .map(|_| ())
    };

    let server = CertificateDer::from(der_of(&pki.server().cert));
    verify(&server, webpki::KeyUsage::server_auth()).unwrap();
    assert!(verify(&server, webpki::KeyUsage::client_auth()).is_err());
    let ee = webpki::EndEntityCert::try_from(&server).unwrap();
    for name in [
        "localhost",
        "ctl.example.net",
        "127.0.0.1",
        "::1",
        "192.0.2.7",
    ] {
        let name = ServerName::try_from(name).unwrap();
        ee.verify_is_valid_for_subject_name(&name).unwrap();
    }
    let other = ServerName::try_from("evil.example").unwrap();
    assert!(ee.verify_is_valid_for_subject_name(&other).is_err());

    let p = Principal::new(Role::Operator, "alpha").unwrap();
    let client = CertificateDer::from(der_of(&pki.ensure_client(&p).unwrap().cert));
    verify(&client, webpki::KeyUsage::client_auth()).unwrap();
    assert!(verify(&client, webpki::KeyUsage::server_auth()).is_err());

    // A certificate from another CA does not chain.
    let other_tmp = tempfile::tempdir().unwrap();
    let other_pki = Pki::bootstrap(other_tmp.path(), &[]).unwrap();
    let foreign = CertificateDer::from(der_of(&other_pki.ensure_client(&p).unwrap().cert));
    assert!(verify(&foreign, webpki::KeyUsage::client_auth()).is_err());
}

#[test]
fn server_names_added_later_are_reported_not_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    Pki::bootstrap(tmp.path(), &["a.example".into()]).unwrap();
    // The same or fewer names reuse the certificate.
    Pki::bootstrap(tmp.path(), &["A.example".into()]).unwrap();
    Pki::bootstrap(tmp.path(), &["127.0.0.1".into()]).unwrap();
    let err = Pki::bootstrap(tmp.path(), &["b.example".into(), "10.0.0.1".into()]).unwrap_err();
    match err {
        PkiError::ServerNamesMissing { missing, .. } => {
            assert_eq!(missing, ["b.example", "10.0.0.1"]);
        }
        other => panic!("{other}"),
    }
    for bad in ["", "a..b", "-a.example", "a_b.example", "a b"] {
        let err = Pki::bootstrap(tmp.path(), &[bad.into()]).unwrap_err();
        assert!(
            matches!(err, PkiError::InvalidServerName { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn damaged_directories_are_reported_with_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = Pki::bootstrap(dir, &[]).unwrap();
    let alpha = Principal::new(Role::Operator, "alpha").unwrap();
    let beta = Principal::new(Role::Operator, "beta").unwrap();
    let a = pki.ensure_client(&alpha).unwrap();
    let b = pki.ensure_client(&beta).unwrap();

    // Swapped keys.
    let key_a = fs::read(&a.key).unwrap();
    fs::copy(&b.key, &a.key).unwrap();
    let err = pki.ensure_client(&alpha).unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("alpha.key"), "{err}");
    fs::write(&a.key, key_a).unwrap();

    // A certificate filed under the wrong name.
    fs::copy(&b.cert, &a.cert).unwrap();
    let err = pki.ensure_client(&alpha).unwrap_err();
    assert!(matches!(err, PkiError::WrongPrincipal { .. }), "{err}");

    // Garbage in a certificate file.
    fs::write(&a.cert, "hello").unwrap();
    let err = pki.ensure_client(&alpha).unwrap_err();
    assert!(matches!(err, PkiError::BadCertificateFile { .. }), "{err}");

    // A certificate from another CA.
    let other = tempfile::tempdir().unwrap();
    let foreign = Pki::bootstrap(other.path(), &[])
        .unwrap()
        .ensure_client(&alpha)
        .unwrap();
    fs::copy(&foreign.cert, &a.cert).unwrap();
    fs::copy(&foreign.key, &a.key).unwrap();
    let err = pki.ensure_client(&alpha).unwrap_err();
    assert!(matches!(err, PkiError::NotIssuedByCa { .. }), "{err}");

    // The CA key gone: never silently replaced.
    fs::remove_file(dir.join("ca.key")).unwrap();
    let err = Pki::bootstrap(dir, &[]).unwrap_err();
    assert!(matches!(err, PkiError::MissingKey { .. }), "{err}");
    assert!(err.to_string().contains("ca.key is missing"), "{err}");

    // The CA certificate gone while a server certificate exists.
    fs::remove_file(dir.join("ca.pem")).unwrap();
    let err = Pki::bootstrap(dir, &[]).unwrap_err();
    assert!(matches!(err, PkiError::MissingCa { .. }), "{err}");
}

#[test]
fn interrupted_ca_creation_is_completed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A key and a stale temporary file without a certificate: what a crash
    // during the first bootstrap leaves.
    fs::write(dir.join("ca.key"), "partial").unwrap();
    fs::write(dir.join(".ca.pem.tmp"), "partial").unwrap();
    let pki = Pki::bootstrap(dir, &[]).unwrap();
    let p = Principal::new(Role::Admin, "admin").unwrap();
    pki.ensure_client(&p).unwrap();
    assert!(!dir.join(".ca.pem.tmp").exists());
}
