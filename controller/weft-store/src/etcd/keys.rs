//! Where each part of the store lives in etcd's flat key space, and how
//! numbers are written there. Pure: no I/O.
//!
//! Every key starts with the store's prefix (default `/weft/`), so several
//! Weft fabrics, or Weft and other applications, can share one etcd
//! cluster. Numbers that order keys are zero-padded to 20 decimal digits
//! (`u64::MAX` has 20), so etcd's byte order is numeric order and a range
//! read or range delete over a key family follows revisions or sequence
//! numbers. Values that are numbers are plain decimal text, so `etcdctl get`
//! shows them as they are.

/// Digits of a padded `u64`.
const WIDTH: usize = 20;

/// Names of the counters under `system/`.
pub(crate) const REVISION: &str = "revision";
pub(crate) const EPOCH: &str = "epoch";
pub(crate) const SCHEMA: &str = "schema_version";
/// Seq of the last stored audit record (absent: none).
pub(crate) const AUDIT_SEQ: &str = "audit_seq";
pub(crate) const EVENTS_DROPPED_THROUGH: &str = "events_dropped_through";
pub(crate) const NEXT_REQUEST_SEQ: &str = "next_request_seq";
/// Number of idempotency records held, so eviction needs no count over them.
pub(crate) const REQUESTS_HELD: &str = "requests_held";
/// Id of the last commit, read back when a commit's answer was lost.
pub(crate) const LAST_COMMIT: &str = "last_commit";

/// The store's key layout under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix` is used as given, with a `/` appended when missing.
    pub(crate) fn new(prefix: &str) -> Keys {
        let mut prefix = prefix.to_owned();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Keys { prefix }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    fn join(&self, family: &str, rest: &str) -> Vec<u8> {
        format!("{}{family}/{rest}", self.prefix).into_bytes()
    }

    pub(crate) fn system_prefix(&self) -> Vec<u8> {
        self.join("system", "")
    }

    pub(crate) fn system(&self, name: &str) -> Vec<u8> {
        self.join("system", name)
    }

    pub(crate) fn meta_prefix(&self) -> Vec<u8> {
        self.join("meta", "")
    }

    pub(crate) fn meta(&self, name: &str) -> Vec<u8> {
        self.join("meta", name)
    }

    pub(crate) fn resources_prefix(&self) -> Vec<u8> {
        self.join("resources", "")
    }

    pub(crate) fn resource(&self, name: &str) -> Vec<u8> {
        self.join("resources", name)
    }

    pub(crate) fn events_prefix(&self) -> Vec<u8> {
        self.join("events", "")
    }

    /// Event `index` of the commit that made `revision`.
    pub(crate) fn event(&self, revision: u64, index: u64) -> Vec<u8> {
        self.join("events", &format!("{}/{}", pad(revision), pad(index)))
    }

    /// First key of the events of `revision` (and of every later one).
    pub(crate) fn events_from(&self, revision: u64) -> Vec<u8> {
        self.join("events", &format!("{}/", pad(revision)))
    }

    pub(crate) fn request(&self, key: &str) -> Vec<u8> {
        self.join("requests", key)
    }

    pub(crate) fn request_order_prefix(&self) -> Vec<u8> {
        self.join("request_order", "")
    }

    pub(crate) fn request_order(&self, seq: u64) -> Vec<u8> {
        self.join("request_order", &pad(seq))
    }

    pub(crate) fn audit_prefix(&self) -> Vec<u8> {
        self.join("audit", "")
    }

    pub(crate) fn audit(&self, seq: u64) -> Vec<u8> {
        self.join("audit", &pad(seq))
    }

    /// Where replicas campaign: one key per candidate, the oldest leads.
    pub(crate) fn election_prefix(&self) -> Vec<u8> {
        self.join("election", "")
    }

    /// A candidate's key: its lease id, so a replica re-campaigning on the
    /// same lease finds its own key.
    pub(crate) fn candidate(&self, lease: i64) -> Vec<u8> {
        self.join("election", &format!("{lease:016x}"))
    }

    /// The name under a family prefix, if `key` is in it.
    pub(crate) fn strip<'k>(key: &'k [u8], family_prefix: &[u8]) -> Option<&'k str> {
        std::str::from_utf8(key.strip_prefix(family_prefix)?).ok()
    }
}

