//! Identifier allocation inside delegated ranges, and quota checks.
//!
//! An [`IdPool`] hands out VNIs or VLAN ids from one [`IdRange`] (an
//! operator's lease, typically): [`allocate`](IdPool::allocate) always
//! returns the **lowest free** value, so allocation is deterministic — the
//! same sequence of calls yields the same identifiers, which is what makes
//! an intent file without explicit VNIs compile to the same fabric twice.
//!
//! The pool keeps its free values as disjoint intervals in a `BTreeMap`
//! (start → end): allocate, reserve and release are `O(log k)` where `k` is
//! the number of free intervals (at most one more than the number of held
//! values), and a fresh pool over 16 million VNIs costs one map entry.
//!
//! [`Quotas::check`] compares a would-be usage with an operator's limits
//! and returns a typed [`QuotaExceeded`].
//!
//! Nothing here knows which operator holds what: callers build a pool from
//! a lease range and the identifiers already in use
//! ([`IdPool::with_held`]).

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::{IdRange, VlanId, Vni};
use crate::intent::Quotas;

/// An identifier type a pool can hand out: a bounded integer with a name
/// for messages.
pub trait PoolId: Copy + Ord + Into<u64> + TryFrom<u64> + fmt::Debug {
    /// What the identifier is called in messages (`"VNI"`, `"VLAN"`).
    const KIND: &'static str;
}

impl PoolId for Vni {
    const KIND: &'static str = "VNI";
}

impl PoolId for VlanId {
    const KIND: &'static str = "VLAN";
}

/// Why a pool operation failed. Values are carried as raw numbers so the
/// error is the same type for VNIs and VLANs; `kind` says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// Every identifier of the range is held.
    #[error("no free {kind} left in {first}-{last}")]
    Exhausted {
        kind: &'static str,
        first: u64,
        last: u64,
    },
    /// The value lies outside the pool's range.
    #[error("{kind} {value} is outside the range {first}-{last}")]
    OutOfRange {
        kind: &'static str,
        value: u64,
        first: u64,
        last: u64,
    },
    /// `reserve` of a value that is already held.
    #[error("{kind} {value} is already in use")]
    AlreadyHeld { kind: &'static str, value: u64 },
    /// `release` of a value that is not held.
    #[error("{kind} {value} is not in use")]
    NotHeld { kind: &'static str, value: u64 },
}

/// A pool of identifiers over one inclusive range. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPool<T> {
    range: IdRange<T>,
    /// Free values as disjoint, non-adjacent inclusive intervals: start → end.
    free: BTreeMap<u64, u64>,
    held: u64,
}

impl<T: PoolId> IdPool<T> {
    /// A pool with every value of `range` free.
    pub fn new(range: IdRange<T>) -> Self {
        let mut free = BTreeMap::new();
        free.insert(range.first().into(), range.last().into());
        IdPool {
            range,
            free,
            held: 0,
        }
    }

    /// A pool with `held` already taken (e.g. the VNIs of an operator's
    /// existing networks). Fails on the first value outside the range or
    /// held twice.
    pub fn with_held(
        range: IdRange<T>,
        held: impl IntoIterator<Item = T>,
    ) -> Result<Self, AllocError> {
        let mut pool = Self::new(range);
        for v in held {
            pool.reserve(v)?;
        }
        Ok(pool)
    }

    pub fn range(&self) -> IdRange<T> {
        self.range
    }

    /// Takes the lowest free value.
    pub fn allocate(&mut self) -> Result<T, AllocError> {
        let Some(raw) = self.lowest_free_raw() else {
            return Err(AllocError::Exhausted {
                kind: T::KIND,
                first: self.range.first().into(),
                last: self.range.last().into(),
            });
        };
        let value = self.to_id(raw)?;
        self.take(raw);
        Ok(value)
    }

    /// The value [`allocate`](Self::allocate) would return, without taking it.
    pub fn lowest_free(&self) -> Option<T> {
        self.lowest_free_raw().and_then(|raw| T::try_from(raw).ok())
    }

    /// Takes a specific value.
    pub fn reserve(&mut self, value: T) -> Result<(), AllocError> {
        let raw = self.check_range(value)?;
        if !self.is_free_raw(raw) {
            return Err(AllocError::AlreadyHeld {
                kind: T::KIND,
                value: raw,
            });
        }
        self.take(raw);
        Ok(())
    }

