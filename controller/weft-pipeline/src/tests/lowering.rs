use weft_model::spec::EncapsulationSpec;
use weft_model::{AttachMode, Intent, VXLAN_TUNNEL_PORT};
use weft_rules::{Action, Cookie, Match, OutPort, Rule, VlanMatch};

use super::{key, pn, sw, vtep, vxlan_fixture};
use crate::lower::{self, TABLE_CLASSIFY, TABLE_FLOOD, TABLE_TAG_GUARD, priority};
use crate::testkit::*;
use crate::{Compiler, compile, lower_delta, lower_switch};

#[test]
fn leaf_rules_classify_guard_and_flood() {
    let (t, mut i) = vxlan_fixture();
    network(&mut i, &t, 0, "a");
    attach(&mut i, &t, 0, "a", key(&t, "leaf1/s1"), AttachMode::Access);
    attach(
        &mut i,
        &t,
        0,
        "a",
        key(&t, "leaf1/s2"),
        AttachMode::Tagged(vlan(7)),
    );
    attach(&mut i, &t, 0, "a", key(&t, "leaf2/s1"), AttachMode::Access);
    let f = compile(&t, &i);
    let leaf1 = sw(&t, "leaf1");
    let rules = lower_switch(&t, leaf1, f.entries(leaf1));
    let v = vni(1000);
    let cookie = Cookie::for_vni(1000);

    let classify = rules.table(TABLE_CLASSIFY);
    assert_eq!(
        classify.len(),
        6,
        "two inner-tag guards, access, tagged, tunnel, default: {classify:#?}"
    );
    // The tagged port's second-tag drops come first (higher priority).
    for (r, tpid) in classify[..2].iter().zip([0x8100, 0x88a8]) {
        assert_eq!(r.priority, priority::INNER_TAG_GUARD);
        assert_eq!(
            (r.matches.in_port, r.matches.vlan, r.matches.eth_type),
            (Some(pn(2)), VlanMatch::Vid(vlan(7)), Some(tpid))
        );
        assert!(r.actions.is_empty() && r.goto.is_none(), "drop");
        assert_eq!(r.cookie, cookie);
    }
    let tagged = classify
        .iter()
        .find(|r| r.matches.vlan == VlanMatch::Vid(vlan(7)) && r.matches.eth_type.is_none())
        .expect("tagged classification");
    assert_eq!(tagged.matches.in_port, Some(pn(2)));
    assert_eq!(tagged.actions, vec![Action::PopVlan]);
    assert_eq!(
        (tagged.write_metadata, tagged.goto),
        (Some(1000), Some(TABLE_TAG_GUARD))
    );
    assert_eq!(tagged.cookie, cookie);
    let tunnel = classify
        .iter()
        .find(|r| r.matches.in_port == Some(VXLAN_TUNNEL_PORT))
        .unwrap();
    assert_eq!(tunnel.matches.tun_id, Some(1000));
    assert_eq!(tunnel.matches.tun_src, Some(vtep(&t, "leaf2")));
    let last = classify.last().unwrap();
    assert_eq!(
        (last.priority, &last.matches, &last.actions, last.goto),
        (priority::DEFAULT, &Match::default(), &vec![], None)
    );

    let guard = rules.table(TABLE_TAG_GUARD);
    assert_eq!(guard[0].matches.vlan, VlanMatch::AnyTagged);
    assert!(
        guard[0].actions.is_empty() && guard[0].goto.is_none(),
        "tagged leftovers drop"
    );
    assert_eq!(guard[1].goto, Some(TABLE_FLOOD));

    let flood = rules.table(TABLE_FLOOD);
    assert_eq!(flood.len(), 3);
    let split = &flood[0];
    assert_eq!(split.priority, priority::FLOOD_FROM_TUNNEL);
    assert_eq!(split.matches.in_port, Some(VXLAN_TUNNEL_PORT));
    let local = vec![
        Action::Output(OutPort::Port(pn(1))),
        Action::PushVlan(vlan(7)),
        Action::Output(OutPort::Port(pn(2))),
        Action::PopVlan,
    ];
    assert_eq!(split.actions, local, "split horizon: local ports only");
    let all = &flood[1];
    assert_eq!(
        all.matches,
        Match {
            metadata: Some(u64::from(v.get())),
            ..Match::default()
        }
    );
    let mut expected = local.clone();
    expected.extend([
        Action::SetTunnelId(1000),
        Action::SetTunnelDst(vtep(&t, "leaf2")),
        Action::Output(OutPort::Port(VXLAN_TUNNEL_PORT)),
    ]);
    assert_eq!(all.actions, expected);
    assert_eq!(flood[2].priority, priority::DEFAULT);
    assert_eq!(
        lower_switch(&t, leaf1, f.entries(leaf1)),
        rules,
        "deterministic"
    );
}

