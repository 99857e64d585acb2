//! Symbolic headers: a frame whose fields are constants or variables, and
//! the path condition that says which values each variable may still take.
//!
//! This is how the verifier covers *every* header without enumerating
//! them. A free field starts as one variable meaning "any value"; the first
//! rule that tests it against a constant `c` splits the state in two: one
//! branch where the variable is `c`, one where it is anything but `c`. A
//! variable's domain is therefore always a finite set (`OneOf`) or the
//! field's whole range minus a finite set (`Except`): exactly the
//! equivalence classes "each constant the rules mention, plus any other
//! value", refined only where a rule actually asks.
//!
//! The VLAN tag stack is symbolic too: known tags (outermost first) and an
//! optional *tail*, a variable for the unknown rest of the stack. A test of
//! the outermost tag on an unknown tail splits it into "no more tags" and
//! "one more tag (a fresh variable) followed by a fresh unknown tail". The
//! stack depth is thus unbounded in principle and never guessed.

use smallvec::SmallVec;
use weft_model::PortNo;

/// A variable of a path condition.
pub(crate) type VarId = u32;

/// A header field's value: known, or a variable of the path condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Val {
    Const(u64),
    Var(VarId),
}

/// The fields a variable may stand for; each has its own value range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Field {
    /// An 802.1Q VLAN id, 1..=4094.
    Vlan,
    /// A VXLAN network identifier as received: 24 bits.
    TunId,
    /// An IPv4 underlay source address.
    TunSrc,
    /// A 48-bit destination MAC address.
    EthDst,
}

impl Field {
    fn lowest(self) -> u64 {
        match self {
            Field::Vlan => 1,
            Field::TunId | Field::TunSrc | Field::EthDst => 0,
        }
    }

    fn highest(self) -> u64 {
        match self {
            Field::Vlan => 4094,
            Field::TunId => 0x00FF_FFFF,
            Field::TunSrc => 0xFFFF_FFFF,
            Field::EthDst => 0xFFFF_FFFF_FFFF,
        }
    }

    pub(crate) fn contains(self, v: u64) -> bool {
        self.lowest() <= v && v <= self.highest()
    }

    fn size(self) -> u64 {
        self.highest() - self.lowest() + 1
    }

    /// Where the search for an "any other value" witness starts, chosen so
    /// counterexamples read naturally: VLAN 1, VNI 1, the documentation
    /// address 192.0.2.1 for an unknown VTEP, the broadcast MAC (the frame
    /// every flood rule forwards).
    fn witness_start(self) -> u64 {
        match self {
            Field::Vlan | Field::TunId => 1,
            Field::TunSrc => 0xC000_0201,
            Field::EthDst => 0xFFFF_FFFF_FFFF,
        }
    }
}

/// The values a value variable may take.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Domain {
    /// Any value of the field except these (sorted, distinct).
    Except(Vec<u64>),
    /// One of these (sorted, distinct, never empty). One element = bound.
    OneOf(Vec<u64>),
}

/// What is known about the unknown rest of a VLAN stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Tail {
    Unknown,
    Empty,
    /// One more tag (a value variable) and a further tail.
    Cons {
        tag: VarId,
        rest: VarId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum VarState {
    Value(Field, Domain),
    Tail(Tail),
}

/// Variable states, inline for the few variables a trace usually has.
pub(crate) type Vars = SmallVec<[VarState; 4]>;
/// Known tags, outermost first.
pub(crate) type Tags = SmallVec<[Val; 2]>;
/// A map between variable numberings.
pub(crate) type VarMap = SmallVec<[VarId; 8]>;

/// A path condition: the state of every variable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cond {
    pub vars: Vars,
}

/// Largest number of known tags a header may carry before the verifier
/// stops following it (and reports why). Weft's rules push at most one tag
/// on top of an untagged frame; ingress classes start with at most two.
pub(crate) const MAX_TAGS: usize = 8;