    /// Gives a value back.
    pub fn release(&mut self, value: T) -> Result<(), AllocError> {
        let raw = self.check_range(value)?;
        if self.is_free_raw(raw) {
            return Err(AllocError::NotHeld {
                kind: T::KIND,
                value: raw,
            });
        }
        // Merge with the free intervals ending just before / starting just after.
        let mut start = raw;
        let mut end = raw;
        if let Some((&s, &e)) = self.free.range(..raw).next_back()
            && e + 1 == raw
        {
            start = s;
        }
        if let Some(&e) = self.free.get(&(raw + 1)) {
            self.free.remove(&(raw + 1));
            end = e;
        }
        self.free.insert(start, end);
        self.held -= 1;
        Ok(())
    }

    /// Whether `value` is held (values outside the range are never held).
    pub fn is_held(&self, value: T) -> bool {
        let raw: u64 = value.into();
        self.range.contains(value) && !self.is_free_raw(raw)
    }

    /// How many values are held.
    pub fn held_count(&self) -> u64 {
        self.held
    }

    /// How many values are free.
    pub fn free_count(&self) -> u64 {
        self.range.len() - self.held
    }

    fn lowest_free_raw(&self) -> Option<u64> {
        self.free.first_key_value().map(|(&s, _)| s)
    }

    fn check_range(&self, value: T) -> Result<u64, AllocError> {
        let raw: u64 = value.into();
        if self.range.contains(value) {
            Ok(raw)
        } else {
            Err(AllocError::OutOfRange {
                kind: T::KIND,
                value: raw,
                first: self.range.first().into(),
                last: self.range.last().into(),
            })
        }
    }

    fn to_id(&self, raw: u64) -> Result<T, AllocError> {
        // Every free value lies inside the range, which holds only valid ids.
        T::try_from(raw).map_err(|_| AllocError::OutOfRange {
            kind: T::KIND,
            value: raw,
            first: self.range.first().into(),
            last: self.range.last().into(),
        })
    }

    fn is_free_raw(&self, raw: u64) -> bool {
        self.free
            .range(..=raw)
            .next_back()
            .is_some_and(|(_, &e)| raw <= e)
    }

    /// Removes a value known to be free.
    fn take(&mut self, raw: u64) {
        let Some((&s, &e)) = self.free.range(..=raw).next_back() else {
            return;
        };
        self.free.remove(&s);
        if s < raw {
            self.free.insert(s, raw - 1);
        }
        if raw < e {
            self.free.insert(raw + 1, e);
        }
        self.held += 1;
    }
}

/// Which limit of [`Quotas`] a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaKind {
    /// Networks per operator.
    Networks,
    /// Attachments per operator, over all its networks.
    Attachments,
    /// Pipeline entries of an operator's networks on one switch.
    EntriesPerSwitch,
}

impl QuotaKind {
    /// Stable name, as in files and gRPC `QuotaFailure` subjects.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKind::Networks => "networks",
            QuotaKind::Attachments => "attachments",
            QuotaKind::EntriesPerSwitch => "entries_per_switch",
        }
    }
}

impl fmt::Display for QuotaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A usage that would go past a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("quota {quota} exceeded: {requested} requested, limit {limit}")]
pub struct QuotaExceeded {
    pub quota: QuotaKind,
    pub limit: u32,
    /// The usage the operation would lead to.
    pub requested: u64,
}

impl Quotas {
    /// The limit for one kind.
    pub fn limit(&self, quota: QuotaKind) -> u32 {
        match quota {
            QuotaKind::Networks => self.networks,
            QuotaKind::Attachments => self.attachments,
            QuotaKind::EntriesPerSwitch => self.entries_per_switch,
        }
    }

