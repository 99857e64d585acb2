//! What the controller benches share: repository paths and mTLS channels
//! to an in-process `weftd`.

use std::net::SocketAddr;
use std::path::PathBuf;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use weft_pki::{Pki, Principal};

/// A file of the repository, e.g. `topologies/two-racks.yaml`.
pub fn repo_file(rel: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// A channel to `weftd` at `addr` authenticated as `p` (credentials issued
/// from the local CA on demand).
pub async fn channel(pki: &Pki, addr: SocketAddr, p: &Principal) -> Channel {
    let creds = pki.ensure_client(p).expect("client credentials");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(
            std::fs::read(&creds.ca).expect("CA certificate"),
        ))
        .identity(Identity::from_pem(
            std::fs::read(&creds.cert).expect("client certificate"),
            std::fs::read(&creds.key).expect("client key"),
        ))
        .domain_name("localhost");
    Channel::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(tls)
        .expect("TLS config")
        .connect()
        .await
        .expect("connect to weftd")
}
