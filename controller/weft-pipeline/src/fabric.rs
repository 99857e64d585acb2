//! Compiled state of a fabric, and deltas between two states.
//!
//! A switch's state is a sorted, duplicate-free slice of [`PipelineEntry`];
//! a delta is the exact set difference of two such slices, per switch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weft_model::SwitchId;

use crate::entry::PipelineEntry;

/// The desired entries of every switch of a fabric, as produced by
/// [`compile`](crate::compile). Switches without entries have an empty
/// slice (a leaf without entries still gets its default-drop rules from
/// the lowering).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledFabric {
    /// Every switch's entries, back to back, each switch's run sorted.
    entries: Vec<PipelineEntry>,
    /// `offsets[s]..offsets[s + 1]` is switch `s`'s run; `len = switches + 1`.
    offsets: Vec<usize>,
}

impl CompiledFabric {
    /// Builds from per-switch entry lists (indexed by [`SwitchId`]); each
    /// list is sorted and deduplicated here.
    pub fn from_switches(switches: Vec<Vec<PipelineEntry>>) -> Self {
        let mut entries = Vec::with_capacity(switches.iter().map(Vec::len).sum());
        let mut offsets = Vec::with_capacity(switches.len() + 1);
        offsets.push(0);
        for mut list in switches {
            list.sort_unstable();
            list.dedup();
            entries.extend_from_slice(&list);
            offsets.push(entries.len());
        }
        CompiledFabric { entries, offsets }
    }

    /// Assembles from a flat buffer the compiler already laid out: runs are
    /// sorted and duplicate-free by construction.
    pub(crate) fn from_parts(entries: Vec<PipelineEntry>, offsets: Vec<usize>) -> Self {
        debug_assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
        debug_assert!(offsets.windows(2).all(|w| entries[w[0]..w[1]].is_sorted()));
        CompiledFabric { entries, offsets }
    }

    /// The entries of one switch, sorted. Unknown switches have none.
    pub fn entries(&self, switch: SwitchId) -> &[PipelineEntry] {
        let i = switch.index();
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            // Offsets are consistent by construction; a deserialized value
            // might not be, and must not panic.
            (Some(&a), Some(&b)) => self.entries.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// How many switches the fabric has.
    pub fn switch_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Every switch with its entries, in [`SwitchId`] order.
    pub fn switches(&self) -> impl Iterator<Item = (SwitchId, &[PipelineEntry])> + '_ {
        (0..self.switch_count()).map(|i| {
            let id = SwitchId(u32::try_from(i).unwrap_or(u32::MAX));
            (id, self.entries(id))
        })
    }

    /// Total number of entries over all switches.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What changes on one switch: entries to remove and entries to add, both
/// sorted. The two lists are disjoint (no entry removed and re-added).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchDelta {
    pub removed: Vec<PipelineEntry>,
    pub added: Vec<PipelineEntry>,
}

impl SwitchDelta {
    /// The exact set difference `old → new` of two sorted, duplicate-free
    /// entry slices.
    pub fn between(old: &[PipelineEntry], new: &[PipelineEntry]) -> Self {
        let mut delta = SwitchDelta::default();
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < new.len() {
            match old[i].cmp(&new[j]) {
                std::cmp::Ordering::Less => {
                    delta.removed.push(old[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    delta.added.push(new[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
            }
        }
        delta.removed.extend_from_slice(&old[i..]);
        delta.added.extend_from_slice(&new[j..]);
        delta
    }

    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }

    /// Applies the delta to a sorted entry list, keeping it sorted.
    pub fn apply_to(&self, entries: &mut Vec<PipelineEntry>) {
        for e in &self.removed {
            if let Ok(i) = entries.binary_search(e) {
                entries.remove(i);
            }
        }
        for e in &self.added {
            if let Err(i) = entries.binary_search(e) {
                entries.insert(i, *e);
            }
        }
    }
}

/// Per-switch deltas; switches that do not change are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FabricDelta {
    pub switches: BTreeMap<SwitchId, SwitchDelta>,
}

impl FabricDelta {
    /// The exact difference between two compiled states of the same fabric.
    pub fn between(old: &CompiledFabric, new: &CompiledFabric) -> Self {
        let n = old.switch_count().max(new.switch_count());
        let switches = (0..n)
            .filter_map(|i| {
                let id = SwitchId(u32::try_from(i).ok()?);
                let d = SwitchDelta::between(old.entries(id), new.entries(id));
                (!d.is_empty()).then_some((id, d))
            })
            .collect();
        FabricDelta { switches }
    }

    pub fn is_empty(&self) -> bool {
        self.switches.is_empty()
    }

    /// Total entries removed and added.
    pub fn counts(&self) -> (usize, usize) {
        self.switches
            .values()
            .fold((0, 0), |(r, a), d| (r + d.removed.len(), a + d.added.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use weft_model::Vni;

    fn tun(v: u64, last: u8) -> PipelineEntry {
        PipelineEntry::FloodTunnel {
            vni: Vni::new(v).unwrap(),
            remote: Ipv4Addr::new(10, 0, 0, last),
        }
    }

    #[test]
    fn switch_delta_is_set_difference() {
        let old = vec![tun(1, 1), tun(1, 2), tun(2, 1)];
        let new = vec![tun(1, 2), tun(2, 1), tun(3, 3)];
        let d = SwitchDelta::between(&old, &new);
        assert_eq!(d.removed, vec![tun(1, 1)]);
        assert_eq!(d.added, vec![tun(3, 3)]);
        let mut s = old.clone();
        d.apply_to(&mut s);
        assert_eq!(s, new);
        assert!(SwitchDelta::between(&new, &new).is_empty());
    }

    #[test]
    fn fabric_views() {
        let f = CompiledFabric::from_switches(vec![vec![tun(2, 1), tun(1, 1), tun(1, 1)], vec![]]);
        assert_eq!(f.entries(SwitchId(0)), &[tun(1, 1), tun(2, 1)]);
        assert!(f.entries(SwitchId(1)).is_empty());
        assert!(f.entries(SwitchId(7)).is_empty());
        assert_eq!(f.len(), 2);
        let g = CompiledFabric::from_switches(vec![vec![tun(1, 1)], vec![tun(5, 5)]]);
        let d = FabricDelta::between(&f, &g);
        assert_eq!(d.counts(), (1, 1));
        assert_eq!(
            d.switches.keys().copied().collect::<Vec<_>>(),
            vec![SwitchId(0), SwitchId(1)]
        );
    }
}
