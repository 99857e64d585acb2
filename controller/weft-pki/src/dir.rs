//! The PKI directory: which file holds what, and how files are written.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{Issuer, KeyPair};
use x509_parser::certificate::X509Certificate;

use crate::cert::{self, principal_of};
use crate::{PkiError, Principal};

const DIR_MODE: u32 = 0o700;
const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;

/// The files of one identity: its PEM certificate (the leaf only), its PEM
/// PKCS#8 private key, and the CA certificate that peers chain to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// PEM certificate of this identity.
    pub cert: PathBuf,
    /// PEM PKCS#8 private key (mode 0600).
    pub key: PathBuf,
    /// PEM certificate of the CA.
    pub ca: PathBuf,
}

/// A PKI directory (see the crate docs for its layout).
///
/// One process manages a directory at a time: writes are atomic per file,
/// but two processes issuing the same identity at once could pair one's
/// key with the other's certificate (which [`Pki::ensure_client`] would
/// then report as [`PkiError::KeyMismatch`]).
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// Opens `dir`, creating it (mode 0700) and, if it holds no CA, a new CA
    /// (`ca.pem`, `ca.key`) and server certificate (`server.pem`,
    /// `server.key`).
    ///
    /// The server certificate names `localhost`, `127.0.0.1`, `::1` and
    /// each of `extra_server_names`: an entry that parses as an IP address
    /// becomes an IP SAN, any other must be a host name and becomes a DNS
    /// SAN.
    ///
    /// Idempotent: an existing CA or server certificate is reused and
    /// never overwritten. If the existing server certificate lacks a
    /// requested name this fails with [`PkiError::ServerNamesMissing`]
    /// rather than ignoring the request.
    pub fn bootstrap(dir: &Path, extra_server_names: &[String]) -> Result<Pki, PkiError> {
        // Validate arguments before touching the disk.
        let (dns, ips) = cert::server_names(extra_server_names)?;
        create_private_dir(dir)?;
        let pki = Pki {
            dir: dir.to_path_buf(),
        };
        let server = pki.server();
        let ca = if exists(&pki.ca_path())? {
            pki.load_ca()?
        } else if exists(&server.cert)? {
            // A new CA would silently orphan the server certificate and
            // every client certificate issued so far.
            return Err(PkiError::MissingCa {
                path: pki.ca_path(),
            });
        } else {
            pki.create_ca()?
        };
        if exists(&server.cert)? {
            let pem = read_text(&server.cert)?;
            let der = pem_to_der(&server.cert, &pem)?;
            let parsed = parse_der(&server.cert, &der)?;
            check_issued_by(&server.cert, &parsed, &ca)?;
            check_key_matches(&server, &parsed)?;
            let (have_dns, have_ips) = cert::server_sans(&parsed);
            let missing: Vec<String> = dns
                .iter()
                .filter(|n| !have_dns.contains(n))
                .cloned()
                .chain(
                    ips.iter()
                        .filter(|ip| !have_ips.contains(ip))
                        .map(ToString::to_string),
                )
                .collect();
            if !missing.is_empty() {
                return Err(PkiError::ServerNamesMissing {
                    path: server.cert,
                    missing,
                });
            }
        } else {
            let params = cert::server_params(&dns, &ips)?;
            pki.issue(&ca, params, &server, "the server certificate")?;
        }
        Ok(pki)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate, PEM.
    pub fn ca_cert_pem(&self) -> Result<String, PkiError> {
        read_text(&self.ca_path())
    }

    /// Path of the CA certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server's credentials (paths only).
    pub fn server(&self) -> Credentials {
        Credentials {
            cert: self.dir.join("server.pem"),
            key: self.dir.join("server.key"),
            ca: self.ca_path(),
        }
    }

    /// Paths of a principal's credentials: `DIR/<role>/<name>.{pem,key}`.
    ///
    /// Paths only: the principal is not validated, so pass one that came
    /// from [`Principal::new`] or [`Principal::parse_uri`].
    pub fn client(&self, p: &Principal) -> Credentials {
        let sub = self.dir.join(p.role().as_str());
        Credentials {
            cert: sub.join(format!("{}.pem", p.name())),
            key: sub.join(format!("{}.key", p.name())),
            ca: self.ca_path(),
        }
    }

    /// Issues client credentials for `p`, or returns the existing ones
    /// after checking that the certificate names `p` and matches its key.
    pub fn ensure_client(&self, p: &Principal) -> Result<Credentials, PkiError> {
        p.validate()?;
        let creds = self.client(p);
        if exists(&creds.cert)? {
            let pem = read_text(&creds.cert)?;
            let der = pem_to_der(&creds.cert, &pem)?;
            let parsed = parse_der(&creds.cert, &der)?;
            let ca = self.load_ca()?;
            check_issued_by(&creds.cert, &parsed, &ca)?;
            let found = principal_of(&parsed)?;
            if &found != p {
                return Err(PkiError::WrongPrincipal {
                    path: creds.cert,
                    expected: p.to_string(),
                    found: found.to_string(),
                });
            }
            check_key_matches(&creds, &parsed)?;
            return Ok(creds);
        }
        let ca = self.load_ca()?;
        if let Some(sub) = creds.cert.parent() {
            create_private_dir(sub)?;
        }
        let params = cert::client_params(p)?;
        self.issue(&ca, params, &creds, &format!("{p}'s certificate"))?;
        Ok(creds)
    }

    fn ca_key_path(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    fn ca_credentials(&self) -> Credentials {
        Credentials {
            cert: self.ca_path(),
            key: self.ca_key_path(),
            ca: self.ca_path(),
        }
    }

    fn load_ca(&self) -> Result<LoadedCa, PkiError> {
        let ca = self.ca_credentials();
        if !exists(&ca.cert)? {
            return Err(PkiError::MissingCa { path: ca.cert });
        }
        let pem = read_text(&ca.cert)?;
        let der = pem_to_der(&ca.cert, &pem)?;
        let key = check_key_matches(&ca, &parse_der(&ca.cert, &der)?)?;
        let issuer =
            Issuer::from_ca_cert_pem(&pem, key).map_err(|e| PkiError::BadCertificateFile {
                path: ca.cert,
                reason: e.to_string(),
            })?;
        Ok(LoadedCa { issuer, der })
    }

    fn create_ca(&self) -> Result<LoadedCa, PkiError> {
        let ca = self.ca_credentials();
        // A key without a certificate is a leftover of an interrupted
        // bootstrap: the certificate is written last, so nothing can have
        // been issued by it and it is safe to replace.
        let key = cert::new_key("the CA")?;
        let params = cert::ca_params(&key);
        let signed = params.self_signed(&key).map_err(|e| PkiError::Generate {
            what: "the CA certificate".to_owned(),
            reason: e.to_string(),
        })?;
        write_atomic(&ca.key, key.serialize_pem().as_bytes(), KEY_MODE)?;
        write_atomic(&ca.cert, signed.pem().as_bytes(), CERT_MODE)?;
        Ok(LoadedCa {
            issuer: Issuer::new(params, key),
            der: signed.der().to_vec(),
        })
    }

    /// Signs a new leaf and writes its key, then its certificate: the
    /// certificate's presence is what marks the pair complete.
    fn issue(
        &self,
        ca: &LoadedCa,
        params: rcgen::CertificateParams,
        to: &Credentials,
        what: &str,
    ) -> Result<(), PkiError> {
        let key = cert::new_key(what)?;
        let signed = params
            .signed_by(&key, &ca.issuer)
            .map_err(|e| PkiError::Generate {
                what: what.to_owned(),
                reason: e.to_string(),
            })?;
        write_atomic(&to.key, key.serialize_pem().as_bytes(), KEY_MODE)?;
        write_atomic(&to.cert, signed.pem().as_bytes(), CERT_MODE)
    }
}

/// The CA, ready to sign, and its certificate to check signatures against.
struct LoadedCa {
    issuer: Issuer<'static, KeyPair>,
    der: Vec<u8>,
}

/// Checks that `cert` was signed by the CA, so that credentials left from
/// another CA are reported instead of handed out.
fn check_issued_by(path: &Path, cert: &X509Certificate<'_>, ca: &LoadedCa) -> Result<(), PkiError> {
    let ca_cert = parse_der(path, &ca.der)?;
    cert.verify_signature(Some(ca_cert.public_key()))
        .map_err(|_| PkiError::NotIssuedByCa {
            path: path.to_path_buf(),
        })
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> PkiError {
    let path = path.to_path_buf();
    move |source| PkiError::Io {
        path,
        action,
        source,
    }
}

fn exists(path: &Path) -> Result<bool, PkiError> {
    path.try_exists().map_err(io_err(path, "check for"))
}

fn read_text(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(io_err(path, "read"))
}

fn create_private_dir(dir: &Path) -> Result<(), PkiError> {
    if exists(dir)? {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
        .map_err(io_err(dir, "set permissions of"))
}

/// Writes through a temporary file and a rename so that a crash leaves
/// either the old file or the whole new one. The temporary file is created
/// with `mode` so that a key is never readable by others, even briefly.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&tmp, "remove stale")(e)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp, "create"))?;
    file.write_all(contents).map_err(io_err(&tmp, "write"))?;
    file.sync_all().map_err(io_err(&tmp, "sync"))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err(path, "rename into place"))?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable.
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir, "sync directory"))?;
    }
    Ok(())
}

