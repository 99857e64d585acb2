//! One ingress class followed across the fabric and judged against the
//! policy: every delivery, every frame put on a wire, every exit.
//!
//! The walk composes memoized per-switch results (see `memo`): at each
//! switch it canonicalizes the frame's state, takes that switch's branches,
//! transfers each branch's constraints back onto the trace, and follows
//! tunnels and links to the next switch. The policy checks split the state
//! further where the verdict depends on a variable (e.g. an egress tag), so
//! every finding comes with a concrete frame that really shows it.

use std::collections::HashSet;
use std::sync::Arc;

use weft_model::{AttachMode, PortKey, PortNo, SwitchId};

use crate::fabric::Fabric;
use crate::interp::{LocalEvent, LocalOutcome, LookupSig};
use crate::memo::{KeyId, Memo};
mod judge;

use crate::policy::{ClassDesc, Ctx, OpIdx, Point, Policy};
use crate::render::{self, TunnelView};
use crate::report::{Counterexample, Egress, Finding, FindingKind};
use crate::sym::{Canon, Cond, Header, State, Val, apply_branch, remap_header};
use crate::tables::SwitchTables;

/// Hops between switches after which a frame is reported as looping even
/// if its state keeps changing (e.g. a tag pushed on every lap).
pub(crate) const MAX_HOPS: usize = 64;

/// Findings kept per ingress class; the rest are counted.
const MAX_FINDINGS_PER_CLASS: usize = 64;

/// Policy facts a class's verdict depends on, beyond its ingress point and
/// the rules it traversed: what the incremental verifier must watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Dep {
    /// Who owns the network, its fabric VLAN, which switches have members.
    Net(u32),
    /// The network's full attachment list (what drift expects).
    Members(u32),
    Vlan(u16),
    /// A variable identifier was judged: depends on the whole set in use.
    AnyId,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ClassResult {
    pub findings: Vec<Finding>,
    pub omitted: usize,
    /// Memoized results the walk used, sorted.
    pub keys: Vec<KeyId>,
    /// Lookups of the unmemoized first switch of a server port's class
    /// (tracked mode only).
    pub root_lookups: Vec<LookupSig>,
    pub deps: Vec<Dep>,
}

#[derive(Debug, Clone)]
enum Seg {
    Switch {
        switch: SwitchId,
        in_port: PortNo,
        outcomes: Arc<[LocalOutcome]>,
        idx: usize,
    },
    Link {
        from: PortKey,
        to: PortKey,
    },
    Tunnel {
        from: SwitchId,
        to: SwitchId,
        vni: Val,
    },
}

/// A hop between switches, named only when a finding needs it.
#[derive(Debug, Clone, Copy)]
enum Wire {
    Tunnel { from: SwitchId, to: SwitchId },
    Link { from: PortKey, to: PortKey },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carrier {
    Vni,
    Vlan,
}

pub(crate) struct Env<'e> {
    pub fabric: &'e Fabric,
    pub policy: &'e Policy,
    pub tables: &'e [SwitchTables],
}

struct Walk<'e, 'm> {
    env: &'e Env<'e>,
    memo: &'m mut Memo,
    point: Point,
    desc: ClassDesc,
    ctx: Ctx,
    ingress: Header,
    path: Vec<Seg>,
    stack: Vec<KeyId>,
    reached: Vec<PortKey>,
    seen: HashSet<(FindingKind, String)>,
    /// Drift's second pass: record the first path to these switches, and
    /// report nothing.
    want: Vec<SwitchId>,
    found: Vec<(SwitchId, Vec<Seg>, Cond)>,
    quiet: bool,
    out: ClassResult,
}

/// Walks one ingress class and judges everything its frames can do.
/// Buffers reused from one class's walk to the next.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    path: Vec<Seg>,
    stack: Vec<KeyId>,
    reached: Vec<PortKey>,
}

