//! AIP resource names: parsing requests' names once, formatting replies'.
//!
//! ```text
//! operators/{operator}
//! operators/{operator}/lease
//! operators/{operator}/networks/{network}
//! operators/{operator}/networks/{network}/attachments/{switch}:{port}
//! ```
//! Operator and network ids are DNS labels (`weft_model::Name`); switch and
//! port ids are topology labels (`weft_model::Label`: letters, digits, `-`,
//! `_`, `.`), so `/` and `:` separate unambiguously.

use std::fmt;

use weft_model::{Label, Name};

/// The longest resource name accepted anywhere.
pub const MAX_NAME_BYTES: usize = 512;

/// A parsed resource name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceName {
    Operator(Name),
    Lease(Name),
    Network(Name, Name),
    Attachment {
        operator: Name,
        network: Name,
        switch: Label,
        port: Label,
    },
}

/// Why a string is not the resource name a field expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct NameError {
    pub field: String,
    pub reason: String,
}

impl NameError {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        NameError {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// What kind of name a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Operator,
    Lease,
    Network,
    Attachment,
}

impl Expect {
    fn pattern(self) -> &'static str {
        match self {
            Expect::Operator => "operators/{operator}",
            Expect::Lease => "operators/{operator}/lease",
            Expect::Network => "operators/{operator}/networks/{network}",
            Expect::Attachment => {
                "operators/{operator}/networks/{network}/attachments/{switch}:{port}"
            }
        }
    }
}

fn label(field: &str, raw: &str) -> Result<Name, NameError> {
    raw.parse::<Name>()
        .map_err(|e| NameError::new(field, format!("{raw:?} is not a valid id: {e}")))
}

fn topo_label(field: &str, raw: &str) -> Result<Label, NameError> {
    Label::new(raw).map_err(|e| NameError::new(field, format!("{raw:?} is not a valid id: {e}")))
}

impl ResourceName {
    /// Parses `raw` as the kind of name `expect` says; `field` is the
    /// request field's path for the error.
    pub fn parse(field: &str, raw: &str, expect: Expect) -> Result<Self, NameError> {
        if raw.is_empty() {
            return Err(NameError::new(field, "required"));
        }
        if raw.len() > MAX_NAME_BYTES {
            return Err(NameError::new(
                field,
                format!("longer than {MAX_NAME_BYTES} bytes"),
            ));
        }
        let parts: Vec<&str> = raw.split('/').collect();
        let wrong = || {
            NameError::new(
                field,
                format!("{raw:?} does not match {}", expect.pattern()),
            )
        };
        match (expect, parts.as_slice()) {
            (Expect::Operator, ["operators", op]) => Ok(ResourceName::Operator(label(field, op)?)),
            (Expect::Lease, ["operators", op, "lease"]) => {
                Ok(ResourceName::Lease(label(field, op)?))
            }
            (Expect::Network, ["operators", op, "networks", net]) => {
                Ok(ResourceName::Network(label(field, op)?, label(field, net)?))
            }
            (Expect::Attachment, ["operators", op, "networks", net, "attachments", id]) => {
                let (switch, port) = id.split_once(':').ok_or_else(wrong)?;
                Ok(ResourceName::Attachment {
                    operator: label(field, op)?,
                    network: label(field, net)?,
                    switch: topo_label(field, switch)?,
                    port: topo_label(field, port)?,
                })
            }
            _ => Err(wrong()),
        }
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceName::Operator(op) => write!(f, "operators/{op}"),
            ResourceName::Lease(op) => write!(f, "operators/{op}/lease"),
            ResourceName::Network(op, net) => write!(f, "operators/{op}/networks/{net}"),
            ResourceName::Attachment {
                operator,
                network,
                switch,
                port,
            } => write!(
                f,
                "operators/{operator}/networks/{network}/attachments/{switch}:{port}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (raw, expect) in [
            ("operators/alpha", Expect::Operator),
            ("operators/alpha/lease", Expect::Lease),
            ("operators/alpha/networks/prod", Expect::Network),
            (
                "operators/alpha/networks/prod/attachments/rack1-leaf:eth1",
                Expect::Attachment,
            ),
        ] {
            let n = ResourceName::parse("name", raw, expect).unwrap();
            assert_eq!(n.to_string(), raw);
        }
    }

    #[test]
    fn bad_names_say_which_field_and_pattern() {
        let e =
            ResourceName::parse("parent", "operators/alpha/networks", Expect::Network).unwrap_err();
        assert_eq!(e.field, "parent");
        assert!(
            e.reason.contains("operators/{operator}/networks/{network}"),
            "{e}"
        );
        let e = ResourceName::parse("name", "operators/Alpha", Expect::Operator).unwrap_err();
        assert!(e.reason.contains("not a valid id"), "{e}");
        assert!(ResourceName::parse("name", "", Expect::Operator).is_err());
        assert!(
            ResourceName::parse(
                "name",
                "operators/a/networks/b/attachments/noport",
                Expect::Attachment
            )
            .is_err()
        );
        assert!(ResourceName::parse("name", "operators/a", Expect::Lease).is_err());
    }
}
