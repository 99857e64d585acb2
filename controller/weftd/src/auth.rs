//! Who is calling (from the mTLS client certificate) and what they may do.
//! The one place that decides authorization.
//!
//! | scope | admin | auditor | operator X | agent S |
//! |---|---|---|---|---|
//! | fabric (topology) | read, write | read | — | — |
//! | fabric status | read | read | read | — |
//! | operator list | read (all) | read (all) | read (itself only; filtered by the caller) | — |
//! | operator X's record and lease | read, write | read | read | — |
//! | operator X's networks and attachments | read, write | read | read, write | — |
//! | everything (watch all) | read | read | — | — |
//! | agent session of switch S | — | — | — | S only |
//!
//! A denial never says whether the resource exists, and its message names
//! only the caller.

use tonic::{Request, Status};
use weft_model::Name;
use weft_pki::{Principal, principal_from_der};

/// The caller, from its client certificate's `weft://` URI SAN.
pub fn principal<T>(req: &Request<T>) -> Result<Principal, Status> {
    let certs = req.peer_certs().ok_or_else(|| {
        Status::unauthenticated(
            "no client certificate: every call needs a certificate issued by this controller's CA",
        )
    })?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("empty client certificate chain"))?;
    principal_from_der(leaf.as_ref()).map_err(|e| {
        Status::unauthenticated(format!("client certificate names no Weft principal: {e}"))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// What a call touches.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Fabric,
    FabricStatus,
    OperatorList,
    /// An operator's own record and lease.
    Tenant(&'a Name),
    /// An operator's networks and attachments.
    Slice(&'a Name),
    /// Every operator's resources at once.
    Everything,
    AgentSwitch(&'a str),
}

fn deny(p: &Principal, access: Access) -> Status {
    let verb = match access {
        Access::Read => "read",
        Access::Write => "change",
    };
    Status::permission_denied(format!(
        "permission denied: {p} may not {verb} this resource"
    ))
}

/// Allows or denies; see the module table.
pub fn authorize(p: &Principal, access: Access, scope: Scope<'_>) -> Result<(), Status> {
    let ok = match (p, scope) {
        (Principal::Agent { switch }, Scope::AgentSwitch(s)) => switch == s,
        (Principal::Agent { .. }, _) | (_, Scope::AgentSwitch(_)) => false,
        (Principal::Admin { .. }, _) => true,
        (Principal::Auditor { .. }, _) => access == Access::Read,
        (Principal::Operator { .. }, Scope::FabricStatus | Scope::OperatorList) => {
            access == Access::Read
        }
        (Principal::Operator { .. }, Scope::Fabric | Scope::Everything) => false,
        (Principal::Operator { name }, Scope::Tenant(op)) => {
            access == Access::Read && name == op.as_str()
        }
        (Principal::Operator { name }, Scope::Slice(op)) => name == op.as_str(),
    };
    if ok { Ok(()) } else { Err(deny(p, access)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        s.parse().unwrap()
    }

    #[test]
    fn the_table_holds() {
        let admin = Principal::Admin {
            name: "admin".into(),
        };
        let auditor = Principal::Auditor {
            name: "auditor".into(),
        };
        let alpha = Principal::Operator {
            name: "alpha".into(),
        };
        let agent = Principal::Agent {
            switch: "rack1-leaf".into(),
        };
        let (a, b) = (n("alpha"), n("beta"));
        use Access::*;
        assert!(authorize(&admin, Write, Scope::Fabric).is_ok());
        assert!(authorize(&admin, Write, Scope::AgentSwitch("rack1-leaf")).is_err());
        assert!(authorize(&auditor, Read, Scope::Slice(&b)).is_ok());
        assert!(authorize(&auditor, Write, Scope::Slice(&b)).is_err());
        assert!(authorize(&alpha, Write, Scope::Slice(&a)).is_ok());
        assert!(authorize(&alpha, Read, Scope::Slice(&b)).is_err());
        assert!(authorize(&alpha, Read, Scope::Tenant(&a)).is_ok());
        assert!(authorize(&alpha, Write, Scope::Tenant(&a)).is_err());
        assert!(authorize(&alpha, Read, Scope::Everything).is_err());
        assert!(authorize(&alpha, Read, Scope::Fabric).is_err());
        assert!(authorize(&agent, Read, Scope::AgentSwitch("rack1-leaf")).is_ok());
        assert!(authorize(&agent, Read, Scope::AgentSwitch("rack2-leaf")).is_err());
        assert!(authorize(&agent, Read, Scope::FabricStatus).is_err());
        let e = authorize(&alpha, Read, Scope::Slice(&b)).unwrap_err();
        assert!(!e.message().contains("beta"), "{}", e.message());
    }
}
