//! Property tests: every rule the model can express survives
//! Rule → flow-mod bytes → decode → Rule, and Rule → flow-stats reply
//! bytes → decode → Rule; arbitrary bytes never make the decoder panic.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;

use proptest::prelude::*;
use weft_model::{PortNo, VlanId};
use weft_openflow::{
    FlowModCommand, FlowStats, Framer, Message, MultipartReply, MultipartReplyBody,
    flow_mod_from_rule, rule_from_flow_mod, rule_from_flow_stats,
};
use weft_rules::{Action, MacAddr, Match, OutPort, Rule, VlanMatch};

fn port() -> impl Strategy<Value = PortNo> {
    (1u64..=0xfeff).prop_map(|p| PortNo::new(p).unwrap())
}

fn vid() -> impl Strategy<Value = VlanId> {
    (1u64..=4094).prop_map(|v| VlanId::new(v).unwrap())
}

fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn out_port() -> impl Strategy<Value = OutPort> {
    prop_oneof![
        4 => port().prop_map(OutPort::Port),
        1 => Just(OutPort::InPort),
        1 => Just(OutPort::Flood),
        1 => Just(OutPort::Normal),
        1 => Just(OutPort::Local),
        1 => Just(OutPort::Controller),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::PopVlan),
        vid().prop_map(Action::PushVlan),
        vid().prop_map(Action::SetVlanVid),
        any::<u64>().prop_map(Action::SetTunnelId),
        ip().prop_map(Action::SetTunnelDst),
        out_port().prop_map(Action::Output),
    ]
}

fn vlan() -> impl Strategy<Value = VlanMatch> {
    prop_oneof![
        Just(VlanMatch::Any),
        Just(VlanMatch::Untagged),
        Just(VlanMatch::AnyTagged),
        vid().prop_map(VlanMatch::Vid),
    ]
}

fn matches() -> impl Strategy<Value = Match> {
    (
        proptest::option::of(port()),
        vlan(),
        proptest::option::of(any::<u64>()),
        proptest::option::of(ip()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<[u8; 6]>()),
        proptest::option::of(any::<u16>()),
    )
        .prop_map(
            |(in_port, vlan, tun_id, tun_src, metadata, eth_dst, eth_type)| Match {
                in_port,
                vlan,
                tun_id,
                tun_src,
                metadata,
                eth_dst: eth_dst.map(MacAddr),
                eth_type,
                opaque: Vec::new(),
            },
        )
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        0u8..=254,
        any::<u16>(),
        matches(),
        proptest::collection::vec(action(), 0..40),
        proptest::option::of(any::<u64>()),
        proptest::option::of(0u8..=254),
        any::<u64>(),
    )
        .prop_map(
            |(table, priority, matches, actions, write_metadata, goto, cookie)| Rule {
                table,
                priority,
                matches,
                actions,
                write_metadata,
                goto,
                cookie,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rule_survives_flow_mod_bytes(r in rule(), xid in any::<u32>()) {
        let fm = flow_mod_from_rule(&r, FlowModCommand::Add).unwrap();
        let bytes = Message::FlowMod(fm).encode(xid).unwrap();
        let (got_xid, msg) = Message::decode(&bytes).unwrap();
        prop_assert_eq!(got_xid, xid);
        let Message::FlowMod(back) = msg else { panic!("not a flow-mod") };
        prop_assert_eq!(rule_from_flow_mod(&back), r);
    }

    #[test]
    fn rules_survive_a_flow_stats_reply(rules in proptest::collection::vec(rule(), 0..20), more in any::<bool>()) {
        let stats: Vec<FlowStats> = rules.iter().map(|r| {
            let fm = flow_mod_from_rule(r, FlowModCommand::Add).unwrap();
            FlowStats {
                table_id: fm.table_id,
                duration_sec: 1,
                duration_nsec: 2,
                priority: fm.priority,
                idle_timeout: 0,
                hard_timeout: 0,
                flags: 0,
                cookie: fm.cookie,
                packet_count: 3,
                byte_count: 4,
                matches: fm.matches,
                instructions: fm.instructions,
            }
        }).collect();
        let reply = Message::MultipartReply(MultipartReply { more, body: MultipartReplyBody::Flow(stats) });
        let bytes = reply.encode(9).unwrap();
        let (_, msg) = Message::decode(&bytes).unwrap();
        prop_assert_eq!(&msg, &reply);
        let Message::MultipartReply(MultipartReply { body: MultipartReplyBody::Flow(back), more: m }) = msg else {
            panic!("not a flow-stats reply")
        };
        prop_assert_eq!(m, more);
        let back: Vec<Rule> = back.iter().map(rule_from_flow_stats).collect();
        prop_assert_eq!(back, rules);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::decode(&bytes);
        // With a well-formed header around them, too.
        let mut framed = vec![4, (bytes.first().copied().unwrap_or(14)) % 25, 0, 0, 0, 0, 0, 1];
        framed.extend_from_slice(&bytes);
        let len = u16::try_from(framed.len()).unwrap();
        framed[2..4].copy_from_slice(&len.to_be_bytes());
        if let Ok((_, Message::MultipartReply(MultipartReply { body: MultipartReplyBody::Flow(s), .. }))) =
            Message::decode(&framed)
        {
            // Whatever decodes also converts, opaque parts and all.
            for st in &s {
                let _ = rule_from_flow_stats(st);
            }
        }
        let mut f = Framer::new();
        f.feed(&framed);
        let _ = f.next_frame();
    }

    #[test]
    fn framing_is_independent_of_read_boundaries(
        rules in proptest::collection::vec(rule(), 1..8),
        cuts in proptest::collection::vec(1usize..64, 1..20),
    ) {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let m = Message::FlowMod(flow_mod_from_rule(r, FlowModCommand::Add).unwrap());
            let xid = u32::try_from(i).unwrap();
            m.encode_into(xid, &mut stream).unwrap();
            want.push((xid, m));
        }
        let mut f = Framer::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap()).min(rest.len());
            f.feed(&rest[..n]);
            rest = &rest[n..];
            while let Some(frame) = f.next_frame().unwrap() {
                got.push(Message::decode(&frame).unwrap());
            }
        }
        prop_assert_eq!(got, want);
    }
}
