//! Identifiers whose illegal values cannot be represented.
//!
//! A `VlanId` only holds 1..=4094, a `Vni` only 24 bits, a `PortNo` only a
//! number an OpenFlow switch can give a physical port. Constructors return
//! typed errors; nothing inside Weft re-checks these ranges.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a raw value is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("VLAN id {0} is out of range: use 1..=4094 (0 and 4095 are reserved by 802.1Q)")]
    VlanOutOfRange(u64),
    #[error("VNI {0} is out of range: use 1..=16777215 (VNI 0 is not used by Weft)")]
    VniOutOfRange(u64),
    #[error("port number {0} is out of range: use 1..=65279 (OpenFlow reserves the rest)")]
    PortNoOutOfRange(u64),
    #[error(
        "invalid name {0:?}: use 1 to 63 lowercase letters, digits and '-', starting with a letter and not ending with '-'"
    )]
    InvalidName(String),
    #[error(
        "invalid label {0:?}: use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidLabel(String),
    #[error("invalid range {0:?}: write FIRST-LAST (e.g. 1000-1999) or a single number")]
    InvalidRange(String),
    #[error("range {first}-{last} is empty: the first value is greater than the last")]
    EmptyRange { first: u64, last: u64 },
    #[error("invalid port reference {0:?}: write SWITCH/PORT (e.g. rack1-leaf/eth3)")]
    InvalidPortRef(String),
    #[error("{0:?} is not a number")]
    NotANumber(String),
}