/// A symbolic frame as one switch sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Header {
    pub in_port: PortNo,
    /// Known tags, outermost first.
    pub tags: Tags,
    /// The unknown rest of the stack below `tags` (`None`: nothing more).
    pub tail: Option<VarId>,
    pub tun_id: Val,
    pub tun_src: Val,
    /// Always known: set by `set_tunnel_dst` or by decapsulation.
    pub tun_dst: u32,
    /// Always known: set by `write_metadata` only.
    pub metadata: u64,
    pub eth_dst: Val,
}

/// The outermost tag of a stack, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outer {
    Untagged,
    Tag(Val),
    /// No known tags and an unknown tail.
    Unknown(VarId),
}

/// A header with its path condition: one branch of the exploration.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub h: Header,
    pub c: Cond,
}

/// The result of testing a condition on a state.
#[derive(Debug)]
pub(crate) enum Test {
    True,
    False,
    /// The state splits: each part with whether the test holds on it.
    Split(Vec<(State, bool)>),
}

impl Cond {
    pub(crate) fn fresh(&mut self, st: VarState) -> VarId {
        let id = VarId::try_from(self.vars.len()).unwrap_or(VarId::MAX);
        self.vars.push(st);
        id
    }

    pub(crate) fn get(&self, v: VarId) -> &VarState {
        &self.vars[v as usize]
    }

    pub(crate) fn set(&mut self, v: VarId, st: VarState) {
        self.vars[v as usize] = st;
    }

    /// A variable's value if it is bound to one.
    fn bound(&self, v: VarId) -> Option<u64> {
        match self.get(v) {
            VarState::Value(_, Domain::OneOf(vals)) if vals.len() == 1 => Some(vals[0]),
            _ => None,
        }
    }

    /// Splits "variable `v` equals `c`" into (holds, fails), either side
    /// `None` when impossible.
    fn split_var(&self, v: VarId, c: u64) -> (Option<Cond>, Option<Cond>) {
        let VarState::Value(field, dom) = self.get(v) else {
            return (None, Some(self.clone()));
        };
        let field = *field;
        if !field.contains(c) {
            return (None, Some(self.clone()));
        }
        let with = |d: Domain| {
            let mut c2 = self.clone();
            c2.set(v, VarState::Value(field, d));
            c2
        };
        match dom {
            Domain::Except(ex) => match ex.binary_search(&c) {
                Ok(_) => (None, Some(self.clone())),
                Err(i) => {
                    let eq = with(Domain::OneOf(vec![c]));
                    // Excluding the last remaining value of the range
                    // leaves nothing.
                    let ne = (u64::try_from(ex.len()).unwrap_or(u64::MAX) + 1 < field.size()).then(
                        || {
                            let mut ex2 = ex.clone();
                            ex2.insert(i, c);
                            with(Domain::Except(ex2))
                        },
                    );
                    (Some(eq), ne)
                }
            },
            Domain::OneOf(vals) => match vals.binary_search(&c) {
                Err(_) => (None, Some(self.clone())),
                Ok(i) => {
                    if vals.len() == 1 {
                        return (Some(self.clone()), None);
                    }
                    let mut rest = vals.clone();
                    rest.remove(i);
                    (
                        Some(with(Domain::OneOf(vec![c]))),
                        Some(with(Domain::OneOf(rest))),
                    )
                }
            },
        }
    }

    /// A concrete value satisfying the condition, for counterexamples.
    pub(crate) fn witness(&self, v: Val) -> u64 {
        let Val::Var(id) = v else {
            let Val::Const(c) = v else { return 0 };
            return c;
        };
        match self.get(id) {
            VarState::Value(_, Domain::OneOf(vals)) => vals.first().copied().unwrap_or(0),
            VarState::Value(field, Domain::Except(ex)) => {
                let mut cand = field.witness_start();
                // At most |ex| candidates are excluded, so this ends.
                for _ in 0..=ex.len() {
                    if ex.binary_search(&cand).is_err() {
                        return cand;
                    }
                    cand = if cand >= field.highest() {
                        field.lowest()
                    } else {
                        cand + 1
                    };
                }
                cand
            }
            VarState::Tail(_) => 0,
        }
    }