    /// `Ok` when a usage of `requested` stays within the limit.
    pub fn check(&self, quota: QuotaKind, requested: u64) -> Result<(), QuotaExceeded> {
        let limit = self.limit(quota);
        if requested <= u64::from(limit) {
            Ok(())
        } else {
            Err(QuotaExceeded {
                quota,
                limit,
                requested,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::VniRange;

    fn vni(n: u64) -> Vni {
        Vni::new(n).unwrap()
    }

    fn pool(first: u64, last: u64) -> IdPool<Vni> {
        IdPool::new(VniRange::new(vni(first), vni(last)).unwrap())
    }

    #[test]
    fn allocates_lowest_free_then_exhausts() {
        let mut p = pool(10, 12);
        assert_eq!(p.allocate(), Ok(vni(10)));
        assert_eq!(p.allocate(), Ok(vni(11)));
        assert_eq!(p.allocate(), Ok(vni(12)));
        assert_eq!(
            p.allocate(),
            Err(AllocError::Exhausted {
                kind: "VNI",
                first: 10,
                last: 12
            })
        );
        assert_eq!(p.free_count(), 0);
        p.release(vni(11)).unwrap();
        assert_eq!(p.allocate(), Ok(vni(11)));
    }

    #[test]
    fn reserve_skips_and_errors() {
        let mut p = pool(10, 20);
        p.reserve(vni(10)).unwrap();
        p.reserve(vni(12)).unwrap();
        assert_eq!(
            p.reserve(vni(12)),
            Err(AllocError::AlreadyHeld {
                kind: "VNI",
                value: 12
            })
        );
        assert_eq!(
            p.reserve(vni(21)),
            Err(AllocError::OutOfRange {
                kind: "VNI",
                value: 21,
                first: 10,
                last: 20
            })
        );
        assert_eq!(p.allocate(), Ok(vni(11)));
        assert_eq!(p.allocate(), Ok(vni(13)));
        assert_eq!(
            p.release(vni(14)),
            Err(AllocError::NotHeld {
                kind: "VNI",
                value: 14
            })
        );
        assert!(p.is_held(vni(13)) && !p.is_held(vni(14)) && !p.is_held(vni(9)));
        assert_eq!(p.held_count(), 4);
    }

    #[test]
    fn release_merges_intervals() {
        let mut p = IdPool::with_held(
            VniRange::new(vni(1), vni(5)).unwrap(),
            [vni(1), vni(2), vni(3), vni(4), vni(5)],
        )
        .unwrap();
        p.release(vni(2)).unwrap();
        p.release(vni(4)).unwrap();
        p.release(vni(3)).unwrap();
        assert_eq!(
            p.free.len(),
            1,
            "2..=4 should be one interval: {:?}",
            p.free
        );
        assert_eq!(p.lowest_free(), Some(vni(2)));
        p.release(vni(1)).unwrap();
        p.release(vni(5)).unwrap();
        assert_eq!(p, pool(1, 5));
    }

    #[test]
    fn with_held_rejects_duplicates_and_strays() {
        let r = VniRange::new(vni(1), vni(5)).unwrap();
        assert!(matches!(
            IdPool::with_held(r, [vni(2), vni(2)]),
            Err(AllocError::AlreadyHeld { value: 2, .. })
        ));
        assert!(matches!(
            IdPool::with_held(r, [vni(9)]),
            Err(AllocError::OutOfRange { value: 9, .. })
        ));
    }

    #[test]
    fn vlan_pool_covers_full_range() {
        let mut p = IdPool::new(VlanRange::new(VlanId::MIN, VlanId::MAX).unwrap());
        assert_eq!(p.free_count(), 4094);
        assert_eq!(p.allocate().map(VlanId::get), Ok(1));
        p.reserve(VlanId::MAX).unwrap();
        assert!(p.is_held(VlanId::MAX));
    }

    #[test]
    fn quota_check() {
        let q = Quotas {
            networks: 2,
            attachments: 5,
            entries_per_switch: 10,
        };
        assert!(q.check(QuotaKind::Networks, 2).is_ok());
        assert_eq!(
            q.check(QuotaKind::Networks, 3),
            Err(QuotaExceeded {
                quota: QuotaKind::Networks,
                limit: 2,
                requested: 3
            })
        );
        assert_eq!(q.limit(QuotaKind::EntriesPerSwitch), 10);
    }

    use crate::ids::VlanRange;
    use proptest::prelude::*;

    proptest! {
        /// The interval pool behaves exactly like a naive set of held values.
        #[test]
        fn matches_naive_model(ops in proptest::collection::vec((0u8..3, 1u64..40), 0..200)) {
            let mut p = pool(1, 32);
            let mut model = std::collections::BTreeSet::new();
            for (op, n) in ops {
                let v = vni(n);
                match op {
                    0 => {
                        let want = (1..=32).find(|x| !model.contains(x));
                        let got = p.allocate().ok().map(u64::from);
                        prop_assert_eq!(got, want);
                        if let Some(x) = want { model.insert(x); }
                    }
                    1 => {
                        let ok = p.reserve(v).is_ok();
                        prop_assert_eq!(ok, n <= 32 && !model.contains(&n));
                        if ok { model.insert(n); }
                    }
                    _ => {
                        let ok = p.release(v).is_ok();
                        prop_assert_eq!(ok, model.remove(&n));
                    }
                }
                prop_assert_eq!(p.held_count(), model.len() as u64);
                for x in 1..=40u64 {
                    prop_assert_eq!(p.is_held(vni(x)), model.contains(&x));
                }
            }
        }
    }
}
