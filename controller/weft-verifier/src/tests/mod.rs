//! Unit tests on hand-built tiny fabrics: two leaves and a spine, three
//! operators' worth of ports, rules written out here (independently of the
//! compiler) in the shape `docs/pipeline.md` describes.

mod faults;
mod incremental;

use std::net::Ipv4Addr;

use weft_model::spec::{
    AttachModeSpec, AttachmentSpec, DataplaneSpec, EncapsulationSpec, FabricSpec, IntentSpec,
    LeaseSpec, LinkSpec, NetworkSpec, OperatorSpec, PortRoleSpec, PortSpec, SwitchRoleSpec,
    SwitchSpec, TopologySpec,
};
use weft_model::{
    AttachMode, Encapsulation, Intent, PortNo, SwitchId, Topology, VXLAN_TUNNEL_PORT, VlanId,
};
use weft_rules::{Action, Cookie, FabricRules, Match, OutPort, Rule, SwitchRules, VlanMatch};

use crate::{Finding, FindingClass, FindingKind, VerificationReport, verify};

pub(crate) fn port(n: u64) -> PortNo {
    PortNo::new(n).unwrap()
}

pub(crate) fn vlan(n: u64) -> VlanId {
    VlanId::new(n).unwrap()
}

pub(crate) const S1: u64 = 1;
pub(crate) const S2: u64 = 2;
pub(crate) const S3: u64 = 3;
pub(crate) const UPLINK: u64 = 4;

pub(crate) fn vtep(leaf: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, leaf)
}

/// leaf1, leaf2 (ports s1 s2 s3 server, u1 uplink) and spine1 (d1, d2).
pub(crate) fn topology(encap: EncapsulationSpec) -> Topology {
    let vx = encap == EncapsulationSpec::Vxlan;
    let sw = |name: &str, role, ports: &[(&str, PortRoleSpec)], vtep: Option<String>| SwitchSpec {
        name: name.to_owned(),
        rack: None,
        role,
        dataplane: DataplaneSpec::Ovs,
        vtep,
        management: None,
        ports: ports
            .iter()
            .map(|(n, r)| PortSpec {
                name: (*n).to_owned(),
                number: None,
                role: *r,
            })
            .collect(),
    };
    let leaf_ports = [
        ("s1", PortRoleSpec::Server),
        ("s2", PortRoleSpec::Server),
        ("s3", PortRoleSpec::Server),
        ("u1", PortRoleSpec::Fabric),
    ];
    let spec = TopologySpec {
        fabric: FabricSpec {
            name: "tiny".to_owned(),
            encapsulation: encap,
            reserved: Default::default(),
        },
        sites: vec![],
        switches: vec![
            sw(
                "leaf1",
                SwitchRoleSpec::Leaf,
                &leaf_ports,
                vx.then(|| vtep(1).to_string()),
            ),
            sw(
                "leaf2",
                SwitchRoleSpec::Leaf,
                &leaf_ports,
                vx.then(|| vtep(2).to_string()),
            ),
            sw(
                "spine1",
                SwitchRoleSpec::Spine,
                &[("d1", PortRoleSpec::Fabric), ("d2", PortRoleSpec::Fabric)],
                None,
            ),
        ],
        servers: vec![],
        links: vec![
            LinkSpec {
                a: "leaf1/u1".to_owned(),
                b: "spine1/d1".to_owned(),
            },
            LinkSpec {
                a: "leaf2/u1".to_owned(),
                b: "spine1/d2".to_owned(),
            },
        ],
    };
    Topology::from_spec(&spec).unwrap()
}

fn attach(port: &str, mode: AttachModeSpec) -> AttachmentSpec {
    AttachmentSpec {
        port: port.to_owned(),
        mode,
    }
}

/// Operator `a`: `web` (vni 1001, fabric vlan 101) on leaf1/s1 and
/// leaf2/s1, `db` (1002, 102) on leaf1/s3 tagged 10 and leaf2/s1 tagged
/// 20. Operator `b`: `web`
/// (2001, 201) on leaf1/s2 and leaf2/s2. leaf2/s3 is leased to nobody.
pub(crate) fn intent(topo: &Topology) -> Intent {
    let vl = topo.encapsulation == Encapsulation::Vlan;
    let net = |name: &str, vni: u64, atts: Vec<AttachmentSpec>| NetworkSpec {
        name: name.to_owned(),
        vni: Some(vni),
        fabric_vlan: vl.then_some(vni % 1000 + (vni / 1000) * 100),
        attachments: atts,
    };
    let op = |name: &str, ports: &[&str], vni: &str, vlans: &str, networks| OperatorSpec {
        name: name.to_owned(),
        display_name: None,
        lease: Some(LeaseSpec {
            ports: ports.iter().map(|p| (*p).to_owned()).collect(),
            vni: vni.to_owned(),
            vlan: vl.then(|| vlans.to_owned()),
            quotas: Default::default(),
        }),
        networks,
    };
    let spec = IntentSpec {
        operators: vec![
            op(
                "a",
                &["leaf1/s1", "leaf2/s1", "leaf1/s3"],
                "1000-1099",
                "100-199",
                vec![
                    net(
                        "web",
                        1001,
                        vec![
                            attach("leaf1/s1", AttachModeSpec::Access),
                            attach("leaf2/s1", AttachModeSpec::Access),
                        ],
                    ),
                    net(
                        "db",
                        1002,
                        vec![
                            attach("leaf1/s3", AttachModeSpec::Tagged(10)),
                            attach("leaf2/s1", AttachModeSpec::Tagged(20)),
                        ],
                    ),
                ],
            ),
            op(
                "b",
                &["leaf1/s2", "leaf2/s2"],
                "2000-2099",
                "200-299",
                vec![net(
                    "web",
                    2001,
                    vec![
                        attach("leaf1/s2", AttachModeSpec::Access),
                        attach("leaf2/s2", AttachModeSpec::Access),
                    ],
                )],
            ),
        ],
    };
    Intent::from_spec(topo, &spec).unwrap()
}