    /// The concrete tag stack (outermost first) of `tags` + `tail`: unknown
    /// tails are taken as empty, the simplest frame of the class.
    pub(crate) fn witness_stack(&self, tags: &[Val], tail: Option<VarId>) -> Vec<u64> {
        let mut out: Vec<u64> = tags.iter().map(|t| self.witness(*t)).collect();
        let mut cur = tail;
        while let Some(t) = cur {
            match self.get(t) {
                VarState::Tail(Tail::Cons { tag, rest }) => {
                    out.push(self.witness(Val::Var(*tag)));
                    cur = Some(*rest);
                }
                _ => cur = None,
            }
        }
        out
    }
}

impl State {
    /// Replaces bound variables by their constants and expands resolved
    /// tails into known tags, so tests see the most specific form.
    pub(crate) fn normalize(&mut self) {
        let c = &self.c;
        let fix = |v: &mut Val| {
            if let Val::Var(id) = *v
                && let Some(k) = c.bound(id)
            {
                *v = Val::Const(k);
            }
        };
        for t in &mut self.h.tags {
            fix(t);
        }
        fix(&mut self.h.tun_id);
        fix(&mut self.h.tun_src);
        fix(&mut self.h.eth_dst);
        while let Some(t) = self.h.tail {
            match c.get(t) {
                VarState::Tail(Tail::Empty) => self.h.tail = None,
                VarState::Tail(Tail::Cons { tag, rest }) => {
                    let v = c.bound(*tag).map_or(Val::Var(*tag), Val::Const);
                    self.h.tags.push(v);
                    self.h.tail = Some(*rest);
                }
                _ => break,
            }
        }
    }

    fn with_cond(&self, c: Cond) -> State {
        let mut s = State {
            h: self.h.clone(),
            c,
        };
        s.normalize();
        s
    }

    /// Tests `val == c`.
    pub(crate) fn test_eq(&self, val: Val, c: u64) -> Test {
        match val {
            Val::Const(k) => bool_test(k == c),
            Val::Var(id) => match self.c.split_var(id, c) {
                (Some(_), None) => Test::True,
                (None, _) => Test::False,
                (Some(eq), Some(ne)) => Test::Split(vec![
                    (self.with_cond(eq), true),
                    (self.with_cond(ne), false),
                ]),
            },
        }
    }

    pub(crate) fn outer(&self) -> Outer {
        match (self.h.tags.first(), self.h.tail) {
            (Some(t), _) => Outer::Tag(*t),
            (None, Some(tail)) => Outer::Unknown(tail),
            (None, None) => Outer::Untagged,
        }
    }

    /// Splits an unknown tail into (no more tags, one more tag).
    pub(crate) fn split_tail(&self, tail: VarId) -> (State, State) {
        let mut empty = self.c.clone();
        empty.set(tail, VarState::Tail(Tail::Empty));
        let mut cons = self.c.clone();
        let tag = cons.fresh(VarState::Value(Field::Vlan, Domain::Except(Vec::new())));
        let rest = cons.fresh(VarState::Tail(Tail::Unknown));
        cons.set(tail, VarState::Tail(Tail::Cons { tag, rest }));
        (self.with_cond(empty), self.with_cond(cons))
    }

    /// Resolves the outermost tag: the states (covering this one) in each
    /// of which [`State::outer`] is not `Unknown`.
    pub(crate) fn resolve_outer(self) -> SmallVec<[State; 2]> {
        match self.outer() {
            Outer::Unknown(tail) => {
                let (e, c) = self.split_tail(tail);
                smallvec::smallvec![e, c]
            }
            _ => smallvec::smallvec![self],
        }
    }

