//! The [`Fence`]: what a store presents to write, held while this replica
//! leads and its lease is proven alive.
//!
//! A leader stops calling itself leader as soon as its lease may have
//! expired by its own clock: a keepalive answered with TTL `t` for a
//! request sent at `s` proves the lease lives until `s + t` at least, and
//! [`Fence::current`] answers `None` past the last such bound. A leader that
//! was frozen (SIGSTOP) and resumes therefore refuses to write before it
//! has heard from etcd, and a write already on its way is refused by etcd
//! (see [`super::EtcdStore`]).

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Proof of leadership a write is guarded with: the leader key and the
/// revision it was created at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderToken {
    pub(crate) key: Vec<u8>,
    pub(crate) revision: i64,
}

impl LeaderToken {
    /// The fencing token as a number (the leader key's create revision).
    pub fn revision(&self) -> u64 {
        self.revision_u64()
    }

    pub(crate) fn revision_u64(&self) -> u64 {
        u64::try_from(self.revision).unwrap_or(0)
    }
}

#[derive(Debug)]
pub(super) struct Held {
    pub(super) token: LeaderToken,
    /// Lease lifetime proven by keepalives; `None` for a fixed fence.
    pub(super) clock: Option<LeaseClock>,
}

/// What a store needs to write: the token of the term this replica leads,
/// while it leads. Clones share state.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    held: Arc<RwLock<Option<Held>>>,
}

impl Fence {
    /// A fence never held: a store that only reads.
    pub fn none() -> Fence {
        Fence::default()
    }

    /// A fence that always presents `token`, whatever happens to the
    /// election: a replica that has not noticed it was deposed. For tests
    /// and tools; etcd still refuses its writes once `token`'s term ended.
    pub fn fixed(token: LeaderToken) -> Fence {
        let fence = Fence::default();
        fence.set(Some(Held { token, clock: None }));
        fence
    }

    /// The token to write with, or `None` when this replica does not lead
    /// or its lease may have expired.
    pub fn current(&self) -> Option<LeaderToken> {
        let held = self.held.read().unwrap_or_else(PoisonError::into_inner);
        let held = held.as_ref()?;
        match &held.clock {
            Some(clock) if !clock.alive() => None,
            _ => Some(held.token.clone()),
        }
    }

    pub(super) fn set(&self, held: Option<Held>) {
        *self.held.write().unwrap_or_else(PoisonError::into_inner) = held;
    }
}

/// The end of a lease's proven lifetime, shared by the keepalive loop and
/// the fence.
#[derive(Debug, Clone)]
pub(super) struct LeaseClock {
    until: Arc<Mutex<Instant>>,
    /// The TTL etcd granted.
    pub(super) ttl: Duration,
}

impl LeaseClock {
    pub(super) fn new(granted_at: Instant, ttl: Duration) -> LeaseClock {
        LeaseClock {
            until: Arc::new(Mutex::new(granted_at + ttl)),
            ttl,
        }
    }

    pub(super) fn extend(&self, until: Instant) {
        let mut at = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        *at = (*at).max(until);
    }

    pub(super) fn until(&self) -> Instant {
        *self.until.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn alive(&self) -> bool {
        Instant::now() < self.until()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_lapses_with_its_lease() {
        let token = LeaderToken {
            key: b"k".to_vec(),
            revision: 7,
        };
        let fence = Fence::default();
        assert_eq!(fence.current(), None);
        let clock = LeaseClock::new(Instant::now(), Duration::from_secs(60));
        fence.set(Some(Held {
            token: token.clone(),
            clock: Some(clock.clone()),
        }));
        assert_eq!(fence.current(), Some(token.clone()));
        let lapsed = LeaseClock::new(Instant::now(), Duration::ZERO);
        fence.set(Some(Held {
            token: token.clone(),
            clock: Some(lapsed),
        }));
        assert_eq!(fence.current(), None);
        assert_eq!(Fence::fixed(token.clone()).current(), Some(token));
    }
}
