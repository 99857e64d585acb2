//! `weftctl plan`: compile an intent, verify isolation, show per-switch
//! entry counts or the delta from an older intent.

mod render;
mod verdict;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use weft_model::{Intent, SwitchId, Topology};
use weft_pipeline::{CompiledFabric, FabricDelta, SwitchDelta, lower_fabric};
use weft_rules::{FabricRules, Rule, SwitchRules};

use crate::exit::Outcome;
use crate::load;
use crate::out::Out;

pub const PLAN_HELP: &str = "\
Compiles the intent into pipeline entries for every switch, lowers them to
OpenFlow rule tables and proves that no frame can cross from one operator's
ports to another's. With --from, shows what changes on each switch; with
--rules, verifies the given rule tables (e.g. read back from the switches,
in the format `-o rules` prints) instead of the compiled ones.

Exit codes:
  0  the fabric is proven isolated
  1  invalid input (every diagnostic is printed)
  2  usage error
  3  isolation violation: counterexamples are printed (header, ingress port,
     hop-by-hop path, operators involved)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// Canonical JSON (sorted keys, stable order) for scripts; with --from it
    /// includes the added and removed entries.
    Json,
    /// The rule tables that were verified, as canonical JSON (the format
    /// --rules reads).
    Rules,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Topology file.
    #[arg(long, value_name = "FILE")]
    topology: PathBuf,
    /// Intent file to plan.
    #[arg(long, value_name = "FILE")]
    intent: PathBuf,
    /// The intent in force now: show the per-switch delta from it to --intent.
    #[arg(long, value_name = "OLD_INTENT")]
    from: Option<PathBuf>,
    /// Verify these rule tables (JSON, as `-o rules` prints them) instead of
    /// the compiled ones.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// Rule tables as a file: by switch name, so a file stays meaningful when
/// switches are added to the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    pub fabric: String,
    pub switches: BTreeMap<String, SwitchRules>,
}

impl RulesFile {
    pub fn from_rules(topology: &Topology, rules: &FabricRules) -> RulesFile {
        RulesFile {
            fabric: topology.name.to_string(),
            switches: rules
                .switches
                .iter()
                .map(|(id, r)| (topology.switch(*id).name.to_string(), r.clone()))
                .collect(),
        }
    }

    /// Resolves switch names; the rules of each switch are re-sorted, so a
    /// hand-edited file need not keep the canonical order.
    fn into_rules(self, topology: &Topology) -> Result<FabricRules, String> {
        if self.fabric != topology.name.as_str() {
            return Err(format!(
                "the rules are for fabric {:?}, the topology is {:?}",
                self.fabric,
                topology.name.as_str()
            ));
        }
        let mut switches = BTreeMap::new();
        for (name, rules) in self.switches {
            let id = topology
                .switch_id(&name)
                .ok_or_else(|| format!("unknown switch {name:?} in the rules"))?;
            switches.insert(id, SwitchRules::new(rules.rules().to_vec()));
        }
        Ok(FabricRules { switches })
    }
}

/// Everything a plan shows, computed once and rendered as table or JSON.
#[derive(Debug)]
pub struct Plan<'a> {
    pub topology: &'a Topology,
    pub intent: &'a Intent,
    pub compiled: CompiledFabric,
    /// The rules verified: compiled and lowered, or from `--rules`.
    pub rules: FabricRules,
    pub rules_source: Option<&'a Path>,
    /// Switches whose given rules differ from the compiled ones (`--rules`).
    pub differs_from_compiled: Vec<SwitchId>,
    pub delta: Option<PlanDelta>,
    pub verdict: verdict::Verdict,
}

/// What changes from `--from` to `--intent`.
#[derive(Debug)]
pub struct PlanDelta {
    pub entries: FabricDelta,
    /// Per switch: rules removed, rules added.
    pub rules: BTreeMap<SwitchId, (usize, usize)>,
}

