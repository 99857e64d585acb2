//! One switch's behaviour on one symbolic state, with OpenFlow 1.3
//! semantics: the local "transfer function" the fabric walk composes.
//!
//! * Tables are visited from 0. In each, the highest-priority matching rule
//!   wins; a miss drops. Two equal-priority rules that can both match are
//!   reported as ambiguous (a switch may pick either) and both are followed.
//! * A rule's apply-actions run in order on the frame as it is at that
//!   point; `output` sends a copy. Then `write_metadata`, then `goto`.
//! * Output to the ingress port is suppressed unless it is `IN_PORT`;
//!   `ALL`/`FLOOD` go to every port but the ingress one; `NORMAL` may reach
//!   any port, the ingress one included (learning is not modelled);
//!   `LOCAL`/`CONTROLLER` leave the data plane.
//! * A match on fields this model does not interpret may or may not hold:
//!   both outcomes are followed. An action it does not interpret is
//!   reported and otherwise skipped.

use std::sync::Arc;

use weft_model::{PortKey, PortNo, SwitchId, VXLAN_TUNNEL_PORT};
use weft_rules::{Action, OutPort, Rule, TableId, VlanMatch};

use crate::fabric::{Fabric, PortLead};
use smallvec::SmallVec;

pub(crate) use crate::lookup::{LookupSig, ip, mac};
use crate::sym::{Domain, Header, MAX_TAGS, Outer, State, Test, Val, VarState, Vars, bool_test};
use crate::tables::SwitchTables;

/// Largest number of branches one switch may produce for one state before
/// the verifier gives up on it (and says so).
const MAX_OUTCOMES: usize = 1 << 16;

/// A rule applied on the way to an event.
#[derive(Debug, Clone)]
pub(crate) struct StepRec {
    pub rule: Arc<Rule>,
    pub table: TableId,
    /// How many of the rule's actions had run when the event happened.
    pub upto: u16,
}

/// Why a frame left the modelled fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitWhy {
    /// A fabric port with no link in the topology.
    UnlinkedPort,
    /// A port number the topology does not know.
    UnknownPort,
    /// A tunnel to an address that is no switch's VTEP.
    UnknownVtep,
    Controller,
    Local,
}

#[derive(Debug, Clone)]
pub(crate) enum Anomaly {
    /// The last step's rule and `other` (same table and priority) can both
    /// match: the switch may apply either.
    Ambiguous { other: Arc<Rule> },
    /// An action or construct this model cannot follow.
    Uninterpretable(String),
}

#[derive(Debug, Clone)]
pub(crate) enum LocalEvent {
    /// Out of a server port.
    Deliver {
        port: PortNo,
        header: Header,
    },
    /// Into the tunnel towards the switch owning the destination VTEP.
    Tunnel {
        to: SwitchId,
        header: Header,
    },
    /// Out of a linked fabric port.
    Link {
        port: PortNo,
        peer: PortKey,
        header: Header,
    },
    /// Out of the modelled fabric.
    Exit {
        port: Option<PortNo>,
        why: ExitWhy,
        header: Header,
    },
    Anomaly(Anomaly),
    /// Dropped by a table miss or a rule without outputs or goto. Only
    /// counted by the explorer, never stored as an outcome: nothing
    /// follows from it.
    Drop,
}

/// One branch of a switch's behaviour: the final variable states (over
/// the canonical state's variables, plus any it created), the rules
/// applied, and what happened.
#[derive(Debug, Clone)]
pub(crate) struct LocalOutcome {
    /// `None` when the branch did not refine the starting state (the
    /// common case, kept small: there are hundreds of thousands).
    pub vars: Option<Box<Vars>>,
    pub steps: Steps,
    pub event: LocalEvent,
}

/// The rules applied so far in one switch (a handful).
pub(crate) type Steps = SmallVec<[StepRec; 3]>;