fn pem_to_der(path: &Path, pem: &str) -> Result<Vec<u8>, PkiError> {
    let bad = |reason: String| PkiError::BadCertificateFile {
        path: path.to_path_buf(),
        reason,
    };
    let (_, parsed) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if parsed.label != "CERTIFICATE" {
        return Err(bad(format!("PEM label is {:?}", parsed.label)));
    }
    Ok(parsed.contents)
}

fn parse_der<'a>(path: &Path, der: &'a [u8]) -> Result<X509Certificate<'a>, PkiError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(|e| PkiError::BadCertificateFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Loads the key next to a certificate and checks they belong together.
fn check_key_matches(creds: &Credentials, cert: &X509Certificate<'_>) -> Result<KeyPair, PkiError> {
    use rcgen::PublicKeyData;
    if !exists(&creds.key)? {
        return Err(PkiError::MissingKey {
            cert: creds.cert.clone(),
            key: creds.key.clone(),
        });
    }
    let pem = read_text(&creds.key)?;
    let key = KeyPair::from_pem(&pem).map_err(|e| PkiError::BadKeyFile {
        path: creds.key.clone(),
        reason: e.to_string(),
    })?;
    if key.subject_public_key_info() != cert.public_key().raw {
        return Err(PkiError::KeyMismatch {
            cert: creds.cert.clone(),
            key: creds.key.clone(),
        });
    }
    Ok(key)
}
