//! The connection to `weftd`: one channel, mutual TLS from PEM files, and
//! the service clients over it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::Request;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use weft_proto::v1::audit_service_client::AuditServiceClient;
use weft_proto::v1::fabric_service_client::FabricServiceClient;
use weft_proto::v1::network_service_client::NetworkServiceClient;
use weft_proto::v1::operator_service_client::OperatorServiceClient;

use super::error::OnlineError;

/// The name checked against the server certificate when none is
/// configured: `weft-pki` issues the server certificate for `localhost`.
pub const DEFAULT_SERVER_NAME: &str = "localhost";

/// Where and how to connect, once every setting is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoint: String,
    /// `None` for a plain-text `http://` endpoint.
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub server_name: String,
}

/// Connects eagerly, so that an unreachable controller or a TLS failure is
/// reported as such before any request is built.
pub async fn connect(target: &Target, timeout: Duration) -> Result<Channel, OnlineError> {
    let url = &target.endpoint;
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| OnlineError::Config(format!("invalid endpoint {url:?}: {e}")))?
        .connect_timeout(timeout)
        .tcp_nodelay(true);
    if let Some(tls) = &target.tls {
        let config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&tls.ca, "CA certificate")?))
            .identity(Identity::from_pem(
                read(&tls.cert, "client certificate")?,
                read(&tls.key, "client key")?,
            ))
            .domain_name(tls.server_name.clone());
        endpoint = endpoint.tls_config(config).map_err(|e| {
            OnlineError::Config(format!("cannot use the TLS files for {url}: {}", chain(&e)))
        })?;
    }
    endpoint.connect().await.map_err(|e| {
        OnlineError::Unavailable(format!(
            "cannot reach the controller at {url}: {}",
            chain(&e)
        ))
    })
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, OnlineError> {
    std::fs::read(path)
        .map_err(|e| OnlineError::Config(format!("cannot read the {what} {}: {e}", path.display())))
}

/// An error and its causes on one line: tonic's transport errors say
/// "transport error" and keep the useful part in their sources.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let message = s.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = s.source();
    }
    text
}

/// A connection to the controller, opened on first use: a command checks
/// its arguments before it dials, so a typo is not reported as an
/// unreachable controller.
#[derive(Debug)]
pub struct Session {
    target: Target,
    channel: Option<Channel>,
    /// The deadline of each unary call, and of the wait for the switches.
    pub timeout: Duration,
}

impl Session {
    pub fn new(target: Target, timeout: Duration) -> Self {
        Session {
            target,
            channel: None,
            timeout,
        }
    }

    async fn channel(&mut self) -> Result<Channel, OnlineError> {
        if let Some(channel) = &self.channel {
            return Ok(channel.clone());
        }
        let channel = connect(&self.target, self.timeout).await?;
        self.channel = Some(channel.clone());
        Ok(channel)
    }

    /// A unary request with the session's deadline.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.timeout);
        request
    }

    pub async fn operators(&mut self) -> Result<OperatorServiceClient<Channel>, OnlineError> {
        Ok(OperatorServiceClient::new(self.channel().await?))
    }

    pub async fn networks(&mut self) -> Result<NetworkServiceClient<Channel>, OnlineError> {
        Ok(NetworkServiceClient::new(self.channel().await?))
    }

    pub async fn audit(&mut self) -> Result<AuditServiceClient<Channel>, OnlineError> {
        // Reports of large fabrics carry all their evidence.
        Ok(AuditServiceClient::new(self.channel().await?).max_decoding_message_size(256 << 20))
    }

    pub async fn fabric(&mut self) -> Result<FabricServiceClient<Channel>, OnlineError> {
        Ok(FabricServiceClient::new(self.channel().await?))
    }
}

/// A fresh id for each mutation this process sends: the controller
/// answers a resend of the same id with its first answer instead of
/// applying the change twice.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