/// Walks one ingress class and judges everything its frames can do.
pub(crate) fn walk_class(
    env: &Env<'_>,
    memo: &mut Memo,
    scratch: &mut Scratch,
    point: Point,
    desc: ClassDesc,
) -> ClassResult {
    let ctx = env.policy.context(point, desc);
    let start = env.policy.start_state(env.fabric, point, desc);
    let mut w = Walk {
        env,
        memo,
        point,
        desc,
        ctx,
        ingress: start.h.clone(),
        path: std::mem::take(&mut scratch.path),
        stack: std::mem::take(&mut scratch.stack),
        reached: std::mem::take(&mut scratch.reached),
        seen: HashSet::new(),
        want: Vec::new(),
        found: Vec::new(),
        quiet: false,
        out: ClassResult::default(),
    };
    if let Ctx::Admitted { vni, .. } = ctx {
        w.dep(Dep::Net(vni));
        if matches!(point, Point::Server(_)) {
            w.dep(Dep::Members(vni));
        }
    }
    let switch = match point {
        Point::Server(p) => p.switch,
        Point::Tunnel(s) => s,
    };
    w.visit(switch, start.clone(), 0);
    w.drift(switch, start);
    let Walk {
        mut path,
        mut stack,
        mut reached,
        mut out,
        ..
    } = w;
    path.clear();
    stack.clear();
    reached.clear();
    *scratch = Scratch {
        path,
        stack,
        reached,
    };
    out.keys.sort_unstable();
    out.keys.dedup();
    out.deps.sort_unstable();
    out.deps.dedup();
    out
}

impl Walk<'_, '_> {
    /// Records a policy dependency (only the incremental verifier needs them).
    fn dep(&mut self, d: Dep) {
        if self.memo.track {
            self.out.deps.push(d);
        }
    }

    fn visit(&mut self, switch: SwitchId, st: State, depth: usize) {
        let (canon, map) = Canon::of(&st);
        // A server port's first switch sees each class in a state no other
        // class reaches: explore it directly instead of memoizing it.
        let (key, outcomes) = if depth == 0 && matches!(self.point, Point::Server(_)) {
            let tables = &self.env.tables[switch.index()];
            let (outcomes, lookups) =
                self.memo
                    .explore(self.env.fabric, tables, switch, canon.state());
            self.out.root_lookups = lookups;
            (None, outcomes)
        } else {
            let key = self
                .memo
                .get(self.env.fabric, self.env.tables, switch, canon);
            if self.stack.contains(&key) {
                self.looped(switch, depth, &st);
                return;
            }
            (Some(key), Arc::clone(&self.memo.entry(key).outcomes))
        };
        if depth > MAX_HOPS {
            self.looped(switch, depth, &st);
            return;
        }
        if let Some(key) = key {
            if self.memo.track {
                self.out.keys.push(key);
            }
            self.stack.push(key);
        }
        if self.want.contains(&switch) && !self.found.iter().any(|f| f.0 == switch) {
            self.found.push((switch, self.path.clone(), st.c.clone()));
        }
        for (idx, o) in outcomes.iter().enumerate() {
            let mut c = st.c.clone();
            let full = match &o.vars {
                Some(vars) => apply_branch(&mut c, &map, vars),
                None => map.clone(),
            };
            let in_port = st.h.in_port;
            self.path.push(Seg::Switch {
                switch,
                in_port,
                outcomes: Arc::clone(&outcomes),
                idx,
            });
            let at = |h: &Header, c: Cond| {
                let mut s = State {
                    h: remap_header(h, &full),
                    c,
                };
                s.normalize();
                s
            };
            match &o.event {
                LocalEvent::Deliver { port, header } => {
                    self.deliver(
                        PortKey {
                            switch,
                            port: *port,
                        },
                        at(header, c),
                    );
                }
                LocalEvent::Tunnel { to, header } => self.tunnel(switch, *to, at(header, c), depth),
                LocalEvent::Link { port, peer, header } => {
                    self.link(
                        PortKey {
                            switch,
                            port: *port,
                        },
                        *peer,
                        at(header, c),
                        depth,
                    );
                }
                LocalEvent::Exit { port, why, header } => {
                    self.exit(switch, *port, *why, at(header, c))
                }
                LocalEvent::Anomaly(a) => self.anomaly(switch, o, a, &c),
                LocalEvent::Drop => {}
            }
            self.path.pop();
        }
        if key.is_some() {
            self.stack.pop();
        }
    }

