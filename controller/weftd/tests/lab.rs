//! End to end on the two-racks lab: the real `weftd` binary, the real
//! `weft-agent` binary on an Open vSwitch leaf (OpenFlow 1.3) and a Linux
//! leaf (rtnetlink, nftables), VXLAN between them over a namespace
//! underlay, and real pings between server namespaces.
//!
//! Needs root, Open vSwitch, ethtool, ping and python3 (raw frames). Skips
//! with the reason when they are missing, unless `WEFT_REQUIRE_LAB` is set
//! (the README's test command sets it), in which case it fails.

// Helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::lab::*;
use weft_pki::Role;
use weft_proto::v1::*;

/// Agents repair out-of-band changes within a second and report their
/// read-back every second: the tests below time both.
const FAST_REPAIR: &[&str] = &["--repair-interval", "1s", "--report-interval", "1s"];

// ------------------------------------------------------------ tests

#[test]
fn isolation_matrix_hostile_frames_and_out_of_band_changes() {
    let Some(_serial) = begin() else {
        return;
    };
    let mut f = Fabric::start("m", FAST_REPAIR);
    let hosts = hosts(f.lab());

    // The full matrix, every ordered pair, in parallel.
    let pairs: Vec<(usize, usize)> = (0..hosts.len())
        .flat_map(|a| (0..hosts.len()).map(move |b| (a, b)))
        .filter(|(a, b)| a != b)
        .collect();
    let results: Vec<((usize, usize), bool)> = std::thread::scope(|s| {
        pairs
            .chunks(12)
            .flat_map(|chunk| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|&(a, b)| {
                        let (ha, hb) = (&hosts[a], &hosts[b]);
                        s.spawn(move || ((a, b), reaches(&ha.endpoint, &hb.endpoint)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    let mut wrong = Vec::new();
    let mut reachable = 0;
    for ((a, b), ok) in &results {
        let (ha, hb) = (&hosts[*a], &hosts[*b]);
        let expected = ha.network.is_some() && ha.network == hb.network;
        reachable += usize::from(*ok);
        if *ok != expected {
            wrong.push(format!(
                "{} ({:?}) -> {} ({:?}): ping {}, expected {}",
                ha.label,
                ha.network,
                hb.label,
                hb.network,
                if *ok { "works" } else { "fails" },
                if expected { "works" } else { "fails" }
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "ping matrix:\n{}\n{}",
        wrong.join("\n"),
        f.agent_logs()
    );
    assert_eq!(
        reachable,
        2 * NETWORKS.len(),
        "every network's pair, both ways"
    );
    println!(
        "ping matrix: {} pairs, {reachable} reachable, all as intended",
        results.len()
    );

    // Same VLAN id, two operators, same OVS leaf: alpha/prod#100 and
    // beta/web#100 (both in the matrix above; asserted by name here).
    let a100 = hosts
        .iter()
        .find(|h| h.label == "r1-srv1/eth0#100")
        .unwrap();
    let b100 = hosts
        .iter()
        .find(|h| h.label == "r1-srv2/eth0#100")
        .unwrap();
    assert!(!reaches(&a100.endpoint, &b100.endpoint));

    let ovs = f.ovs();
    // Hostile frames, traced through the OVS leaf's installed tables.
    // rack1-leaf eth2 is alpha/backup's access port; eth1 carries alpha's
    // tags 100 and 200.
    for (what, port, tags) in [
        ("tagged frame on an access port", 2, vec![200]),
        ("double-tagged frame", 1, vec![100, 200]),
        ("frame with an unattached tag", 1, vec![999]),
    ] {
        let actions = trace(&ovs, port, &frame(&tags));
        assert_eq!(actions, "Datapath actions: drop", "{what}");
    }
    let untagged = trace(&ovs, 2, &frame(&[]));
    assert_ne!(untagged, "Datapath actions: drop", "an access frame floods");

    // The same frames for real, from the server namespaces: the drop rules
    // count them, the flood tables see none of them.
    let n = 25;
    // The ARP requests of the pings above (and their kernel retries, for
    // up to 3 s after ping exits) are still being counted by the flood
    // table: wait for its count to settle before taking it as the base.
    let flood_before = settled(|| packets(&ovs, 2, None));
    let guard_before = packets(&ovs, 0, Some(1100));
    let default_before = packets(&ovs, 0, Some(0));
    let nic_eth2 = f.lab().endpoint("r1-srv1/eth1").unwrap();
    let nic_eth1 = f.lab().endpoint("r1-srv1/eth0").unwrap();
    send_raw(&nic_eth2.netns, &nic_eth2.iface, &frame(&[200]), n);
    send_raw(&nic_eth1.netns, &nic_eth1.iface, &frame(&[100, 200]), n);
    // Flow statistics follow the datapath's with a revalidation delay.
    wait_until(
        "tagged frames counted by the default drop",
        Duration::from_secs(5),
        || packets(&ovs, 0, Some(0)) >= default_before + u64::from(n),
    );
    wait_until_or(
        "double-tagged frames counted by the inner-tag guard",
        Duration::from_secs(5),
        || packets(&ovs, 0, Some(1100)) >= guard_before + u64::from(n),
        || {
            format!(
                "guard before: {guard_before}\n{}",
                ovs.ofctl("dump-flows", "br-int", &[]).unwrap_or_default()
            )
        },
    );
    assert_eq!(
        packets(&ovs, 2, None),
        flood_before,
        "a hostile frame was flooded"
    );

    // Out of band: delete Weft's flows of one network with ovs-ofctl; the
    // agent restores them within 5 s.
    let full = weft_flow_count(&ovs);
    ovs.ofctl("del-flows", "br-int", &["cookie=0x57454654000003e8/-1"])
        .unwrap();
    assert!(weft_flow_count(&ovs) < full);
    let took = wait_until("deleted flows restored", Duration::from_secs(5), || {
        weft_flow_count(&ovs) == full
    });
    println!("flows deleted with ovs-ofctl restored in {took:?}");

    // A foreign flow is left in place and reported.
    ovs.ofctl(
        "add-flow",
        "br-int",
        &["cookie=0x1,table=0,priority=5,in_port=4,dl_dst=02:00:00:00:00:99,actions=drop"],
    )
    .unwrap();
    wait_until("foreign flow reported", Duration::from_secs(5), || {
        f.status()
            .switches
            .iter()
            .any(|s| s.switch == OVS_LEAF && s.foreign_rules == 1)
    });
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        flows(&ovs).keys().any(|k| k.starts_with("cookie=0x1,")),
        "the foreign flow was removed"
    );

    // Linux leaf: an FDB entry and an enslavement removed out of band come
    // back within 5 s.
    let ns = f.linux_ns();
    let before = linux_objects(&ns);
    weft_lab::run(
        "bridge",
        &[
            "-n",
            &ns,
            "fdb",
            "del",
            "00:00:00:00:00:00",
            "dev",
            "weftv000bb8",
            "dst",
            "10.0.0.11",
        ],
    )
    .unwrap();
    weft_lab::run("ip", &["-n", &ns, "link", "set", "eth4", "nomaster"]).unwrap();
    assert_ne!(linux_objects(&ns), before);
    let took = wait_until("Linux objects restored", Duration::from_secs(5), || {
        linux_objects(&ns) == before
    });
    println!("FDB entry and port enslavement restored in {took:?}");
    let gamma: Vec<&Host> = hosts
        .iter()
        .filter(|h| h.network == Some("gamma/lab"))
        .collect();
    assert!(reaches(&gamma[0].endpoint, &gamma[1].endpoint));

    // A frame from an unleased port: gamma detaches rack1-leaf/eth4 and
    // the facility takes the port back from gamma's lease.
    f.unlease_rack1_eth4();
    assert_eq!(
        trace(&ovs, 4, &frame(&[])),
        "Datapath actions: drop",
        "unleased port"
    );
    let default_before = packets(&ovs, 0, Some(0));
    let r1srv3 = f.lab().endpoint("r1-srv3/eth0").unwrap();
    send_raw(&r1srv3.netns, &r1srv3.iface, &frame(&[]), n);
    wait_until(
        "unleased port's frames counted by the default drop",
        Duration::from_secs(5),
        || packets(&ovs, 0, Some(0)) >= default_before + u64::from(n),
    );
    assert!(!reaches(&gamma[0].endpoint, &gamma[1].endpoint));

    drop(ovs);
    f.finish();
}

#[test]
fn attach_detach_and_crashes_keep_forwarding() {
    let Some(_serial) = begin() else {
        return;
    };
    let mut f = Fabric::start("c", FAST_REPAIR);
    let r1 = f.lab().endpoint("r1-srv3/eth0").unwrap();
    let r2 = f.lab().endpoint("r2-srv3/eth0").unwrap();
    let prod_ovs = f.lab().tagged_endpoint("r1-srv1/eth0", 100).unwrap();
    let prod_linux = f.lab().endpoint("r2-srv1/eth0").unwrap();
    assert!(reaches(&r1, &r2));
    assert!(reaches(&prod_ovs, &prod_linux));

    // Detach and attach through gRPC: reachability follows within 1 s.
    let mut gamma = f.clients(Role::Operator, "gamma");
    let t0 = Instant::now();
    f.rt.block_on(async {
        gamma
            .nets
            .delete_attachment(DeleteAttachmentRequest {
                name: "operators/gamma/networks/lab/attachments/rack2-leaf:eth4".into(),
                request_id: common::rid(),
                ..Default::default()
            })
            .await
            .unwrap();
    });
    f.wait_programmed();
    assert_eq!(
        ping(&r1, &r2, &["-c", "1", "-W", "0.3"]).1,
        0,
        "still reachable after detach"
    );
    let detach = t0.elapsed();
    assert!(detach < Duration::from_secs(1), "detach took {detach:?}");
    let t0 = Instant::now();
    f.rt.block_on(async {
        gamma
            .nets
            .create_attachment(CreateAttachmentRequest {
                parent: "operators/gamma/networks/lab".into(),
                attachment: Some(Attachment {
                    port: "rack2-leaf/eth4".into(),
                    mode: AttachmentMode::Access.into(),
                    ..Default::default()
                }),
                request_id: common::rid(),
                validate_only: false,
            })
            .await
            .unwrap();
    });
    f.wait_programmed();
    while ping(&r1, &r2, &["-c", "1", "-W", "0.2"]).1 == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "not reachable 1 s after attach"
        );
    }
    let attach = t0.elapsed();
    println!("detach → unreachable in {detach:?}; attach → reachable in {attach:?}");

    // kill -9 of the controller while pings run: nothing lost, and after
    // it restarts nothing on the switches changes.
    let ovs = f.ovs();
    let ns = f.linux_ns();
    let flows_before = flows(&ovs);
    let linux_before = linux_objects(&ns);
    let p1 = LongPing::start(&r1, &r2, 120);
    let p2 = LongPing::start(&prod_ovs, &prod_linux, 120);
    std::thread::sleep(Duration::from_millis(1500));
    let killed_at = Instant::now();
    f.weftd.kill();
    std::thread::sleep(Duration::from_millis(1500));
    f.weftd.start();
    f.wait_programmed();
    std::thread::sleep(Duration::from_millis(1500));
    let (tx1, rx1) = p1.finish();
    let (tx2, rx2) = p2.finish();
    assert_eq!(
        (tx1, rx1),
        (120, 120),
        "gamma/lab pings lost across the controller crash"
    );
    assert_eq!(
        (tx2, rx2),
        (120, 120),
        "alpha/prod pings lost across the controller crash"
    );
    let flows_after = flows(&ovs);
    assert_unchanged(&flows_before, &flows_after, killed_at.elapsed());
    assert_eq!(linux_objects(&ns), linux_before, "Linux objects changed");

    // kill -9 of each agent while pings run: the same.
    let flows_before = flows(&ovs);
    let p1 = LongPing::start(&r1, &r2, 120);
    let p2 = LongPing::start(&prod_ovs, &prod_linux, 120);
    std::thread::sleep(Duration::from_millis(1000));
    let killed_at = Instant::now();
    for leaf in [OVS_LEAF, LINUX_LEAF] {
        f.lab().stop_agent(leaf, true).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    for leaf in [OVS_LEAF, LINUX_LEAF] {
        f.lab().start_agent(leaf).unwrap();
    }
    f.wait_programmed();
    std::thread::sleep(Duration::from_millis(1500));
    let (tx1, rx1) = p1.finish();
    let (tx2, rx2) = p2.finish();
    assert_eq!(
        (tx1, rx1),
        (120, 120),
        "gamma/lab pings lost across the agent crashes"
    );
    assert_eq!(
        (tx2, rx2),
        (120, 120),
        "alpha/prod pings lost across the agent crashes"
    );
    assert_unchanged(&flows_before, &flows(&ovs), killed_at.elapsed());
    assert_eq!(linux_objects(&ns), linux_before, "Linux objects changed");

    drop(ovs);
    f.finish();
}

/// The value `read` returns once it has stayed the same for 1.5 s.
fn settled(mut read: impl FnMut() -> u64) -> u64 {
    let t0 = Instant::now();
    let (mut last, mut since) = (read(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = read();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_millis(1500) {
            return now;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "counter still moving after 15 s"
        );
    }
}

/// Same flows, none re-added: each is at least as old as before plus most
/// of the time that passed.
fn assert_unchanged(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    since: Duration,
) {
    let b: BTreeSet<&String> = before.keys().collect();
    let a: BTreeSet<&String> = after.keys().collect();
    assert_eq!(a, b, "flow set changed");
    for (flow, age) in before {
        let now = after[flow];
        assert!(
            now + 0.5 >= age + since.as_secs_f64(),
            "flow re-added (age {age} s, then {now} s after {since:?}): {flow}"
        );
    }
}