fn count(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn known(v: Val) -> Option<u64> {
    match v {
        Val::Const(c) => Some(c),
        Val::Var(_) => None,
    }
}

/// Whether a test of `val == c` can possibly hold, without splitting.
fn may_equal(s: &State, val: Val, c: u64) -> bool {
    match val {
        Val::Const(k) => k == c,
        Val::Var(id) => match s.c.get(id) {
            VarState::Value(f, Domain::Except(ex)) => {
                f.contains(c) && ex.binary_search(&c).is_err()
            }
            VarState::Value(_, Domain::OneOf(vals)) => vals.binary_search(&c).is_ok(),
            VarState::Tail(_) => false,
        },
    }
}

/// A cheap necessary condition for `rule` to match some refinement of `s`.
fn may_match(rule: &Rule, s: &State) -> bool {
    let m = &rule.matches;
    m.in_port.is_none_or(|p| p == s.h.in_port)
        && m.metadata.is_none_or(|v| v == s.h.metadata)
        && m.tun_id.is_none_or(|t| may_equal(s, s.h.tun_id, t))
        && m.tun_src.is_none_or(|a| may_equal(s, s.h.tun_src, ip(a)))
        && m.eth_dst.is_none_or(|a| may_equal(s, s.h.eth_dst, mac(a)))
        && match (m.vlan, s.outer()) {
            (VlanMatch::Any, _) | (_, Outer::Unknown(_)) => true,
            (VlanMatch::Untagged, o) => o == Outer::Untagged,
            (VlanMatch::AnyTagged, o) => o != Outer::Untagged,
            (VlanMatch::Vid(v), Outer::Tag(t)) => may_equal(s, t, u64::from(v.get())),
            (VlanMatch::Vid(_), Outer::Untagged) => false,
        }
}

const FIELDS: usize = 6;

fn test_field(rule: &Rule, s: &State, field: usize) -> Test {
    let m = &rule.matches;
    match field {
        0 => m.tun_id.map_or(Test::True, |t| s.test_eq(s.h.tun_id, t)),
        1 => m
            .tun_src
            .map_or(Test::True, |a| s.test_eq(s.h.tun_src, ip(a))),
        2 => test_vlan(m.vlan, s),
        3 => m
            .eth_dst
            .map_or(Test::True, |a| s.test_eq(s.h.eth_dst, mac(a))),
        4 => m.eth_type.map_or(Test::True, |t| test_eth_type(t, s)),
        _ if m.opaque.is_empty() => Test::True,
        // Fields we cannot read may or may not hold: follow both.
        _ => Test::Split(vec![(s.clone(), true), (s.clone(), false)]),
    }
}

fn test_vlan(m: VlanMatch, s: &State) -> Test {
    let on_tag = |s: &State, t: Val| match m {
        VlanMatch::Any => Test::True,
        VlanMatch::Untagged => Test::False,
        VlanMatch::AnyTagged => Test::True,
        VlanMatch::Vid(v) => s.test_eq(t, u64::from(v.get())),
    };
    match s.outer() {
        _ if m == VlanMatch::Any => Test::True,
        Outer::Untagged => bool_test(m == VlanMatch::Untagged),
        Outer::Tag(t) => on_tag(s, t),
        Outer::Unknown(tail) => {
            let (empty, cons) = s.split_tail(tail);
            let mut parts = vec![(empty, m == VlanMatch::Untagged)];
            let Outer::Tag(t) = cons.outer() else {
                return Test::Split(parts);
            };
            match on_tag(&cons, t) {
                Test::True => parts.push((cons, true)),
                Test::False => parts.push((cons, false)),
                Test::Split(more) => parts.extend(more),
            }
            Test::Split(parts)
        }
    }
}

/// `eth_type == t`: the EtherType after the outermost tag (see
/// `weft_rules::Match::eth_type`). The model keeps neither payload types
/// nor a tag's TPID, so the test is decided only where the stack rules it
/// out: a VLAN TPID needs a second tag, and with at most one tag it is
/// false. Everywhere else both outcomes are followed.
fn test_eth_type(t: u16, s: &State) -> Test {
    let second_tag_possible = s.h.tags.len() >= 2 || s.h.tail.is_some();
    if is_vlan_tpid(t) && !second_tag_possible {
        return Test::False;
    }
    Test::Split(vec![(s.clone(), true), (s.clone(), false)])
}

/// 802.1Q and 802.1ad tag protocol identifiers. (The verifier does not
/// depend on the compiler; the two values are facts of Ethernet.)
fn is_vlan_tpid(t: u16) -> bool {
    t == 0x8100 || t == 0x88a8
}

/// Whether `rule` matches `s`, splitting `s` where that depends on a
/// variable. `in_port` and `metadata` are always known.
pub(crate) fn match_rule(rule: &Rule, s: &State) -> Test {
    if !may_match(rule, s) {
        return Test::False;
    }
    match_from(rule, s, 0)
}

fn match_from(rule: &Rule, s: &State, from: usize) -> Test {
    for field in from..FIELDS {
        match test_field(rule, s, field) {
            Test::True => {}
            Test::False => return Test::False,
            Test::Split(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for (p, ok) in parts {
                    if !ok {
                        out.push((p, false));
                        continue;
                    }
                    match match_from(rule, &p, field + 1) {
                        Test::True => out.push((p, true)),
                        Test::False => out.push((p, false)),
                        Test::Split(q) => out.extend(q),
                    }
                }
                if out.iter().all(|(_, ok)| !ok) {
                    return Test::False;
                }
                return Test::Split(out);
            }
        }
    }
    Test::True
}

/// The exploration of one canonical state at one switch.
pub(crate) struct Explorer<'a> {
    pub fabric: &'a Fabric,
    pub tables: &'a SwitchTables,
    pub switch: SwitchId,
    /// Filled by `run`; a buffer reused across explorations.
    pub outcomes: &'a mut Vec<LocalOutcome>,
    /// Branches that ended in a drop: counted towards the branch limit but
    /// not stored, since a drop has no consequence to follow or judge.
    dropped: usize,
    /// Recorded only when `track` is set (incremental verification).
    pub lookups: Vec<LookupSig>,
    pub track: bool,
    start: Vars,
}

