//! The per-network trunk tree of `vlan` fabrics.
//!
//! A network's fabric VLAN must reach every switch that has a member port,
//! over a loop-free set of links (flooding on a cycle would loop forever),
//! and no further. The tree is a breadth-first search from the **lowest
//! member leaf** (by [`SwitchId`]), visiting each switch's ports in
//! ascending port number; leaves other than the root are endpoints and never
//! expanded, so traffic between racks transits spines only (a leaf carries
//! a foreign network's VLAN only if one of its own ports is a member). The
//! BFS tree is then pruned to the paths from the root to the member leaves.
//!
//! The result depends only on the topology and the member set, so full and
//! incremental compilation agree, and a membership change recomputes the
//! tree of that one network. Member leaves the search cannot reach (a
//! partitioned fabric) are left out of the tree: their local ports still
//! reach each other, nothing else.

use std::collections::VecDeque;

use weft_model::{PortNo, SwitchId, SwitchRole, Topology};

/// Reusable scratch space: marks are stamped with an epoch so that nothing
/// is cleared between two trees.
#[derive(Debug, Clone, Default)]
pub(crate) struct TreeBuilder {
    epoch: u32,
    /// Epoch in which a switch was reached by the search.
    seen: Vec<u32>,
    /// Epoch in which a switch's parent edge joined the pruned tree.
    kept: Vec<u32>,
    /// (parent switch, parent's port, own port) of each reached switch.
    parent: Vec<(SwitchId, PortNo, PortNo)>,
    queue: VecDeque<SwitchId>,
}

impl TreeBuilder {
    /// Appends the tree ports `(switch, fabric port)` of the network whose
    /// member leaves are `members` (sorted, distinct) to `out`, sorted.
    pub(crate) fn build(
        &mut self,
        topo: &Topology,
        members: &[SwitchId],
        out: &mut Vec<(SwitchId, PortNo)>,
    ) {
        let n = topo.switches.len();
        let Some(&root) = members.first() else { return };
        if members.len() < 2 || root.index() >= n {
            return;
        }
        if self.seen.len() < n {
            self.seen.resize(n, 0);
            self.kept.resize(n, 0);
            self.parent.resize(n, (root, PortNo::MIN, PortNo::MIN));
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // Wrapped: stale stamps could now look current.
            self.seen.fill(0);
            self.kept.fill(0);
            self.epoch = 1;
        }
        let epoch = self.epoch;

        let mut missing = members.len() - 1;
        self.queue.clear();
        self.seen[root.index()] = epoch;
        self.queue.push_back(root);
        'search: while let Some(u) = self.queue.pop_front() {
            let sw = topo.switch(u);
            if u != root && sw.role == SwitchRole::Leaf {
                continue;
            }
            for port in &sw.ports {
                let Some(peer) = port.peer else { continue };
                let v = peer.switch.index();
                if v >= n || self.seen[v] == epoch {
                    continue;
                }
                self.seen[v] = epoch;
                self.parent[v] = (u, port.number, peer.port);
                self.queue.push_back(peer.switch);
                if members.binary_search(&peer.switch).is_ok() {
                    missing -= 1;
                    if missing == 0 {
                        // Later discoveries cannot change the members' paths.
                        break 'search;
                    }
                }
            }
        }

        let start = out.len();
        for &m in &members[1..] {
            if self.seen.get(m.index()) != Some(&epoch) {
                continue;
            }
            let mut v = m;
            while v != root && self.kept[v.index()] != epoch {
                self.kept[v.index()] = epoch;
                let (u, up, vp) = self.parent[v.index()];
                out.push((v, vp));
                out.push((u, up));
                v = u;
            }
        }
        out[start..].sort_unstable();
    }
}
