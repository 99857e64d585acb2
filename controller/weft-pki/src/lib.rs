//! Weft's local PKI: a private CA for the controller's mTLS, and the
//! principals that client certificates name.
//!
//! Layer: identity, below authorization. [`Pki::bootstrap`] creates (once)
//! a CA and a server certificate in a directory; [`Pki::ensure_client`]
//! issues client credentials for a [`Principal`]; [`principal_from_der`]
//! turns a peer certificate the TLS layer has already verified back into a
//! [`Principal`]. Keys are ECDSA P-256.
//!
//! This crate does **not** do TLS (no rustls, tokio or tonic here: the
//! controller builds its TLS configuration from the files), does not
//! decide what a principal may do (the controller's authorization layer
//! does), and does not renew, rotate or revoke anything. The CA is valid
//! for 10 years and leaves for 1 year; rotating a leaf means removing its
//! two files and issuing again, rotating the CA means re-issuing
//! everything. Automating either is future work and, until then, the
//! operator's job.
//!
//! # Principals
//!
//! A client certificate carries exactly one URI SAN naming its holder:
//!
//! | URI | [`Principal`] | shown as |
//! |---|---|---|
//! | `weft://admin/NAME` | `Admin { name }` | `admin NAME` |
//! | `weft://operator/NAME` | `Operator { name }` | `operator NAME` |
//! | `weft://auditor/NAME` | `Auditor { name }` | `auditor NAME` |
//! | `weft://agent/SWITCH` | `Agent { switch }` | `agent SWITCH` |
//!
//! NAME and SWITCH are DNS labels: lowercase `a-z`, `0-9` and `-`, 1 to 63
//! bytes, not starting or ending with `-`.
//!
//! # Directory layout
//!
//! ```text
//! DIR/                      0700
//!   ca.pem                  CA certificate: the trust anchor to give to clients
//!   ca.key                  CA private key (PKCS#8 PEM), 0600: guard it
//!   server.pem, server.key  the controller's certificate (serverAuth) and key
//!   admin/NAME.pem, .key    client certificates (clientAuth) and keys, 0600,
//!   operator/NAME.pem, .key   one subdirectory (0700) per role
//!   auditor/NAME.pem, .key
//!   agent/SWITCH.pem, .key
//! ```
//!
//! Files are written atomically (temporary file, fsync, rename), key
//! before certificate: a certificate on disk means its key is there too.
//! Existing files are reused, never overwritten, and checked on reuse (key
//! matches certificate, certificate signed by the CA, client certificate
//! names the principal its path says).
//!
//! ```
//! use weft_pki::{Pki, Principal, Role};
//! # let tmp = tempfile::tempdir().unwrap();
//! # let dir = tmp.path().join("pki");
//! let pki = Pki::bootstrap(&dir, &["ctl.example.net".to_owned()]).unwrap();
//! let alpha = Principal::new(Role::Operator, "alpha").unwrap();
//! let creds = pki.ensure_client(&alpha).unwrap();
//! assert!(creds.cert.ends_with("operator/alpha.pem"));
//! ```

mod cert;
mod dir;
mod error;
mod principal;

pub use cert::principal_from_der;
pub use dir::{Credentials, Pki};
pub use error::PkiError;
pub use principal::{Principal, Role, URI_PREFIX};