    /// Resolves the stack down to `depth` known tags (or fewer when it is
    /// known to end), so its shape up to that depth is known.
    pub(crate) fn resolve_depth(self, depth: usize) -> SmallVec<[State; 2]> {
        if self.h.tail.is_none() || self.h.tags.len() >= depth {
            return smallvec::smallvec![self];
        }
        let mut done = SmallVec::new();
        let mut todo = vec![self];
        while let Some(s) = todo.pop() {
            match s.h.tail {
                Some(tail) if s.h.tags.len() < depth => {
                    let (e, c) = s.split_tail(tail);
                    todo.push(c);
                    todo.push(e);
                }
                _ => done.push(s),
            }
        }
        done
    }
}

pub(crate) fn bool_test(b: bool) -> Test {
    if b { Test::True } else { Test::False }
}

/// A header and path condition in a form independent of variable names:
/// variables renumbered in order of first appearance, carrying only their
/// own states. Two states with equal canonical forms behave identically at
/// a switch, which is what makes per-switch results reusable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Canon {
    pub h: Header,
    pub vars: Vars,
}

impl Canon {
    /// The canonical form of a normalized state and, for each canonical
    /// variable, the state's variable it stands for.
    pub(crate) fn of(s: &State) -> (Canon, VarMap) {
        let mut map = VarMap::new();
        let rename = |v: Val, map: &mut VarMap| match v {
            Val::Const(_) => v,
            Val::Var(id) => Val::Var(index_of(map, id)),
        };
        let mut h = s.h.clone();
        for t in &mut h.tags {
            *t = rename(*t, &mut map);
        }
        h.tail = h.tail.map(|t| index_of(&mut map, t));
        h.tun_id = rename(h.tun_id, &mut map);
        h.tun_src = rename(h.tun_src, &mut map);
        h.eth_dst = rename(h.eth_dst, &mut map);
        // Normalized: every tail left in the header is unknown, and value
        // variables never refer to other variables.
        let vars = map.iter().map(|&id| s.c.get(id).clone()).collect();
        (Canon { h, vars }, map)
    }

    /// The state this canonical form describes, over variables `0..n`.
    pub(crate) fn state(&self) -> State {
        State {
            h: self.h.clone(),
            c: Cond {
                vars: self.vars.clone(),
            },
        }
    }
}

fn index_of(map: &mut VarMap, id: VarId) -> VarId {
    let i = map.iter().position(|&m| m == id).unwrap_or_else(|| {
        map.push(id);
        map.len() - 1
    });
    VarId::try_from(i).unwrap_or(VarId::MAX)
}

/// Maps a header's variables through `map` (local id → other id).
pub(crate) fn remap_header(h: &Header, map: &[VarId]) -> Header {
    let r = |v: Val| match v {
        Val::Const(_) => v,
        Val::Var(id) => Val::Var(map[id as usize]),
    };
    Header {
        in_port: h.in_port,
        tags: h.tags.iter().map(|t| r(*t)).collect(),
        tail: h.tail.map(|t| map[t as usize]),
        tun_id: r(h.tun_id),
        tun_src: r(h.tun_src),
        tun_dst: h.tun_dst,
        metadata: h.metadata,
        eth_dst: r(h.eth_dst),
    }
}