macro_rules! bounded_int {
    ($(#[$doc:meta])* $name:ident, $repr:ty, $min:expr, $max:expr, $err:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($repr);

        impl $name {
            pub const MIN: $name = $name($min);
            pub const MAX: $name = $name($max);

            /// Checks the range; the only way to build one from a raw number.
            pub fn new(raw: u64) -> Result<Self, IdError> {
                if raw < $min as u64 || raw > $max as u64 {
                    return Err(IdError::$err(raw));
                }
                // In range, so the conversion cannot fail.
                <$repr>::try_from(raw).map($name).map_err(|_| IdError::$err(raw))
            }

            pub const fn get(self) -> $repr {
                self.0
            }

            /// The next value, if still in range.
            pub fn next(self) -> Option<Self> {
                Self::new(u64::from(self.0) + 1).ok()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let raw: u64 = s.trim().parse().map_err(|_| IdError::NotANumber(s.to_owned()))?;
                Self::new(raw)
            }
        }

        impl TryFrom<u64> for $name {
            type Error = IdError;
            fn try_from(raw: u64) -> Result<Self, IdError> {
                Self::new(raw)
            }
        }

        impl From<$name> for u64 {
            fn from(v: $name) -> u64 {
                u64::from(v.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = u64::deserialize(d)?;
                Self::new(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

bounded_int!(
    /// An 802.1Q VLAN id, 1..=4094.
    VlanId, u16, 1, 4094, VlanOutOfRange
);
bounded_int!(
    /// A VXLAN network identifier, 1..=2^24-1. VNI 0 is never used.
    Vni, u32, 1, 0x00FF_FFFF, VniOutOfRange
);
bounded_int!(
    /// An OpenFlow port number for a physical port (1..=0xfeff, the range
    /// Open vSwitch accepts in `ofport_request`).
    PortNo, u32, 1, 0xFEFF, PortNoOutOfRange
);

impl PortNo {
    /// `PortNo::new` usable in constants.
    pub const fn new_const(raw: u32) -> Option<PortNo> {
        if raw >= 1 && raw <= 0xFEFF {
            Some(PortNo(raw))
        } else {
            None
        }
    }
}

/// A resource name: operators, networks, topologies. It appears in API
/// resource names (`operators/gandi/networks/prod`), so it is a DNS label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    pub fn new(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        let bytes = raw.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 63
            && bytes[0].is_ascii_lowercase()
            && bytes[bytes.len() - 1] != b'-'
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok {
            Ok(Name(raw))
        } else {
            Err(IdError::InvalidName(raw))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A hardware-side label: switch, port, server and NIC names, which follow
/// whatever the vendor or the cabling plan calls them (`swp49`, `eth1.100`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Label(String);

impl Label {
    pub fn new(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        let bytes = raw.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 63
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(Label(raw))
        } else {
            Err(IdError::InvalidLabel(raw))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_id_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::new(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_id_impls!(Name);
string_id_impls!(Label);

/// An inclusive range of identifiers, `first..=last`, never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdRange<T> {
    first: T,
    last: T,
}

pub type VniRange = IdRange<Vni>;
pub type VlanRange = IdRange<VlanId>;

impl<T: Copy + Ord + Into<u64>> IdRange<T> {
    pub fn new(first: T, last: T) -> Result<Self, IdError> {
        if first > last {
            return Err(IdError::EmptyRange {
                first: first.into(),
                last: last.into(),
            });
        }
        Ok(IdRange { first, last })
    }

    pub fn first(&self) -> T {
        self.first
    }

    pub fn last(&self) -> T {
        self.last
    }

    pub fn contains(&self, v: T) -> bool {
        self.first <= v && v <= self.last
    }

    pub fn overlaps(&self, other: &Self) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn covers(&self, other: &Self) -> bool {
        self.first <= other.first && other.last <= self.last
    }

    /// How many identifiers the range holds.
    pub fn len(&self) -> u64 {
        self.last.into() - self.first.into() + 1
    }

    /// Never true: an `IdRange` is never empty. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl<T: fmt::Display + PartialEq> fmt::Display for IdRange<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl<T> FromStr for IdRange<T>
where
    T: FromStr<Err = IdError> + Copy + Ord + Into<u64>,
{
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        match s.split_once('-') {
            None => {
                let v: T = s.parse()?;
                IdRange::new(v, v)
            }
            Some((a, b)) => {
                if a.trim().is_empty() || b.trim().is_empty() {
                    return Err(IdError::InvalidRange(s.to_owned()));
                }
                IdRange::new(a.parse()?, b.parse()?)
            }
        }
    }
}

impl<T: fmt::Display + PartialEq> Serialize for IdRange<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, T> Deserialize<'de> for IdRange<T>
where
    T: FromStr<Err = IdError> + Copy + Ord + Into<u64>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Accept `1000-1999` and a bare number `1000`.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Num(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_bounds() {
        assert!(VlanId::new(0).is_err());
        assert_eq!(VlanId::new(1).unwrap().get(), 1);
        assert_eq!(VlanId::new(4094).unwrap().get(), 4094);
        assert_eq!(VlanId::new(4095), Err(IdError::VlanOutOfRange(4095)));
        assert!(VlanId::new(u64::MAX).is_err());
    }

    #[test]
    fn vni_bounds() {
        assert!(Vni::new(0).is_err());
        assert_eq!(Vni::new(0xFF_FFFF).unwrap().get(), 0xFF_FFFF);
        assert!(Vni::new(0x100_0000).is_err());
        assert_eq!(Vni::MAX.next(), None);
    }

    #[test]
    fn names() {
        assert!(Name::new("gandi").is_ok());
        assert!(Name::new("prod-2").is_ok());
        for bad in ["", "Gandi", "2prod", "prod-", "a/b", &"a".repeat(64)] {
            assert!(Name::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Label::new("swp49").is_ok());
        assert!(Label::new("eth1.100").is_ok());
        assert!(Label::new("-x").is_err());
        assert!(Label::new("a/b").is_err());
    }

    #[test]
    fn ranges_parse() {
        let r: VniRange = "1000-1999".parse().unwrap();
        assert_eq!(r.len(), 1000);
        assert!(r.contains(Vni::new(1500).unwrap()));
        let single: VlanRange = "100".parse().unwrap();
        assert_eq!(single.len(), 1);
        assert!("2000-1000".parse::<VniRange>().is_err());
        assert!("-5".parse::<VniRange>().is_err());
        assert!("1-4095".parse::<VlanRange>().is_err());
        let a: VlanRange = "10-20".parse().unwrap();
        let b: VlanRange = "20-30".parse().unwrap();
        let c: VlanRange = "21-30".parse().unwrap();
        assert!(a.overlaps(&b) && !a.overlaps(&c));
    }
}
