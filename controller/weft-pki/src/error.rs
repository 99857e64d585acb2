//! The one error type of this crate. Messages name the file involved and
//! say what the operator can do about it.

use std::io;
use std::path::PathBuf;

/// Why a PKI operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A principal URI or name is not `weft://ROLE/NAME` with NAME a DNS label.
    #[error("invalid principal {uri:?}: {reason}")]
    InvalidPrincipal {
        /// The URI as presented (or as built from a hand-made value).
        uri: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A role name is not one of `admin`, `operator`, `auditor`, `agent`.
    #[error("unknown role {role:?}; expected admin, operator, auditor or agent")]
    InvalidRole {
        /// The string given.
        role: String,
    },

    /// The bytes presented as a certificate are not one DER X.509 certificate.
    #[error("the client certificate is not valid DER X.509: {reason}")]
    BadCertificate {
        /// The parser's complaint.
        reason: String,
    },

    /// The certificate carries no `weft://` URI SAN.
    #[error(
        "the client certificate names no principal (no weft://ROLE/NAME URI SAN); \
         use a certificate issued by this controller's CA"
    )]
    NoPrincipal,

    /// The certificate carries several `weft://` URI SANs, which would make
    /// the caller's identity ambiguous.
    #[error(
        "the client certificate names {} principals ({}); exactly one weft:// URI SAN is allowed",
        uris.len(),
        uris.join(", ")
    )]
    SeveralPrincipals {
        /// Every `weft://` URI found.
        uris: Vec<String>,
    },

    /// Reading, writing or creating a file or directory failed.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, e.g. "read", "create directory".
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A PEM certificate file could not be parsed.
    #[error(
        "{}: not a PEM X.509 certificate ({reason}); restore it from a backup, \
         or remove it and its key to issue new credentials",
        path.display()
    )]
    BadCertificateFile {
        /// The certificate file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },

    /// A PEM private key file could not be parsed.
    #[error(
        "{}: not a PEM PKCS#8 private key ({reason}); restore it from a backup, \
         or remove it and its certificate to issue new credentials",
        path.display()
    )]
    BadKeyFile {
        /// The key file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },

    /// A certificate and the key stored next to it do not belong together.
    #[error(
        "{} does not hold the private key of {}; restore the matching pair, \
         or remove both to issue new credentials",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },

    /// A certificate exists but its private key does not.
    #[error(
        "{} exists but {} is missing; restore the key from a backup, or remove \
         the certificate to issue new credentials (holders of the old ones will \
         stop working if it is the CA)",
        cert.display(),
        key.display()
    )]
    MissingKey {
        /// The certificate file that exists.
        cert: PathBuf,
        /// The key file that does not.
        key: PathBuf,
    },

    /// The CA certificate is missing while credentials it issued exist.
    #[error(
        "{} is missing; restore it and ca.key from a backup (creating a new CA \
         would invalidate every certificate issued so far)",
        path.display()
    )]
    MissingCa {
        /// Where the CA certificate should be.
        path: PathBuf,
    },

    /// An existing certificate was not signed by this directory's CA.
    #[error(
        "{} was not issued by this directory's CA; remove it and its key to \
         issue new credentials",
        path.display()
    )]
    NotIssuedByCa {
        /// The certificate file.
        path: PathBuf,
    },

    /// An existing client certificate names another principal than its path says.
    #[error(
        "{} names {found}, not {expected}; remove it and its key to issue new credentials",
        path.display()
    )]
    WrongPrincipal {
        /// The certificate file.
        path: PathBuf,
        /// The principal the path stands for.
        expected: String,
        /// The principal the certificate names.
        found: String,
    },

    /// The existing server certificate lacks names now asked for. It is
    /// never replaced silently: clients may pin it.
    #[error(
        "{} does not cover {}; remove server.pem and server.key to issue a \
         server certificate with the new names",
        path.display(),
        missing.join(", ")
    )]
    ServerNamesMissing {
        /// The server certificate file.
        path: PathBuf,
        /// The requested names and addresses it lacks.
        missing: Vec<String>,
    },

    /// A requested server name is not a valid DNS name or IP address.
    #[error("invalid server name {name:?}: {reason}")]
    InvalidServerName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Key generation or certificate signing failed.
    #[error("cannot generate {what}: {reason}")]
    Generate {
        /// What was being generated.
        what: String,
        /// The underlying library's complaint.
        reason: String,
    },
}
