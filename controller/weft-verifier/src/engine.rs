//! The verifier's state: fabric, policy, indexed rules, memo; the full
//! check; and the assembly of findings into a report.

use std::sync::Arc;

use weft_model::{Intent, SwitchId, Topology};
use weft_rules::FabricRules;

use crate::fabric::Fabric;
use crate::memo::Memo;
use crate::policy::{ClassDesc, Point, Policy};
use crate::report::{Finding, FindingKind, VerificationReport, VerifyStats};
use crate::tables::SwitchTables;
use crate::walk::{ClassResult, Env, Scratch, walk_class};

/// Knobs of a verification. The defaults suit audits of large fabrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Findings listed in a report; the rest are counted in
    /// [`VerifyStats::findings_omitted`]. A fabric that is badly broken can
    /// have millions; the first ones (in report order) say what is wrong.
    pub max_findings: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            max_findings: 10_000,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Engine {
    pub fabric: Fabric,
    pub policy: Policy,
    pub tables: Vec<SwitchTables>,
    pub memo: Memo,
    scratch: Scratch,
    /// Rules given for switch ids the topology does not have (ignored).
    pub stray_rules: usize,
}

impl Engine {
    pub(crate) fn new(
        topo: &Topology,
        intent: &Intent,
        rules: &FabricRules,
        track: bool,
    ) -> Engine {
        let fabric = Fabric::new(topo);
        let policy = Policy::new(&fabric, intent);
        let n = fabric.switches.len();
        let mut tables = vec![SwitchTables::default(); n];
        let mut stray_rules = 0;
        for (id, r) in &rules.switches {
            match tables.get_mut(id.index()) {
                Some(slot) => *slot = SwitchTables::new(r.rules()),
                None => stray_rules += r.len(),
            }
        }
        Engine {
            fabric,
            policy,
            tables,
            memo: Memo::new(n, track),
            scratch: Scratch::default(),
            stray_rules,
        }
    }

    /// Every ingress point, in report order: server ports, then tunnel ports.
    pub(crate) fn points(&self) -> Vec<Point> {
        let mut out: Vec<Point> = self.fabric.server_ports().map(Point::Server).collect();
        out.extend(
            self.fabric
                .ids()
                .filter(|&s| self.fabric.switch(s).has_tunnel_port())
                .map(Point::Tunnel),
        );
        out
    }

    pub(crate) fn classes(&self, point: Point) -> Vec<ClassDesc> {
        match point {
            Point::Server(p) => self.policy.server_classes(p),
            Point::Tunnel(s) => self.policy.tunnel_classes(&self.fabric, s),
        }
    }

    pub(crate) fn walk(&mut self, point: Point, desc: ClassDesc) -> ClassResult {
        let env = Env {
            fabric: &self.fabric,
            policy: &self.policy,
            tables: &self.tables,
        };
        walk_class(&env, &mut self.memo, &mut self.scratch, point, desc)
    }

    pub(crate) fn base_stats(&self, points: usize, classes: usize) -> VerifyStats {
        VerifyStats {
            switches: self.fabric.switches.len(),
            rules: self.tables.iter().map(SwitchTables::len).sum::<usize>() + self.stray_rules,
            ingress_points: points,
            ingress_classes: classes,
            switch_states: self.memo.live(),
            findings_total: 0,
            findings_omitted: 0,
        }
    }

    pub(crate) fn index_change(
        &mut self,
        switch: SwitchId,
        added: &[&weft_rules::Rule],
        removed: &[&weft_rules::Rule],
    ) {
        let t = &mut self.tables[switch.index()];
        for r in removed {
            t.remove(r);
        }
        for r in added {
            t.insert(&Arc::new((*r).clone()));
        }
    }
}

/// Orders findings (class, kind, then the order they were found in, which
/// follows ingress order), keeps one of each rule-level anomaly, and
/// applies the listing limit.
pub(crate) fn assemble<'a>(
    findings: impl Iterator<Item = &'a Finding>,
    omitted_in_classes: usize,
    mut stats: VerifyStats,
    options: &VerifyOptions,
) -> VerificationReport {
    let mut all: Vec<&Finding> = findings.collect();
    all.sort_by_key(|f| (f.class, f.kind));
    let mut seen = std::collections::HashSet::new();
    all.retain(|f| {
        // An ambiguous or uninterpretable rule is one problem, however many
        // classes reach it: report it once, with the first counterexample.
        !matches!(
            f.kind,
            FindingKind::Ambiguous | FindingKind::Uninterpretable
        ) || seen.insert((f.kind, f.summary.as_str()))
    });
    stats.findings_total = all.len() + omitted_in_classes;
    let listed = all.len().min(options.max_findings);
    stats.findings_omitted = stats.findings_total - listed;
    VerificationReport {
        findings: all.into_iter().take(listed).cloned().collect(),
        stats,
    }
}

/// Proves the isolation invariant of `docs/verifier.md` over `rules`, or
/// returns counterexamples. Switches absent from `rules` have no rules
/// (they drop everything).
pub fn verify(topo: &Topology, intent: &Intent, rules: &FabricRules) -> VerificationReport {
    verify_with(topo, intent, rules, &VerifyOptions::default())
}

/// [`verify`] with explicit options.
pub fn verify_with(
    topo: &Topology,
    intent: &Intent,
    rules: &FabricRules,
    options: &VerifyOptions,
) -> VerificationReport {
    let mut engine = Engine::new(topo, intent, rules, false);
    let points = engine.points();
    let mut results: Vec<ClassResult> = Vec::new();
    let mut classes = 0;
    for &point in &points {
        for desc in engine.classes(point) {
            classes += 1;
            let r = engine.walk(point, desc);
            if !r.findings.is_empty() || r.omitted > 0 {
                results.push(r);
            }
        }
    }
    let stats = engine.base_stats(points.len(), classes);
    drop(engine);
    let omitted = results.iter().map(|r| r.omitted).sum();
    assemble(
        results.iter().flat_map(|r| r.findings.iter()),
        omitted,
        stats,
        options,
    )
}
