//! Policy checks: each rule of the isolation invariant, with the findings
//! that break it. Every non-drift finding lands in exactly one check
//! (`other` takes what no named check claims); drift findings go to the
//! drift section.

use std::collections::BTreeMap;

use weft_model::Intent;

use crate::build::indices;
use crate::model::{CheckVerdict, FindingClass, PolicyCheck, ReportFinding};

/// The named checks, in report order: (name, description, finding kinds).
const CHECKS: &[(&str, &str, &[&str])] = &[
    (
        "operators-isolated",
        "No frame of one operator is delivered at a port of another operator or at an unleased port.",
        &["cross-operator-delivery"],
    ),
    (
        "no-shared-vni",
        "No VNI or fabric VLAN is used by two operators: not in the intent, and no frame travels between switches under another operator's identifier.",
        &["foreign-id-on-wire"],
    ),
    (
        "access-ports-drop-tagged",
        "A frame with a tag its port is not attached with (any tag on an access port) is dropped.",
        &["tag-not-attached"],
    ),
    (
        "tagged-ports-drop-untagged",
        "An untagged frame on a port without an access attachment is dropped.",
        &["untagged-not-attached"],
    ),
    (
        "unleased-ports-drop-all",
        "Every frame from a port leased to nobody is dropped.",
        &["unleased-port-forwards"],
    ),
    (
        "double-tags-dropped",
        "A frame with two or more VLAN tags is dropped.",
        &["double-tagged"],
    ),
    (
        "tunnel-ingress-known-vteps",
        "A VXLAN packet is accepted only with a VNI that has members on the receiving leaf, from a member VTEP of that VNI.",
        &["tunnel-from-non-member", "tunnel-unknown-vni"],
    ),
    (
        "networks-deliver-correctly",
        "A frame is delivered only on its own network, with the tag the egress attachment expects.",
        &["wrong-network", "wrong-tag"],
    ),
];

const OTHER: (&str, &str) = (
    "other",
    "Everything else the verifier flags: identifiers on the wire that belong to no network, frames sent on the wrong carrier, beyond the network's members or out of the data plane, ambiguous or uninterpretable rules, loops.",
);

/// The policy section, from the findings and the intent.
pub(crate) fn policy_checks(intent: &Intent, findings: &[ReportFinding]) -> Vec<PolicyCheck> {
    let named = |kind: &str| CHECKS.iter().any(|(_, _, kinds)| kinds.contains(&kind));
    let mut out: Vec<PolicyCheck> = CHECKS
        .iter()
        .map(|&(check, description, kinds)| {
            let violations = if check == "no-shared-vni" {
                shared_identifiers(intent)
            } else {
                Vec::new()
            };
            make(
                check,
                description,
                indices(findings, |f| {
                    f.class != FindingClass::Drift && kinds.contains(&f.kind.as_str())
                }),
                violations,
            )
        })
        .collect();
    out.push(make(
        OTHER.0,
        OTHER.1,
        indices(findings, |f| {
            f.class != FindingClass::Drift && !named(f.kind.as_str())
        }),
        Vec::new(),
    ));
    out
}

fn make(
    check: &str,
    description: &str,
    findings: Vec<u64>,
    violations: Vec<String>,
) -> PolicyCheck {
    PolicyCheck {
        check: check.to_owned(),
        description: description.to_owned(),
        verdict: if findings.is_empty() && violations.is_empty() {
            CheckVerdict::Pass
        } else {
            CheckVerdict::Fail
        },
        findings,
        violations,
    }
}

/// VNIs and fabric VLANs that networks of two or more operators use.
/// Validated intents never have any; the check is stated over the intent
/// anyway so that the report says so rather than assumes it.
fn shared_identifiers(intent: &Intent) -> Vec<String> {
    let mut vnis: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut vlans: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for op in intent.operators.values() {
        for net in op.networks.values() {
            let who = format!("{}/{}", op.name, net.name);
            vnis.entry(net.vni.get()).or_default().push(who.clone());
            if let Some(v) = net.fabric_vlan {
                vlans.entry(v.get()).or_default().push(who);
            }
        }
    }
    let shared = |users: &[String]| {
        let mut owners: Vec<&str> = users.iter().filter_map(|u| u.split('/').next()).collect();
        owners.dedup();
        owners.len() > 1
    };
    let mut out = Vec::new();
    for (vni, users) in &vnis {
        if shared(users) {
            out.push(format!("VNI {vni} is used by {}", users.join(", ")));
        }
    }
    for (vlan, users) in &vlans {
        if shared(users) {
            out.push(format!(
                "fabric VLAN {vlan} is used by {}",
                users.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verifier_kind_has_exactly_one_home() {
        // Drift kinds go to the drift section; every other kind is claimed
        // by at most one named check (the rest fall to `other`).
        let mut seen = std::collections::BTreeSet::new();
        for (_, _, kinds) in CHECKS {
            for k in *kinds {
                assert!(seen.insert(*k), "{k} claimed twice");
            }
        }
        assert!(seen.contains("double-tagged"));
        assert!(!seen.contains("unreachable"));
    }
}