pub fn run(args: &PlanArgs, out: &mut Out) -> anyhow::Result<Outcome> {
    let Some(topology) = load::topology(&args.topology, out)? else {
        return Ok(Outcome::Invalid);
    };
    let Some(intent) = load::intent(&args.intent, &topology, out)? else {
        return Ok(Outcome::Invalid);
    };
    let old = match &args.from {
        None => None,
        Some(path) => match load::intent(path, &topology, out)? {
            Some(old) => Some(old),
            None => return Ok(Outcome::Invalid),
        },
    };

    let compiled = weft_pipeline::compile(&topology, &intent);
    let lowered = lower_fabric(&topology, &compiled);
    let (rules, differs_from_compiled) = match &args.rules {
        None => (lowered, Vec::new()),
        Some(path) => match read_rules(path, &topology, out)? {
            None => return Ok(Outcome::Invalid),
            Some(given) => {
                let differs = differing_switches(&lowered, &given);
                (given, differs)
            }
        },
    };
    let delta = old.map(|old| plan_delta(&topology, &old, &compiled));
    let verdict = verdict::verify(&topology, &intent, &rules);
    let outcome = if verdict.isolated {
        Outcome::Ok
    } else {
        Outcome::Violation
    };
    let plan = Plan {
        topology: &topology,
        intent: &intent,
        compiled,
        rules,
        rules_source: args.rules.as_deref(),
        differs_from_compiled,
        delta,
        verdict,
    };
    match args.output {
        Format::Table => out.data(&render::table(&plan))?,
        Format::Json => out.data(&render::json(&plan)?)?,
        Format::Rules => {
            out.data(&crate::json::to_canonical(&RulesFile::from_rules(
                &topology,
                &plan.rules,
            ))?)?;
            if !plan.verdict.isolated {
                out.error(&render::verdict_text(&plan))?;
            }
        }
    }
    Ok(outcome)
}

fn read_rules(
    path: &Path,
    topology: &Topology,
    out: &mut Out,
) -> std::io::Result<Option<FabricRules>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            out.error(&format!("error: cannot read {}: {e}", path.display()))?;
            return Ok(None);
        }
    };
    let parsed: Result<RulesFile, String> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()));
    match parsed.and_then(|f| {
        f.into_rules(topology)
            .map_err(|e| format!("{}: {e}", path.display()))
    }) {
        Ok(rules) => Ok(Some(rules)),
        Err(e) => {
            out.error(&format!("error: invalid rules file {e}"))?;
            Ok(None)
        }
    }
}

fn differing_switches(expected: &FabricRules, given: &FabricRules) -> Vec<SwitchId> {
    let empty = SwitchRules::default();
    let ids: std::collections::BTreeSet<SwitchId> = expected
        .switches
        .keys()
        .chain(given.switches.keys())
        .copied()
        .collect();
    ids.into_iter()
        .filter(|id| {
            expected.switches.get(id).unwrap_or(&empty) != given.switches.get(id).unwrap_or(&empty)
        })
        .collect()
}

fn plan_delta(topology: &Topology, old: &Intent, compiled: &CompiledFabric) -> PlanDelta {
    let old_compiled = weft_pipeline::compile(topology, old);
    let entries = FabricDelta::between(&old_compiled, compiled);
    let rules = entries
        .switches
        .keys()
        .map(|&id| {
            let before = weft_pipeline::lower_switch(topology, id, old_compiled.entries(id));
            let after = weft_pipeline::lower_switch(topology, id, compiled.entries(id));
            (id, rule_changes(before.rules(), after.rules()))
        })
        .collect();
    PlanDelta { entries, rules }
}

/// (removed, added) between two sorted rule lists.
fn rule_changes(old: &[Rule], new: &[Rule]) -> (usize, usize) {
    let old: std::collections::BTreeSet<&Rule> = old.iter().collect();
    let new: std::collections::BTreeSet<&Rule> = new.iter().collect();
    (old.difference(&new).count(), new.difference(&old).count())
}

/// An empty delta for switches that do not change, for uniform rendering.
pub fn no_change() -> &'static SwitchDelta {
    static EMPTY: std::sync::OnceLock<SwitchDelta> = std::sync::OnceLock::new();
    EMPTY.get_or_init(SwitchDelta::default)
}
