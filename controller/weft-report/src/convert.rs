//! Verifier output into the report's own (readable as well as writable)
//! types. Exhaustive destructuring: a field added to the verifier's types
//! breaks this build instead of silently missing from reports.

use weft_verifier as v;

use crate::model::{Counterexample, Egress, FindingClass, Frame, Hop, ReportFinding};

pub(crate) fn finding(f: &v::Finding) -> ReportFinding {
    let v::Finding {
        class,
        kind,
        summary,
        source_operator,
        destination_operator,
        counterexample,
    } = f;
    ReportFinding {
        class: match class {
            v::FindingClass::Leak => FindingClass::Leak,
            v::FindingClass::Misdelivery => FindingClass::Misdelivery,
            v::FindingClass::PolicyBreach => FindingClass::PolicyBreach,
            v::FindingClass::Drift => FindingClass::Drift,
        },
        kind: kind.code().to_owned(),
        summary: summary.clone(),
        source_operator: source_operator.as_ref().map(|n| n.to_string()),
        destination_operator: destination_operator.as_ref().map(|n| n.to_string()),
        counterexample: counter(counterexample),
    }
}

fn counter(c: &v::Counterexample) -> Counterexample {
    let v::Counterexample {
        ingress,
        class,
        header,
        path,
        egress,
    } = c;
    Counterexample {
        ingress: ingress.clone(),
        class: class.clone(),
        header: frame(header),
        path: path.iter().map(hop).collect(),
        egress: egress.as_ref().map(|v::Egress { at, frame: f }| Egress {
            at: at.clone(),
            frame: frame(f),
        }),
    }
}

fn frame(f: &v::Frame) -> Frame {
    let v::Frame {
        vlan_tags,
        eth_dst,
        tun_id,
        tun_src,
        tun_dst,
    } = f;
    Frame {
        vlan_tags: vlan_tags.clone(),
        eth_dst: eth_dst.clone(),
        tun_id: *tun_id,
        tun_src: *tun_src,
        tun_dst: *tun_dst,
    }
}

fn hop(h: &v::Hop) -> Hop {
    match h {
        v::Hop::Rule {
            switch,
            in_port,
            table,
            priority,
            cookie,
            actions,
            assumes,
        } => Hop::Rule {
            switch: switch.clone(),
            in_port: in_port.clone(),
            table: *table,
            priority: *priority,
            cookie: *cookie,
            actions: actions.clone(),
            assumes: assumes.clone(),
        },
        v::Hop::Link { from, to } => Hop::Link {
            from: from.clone(),
            to: to.clone(),
        },
        v::Hop::Tunnel {
            from,
            to,
            vni,
            src,
            dst,
        } => Hop::Tunnel {
            from: from.clone(),
            to: to.clone(),
            vni: *vni,
            src: *src,
            dst: *dst,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The report's JSON for a finding is the verifier's JSON for it: the
    /// mirror types add and lose nothing.
    #[test]
    fn mirror_serializes_like_the_verifier() {
        let f = v::Finding {
            class: v::FindingClass::Leak,
            kind: v::FindingKind::CrossOperatorDelivery,
            summary: "s".into(),
            source_operator: Some(weft_model::Name::new("alpha").unwrap()),
            destination_operator: None,
            counterexample: v::Counterexample {
                ingress: "leaf/eth1".into(),
                class: "untagged".into(),
                header: v::Frame {
                    vlan_tags: vec![100, 7],
                    eth_dst: "ff:ff:ff:ff:ff:ff".into(),
                    tun_id: Some(5),
                    tun_src: None,
                    tun_dst: Some("10.0.0.2".parse().unwrap()),
                },
                path: vec![
                    v::Hop::Rule {
                        switch: "leaf".into(),
                        in_port: "eth1".into(),
                        table: 0,
                        priority: 10,
                        cookie: 0x5745_4654_0000_0001,
                        actions: "output:2".into(),
                        assumes: Some("nw_src=1.2.3.4".into()),
                    },
                    v::Hop::Link {
                        from: "a/1".into(),
                        to: "b/1".into(),
                    },
                    v::Hop::Tunnel {
                        from: "a".into(),
                        to: "b".into(),
                        vni: 5,
                        src: "10.0.0.1".parse().unwrap(),
                        dst: "10.0.0.2".parse().unwrap(),
                    },
                ],
                egress: Some(v::Egress {
                    at: "leaf/eth2".into(),
                    frame: v::Frame {
                        vlan_tags: vec![],
                        eth_dst: "ff:ff:ff:ff:ff:ff".into(),
                        tun_id: None,
                        tun_src: None,
                        tun_dst: None,
                    },
                }),
            },
        };
        let ours = finding(&f);
        assert_eq!(
            serde_json::to_value(&ours).unwrap(),
            serde_json::to_value(&f).unwrap()
        );
        let back: ReportFinding =
            serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, ours);
    }
}
