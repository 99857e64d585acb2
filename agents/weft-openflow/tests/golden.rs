//! Golden tests: our bytes against the bytes a real Open vSwitch wrote or
//! answered (`tests/golden/README.md` says which command produced which
//! fixture).

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;

use weft_model::{AttachMode, PortNo, VlanId, Vni};
use weft_openflow::convert::match_from_oxm;
use weft_openflow::{
    BundleAdd, BundleControl, BundleCtrlType, FlowMod, FlowModCommand, Framer, Hello, Message,
    MultipartReplyBody, OFPBF_ATOMIC, OFPBF_ORDERED, OFPTT_ALL, OfpError, flow_mod_from_rule,
    from_hex, rule_from_flow_mod, rule_from_flow_stats,
};
use weft_pipeline::{PipelineEntry, lower_switch};
use weft_rules::{Action, Cookie, Match, OutPort, Rule, SwitchRules, VlanMatch};

/// The messages of a fixture, as (xid, decoded, raw bytes).
fn fixture(name: &str) -> Vec<(u32, Message, Vec<u8>)> {
    let path = format!("{}/tests/golden/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let bytes = from_hex(&text).unwrap();
    let mut framer = Framer::new();
    framer.feed(&bytes);
    let mut out = Vec::new();
    while let Some(frame) = framer.next_frame().unwrap() {
        let (xid, msg) = Message::decode(&frame).unwrap();
        out.push((xid, msg, frame));
    }
    assert_eq!(framer.buffered(), 0, "{name}: trailing bytes");
    out
}

/// The one flow-mod `ovs-ofctl` sent, with its xid and bytes.
fn ofctl_flow_mod(name: &str) -> (u32, FlowMod, Vec<u8>) {
    let mut mods: Vec<_> = fixture(name)
        .into_iter()
        .filter_map(|(xid, m, raw)| match m {
            Message::FlowMod(fm) => Some((xid, fm, raw)),
            _ => None,
        })
        .collect();
    assert_eq!(mods.len(), 1, "{name}");
    mods.remove(0)
}

fn port(n: u32) -> PortNo {
    PortNo::new(u64::from(n)).unwrap()
}

fn vid(n: u16) -> VlanId {
    VlanId::new(u64::from(n)).unwrap()
}

const VNI: u32 = 10;
const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);

fn classify(matches: Match, actions: Vec<Action>) -> Rule {
    Rule {
        table: 0,
        priority: 1000,
        matches,
        actions,
        write_metadata: Some(u64::from(VNI)),
        goto: Some(1),
        cookie: Cookie::for_vni(VNI),
    }
}

fn access_rule() -> Rule {
    classify(
        Match {
            in_port: Some(port(1)),
            vlan: VlanMatch::Untagged,
            ..Match::default()
        },
        vec![],
    )
}

fn tagged_rule() -> Rule {
    classify(
        Match {
            in_port: Some(port(2)),
            vlan: VlanMatch::Vid(vid(100)),
            ..Match::default()
        },
        vec![Action::PopVlan],
    )
}

fn tunnel_rule() -> Rule {
    classify(
        Match {
            in_port: Some(port(65000)),
            tun_id: Some(u64::from(VNI)),
            tun_src: Some(REMOTE),
            ..Match::default()
        },
        vec![],
    )
}

fn fabric(table: u8, priority: u16, matches: Match, goto: Option<u8>) -> Rule {
    Rule {
        table,
        priority,
        matches,
        actions: vec![],
        write_metadata: None,
        goto,
        cookie: Cookie::for_vni(0),
    }
}

fn flood_rule() -> Rule {
    Rule {
        table: 2,
        priority: 1000,
        matches: Match {
            metadata: Some(u64::from(VNI)),
            ..Match::default()
        },
        actions: vec![
            Action::Output(OutPort::Port(port(1))),
            Action::PushVlan(vid(100)),
            Action::Output(OutPort::Port(port(2))),
            Action::PopVlan,
            Action::SetTunnelId(u64::from(VNI)),
            Action::SetTunnelDst(REMOTE),
            Action::Output(OutPort::Port(port(65000))),
        ],
        write_metadata: None,
        goto: None,
        cookie: Cookie::for_vni(VNI),
    }
}