/// Transfers the final variable states of a canonical exploration branch
/// (`local`, over canonical ids; ids past `map.len()` are variables the
/// branch created) onto `cond`. Returns the full local → `cond` id map.
///
/// Sound because each of `cond`'s variables named by `map` had exactly the
/// canonical state the branch started from, and a branch only refines.
pub(crate) fn apply_branch(cond: &mut Cond, map: &[VarId], local: &[VarState]) -> VarMap {
    let mut full = VarMap::from_slice(map);
    for _ in map.len()..local.len() {
        let id = cond.fresh(VarState::Tail(Tail::Unknown));
        full.push(id);
    }
    for (i, st) in local.iter().enumerate() {
        let st = match st {
            VarState::Tail(Tail::Cons { tag, rest }) => VarState::Tail(Tail::Cons {
                tag: full[*tag as usize],
                rest: full[*rest as usize],
            }),
            other => other.clone(),
        };
        cond.set(full[i], st);
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(n: u64) -> PortNo {
        PortNo::new(n).unwrap()
    }

    fn any_state() -> State {
        let mut c = Cond::default();
        let tail = c.fresh(VarState::Tail(Tail::Unknown));
        let mac = c.fresh(VarState::Value(Field::EthDst, Domain::Except(vec![])));
        State {
            h: Header {
                in_port: port(1),
                tags: Tags::new(),
                tail: Some(tail),
                tun_id: Val::Const(0),
                tun_src: Val::Const(0),
                tun_dst: 0,
                metadata: 0,
                eth_dst: Val::Var(mac),
            },
            c,
        }
    }

    #[test]
    fn splitting_a_value_partitions_it() {
        let s = any_state();
        let Test::Split(parts) = s.test_eq(s.h.eth_dst, 7) else {
            panic!("no split")
        };
        assert_eq!(parts.len(), 2);
        let (eq, ne) = (&parts[0].0, &parts[1].0);
        assert_eq!(eq.h.eth_dst, Val::Const(7));
        // The other branch can no longer be 7, and its witness is not 7.
        assert!(matches!(ne.test_eq(ne.h.eth_dst, 7), Test::False));
        assert_ne!(ne.c.witness(ne.h.eth_dst), 7);
        // Still free for other constants.
        assert!(matches!(ne.test_eq(ne.h.eth_dst, 8), Test::Split(_)));
    }

    #[test]
    fn a_vlan_range_can_be_exhausted() {
        let mut c = Cond::default();
        let all_but_one: Vec<u64> = (1..4094).collect();
        let v = c.fresh(VarState::Value(Field::Vlan, Domain::Except(all_but_one)));
        // Only 4094 is left: testing it cannot fail.
        assert_eq!(c.split_var(v, 4094).1, None);
        assert_eq!(c.witness(Val::Var(v)), 4094);
        // Out-of-range constants never match.
        assert!(c.split_var(v, 5000).0.is_none());
    }

    #[test]
    fn unknown_tails_split_into_shapes() {
        let s = any_state();
        let Outer::Unknown(t) = s.outer() else {
            panic!()
        };
        let (empty, cons) = s.split_tail(t);
        assert_eq!(empty.outer(), Outer::Untagged);
        assert!(matches!(cons.outer(), Outer::Tag(Val::Var(_))));
        assert!(
            cons.h.tail.is_some(),
            "below the new tag the stack is still unknown"
        );
        let deep = cons.resolve_depth(2);
        assert_eq!(deep.len(), 2);
        assert_eq!(
            deep.iter().map(|s| s.h.tags.len()).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[test]
    fn canonical_forms_ignore_variable_names() {
        let a = any_state();
        let mut b = any_state();
        // Same shape, different numbering: an unused variable first.
        b.c.vars.insert(0, VarState::Tail(Tail::Empty));
        b.h.tail = Some(1);
        b.h.eth_dst = Val::Var(2);
        let (ca, _) = Canon::of(&a);
        let (cb, map) = Canon::of(&b);
        assert_eq!(ca, cb);
        assert_eq!(map.as_slice(), &[1, 2]);
    }

    #[test]
    fn branches_transfer_back_through_the_map() {
        let mut trace = any_state();
        let (canon, map) = Canon::of(&trace);
        let local = canon.state();
        let Outer::Unknown(t) = local.outer() else {
            panic!()
        };
        let (_, cons) = local.split_tail(t);
        let full = apply_branch(&mut trace.c, &map, &cons.c.vars);
        trace.normalize();
        assert_eq!(trace.h.tags.len(), 1);
        assert_eq!(full.len(), cons.c.vars.len());
        assert_eq!(trace.c.witness_stack(&trace.h.tags, trace.h.tail).len(), 1);
    }
}