pub(crate) fn rule(table: u8, priority: u16, matches: Match, actions: Vec<Action>) -> Rule {
    Rule {
        table,
        priority,
        matches,
        actions,
        write_metadata: None,
        goto: None,
        cookie: Cookie::for_vni(0),
    }
}

pub(crate) fn classify(matches: Match, pop: bool, vni: u32) -> Rule {
    Rule {
        write_metadata: Some(u64::from(vni)),
        goto: Some(1),
        cookie: Cookie::for_vni(vni),
        ..rule(
            0,
            1000,
            matches,
            if pop { vec![Action::PopVlan] } else { vec![] },
        )
    }
}

pub(crate) fn out(p: u64) -> Action {
    Action::Output(OutPort::Port(port(p)))
}

pub(crate) fn tagged_out(p: u64, tag: VlanId) -> [Action; 3] {
    [Action::PushVlan(tag), out(p), Action::PopVlan]
}

pub(crate) fn on_port(p: u64, vlan: VlanMatch) -> Match {
    Match {
        in_port: Some(port(p)),
        vlan,
        ..Match::default()
    }
}

fn base() -> Vec<Rule> {
    vec![
        rule(0, 0, Match::default(), vec![]),
        rule(
            1,
            1000,
            Match {
                vlan: VlanMatch::AnyTagged,
                ..Match::default()
            },
            vec![],
        ),
        Rule {
            goto: Some(2),
            ..rule(1, 0, Match::default(), vec![])
        },
        rule(2, 0, Match::default(), vec![]),
    ]
}

/// The rules Weft means for this intent, written out per leaf (and spine
/// in vlan fabrics) the way `docs/pipeline.md` lays them out.
pub(crate) fn good_rules(topo: &Topology, intent: &Intent) -> FabricRules {
    let vl = topo.encapsulation == Encapsulation::Vlan;
    let mut fabric = FabricRules::default();
    for sw in topo.switch_ids() {
        let s = topo.switch(sw);
        let mut rules = base();
        if s.role == weft_model::SwitchRole::Spine {
            if !vl {
                continue;
            }
            for (_, net) in intent.operators.values().flat_map(|o| o.networks.iter()) {
                let fv = net.fabric_vlan.unwrap();
                let leaves: Vec<SwitchId> = net.attachments.keys().map(|p| p.switch).collect();
                let spans = leaves.iter().any(|l| *l != leaves[0]);
                if !spans {
                    continue;
                }
                let vni = net.vni.get();
                let mut acts = Vec::new();
                for d in [1, 2] {
                    rules.push(classify(on_port(d, VlanMatch::Vid(fv)), true, vni));
                    acts.extend(tagged_out(d, fv));
                }
                rules.push(Rule {
                    cookie: Cookie::for_vni(vni),
                    ..rule(2, 1000, meta(vni), acts)
                });
            }
            fabric.switches.insert(sw, SwitchRules::new(rules));
            continue;
        }
        for (_, net) in intent.operators.values().flat_map(|o| o.networks.iter()) {
            let vni = net.vni.get();
            let local: Vec<_> = net
                .attachments
                .iter()
                .filter(|(p, _)| p.switch == sw)
                .collect();
            if local.is_empty() {
                continue;
            }
            let remotes: Vec<SwitchId> = {
                let mut r: Vec<SwitchId> = net
                    .attachments
                    .keys()
                    .map(|p| p.switch)
                    .filter(|l| *l != sw)
                    .collect();
                r.dedup();
                r
            };
            let mut acts = Vec::new();
            for (p, mode) in &local {
                match mode {
                    AttachMode::Access => {
                        rules.push(classify(
                            on_port(u64::from(p.port.get()), VlanMatch::Untagged),
                            false,
                            vni,
                        ));
                        acts.push(out(u64::from(p.port.get())));
                    }
                    AttachMode::Tagged(t) => {
                        rules.push(classify(
                            on_port(u64::from(p.port.get()), VlanMatch::Vid(*t)),
                            true,
                            vni,
                        ));
                        acts.extend(tagged_out(u64::from(p.port.get()), *t));
                    }
                }
            }
            let local_acts = acts.clone();
            if !remotes.is_empty() {
                if vl {
                    let fv = net.fabric_vlan.unwrap();
                    rules.push(classify(on_port(UPLINK, VlanMatch::Vid(fv)), true, vni));
                    acts.extend(tagged_out(UPLINK, fv));
                } else {
                    acts.push(Action::SetTunnelId(u64::from(vni)));
                    for r in &remotes {
                        let a = topo.switch(*r).vtep.unwrap();
                        let m = Match {
                            in_port: Some(VXLAN_TUNNEL_PORT),
                            tun_id: Some(u64::from(vni)),
                            tun_src: Some(a),
                            ..Match::default()
                        };
                        rules.push(classify(m, false, vni));
                        acts.push(Action::SetTunnelDst(a));
                        acts.push(Action::Output(OutPort::Port(VXLAN_TUNNEL_PORT)));
                    }
                    let m = Match {
                        in_port: Some(VXLAN_TUNNEL_PORT),
                        ..meta(vni)
                    };
                    rules.push(Rule {
                        cookie: Cookie::for_vni(vni),
                        ..rule(2, 2000, m, local_acts)
                    });
                }
            }
            rules.push(Rule {
                cookie: Cookie::for_vni(vni),
                ..rule(2, 1000, meta(vni), acts)
            });
        }
        fabric.switches.insert(sw, SwitchRules::new(rules));
    }
    fabric
}

