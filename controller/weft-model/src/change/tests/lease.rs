//! `SetLease` and `RemoveLease`.

use std::collections::BTreeMap;

use super::*;

#[test]
fn set_lease_reports_every_problem() {
    let t = topo(Encapsulation::Vxlan);
    let mut i = setup(&t);
    let before = i.clone();
    // leaf1/3 is b's, leaf1/5 a fabric port, spine/1 on a spine, leaf1/8
    // unknown; VNI 50-150 hits the reserved 1-99 and nothing else (a's own).
    let l = lease(
        &[port(0, 3), port(0, 5), port(2, 1), port(0, 8)],
        (50, 250),
        Some((10, 20)),
    );
    let Err(ChangeError::Invalid(v)) = i.apply(
        &t,
        IntentChange::SetLease {
            operator: name("a"),
            lease: l,
        },
    ) else {
        panic!("expected Invalid");
    };
    let codes: Vec<_> = v
        .iter()
        .map(|v| (v.path.to_string(), v.kind.code()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("lease.ports[0]".to_owned(), "port-leased-twice"),
            ("lease.ports[1]".to_owned(), "port-not-leasable"),
            ("lease.ports[2]".to_owned(), "unknown-reference"),
            ("lease.ports[3]".to_owned(), "port-not-leasable"),
            ("lease.vni".to_owned(), "range-reserved"),
            ("lease.vni".to_owned(), "range-overlap"),
            ("lease.vlan".to_owned(), "field-not-allowed"),
        ]
    );
    assert_eq!(i, before, "a rejected change leaves intent untouched");
}

#[test]
fn set_lease_vlan_fabric_requires_vlan_range_and_checks_overlap() {
    let t = topo(Encapsulation::Vlan);
    let mut i = setup(&t);
    let l = lease(&[port(0, 1)], (100, 199), None);
    let Err(ChangeError::Invalid(v)) = i.apply(
        &t,
        IntentChange::SetLease {
            operator: name("a"),
            lease: l,
        },
    ) else {
        panic!("expected Invalid");
    };
    assert_eq!(v[0].kind.code(), "missing-field");
    let l = lease(&[port(0, 1)], (100, 199), Some((5, 250)));
    let Err(ChangeError::Invalid(v)) = i.apply(
        &t,
        IntentChange::SetLease {
            operator: name("a"),
            lease: l,
        },
    ) else {
        panic!("expected Invalid");
    };
    let codes: Vec<_> = v.iter().map(|v| v.kind.code()).collect();
    assert_eq!(codes, vec!["range-reserved", "range-overlap"]);
}

#[test]
fn set_lease_dropping_ports_detaches_and_excluding_vni_is_rejected() {
    let t = topo(Encapsulation::Vxlan);
    let mut i = setup(&t);
    create(&mut i, &t, "a", "x", Some(150)).unwrap();
    attach(&mut i, &t, "a", "x", port(0, 1), AttachMode::Access).unwrap();
    attach(&mut i, &t, "a", "x", port(0, 2), AttachMode::Access).unwrap();

    let narrow = lease(&[port(0, 1), port(0, 2)], (100, 140), None);
    let before = i.clone();
    let Err(ChangeError::Invalid(v)) = i.apply(
        &t,
        IntentChange::SetLease {
            operator: name("a"),
            lease: narrow,
        },
    ) else {
        panic!("expected Invalid");
    };
    assert_eq!(
        v[0].kind,
        ViolationKind::OutsideRange {
            what: "VNI",
            value: 150,
            range: "100-140".into()
        }
    );
    assert_eq!(i, before);

    let fewer = lease(&[port(0, 2)], (100, 199), None);
    let fx = i
        .apply(
            &t,
            IntentChange::SetLease {
                operator: name("a"),
                lease: fewer,
            },
        )
        .unwrap();
    assert!(matches!(fx[0], Effect::Detached { port: p, .. } if p == port(0, 1)));
    assert_eq!(
        fx[1],
        Effect::LeaseSet {
            operator: name("a")
        }
    );
    assert_eq!(
        i.operators["a"].networks["x"].attachments,
        BTreeMap::from([(port(0, 2), AttachMode::Access)])
    );
}

#[test]
fn remove_lease_only_without_networks() {
    let t = topo(Encapsulation::Vxlan);
    let mut i = setup(&t);
    create(&mut i, &t, "a", "x", None).unwrap();
    let rm = IntentChange::RemoveLease {
        operator: name("a"),
    };
    assert_eq!(
        i.apply(&t, rm.clone()),
        Err(ChangeError::LeaseInUse {
            operator: name("a"),
            networks: 1
        })
    );
    i.apply(
        &t,
        IntentChange::DeleteNetwork {
            operator: name("a"),
            name: name("x"),
        },
    )
    .unwrap();
    assert_eq!(
        i.apply(&t, rm.clone()),
        Ok(vec![Effect::LeaseRemoved {
            operator: name("a")
        }])
    );
    assert!(matches!(
        i.apply(&t, rm),
        Err(ChangeError::NotFound {
            kind: ResourceKind::Lease,
            ..
        })
    ));
    assert!(matches!(
        create(&mut i, &t, "a", "x", None),
        Err(ChangeError::NoLease { .. })
    ));
}