impl<'a> Explorer<'a> {
    pub(crate) fn new(
        fabric: &'a Fabric,
        tables: &'a SwitchTables,
        switch: SwitchId,
        track: bool,
        outcomes: &'a mut Vec<LocalOutcome>,
    ) -> Self {
        outcomes.clear();
        Explorer {
            fabric,
            tables,
            switch,
            outcomes,
            dropped: 0,
            lookups: Vec::new(),
            track,
            start: Vars::new(),
        }
    }

    pub(crate) fn run(&mut self, start: State) {
        self.start = start.c.vars.clone();
        self.table(0, start, Steps::new());
    }

    fn vars_of(&self, s: &State) -> Option<Box<Vars>> {
        (s.c.vars != self.start).then(|| Box::new(s.c.vars.clone()))
    }

    fn emit(&mut self, s: &State, steps: &[StepRec], event: LocalEvent) {
        let branches = self.outcomes.len() + self.dropped;
        if branches == MAX_OUTCOMES {
            let text = format!("more than {MAX_OUTCOMES} branches at one switch");
            self.outcomes.push(LocalOutcome {
                vars: self.vars_of(s),
                steps: steps.iter().cloned().collect(),
                event: LocalEvent::Anomaly(Anomaly::Uninterpretable(text)),
            });
        }
        if self.outcomes.len() + self.dropped > MAX_OUTCOMES {
            return;
        }
        if matches!(event, LocalEvent::Drop) {
            self.dropped += 1;
            return;
        }
        let vars = self.vars_of(s);
        self.outcomes.push(LocalOutcome {
            vars,
            steps: steps.iter().cloned().collect(),
            event,
        });
    }

    /// Records a lookup (tracked mode) and returns its index, for
    /// [`Self::stopped`].
    fn record_lookup(&mut self, table: TableId, s: &State) -> Option<usize> {
        if !self.track {
            return None;
        }
        let sig = LookupSig {
            table,
            in_port: s.h.in_port,
            metadata: s.h.metadata,
            tun_id: known(s.h.tun_id),
            tun_src: known(s.h.tun_src),
            outer: match s.outer() {
                Outer::Untagged => None,
                Outer::Tag(t) => Some(known(t)),
                Outer::Unknown(_) => Some(None),
            },
            eth_dst: known(s.h.eth_dst),
            floor: u16::MAX,
        };
        match self.lookups.iter().position(|l| l.same_state(&sig)) {
            Some(i) => Some(i),
            None => {
                self.lookups.push(sig);
                Some(self.lookups.len() - 1)
            }
        }
    }