pub(crate) fn meta(vni: u32) -> Match {
    Match {
        metadata: Some(u64::from(vni)),
        ..Match::default()
    }
}

pub(crate) struct Fixture {
    pub topo: Topology,
    pub intent: Intent,
    pub rules: FabricRules,
}

pub(crate) fn fixture(encap: EncapsulationSpec) -> Fixture {
    let topo = topology(encap);
    let intent = intent(&topo);
    let rules = good_rules(&topo, &intent);
    Fixture {
        topo,
        intent,
        rules,
    }
}

impl Fixture {
    pub(crate) fn id(&self, name: &str) -> SwitchId {
        self.topo.switch_id(name).unwrap()
    }

    /// Rewrites one switch's rules.
    pub(crate) fn edit(&mut self, switch: &str, f: impl FnOnce(&mut Vec<Rule>)) {
        let id = self.id(switch);
        let mut rules = self
            .rules
            .switches
            .get(&id)
            .map(|r| r.rules().to_vec())
            .unwrap_or_default();
        f(&mut rules);
        self.rules.switches.insert(id, SwitchRules::new(rules));
    }

    pub(crate) fn verify(&self) -> VerificationReport {
        verify(&self.topo, &self.intent, &self.rules)
    }
}

pub(crate) fn kinds(r: &VerificationReport) -> Vec<FindingKind> {
    let mut k: Vec<FindingKind> = r.findings.iter().map(|f| f.kind).collect();
    k.dedup();
    k
}

pub(crate) fn first(r: &VerificationReport, kind: FindingKind) -> &Finding {
    r.findings
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in\n{r}"))
}

#[test]
fn correct_tables_are_isolated_in_both_modes() {
    for encap in [EncapsulationSpec::Vxlan, EncapsulationSpec::Vlan] {
        let fx = fixture(encap);
        let report = fx.verify();
        assert!(report.findings.is_empty(), "{encap:?}:\n{report}");
        assert!(report.is_isolated());
        // Every server port is an ingress point; vxlan adds two tunnel ports.
        let points = if encap == EncapsulationSpec::Vxlan {
            8
        } else {
            6
        };
        assert_eq!(report.stats.ingress_points, points);
        assert!(report.stats.ingress_classes > points * 3);
    }
}

#[test]
fn no_rules_at_all_is_isolated_but_drifts() {
    let mut fx = fixture(EncapsulationSpec::Vxlan);
    fx.rules = FabricRules::default();
    let report = fx.verify();
    assert!(report.is_isolated(), "{report}");
    assert_eq!(kinds(&report), vec![FindingKind::Unreachable]);
    // Each of the three networks has two members that cannot reach each other.
    assert_eq!(report.count(FindingClass::Drift), 6);
}

#[test]
fn reports_are_deterministic_and_serialize() {
    let mut fx = fixture(EncapsulationSpec::Vxlan);
    fx.edit("leaf1", |r| {
        r.push(rule(0, 60000, on_port(S1, VlanMatch::Any), vec![out(S2)]))
    });
    let a = serde_json::to_string(&fx.verify()).unwrap();
    let b = serde_json::to_string(&fx.verify()).unwrap();
    assert_eq!(a, b);
    assert!(a.contains("\"class\":\"leak\""), "{a}");
    assert!(a.contains("\"kind\":\"cross-operator-delivery\""), "{a}");
}
