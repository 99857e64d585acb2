//! `--simulate`: an in-memory agent per programmed switch, inside `weftd`,
//! speaking the real agent protocol over a real socket with its own agent
//! certificate — the same path a rack switch's agent takes.

use std::net::SocketAddr;

use anyhow::Context;
use weft_agent::{AgentConfig, AgentTls};
use weft_pki::{Pki, Principal, Role};

/// The agent configuration for `switch` against a controller on `addr`.
pub fn agent_config(pki: &Pki, addr: SocketAddr, switch: &str) -> anyhow::Result<AgentConfig> {
    let creds = pki.ensure_client(&Principal::new(Role::Agent, switch)?)?;
    let read =
        |p: &std::path::Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let host = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    Ok(AgentConfig::new(
        format!("https://{host}"),
        switch.to_owned(),
        AgentTls {
            ca_pem: read(&creds.ca)?,
            cert_pem: read(&creds.cert)?,
            key_pem: read(&creds.key)?,
            server_name: "localhost".to_owned(),
        },
    ))
}