    /// Some frames of lookup `li` stopped at `priority`.
    fn stopped(&mut self, li: Option<usize>, priority: u16) {
        if let Some(l) = li.and_then(|i| self.lookups.get_mut(i)) {
            l.floor = l.floor.min(priority);
        }
    }

    fn table(&mut self, table: TableId, s: State, steps: Steps) {
        let li = self.record_lookup(table, &s);
        let tables = self.tables;
        let cands = tables.candidates(table, &s);
        self.scan(table, li, &cands, 0, s, steps);
    }

    fn scan(
        &mut self,
        table: TableId,
        li: Option<usize>,
        cands: &[&Arc<Rule>],
        from: usize,
        s: State,
        steps: Steps,
    ) {
        for i in from..cands.len() {
            match match_rule(cands[i], &s) {
                Test::False => {}
                Test::True => {
                    self.stopped(li, cands[i].priority);
                    return self.fire(table, cands, i, s, steps);
                }
                Test::Split(parts) => {
                    for (p, ok) in parts {
                        if ok {
                            self.stopped(li, cands[i].priority);
                            self.fire(table, cands, i, p, steps.clone());
                        } else {
                            self.scan(table, li, cands, i + 1, p, steps.clone());
                        }
                    }
                    return;
                }
            }
        }
        self.stopped(li, 0);
        self.emit(&s, &steps, LocalEvent::Drop);
    }

    /// Applies `cands[i]`, and every equal-priority rule that can also
    /// match on the overlap (reported as ambiguous).
    fn fire(&mut self, table: TableId, cands: &[&Arc<Rule>], i: usize, s: State, steps: Steps) {
        let rule = cands[i];
        for other in cands[i + 1..]
            .iter()
            .take_while(|r| r.priority == rule.priority)
        {
            // Different EtherTypes never match one frame. The model keeps
            // no EtherType value to refine, so this is decided here.
            if let (Some(a), Some(b)) = (rule.matches.eth_type, other.matches.eth_type)
                && a != b
            {
                continue;
            }
            let overlaps = match match_rule(other, &s) {
                Test::False => Vec::new(),
                Test::True => vec![s.clone()],
                Test::Split(parts) => parts.into_iter().filter(|p| p.1).map(|p| p.0).collect(),
            };
            for alt in overlaps {
                let mut at = steps.clone();
                at.push(StepRec {
                    rule: Arc::clone(rule),
                    table,
                    upto: 0,
                });
                let anomaly = Anomaly::Ambiguous {
                    other: Arc::clone(other),
                };
                self.emit(&alt, &at, LocalEvent::Anomaly(anomaly));
                self.apply(table, other, alt, steps.clone());
            }
        }
        self.apply(table, rule, s, steps);
    }

