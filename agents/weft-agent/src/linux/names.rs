//! Names and ownership marks of the kernel objects Weft creates.
//!
//! Names are derived from what an object serves, so they are stable across
//! agent restarts, but names alone are never trusted: an object is Weft's
//! only when its `ifalias` parses as one of the [`Alias`] forms below and
//! its kind matches (a `weftb…` bridge without the alias is foreign).

use std::fmt;

use weft_model::{PortNo, VlanId, Vni};

/// Every alias Weft writes starts with this.
pub const ALIAS_PREFIX: &str = "weft:";

/// `weftb<VNI in 6 hex digits>`, e.g. `weftb0003e8`: 11 bytes.
pub fn bridge_name(vni: Vni) -> String {
    format!("weftb{:06x}", vni.get())
}

/// `weftv<VNI in 6 hex digits>`, e.g. `weftv0003e8`.
pub fn vxlan_name(vni: Vni) -> String {
    format!("weftv{:06x}", vni.get())
}

/// `weft<port in 4 hex>t<tag in 3 hex>`, e.g. `weft0003t00a`: 12 bytes for
/// every port number (≤ 0xfeff) and tag (≤ 4094).
pub fn subif_name(port: PortNo, vid: VlanId) -> String {
    format!("weft{:04x}t{:03x}", port.get(), vid.get())
}

/// What an owned link serves, as written in its `ifalias`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Alias {
    /// `weft:bridge vni=V`: the bridge of network V.
    Bridge { vni: Vni },
    /// `weft:vxlan vni=V`: the VXLAN device of network V.
    Vxlan { vni: Vni },
    /// `weft:port port=P tag=T vni=V`: the 802.1Q sub-interface of port P
    /// (server port with a tagged attachment, or trunk port) for tag T.
    Port { port: PortNo, tag: VlanId, vni: Vni },
}

impl Alias {
    /// The link kind (`IFLA_INFO_KIND`) an object with this alias must have.
    pub fn kind(&self) -> &'static str {
        match self {
            Alias::Bridge { .. } => "bridge",
            Alias::Vxlan { .. } => "vxlan",
            Alias::Port { .. } => "vlan",
        }
    }

    /// The name a link with this alias must have.
    pub fn link_name(&self) -> String {
        match *self {
            Alias::Bridge { vni } => bridge_name(vni),
            Alias::Vxlan { vni } => vxlan_name(vni),
            Alias::Port { port, tag, .. } => subif_name(port, tag),
        }
    }

    pub fn vni(&self) -> Vni {
        match *self {
            Alias::Bridge { vni } | Alias::Vxlan { vni } | Alias::Port { vni, .. } => vni,
        }
    }

    /// Parses an alias Weft wrote; `None` for anything else (including
    /// `weft:` aliases in an unknown form, which are then treated as
    /// foreign: never delete what cannot be identified exactly).
    pub fn parse(alias: &str) -> Option<Alias> {
        let rest = alias.strip_prefix(ALIAS_PREFIX)?;
        let mut words = rest.split(' ');
        let what = words.next()?;
        let mut field = |key: &str| -> Option<u64> {
            let word = words.next()?;
            let value = word.strip_prefix(key)?.strip_prefix('=')?;
            // Canonical decimal only, so render(parse(s)) == s.
            if value.starts_with('0') || value.starts_with('+') {
                return None;
            }
            value.parse().ok()
        };
        let parsed = match what {
            "bridge" => Alias::Bridge {
                vni: Vni::new(field("vni")?).ok()?,
            },
            "vxlan" => Alias::Vxlan {
                vni: Vni::new(field("vni")?).ok()?,
            },
            "port" => Alias::Port {
                port: PortNo::new(field("port")?).ok()?,
                tag: VlanId::new(field("tag")?).ok()?,
                vni: Vni::new(field("vni")?).ok()?,
            },
            _ => return None,
        };
        if words.next().is_some() {
            return None;
        }
        Some(parsed)
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Alias::Bridge { vni } => write!(f, "{ALIAS_PREFIX}bridge vni={vni}"),
            Alias::Vxlan { vni } => write!(f, "{ALIAS_PREFIX}vxlan vni={vni}"),
            Alias::Port { port, tag, vni } => {
                write!(f, "{ALIAS_PREFIX}port port={port} tag={tag} vni={vni}")
            }
        }
    }
}

/// Interface names that nftables chain names can carry unquoted and that
/// the kernel accepts (1–15 bytes).
pub fn is_plain_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vni(n: u64) -> Vni {
        Vni::new(n).unwrap()
    }

    #[test]
    fn names_fit_the_kernel_limit_for_every_id() {
        let (p, t) = (PortNo::MAX, VlanId::MAX);
        assert_eq!(bridge_name(Vni::MAX), "weftbffffff");
        assert_eq!(vxlan_name(vni(1000)), "weftv0003e8");
        assert_eq!(subif_name(p, t), "weftfefftffe");
        assert_eq!(
            subif_name(PortNo::new(3).unwrap(), VlanId::new(10).unwrap()),
            "weft0003t00a"
        );
        for n in [
            bridge_name(Vni::MAX),
            vxlan_name(Vni::MAX),
            subif_name(p, t),
        ] {
            assert!(is_plain_ifname(&n), "{n}");
        }
    }

    #[test]
    fn aliases_round_trip_and_reject_near_misses() {
        let all = [
            Alias::Bridge { vni: vni(1000) },
            Alias::Vxlan { vni: vni(7) },
            Alias::Port {
                port: PortNo::new(3).unwrap(),
                tag: VlanId::new(10).unwrap(),
                vni: vni(1000),
            },
        ];
        for a in all {
            let s = a.to_string();
            assert!(s.starts_with(ALIAS_PREFIX));
            assert_eq!(Alias::parse(&s), Some(a), "{s}");
        }
        assert_eq!(
            all[2].to_string(),
            "weft:port port=3 tag=10 vni=1000",
            "the documented form"
        );
        for bad in [
            "",
            "bridge vni=1000",
            "weft:bridge",
            "weft:bridge vni=0",
            "weft:bridge vni=01000",
            "weft:bridge vni=1000 extra",
            "weft:bridge  vni=1000",
            "weft:bridge vni=16777216",
            "weft:vxlan id=1000",
            "weft:port port=3 vni=1000",
            "weft:port port=3 tag=4095 vni=1000",
            "weft:tunnel vni=1",
        ] {
            assert_eq!(Alias::parse(bad), None, "{bad:?}");
        }
    }
}
