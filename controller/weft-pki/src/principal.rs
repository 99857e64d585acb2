//! Principals and their `weft://ROLE/NAME` URI encoding.

use std::fmt;
use std::str::FromStr;

use crate::PkiError;

/// The URI scheme prefix of every principal SAN.
pub const URI_PREFIX: &str = "weft://";

/// What a certificate holder may be allowed to do. Deciding what each role
/// may do is the controller's authorization layer, not this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything, on every operator's resources.
    Admin,
    /// One operator's own resources.
    Operator,
    /// Read-only access to everything.
    Auditor,
    /// One switch's agent.
    Agent,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Auditor, Role::Agent];

    /// The lowercase name used in URIs, paths and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Agent => "agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| PkiError::InvalidRole { role: s.to_owned() })
    }
}

/// Who is calling, as named by the one `weft://` URI SAN of a client
/// certificate.
///
/// The fields are public so callers can match on them; a value built by
/// hand is not checked until it is used: [`Principal::new`],
/// [`Principal::parse_uri`] and [`Pki::ensure_client`](crate::Pki::ensure_client)
/// validate the name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    /// An administrator.
    Admin {
        /// DNS label naming the person or tool.
        name: String,
    },
    /// An operator: a tenant of the fabric.
    Operator {
        /// DNS label naming the operator (the `operators/NAME` resource).
        name: String,
    },
    /// A read-only auditor.
    Auditor {
        /// DNS label naming the person or tool.
        name: String,
    },
    /// The agent of one switch.
    Agent {
        /// DNS label naming the switch, as in the topology.
        switch: String,
    },
}

impl Principal {
    /// Builds a principal, checking that `name` is a DNS label.
    pub fn new(role: Role, name: &str) -> Result<Self, PkiError> {
        check_label(name).map_err(|reason| PkiError::InvalidPrincipal {
            uri: format!("{URI_PREFIX}{role}/{name}"),
            reason,
        })?;
        Ok(Principal::from_parts(role, name.to_owned()))
    }

    fn from_parts(role: Role, name: String) -> Self {
        match role {
            Role::Admin => Principal::Admin { name },
            Role::Operator => Principal::Operator { name },
            Role::Auditor => Principal::Auditor { name },
            Role::Agent => Principal::Agent { switch: name },
        }
    }

    /// The principal's role.
    pub fn role(&self) -> Role {
        match self {
            Principal::Admin { .. } => Role::Admin,
            Principal::Operator { .. } => Role::Operator,
            Principal::Auditor { .. } => Role::Auditor,
            Principal::Agent { .. } => Role::Agent,
        }
    }

    /// The name (or switch) part.
    pub fn name(&self) -> &str {
        match self {
            Principal::Admin { name }
            | Principal::Operator { name }
            | Principal::Auditor { name }
            | Principal::Agent { switch: name } => name,
        }
    }

    /// The SAN URI: `weft://ROLE/NAME`.
    pub fn uri(&self) -> String {
        format!("{URI_PREFIX}{}/{}", self.role(), self.name())
    }

    /// Parses `weft://ROLE/NAME`. Nothing else is accepted: no port,
    /// user, query, fragment, percent-encoding, trailing slash or
    /// uppercase, so each principal has exactly one spelling.
    pub fn parse_uri(s: &str) -> Result<Self, PkiError> {
        let invalid = |reason: String| PkiError::InvalidPrincipal {
            uri: s.to_owned(),
            reason,
        };
        let rest = s
            .strip_prefix(URI_PREFIX)
            .ok_or_else(|| invalid(format!("does not start with {URI_PREFIX}")))?;
        let (role, name) = rest
            .split_once('/')
            .ok_or_else(|| invalid("expected weft://ROLE/NAME".to_owned()))?;
        let role = Role::from_str(role).map_err(|_| {
            invalid(format!(
                "unknown role {role:?}; expected admin, operator, auditor or agent"
            ))
        })?;
        check_label(name).map_err(invalid)?;
        Ok(Principal::from_parts(role, name.to_owned()))
    }

    /// Checks a hand-built principal (see the type docs).
    pub fn validate(&self) -> Result<(), PkiError> {
        check_label(self.name()).map_err(|reason| PkiError::InvalidPrincipal {
            uri: self.uri(),
            reason,
        })
    }
}

impl fmt::Display for Principal {
    /// `operator alpha`, `agent rack1-leaf`: the form used in logs and
    /// audit records.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.role(), self.name())
    }
}

impl FromStr for Principal {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Principal::parse_uri(s)
    }
}

/// A DNS label as Weft names things: lowercase `a-z0-9-`, 1..=63 bytes,
/// no leading or trailing `-`. Being a label also makes the name safe as
/// a file name under the PKI directory.
fn check_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if name.len() > 63 {
        return Err(format!("the name is {} bytes long; at most 63", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "the name contains {c:?}; only lowercase a-z, 0-9 and '-' are allowed"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("the name starts or ends with '-'".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_round_trip_for_every_role() {
        for role in Role::ALL {
            let p = Principal::new(role, "rack1-leaf").unwrap();
            assert_eq!(p.role(), role);
            assert_eq!(p.uri(), format!("weft://{role}/rack1-leaf"));
            assert_eq!(Principal::parse_uri(&p.uri()).unwrap(), p);
        }
    }

    #[test]
    fn display_is_role_then_name() {
        let p = Principal::parse_uri("weft://operator/alpha").unwrap();
        assert_eq!(p.to_string(), "operator alpha");
        let a = Principal::parse_uri("weft://agent/rack1-leaf").unwrap();
        assert_eq!(
            a,
            Principal::Agent {
                switch: "rack1-leaf".into()
            }
        );
        assert_eq!(a.to_string(), "agent rack1-leaf");
    }

    #[test]
    fn rejects_malformed_uris() {
        let long = format!("weft://admin/{}", "a".repeat(64));
        for bad in [
            "",
            "weft://",
            "weft://admin",
            "weft://admin/",
            "weft://root/x",
            "weft://Admin/x",
            "WEFT://admin/x",
            "https://admin/x",
            "weft://admin/Alice",
            "weft://admin/-x",
            "weft://admin/x-",
            "weft://admin/a_b",
            "weft://admin/x/",
            "weft://admin/x/y",
            "weft://admin/..",
            "weft://admin/x?y",
            "weft://admin/x#y",
            "weft://admin/%61",
            "weft://admin:443/x",
            "weft://admin/é",
            long.as_str(),
        ] {
            let err = Principal::parse_uri(bad).unwrap_err();
            assert!(
                matches!(err, PkiError::InvalidPrincipal { ref uri, .. } if uri == bad),
                "{bad:?} gave {err}"
            );
        }
    }

    #[test]
    fn accepts_label_edges() {
        let max = "a".repeat(63);
        for good in ["a", "0", "a-b", "1-2-3", max.as_str()] {
            Principal::new(Role::Operator, good).unwrap();
        }
    }

    #[test]
    fn validate_catches_hand_built_values() {
        let p = Principal::Operator {
            name: "../ca".into(),
        };
        let err = p.validate().unwrap_err();
        assert!(err.to_string().contains("'.'"), "{err}");
    }
}