#[test]
fn programmed_switches() {
    let (t, i) = vxlan_fixture();
    let f = compile(&t, &i);
    // An empty leaf still drops everything; a vxlan spine is left alone.
    let leaf3 = lower_switch(&t, sw(&t, "leaf3"), f.entries(sw(&t, "leaf3")));
    assert_eq!(
        leaf3,
        weft_rules::SwitchRules::new(lower::base_rules().into())
    );
    assert!(lower_switch(&t, sw(&t, "spine1"), &[]).is_empty());
    let fabric = lower::lower_fabric(&t, &f);
    assert!(!fabric.switches.contains_key(&sw(&t, "spine1")));
    assert_eq!(fabric.switches.len(), 3);

    let tv = topology(EncapsulationSpec::Vlan, 2, 1, 2);
    let mut iv = Intent::default();
    operator(&mut iv, &tv, 0, &server_ports(&tv));
    network(&mut iv, &tv, 0, "a");
    attach(
        &mut iv,
        &tv,
        0,
        "a",
        key(&tv, "leaf1/s1"),
        AttachMode::Access,
    );
    attach(
        &mut iv,
        &tv,
        0,
        "a",
        key(&tv, "leaf2/s1"),
        AttachMode::Access,
    );
    let fv = compile(&tv, &iv);
    let spine = sw(&tv, "spine1");
    let rules = lower_switch(&tv, spine, fv.entries(spine));
    let flood: Vec<&Rule> = rules
        .table(TABLE_FLOOD)
        .iter()
        .filter(|r| r.priority == priority::FLOOD)
        .collect();
    assert_eq!(
        flood[0].actions,
        vec![
            Action::PushVlan(vlan(100)),
            Action::Output(OutPort::Port(pn(1))),
            Action::PopVlan,
            Action::PushVlan(vlan(100)),
            Action::Output(OutPort::Port(pn(2))),
            Action::PopVlan,
        ]
    );
    assert!(
        rules
            .table(TABLE_FLOOD)
            .iter()
            .all(|r| r.priority != priority::FLOOD_FROM_TUNNEL)
    );
}

#[test]
fn rule_delta_matches_full_relowering() {
    let (t, mut i) = vxlan_fixture();
    network(&mut i, &t, 0, "a");
    attach(&mut i, &t, 0, "a", key(&t, "leaf1/s1"), AttachMode::Access);
    let mut c = Compiler::new(&t, &i);
    type Step<'a> = Box<dyn Fn(&mut Intent) -> Vec<weft_model::Effect> + 'a>;
    let steps: Vec<Step<'_>> = vec![
        Box::new(|i| attach(i, &t, 0, "a", key(&t, "leaf2/s1"), AttachMode::Access)),
        Box::new(|i| {
            attach(
                i,
                &t,
                0,
                "a",
                key(&t, "leaf1/s2"),
                AttachMode::Tagged(vlan(9)),
            )
        }),
        Box::new(|i| {
            must(
                i,
                &t,
                weft_model::IntentChange::DeleteNetwork {
                    operator: name("op0"),
                    name: name("a"),
                },
            )
        }),
    ];
    for step in steps {
        let before: Vec<_> = t
            .switch_ids()
            .map(|s| lower_switch(&t, s, c.entries(s)))
            .collect();
        let fx = step(&mut i);
        let d = c.apply(&t, &fx);
        assert!(!d.is_empty());
        for (s, sd) in &d.switches {
            let rd = lower_delta(&t, *s, c.entries(*s), sd);
            let mut rules = before[s.index()].clone();
            rd.apply_to(&mut rules);
            assert_eq!(rules, lower_switch(&t, *s, c.entries(*s)));
            for r in &rd.removed {
                assert!(
                    before[s.index()].rules().contains(r),
                    "removed rule was installed: {r:?}"
                );
            }
        }
    }
}

#[test]
fn lowering_does_not_depend_on_entry_order() {
    let (t, mut i) = vxlan_fixture();
    network(&mut i, &t, 0, "a");
    attach(&mut i, &t, 0, "a", key(&t, "leaf1/s1"), AttachMode::Access);
    attach(
        &mut i,
        &t,
        0,
        "a",
        key(&t, "leaf1/s2"),
        AttachMode::Tagged(vlan(4)),
    );
    attach(&mut i, &t, 0, "a", key(&t, "leaf2/s1"), AttachMode::Access);
    let f = compile(&t, &i);
    let leaf1 = sw(&t, "leaf1");
    let mut shuffled = f.entries(leaf1).to_vec();
    shuffled.reverse();
    shuffled.push(shuffled[0]);
    assert_eq!(
        lower_switch(&t, leaf1, &shuffled),
        lower_switch(&t, leaf1, f.entries(leaf1))
    );
}
