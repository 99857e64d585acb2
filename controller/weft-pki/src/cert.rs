//! Certificate contents (what each kind of certificate says) and reading
//! principals back out of DER. No file access here.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::{PkiError, Principal};

/// The CA outlives many leaf generations so that rotating a leaf never
/// means redistributing the trust anchor.
pub(crate) const CA_LIFETIME: Duration = Duration::days(3650);
/// Leaves (server and clients) expire after a year. Nothing renews them
/// yet: rotation is the operator's job (remove the files, re-issue).
pub(crate) const LEAF_LIFETIME: Duration = Duration::days(365);
/// Certificates start a little in the past so that a peer whose clock is
/// slightly behind does not reject a freshly issued certificate.
const BACKDATE: Duration = Duration::minutes(5);

/// A new ECDSA P-256 key.
pub(crate) fn new_key(what: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| PkiError::Generate {
        what: format!("a key for {what}"),
        reason: e.to_string(),
    })
}

fn validity(params: &mut CertificateParams, lifetime: Duration) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + lifetime;
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Weft");
    dn.push(DnType::CommonName, cn);
    dn
}

/// The self-signed CA. Its name carries a prefix of its key identifier so
/// that two deployments' CAs are told apart in tool output.
pub(crate) fn ca_params(key: &KeyPair) -> CertificateParams {
    let mut params = CertificateParams::default();
    let key_id = params.key_identifier(key);
    let short: String = key_id.iter().take(4).map(|b| format!("{b:02x}")).collect();
    params.distinguished_name = common_name(&format!("Weft local CA {short}"));
    // Path length 0: this CA signs leaves only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, CA_LIFETIME);
    params
}

fn leaf_params(cn: &str, sans: Vec<SanType>, eku: ExtendedKeyUsagePurpose) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(cn);
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![eku];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, LEAF_LIFETIME);
    params
}

/// The controller's server certificate.
pub(crate) fn server_params(dns: &[String], ips: &[IpAddr]) -> Result<CertificateParams, PkiError> {
    let mut sans = Vec::with_capacity(dns.len() + ips.len());
    for name in dns {
        sans.push(SanType::DnsName(dns_ia5(name)?));
    }
    sans.extend(ips.iter().copied().map(SanType::IpAddress));
    Ok(leaf_params(
        "weftd",
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
    ))
}

/// A client certificate naming `p` by its one URI SAN.
pub(crate) fn client_params(p: &Principal) -> Result<CertificateParams, PkiError> {
    let uri = p.uri();
    let ia5 = uri
        .clone()
        .try_into()
        .map_err(|e: rcgen::Error| PkiError::InvalidPrincipal {
            uri,
            reason: e.to_string(),
        })?;
    Ok(leaf_params(
        &p.to_string(),
        vec![SanType::URI(ia5)],
        ExtendedKeyUsagePurpose::ClientAuth,
    ))
}

fn dns_ia5(name: &str) -> Result<rcgen::string::Ia5String, PkiError> {
    name.to_owned()
        .try_into()
        .map_err(|e: rcgen::Error| PkiError::InvalidServerName {
            name: name.to_owned(),
            reason: e.to_string(),
        })
}

/// Splits the requested server names into DNS names and IP addresses,
/// always including `localhost`, `127.0.0.1` and `::1`, without duplicates.
pub(crate) fn server_names(extra: &[String]) -> Result<(Vec<String>, Vec<IpAddr>), PkiError> {
    let mut dns = vec!["localhost".to_owned()];
    let mut ips: Vec<IpAddr> = vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
    for name in extra {
        if let Ok(ip) = name.parse::<IpAddr>() {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
            continue;
        }
        check_dns_name(name)?;
        let lower = name.to_ascii_lowercase();
        if !dns.contains(&lower) {
            dns.push(lower);
        }
    }
    Ok((dns, ips))
}

/// Host names as clients will dial them: dot-separated labels of
/// `A-Za-z0-9-`, optionally a leading `*.` wildcard label.
fn check_dns_name(name: &str) -> Result<(), PkiError> {
    let invalid = |reason: &str| PkiError::InvalidServerName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let body = name.strip_prefix("*.").unwrap_or(name);
    if body.is_empty() || name.len() > 253 {
        return Err(invalid("expected a host name of 1 to 253 bytes"));
    }
    for label in body.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(invalid("each dot-separated label must be 1 to 63 bytes"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid("only letters, digits, '-' and '.' are allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label starts or ends with '-'"));
        }
    }
    Ok(())
}

/// The principal named by a DER client certificate's URI SAN.
///
/// Exactly one SAN must be a `weft:` URI (scheme compared
/// case-insensitively so that a differently-cased second principal makes
/// the certificate ambiguous rather than being ignored); other SANs are
/// ignored.
///
/// This does **not** check the signature, validity period or chain: call
/// it on a certificate the TLS layer has already verified against the CA.
pub fn principal_from_der(der: &[u8]) -> Result<Principal, PkiError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::BadCertificate {
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(PkiError::BadCertificate {
            reason: format!("{} bytes follow the certificate", rest.len()),
        });
    }
    principal_of(&cert)
}

pub(crate) fn principal_of(cert: &X509Certificate<'_>) -> Result<Principal, PkiError> {
    let san = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::BadCertificate {
            reason: format!("subject alternative names: {e}"),
        })?
        .ok_or(PkiError::NoPrincipal)?;
    let mut uris = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::URI(uri) if has_weft_scheme(uri) => uris.push((*uri).to_owned()),
            GeneralName::Invalid(..) => {
                return Err(PkiError::BadCertificate {
                    reason: "a subject alternative name cannot be decoded".to_owned(),
                });
            }
            _ => {}
        }
    }
    match uris.as_slice() {
        [] => Err(PkiError::NoPrincipal),
        [one] => Principal::parse_uri(one),
        _ => Err(PkiError::SeveralPrincipals { uris }),
    }
}

fn has_weft_scheme(uri: &str) -> bool {
    uri.split_once(':')
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("weft"))
}

/// The DNS names and IP addresses a certificate is valid for.
pub(crate) fn server_sans(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => dns.push(n.to_ascii_lowercase()),
                GeneralName::IPAddress(b) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                        ips.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                        ips.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    (dns, ips)
}