    fn apply(&mut self, table: TableId, rule: &Arc<Rule>, s: State, mut steps: Steps) {
        steps.push(StepRec {
            rule: Arc::clone(rule),
            table,
            upto: 0,
        });
        let last = steps.len() - 1;
        let mut states: SmallVec<[State; 2]> = smallvec::smallvec![s];
        let mut outputs = false;
        for (ai, action) in rule.actions.iter().enumerate() {
            steps[last].upto = count(ai + 1);
            match action {
                Action::PopVlan => {
                    states = states.into_iter().flat_map(State::resolve_outer).collect();
                    for st in &mut states {
                        if !st.h.tags.is_empty() {
                            st.h.tags.remove(0);
                        }
                    }
                }
                Action::PushVlan(v) => {
                    let mut kept = SmallVec::with_capacity(states.len());
                    for mut st in states {
                        if st.h.tags.len() >= MAX_TAGS {
                            let text = format!("VLAN stack deeper than {MAX_TAGS} tags");
                            self.emit(
                                &st,
                                &steps,
                                LocalEvent::Anomaly(Anomaly::Uninterpretable(text)),
                            );
                        } else {
                            st.h.tags.insert(0, Val::Const(u64::from(v.get())));
                            kept.push(st);
                        }
                    }
                    states = kept;
                }
                Action::SetVlanVid(v) => {
                    states = states.into_iter().flat_map(State::resolve_outer).collect();
                    for st in &mut states {
                        if let Some(t) = st.h.tags.first_mut() {
                            *t = Val::Const(u64::from(v.get()));
                        }
                    }
                }
                Action::SetTunnelId(id) => states
                    .iter_mut()
                    .for_each(|st| st.h.tun_id = Val::Const(*id)),
                Action::SetTunnelDst(a) => {
                    states
                        .iter_mut()
                        .for_each(|st| st.h.tun_dst = u32::from(*a));
                }
                Action::Output(p) => {
                    outputs = true;
                    for st in &states {
                        self.output(*p, st, &steps);
                    }
                }
                Action::Opaque(text) => {
                    let a = Anomaly::Uninterpretable(format!("action `{text}`"));
                    for st in &states {
                        self.emit(st, &steps, LocalEvent::Anomaly(a.clone()));
                    }
                }
            }
        }
        steps[last].upto = count(rule.actions.len());
        if let Some(m) = rule.write_metadata {
            states.iter_mut().for_each(|st| st.h.metadata = m);
        }
        match rule.goto {
            Some(next) if next > table => {
                for st in states {
                    self.table(next, st, steps.clone());
                }
            }
            Some(next) => {
                let text = format!("goto_table:{next} from table {table} (must go forward)");
                for st in &states {
                    self.emit(
                        st,
                        &steps,
                        LocalEvent::Anomaly(Anomaly::Uninterpretable(text.clone())),
                    );
                }
            }
            None if !outputs => {
                for st in &states {
                    self.emit(st, &steps, LocalEvent::Drop);
                }
            }
            None => {}
        }
    }

    fn output(&mut self, port: OutPort, s: &State, steps: &[StepRec]) {
        let in_port = s.h.in_port;
        match port {
            OutPort::Port(p) if p == in_port => {}
            OutPort::Port(p) => self.send_to(p, s, steps),
            OutPort::InPort => self.send_to(in_port, s, steps),
            OutPort::Flood | OutPort::Normal => {
                let sw = self.fabric.switch(self.switch);
                let targets: SmallVec<[PortNo; 64]> = sw
                    .all_ports()
                    .filter(|&p| p != in_port || port == OutPort::Normal)
                    .collect();
                for p in targets {
                    self.send_to(p, s, steps);
                }
            }
            OutPort::Local | OutPort::Controller => {
                let why = if port == OutPort::Local {
                    ExitWhy::Local
                } else {
                    ExitWhy::Controller
                };
                self.emit(
                    s,
                    steps,
                    LocalEvent::Exit {
                        port: None,
                        why,
                        header: s.h.clone(),
                    },
                );
            }
        }
    }

    fn send_to(&mut self, port: PortNo, s: &State, steps: &[StepRec]) {
        let sw = self.fabric.switch(self.switch);
        let header = s.h.clone();
        let event = if port == VXLAN_TUNNEL_PORT && sw.has_tunnel_port() {
            // A flow-based tunnel port sends nothing without a destination.
            if s.h.tun_dst == 0 {
                return;
            }
            match self.fabric.by_vtep.get(&s.h.tun_dst) {
                Some(&to) => LocalEvent::Tunnel { to, header },
                None => LocalEvent::Exit {
                    port: Some(port),
                    why: ExitWhy::UnknownVtep,
                    header,
                },
            }
        } else {
            match sw.lead(port) {
                Some(PortLead::Server) => LocalEvent::Deliver { port, header },
                Some(PortLead::Link(peer)) => LocalEvent::Link { port, peer, header },
                Some(PortLead::Unlinked) => LocalEvent::Exit {
                    port: Some(port),
                    why: ExitWhy::UnlinkedPort,
                    header,
                },
                None => LocalEvent::Exit {
                    port: Some(port),
                    why: ExitWhy::UnknownPort,
                    header,
                },
            }
        };
        self.emit(s, steps, event);
    }
}