    fn looped(&mut self, switch: SwitchId, depth: usize, st: &State) {
        let name = &self.env.fabric.switch(switch).name;
        let summary = if depth > MAX_HOPS {
            format!("frame still forwarded after {MAX_HOPS} hops between switches (at {name})")
        } else {
            format!("frame comes back to {name} in the same state: it circulates forever")
        };
        self.finding(FindingKind::Loop, summary, &st.c, None, None);
    }

    fn net_label(&self, vni: u32) -> String {
        match self.env.policy.nets.get(&vni) {
            Some(n) => format!(
                "{}/{} (vni {vni})",
                self.env.policy.ops[n.op as usize], n.name
            ),
            None => format!("vni {vni}"),
        }
    }

    fn lessee_label(&self, op: Option<OpIdx>) -> String {
        match op {
            Some(o) => format!("leased to {}", self.env.policy.ops[o as usize]),
            None => "leased to no operator".to_owned(),
        }
    }

    /// Member ports of the class's network that no frame of it reached.
    fn drift(&mut self, switch: SwitchId, start: State) {
        let (Point::Server(p), Ctx::Admitted { vni, op }) = (self.point, self.ctx) else {
            return;
        };
        self.reached.sort_unstable();
        self.reached.dedup();
        let net = &self.env.policy.nets[&vni];
        let missing: Vec<(PortKey, AttachMode)> = net
            .attachments
            .iter()
            .filter(|(q, _)| *q != p && self.reached.binary_search(q).is_err())
            .copied()
            .collect();
        if missing.is_empty() {
            return;
        }
        // Walk again, silently, to show how far frames got towards each.
        self.want = missing.iter().map(|(q, _)| q.switch).collect();
        self.quiet = true;
        self.visit(switch, start.clone(), 0);
        self.quiet = false;
        let label = self.net_label(vni);
        for (q, mode) in missing {
            let (path, c) = match self.found.iter().find(|f| f.0 == q.switch) {
                Some((_, path, c)) => (path.clone(), c.clone()),
                None => (Vec::new(), start.c.clone()),
            };
            self.path = path;
            let how = match mode {
                AttachMode::Access => "untagged".to_owned(),
                AttachMode::Tagged(t) => format!("tagged {t}"),
            };
            let at = self.env.fabric.port_ref(q);
            let summary = format!("no frame of {label} reaches member port {at} ({how})");
            self.finding(FindingKind::Unreachable, summary, &c, Some(op), None);
        }
        self.path.clear();
    }

    fn finding(
        &mut self,
        kind: FindingKind,
        summary: String,
        c: &Cond,
        dst: Option<OpIdx>,
        egress: Option<Egress>,
    ) {
        if self.quiet {
            return;
        }
        let key = egress
            .as_ref()
            .map_or_else(|| summary.clone(), |e| e.at.clone());
        if !self.seen.insert((kind, key)) {
            return;
        }
        if self.out.findings.len() >= MAX_FINDINGS_PER_CLASS {
            self.out.omitted += 1;
            return;
        }
        let fabric = self.env.fabric;
        let view = match self.point {
            Point::Server(_) => TunnelView::None,
            Point::Tunnel(_) => TunnelView::Received,
        };
        let mut path = Vec::new();
        for seg in &self.path {
            match seg {
                Seg::Switch {
                    switch,
                    in_port,
                    outcomes,
                    idx,
                } => {
                    render::rule_hops(fabric, *switch, *in_port, &outcomes[*idx].steps, &mut path);
                }
                Seg::Link { from, to } => path.push(render::link_hop(fabric, *from, *to)),
                Seg::Tunnel { from, to, vni } => {
                    path.push(render::tunnel_hop(fabric, *from, *to, *vni, c))
                }
            }
        }
        let src = match self.ctx {
            Ctx::Admitted { op, .. } => Some(op),
            Ctx::MustDrop { src, .. } => src,
        };
        let name = |o: Option<OpIdx>| o.map(|o| self.env.policy.op_name(o));
        let counterexample = Counterexample {
            ingress: render::point_label(fabric, self.point),
            class: render::class_label(self.desc),
            header: render::frame(&self.ingress, c, view),
            path,
            egress,
        };
        self.out.findings.push(Finding {
            class: kind.class(),
            kind,
            summary,
            source_operator: name(src),
            destination_operator: name(dst),
            counterexample,
        });
    }
}
