//! Short names on the command line (`alpha`, `alpha/web`,
//! `rack1-leaf/eth1`) to the API's resource names
//! (`operators/alpha/networks/web`, `…/attachments/rack1-leaf:eth1`).
//!
//! Only the shape is checked here (no empty part, no stray separator), so
//! a typo is reported before a connection is made; whether an id is a valid
//! DNS label or a port exists is the controller's call.

use super::error::OnlineError;

/// `operators/{op}/networks/{net}`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkName {
    pub operator: String,
    pub network: String,
}

impl NetworkName {
    /// `operators/{op}`: the parent for CreateNetwork.
    pub fn parent(&self) -> String {
        operator_name(&self.operator)
    }

    pub fn name(&self) -> String {
        format!("operators/{}/networks/{}", self.operator, self.network)
    }
}

/// A server port, `SWITCH/PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRef {
    pub switch: String,
    pub port: String,
}

impl PortRef {
    /// As the API writes it in leases and attachments.
    pub fn wire(&self) -> String {
        format!("{}/{}", self.switch, self.port)
    }
}

/// The id of an operator, from `ID` or `operators/ID`.
pub fn parse_operator(arg: &str) -> Result<String, OnlineError> {
    let id = arg.strip_prefix("operators/").unwrap_or(arg);
    check_id(id, "operator", arg)?;
    Ok(id.to_owned())
}

pub fn operator_name(id: &str) -> String {
    format!("operators/{id}")
}

pub fn lease_name(id: &str) -> String {
    format!("operators/{id}/lease")
}

/// `OP/NET` or `operators/OP/networks/NET`.
pub fn parse_network(arg: &str) -> Result<NetworkName, OnlineError> {
    let parts: Vec<&str> = arg.split('/').collect();
    let (operator, network) = match parts.as_slice() {
        [op, net] => (*op, *net),
        ["operators", op, "networks", net] => (*op, *net),
        _ => {
            return Err(OnlineError::Input(format!(
                "{arg:?} is not a network: write OPERATOR/NETWORK, e.g. alpha/web"
            )));
        }
    };
    check_id(operator, "operator", arg)?;
    check_id(network, "network", arg)?;
    Ok(NetworkName {
        operator: operator.to_owned(),
        network: network.to_owned(),
    })
}

/// `SWITCH/PORT`.
pub fn parse_port(arg: &str) -> Result<PortRef, OnlineError> {
    let Some((switch, port)) = arg.split_once('/') else {
        return Err(OnlineError::Input(format!(
            "{arg:?} is not a port: write SWITCH/PORT, e.g. rack1-leaf/eth1"
        )));
    };
    check_id(switch, "switch", arg)?;
    check_id(port, "port", arg)?;
    Ok(PortRef {
        switch: switch.to_owned(),
        port: port.to_owned(),
    })
}

/// `operators/{op}/networks/{net}/attachments/{switch}:{port}`.
pub fn attachment_name(network: &NetworkName, port: &PortRef) -> String {
    format!(
        "{}/attachments/{}:{}",
        network.name(),
        port.switch,
        port.port
    )
}

fn check_id(id: &str, what: &str, arg: &str) -> Result<(), OnlineError> {
    let problem = if id.is_empty() {
        Some("is empty")
    } else if id.contains(['/', ':']) {
        Some("contains '/' or ':'")
    } else if id.chars().any(char::is_whitespace) {
        Some("contains white space")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(OnlineError::Input(format!("in {arg:?}: the {what} id {p}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_take_short_and_full_names() {
        assert_eq!(parse_operator("alpha").unwrap(), "alpha");
        assert_eq!(parse_operator("operators/alpha").unwrap(), "alpha");
        assert!(parse_operator("").is_err());
        assert!(parse_operator("operators/").is_err());
        assert!(parse_operator("alpha/web").is_err());
        assert_eq!(lease_name("alpha"), "operators/alpha/lease");
    }

    #[test]
    fn networks_take_short_and_full_names() {
        let n = parse_network("alpha/web").unwrap();
        assert_eq!(n.name(), "operators/alpha/networks/web");
        assert_eq!(n.parent(), "operators/alpha");
        assert_eq!(parse_network("operators/alpha/networks/web").unwrap(), n);
        for bad in [
            "alpha",
            "alpha/",
            "/web",
            "alpha/web/x",
            "a b/web",
            "alpha/w:1",
        ] {
            let err = parse_network(bad).unwrap_err();
            assert!(matches!(err, OnlineError::Input(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn ports_and_attachment_names() {
        let p = parse_port("rack1-leaf/eth1").unwrap();
        assert_eq!((p.switch.as_str(), p.port.as_str()), ("rack1-leaf", "eth1"));
        assert_eq!(p.wire(), "rack1-leaf/eth1");
        let n = parse_network("alpha/web").unwrap();
        assert_eq!(
            attachment_name(&n, &p),
            "operators/alpha/networks/web/attachments/rack1-leaf:eth1"
        );
        for bad in ["eth1", "rack1-leaf/", "/eth1", "leaf/eth/1", "leaf:1/eth1"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }
}