#[test]
fn our_flow_mods_are_byte_identical_to_ovs_ofctl() {
    let guard = fabric(
        1,
        1000,
        Match {
            vlan: VlanMatch::AnyTagged,
            ..Match::default()
        },
        None,
    );
    let goto = fabric(1, 0, Match::default(), Some(2));
    let inner_guard = Rule {
        table: 0,
        priority: 1100,
        matches: Match {
            eth_type: Some(0x8100),
            ..tagged_rule().matches
        },
        actions: vec![],
        write_metadata: None,
        goto: None,
        cookie: Cookie::for_vni(VNI),
    };
    for (name, rule) in [
        ("ofctl-add-access", access_rule()),
        ("ofctl-add-tagged", tagged_rule()),
        ("ofctl-add-tunnel", tunnel_rule()),
        ("ofctl-add-inner-guard", inner_guard),
        ("ofctl-add-guard", guard),
        ("ofctl-add-goto", goto),
        ("ofctl-add-flood", flood_rule()),
    ] {
        let (xid, decoded, raw) = ofctl_flow_mod(name);
        let ours = Message::FlowMod(flow_mod_from_rule(&rule, FlowModCommand::Add).unwrap())
            .encode(xid)
            .unwrap();
        assert_eq!(ours, raw, "{name}: encoder differs from ovs-ofctl");
        assert_eq!(rule_from_flow_mod(&decoded), rule, "{name}: decoder");
    }
}

#[test]
fn deletes_are_byte_identical_to_ovs_ofctl() {
    let (xid, _, raw) = ofctl_flow_mod("ofctl-del-strict");
    let ours = flow_mod_from_rule(&access_rule(), FlowModCommand::DeleteStrict).unwrap();
    assert_eq!(Message::FlowMod(ours).encode(xid).unwrap(), raw);

    let (xid, _, raw) = ofctl_flow_mod("ofctl-del-cookie");
    let ours = FlowMod::delete_by_cookie(OFPTT_ALL, Cookie::PREFIX, Cookie::PREFIX_MASK);
    assert_eq!(Message::FlowMod(ours).encode(xid).unwrap(), raw);
}

#[test]
fn hello_and_bundle_sequence_are_byte_identical_to_ovs_ofctl() {
    let msgs = fixture("ofctl-bundle-add");
    let kinds: Vec<&Message> = msgs.iter().map(|(_, m, _)| m).collect();
    assert!(
        matches!(
            kinds[..],
            [
                Message::Hello(_),
                Message::BundleControl(_),
                Message::BundleAdd(_),
                Message::BarrierRequest,
                Message::BundleControl(_),
            ]
        ),
        "{kinds:?}"
    );
    let flags = OFPBF_ATOMIC | OFPBF_ORDERED;
    let (add_xid, _, _) = msgs[2];
    let expected = [
        Message::Hello(Hello::of13()),
        Message::BundleControl(BundleControl::new(0, BundleCtrlType::OpenRequest, flags)),
        Message::BundleAdd(BundleAdd {
            bundle_id: 0,
            flags,
            message: Box::new(Message::FlowMod(
                flow_mod_from_rule(&access_rule(), FlowModCommand::Add).unwrap(),
            )),
        }),
        Message::BarrierRequest,
        Message::BundleControl(BundleControl::new(0, BundleCtrlType::CommitRequest, flags)),
    ];
    for ((xid, _, raw), want) in msgs.iter().zip(expected) {
        assert_eq!(&want.encode(*xid).unwrap(), raw, "{want:?}");
    }
    assert_eq!(add_xid, 2, "the add carries the inner flow-mod's xid");
}

fn two_racks_leaf() -> (weft_model::Topology, weft_model::SwitchId) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../topologies/two-racks.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let topo = weft_config::parse_topology("two-racks.yaml", &text).unwrap();
    let leaf = topo.switch_id("rack1-leaf").unwrap();
    (topo, leaf)
}