/// `n` as 20 zero-padded decimal digits.
pub(crate) fn pad(n: u64) -> String {
    format!("{n:0WIDTH$}")
}

/// The end of the range of every key starting with `prefix` (etcd's
/// `range_end` convention: the prefix with its last byte below 0xff
/// incremented).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Only 0xff bytes: etcd reads "\0" as "to the end of the key space".
    vec![0]
}

/// A decimal counter value; `None` when it is not one.
pub(crate) fn parse_u64(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The padded number in a key's last path segment.
pub(crate) fn parse_padded_tail(key: &[u8]) -> Option<u64> {
    let tail = key.rsplit(|b| *b == b'/').next()?;
    (tail.len() == WIDTH).then_some(())?;
    parse_u64(tail)
}

/// The revision in an event key (`…/events/<revision>/<index>`).
pub(crate) fn event_revision(key: &[u8]) -> Option<u64> {
    let mut parts = key.rsplit(|b| *b == b'/');
    let _index = parts.next()?;
    let revision = parts.next()?;
    (revision.len() == WIDTH).then_some(())?;
    parse_u64(revision)
}

/// An idempotency record's value: its insertion seq, then the response.
pub(crate) fn request_value(seq: u64, response: &[u8]) -> Vec<u8> {
    let mut value = pad(seq).into_bytes();
    value.extend_from_slice(response);
    value
}

/// Splits a value made by [`request_value`].
pub(crate) fn split_request_value(value: &[u8]) -> Option<(u64, &[u8])> {
    if value.len() < WIDTH {
        return None;
    }
    let (seq, response) = value.split_at(WIDTH);
    Some((parse_u64(seq)?, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_numbers_sort_numerically() {
        let keys = Keys::new("/weft");
        assert_eq!(keys.prefix(), "/weft/");
        let mut events = [keys.event(10, 0), keys.event(9, 1), keys.event(9, 0)];
        events.sort();
        assert_eq!(
            events,
            [keys.event(9, 0), keys.event(9, 1), keys.event(10, 0)]
        );
        assert_eq!(
            keys.event(u64::MAX, 3),
            b"/weft/events/18446744073709551615/00000000000000000003".to_vec()
        );
        assert!(keys.events_from(10) > keys.event(9, u64::MAX));
        assert!(keys.events_from(10) <= keys.event(10, 0));
    }

    #[test]
    fn numbers_round_trip_through_keys_and_values() {
        let keys = Keys::new("p/");
        assert_eq!(parse_padded_tail(&keys.audit(42)), Some(42));
        assert_eq!(parse_padded_tail(&keys.request_order(7)), Some(7));
        assert_eq!(event_revision(&keys.event(5, 2)), Some(5));
        assert_eq!(parse_padded_tail(b"p/audit/42"), None);
        assert_eq!(parse_u64(b"17"), Some(17));
        assert_eq!(parse_u64(b"x"), None);
        let v = request_value(3, b"resp");
        assert_eq!(split_request_value(&v), Some((3, &b"resp"[..])));
        assert_eq!(split_request_value(b"short"), None);
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"/weft/"), b"/weft0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn families_do_not_overlap() {
        let keys = Keys::new("/w/");
        // A resource named like another family's key stays a resource.
        let r = keys.resource("x");
        assert!(!r.starts_with(&keys.meta_prefix()));
        assert_eq!(Keys::strip(&r, &keys.resources_prefix()), Some("x"));
        assert_eq!(Keys::strip(&r, &keys.meta_prefix()), None);
        assert_eq!(
            keys.candidate(0x1234),
            b"/w/election/0000000000001234".to_vec()
        );
    }
}
