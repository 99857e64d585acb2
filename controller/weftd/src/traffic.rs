//! Traffic history for usage statements: the cumulative per-network
//! counters that agents read from the data plane, kept as samples so that
//! the traffic of a period is the counters' increase over it.
//!
//! Counters are cumulative and can go back to zero (a flow re-added, a
//! switch restarted): an increase is summed sample by sample, and a
//! decrease counts the new value as traffic since the reset. Samples are
//! thinned to one per [`SPACING`] seconds and the last [`KEEP`] of them
//! are kept (a day at that spacing), in memory: a period that starts
//! before the oldest sample, or before the controller started, is reported
//! from the oldest sample held (the statement says which period it
//! covers).

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds between kept samples; newer readings replace the latest one.
pub const SPACING: i64 = 60;
/// Samples kept per series.
pub const KEEP: usize = 1440;

/// The time reports and usage statements use, in Unix seconds:
/// `SOURCE_DATE_EPOCH` when set (reproducible reports), else the clock.
pub fn report_time() -> i64 {
    if let Some(fixed) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
    {
        return fixed;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    at: i64,
    packets: u64,
    bytes: u64,
}

/// The samples of one counter pair (one network on one switch).
#[derive(Debug, Clone, Default)]
pub struct Series {
    samples: VecDeque<Sample>,
}

impl Series {
    /// Records a reading taken at `at`.
    pub fn record(&mut self, at: i64, packets: u64, bytes: u64) {
        let new = Sample { at, packets, bytes };
        let len = self.samples.len();
        // The latest sample is replaced while it is within SPACING of the
        // one before, unless the counters went back (a reset must stay
        // visible as its own sample).
        if len >= 2
            && let (Some(prev), Some(last)) = (self.samples.get(len - 2), self.samples.back())
            && at - prev.at < SPACING
            && packets >= last.packets
            && bytes >= last.bytes
        {
            self.samples[len - 1] = new;
            return;
        }
        self.samples.push_back(new);
        while self.samples.len() > KEEP {
            self.samples.pop_front();
        }
    }

    /// When the oldest sample at or after `since` was taken.
    pub fn start(&self, since: i64) -> Option<i64> {
        self.samples.iter().find(|s| s.at >= since).map(|s| s.at)
    }

    /// Packets and bytes counted between the first sample at or after
    /// `since` and the latest one.
    pub fn increase_since(&self, since: i64) -> (u64, u64) {
        let mut total = (0u64, 0u64);
        let mut prev: Option<Sample> = None;
        for s in self.samples.iter().filter(|s| s.at >= since) {
            if let Some(p) = prev {
                total.0 = total.0.saturating_add(step(p.packets, s.packets));
                total.1 = total.1.saturating_add(step(p.bytes, s.bytes));
            }
            prev = Some(*s);
        }
        total
    }
}

/// The traffic between two readings of a cumulative counter.
fn step(before: u64, after: u64) -> u64 {
    if after >= before {
        after - before
    } else {
        after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increase_is_the_difference_over_the_period() {
        let mut s = Series::default();
        s.record(0, 10, 1000);
        s.record(100, 15, 1500);
        s.record(200, 40, 4000);
        assert_eq!(s.increase_since(0), (30, 3000));
        assert_eq!(s.increase_since(50), (25, 2500));
        assert_eq!(s.increase_since(300), (0, 0));
        assert_eq!(s.start(50), Some(100));
        assert_eq!(s.start(300), None);
    }

    #[test]
    fn a_reset_counts_the_new_value() {
        let mut s = Series::default();
        s.record(0, 100, 10);
        s.record(100, 120, 12);
        s.record(200, 5, 1);
        s.record(300, 9, 3);
        assert_eq!(s.increase_since(0), (20 + 5 + 4, 2 + 1 + 2));
    }

    #[test]
    fn close_readings_replace_the_latest_but_keep_resets() {
        let mut s = Series::default();
        s.record(0, 1, 1);
        s.record(10, 2, 2);
        s.record(20, 3, 3);
        s.record(30, 4, 4);
        assert_eq!(s.samples.len(), 2, "{s:?}");
        assert_eq!(s.increase_since(0), (3, 3));
        s.record(40, 1, 1);
        assert_eq!(s.samples.len(), 3, "a reset is kept: {s:?}");
        assert_eq!(s.increase_since(0), (4, 4));
    }

    #[test]
    fn history_is_bounded() {
        let mut s = Series::default();
        let n = i64::try_from(KEEP).unwrap_or(i64::MAX) + 50;
        for i in 0..n {
            s.record(i * SPACING, u64::try_from(i).unwrap_or(0), 0);
        }
        assert_eq!(s.samples.len(), KEEP);
        assert_eq!(s.start(0), Some(50 * SPACING));
    }
}