#[test]
fn ovs_flow_stats_read_back_equals_the_lowering_plus_foreign_flows() {
    let msgs = fixture("ovs-flow_stats");
    let mut stats = Vec::new();
    for (_, m, _) in &msgs {
        let Message::MultipartReply(r) = m else {
            panic!("{m:?}")
        };
        let MultipartReplyBody::Flow(s) = &r.body else {
            panic!()
        };
        stats.extend(s.iter().cloned());
    }
    let rules: Vec<Rule> = stats.iter().map(rule_from_flow_stats).collect();
    let (weft, foreign): (Vec<Rule>, Vec<Rule>) =
        rules.into_iter().partition(|r| Cookie::is_weft(r.cookie));

    let (topo, leaf) = two_racks_leaf();
    let vni = Vni::new(u64::from(VNI)).unwrap();
    let entries = [
        PipelineEntry::PortIngress {
            port: port(1),
            mode: AttachMode::Access,
            vni,
        },
        PipelineEntry::PortIngress {
            port: port(2),
            mode: AttachMode::Tagged(vid(100)),
            vni,
        },
        PipelineEntry::TunnelIngress {
            vni,
            remote: REMOTE,
        },
        PipelineEntry::FloodPort {
            vni,
            port: port(1),
            mode: AttachMode::Access,
        },
        PipelineEntry::FloodPort {
            vni,
            port: port(2),
            mode: AttachMode::Tagged(vid(100)),
        },
        PipelineEntry::FloodTunnel {
            vni,
            remote: REMOTE,
        },
    ];
    assert_eq!(
        SwitchRules::new(weft),
        lower_switch(&topo, leaf, &entries),
        "what OVS reports must be exactly what the lowering asked for"
    );

    // Foreign flows: known parts decoded, the rest opaque and printed.
    let mut foreign = foreign;
    foreign.sort_by_key(|r| r.table);
    assert_eq!(foreign.len(), 2);
    assert_eq!(foreign[0].cookie, 0);
    assert_eq!(foreign[0].matches.eth_type, Some(0x0800));
    assert_eq!(foreign[0].matches.opaque, vec!["ipv4_src=0x0a010203"]);
    assert_eq!(foreign[0].actions, vec![Action::Output(OutPort::Normal)]);
    assert_eq!(foreign[1].table, 3);
    assert_eq!(foreign[1].matches.in_port, Some(port(3)));
    assert_eq!(
        foreign[1].actions,
        vec![
            Action::Opaque("dec_nw_ttl(0x00000000)".into()),
            Action::Opaque("set_field:eth_src=0x020000000001".into()),
            Action::Output(OutPort::Port(port(1))),
        ]
    );
    // Durations and counters are decoded, not just skipped.
    assert!(
        stats
            .iter()
            .all(|s| s.packet_count == 0 && s.byte_count == 0)
    );
    assert!(
        stats
            .iter()
            .any(|s| s.duration_sec > 0 || s.duration_nsec > 0)
    );
}

#[test]
fn ovs_port_desc_reply_decodes() {
    let msgs = fixture("ovs-port_desc");
    let [(_, Message::MultipartReply(r), _)] = &msgs[..] else {
        panic!("{msgs:?}")
    };
    let MultipartReplyBody::PortDesc(ports) = &r.body else {
        panic!()
    };
    let mut by_no: Vec<(u32, &str)> = ports.iter().map(|p| (p.port_no, p.name.as_str())).collect();
    by_no.sort();
    assert_eq!(
        by_no,
        vec![
            (1, "p1"),
            (2, "p2"),
            (3, "p3"),
            (65000, "vx"),
            (0xffff_fffe, "br0")
        ]
    );
    // Re-encoding gives OVS's bytes back.
    assert_eq!(msgs[0].1.encode(msgs[0].0).unwrap(), msgs[0].2);
}

#[test]
fn ovs_error_decodes_into_a_typed_error() {
    let msgs = fixture("ovs-error");
    let [(xid, Message::Error(e), raw)] = &msgs[..] else {
        panic!("{msgs:?}")
    };
    assert_eq!(e.error, OfpError::BadInstruction(2));
    assert_eq!(e.failed_request(), Some((14, *xid)));
    assert_eq!(
        e.to_string(),
        "OFPET_BAD_INSTRUCTION/BAD_TABLE_ID (type 3, code 2) for message type 14 xid 12"
    );
    // The data echoes our whole flow-mod, which decodes again.
    let (_, inner) = Message::decode(&e.data).unwrap();
    assert!(matches!(inner, Message::FlowMod(_)));
    assert_eq!(Message::Error(e.clone()).encode(*xid).unwrap(), *raw);
}

#[test]
fn match_decoding_of_ofctl_vlan_forms() {
    let (_, fm, _) = ofctl_flow_mod("ofctl-add-guard");
    assert_eq!(match_from_oxm(&fm.matches).vlan, VlanMatch::AnyTagged);
}
