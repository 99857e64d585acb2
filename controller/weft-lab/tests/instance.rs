#![allow(clippy::unwrap_used)]
//! The lab's building blocks against the real system tools.

use weft_lab::{Datapath, Netns, OvsInstance, process};

fn skip() -> Option<&'static str> {
    weft_lab::ovs_unavailable()
}

fn unique(tag: &str) -> String {
    format!("wl{tag}{}", std::process::id())
}

#[test]
fn a_private_ovs_starts_programs_and_stops_by_pid() {
    if weft_lab::skip_for(skip()) {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("wl")
        .tempdir_in("/tmp")
        .unwrap();
    let ovs = OvsInstance::start(dir.path(), None, Datapath::Dummy).unwrap();
    ovs.add_bridge("br0").unwrap();
    ovs.add_port("br0", "p1", 7, &["type=dummy"]).unwrap();
    // A fresh bridge is handed over empty.
    assert!(
        !ovs.ofctl("dump-flows", "br0", &[])
            .unwrap()
            .contains("actions=")
    );
    ovs.ofctl("add-flow", "br0", &["in_port=7,actions=drop"])
        .unwrap();
    assert!(
        ovs.ofctl("dump-flows", "br0", &[])
            .unwrap()
            .contains("in_port=7")
    );
    let ofport = ovs.vsctl(&["get", "interface", "p1", "ofport"]).unwrap();
    assert_eq!(ofport.trim(), "7");
    let pids = ovs.pids();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&p| process::alive(p)));
    ovs.stop().unwrap();
    assert!(
        pids.iter().all(|&p| !process::alive(p)),
        "daemons still running"
    );
}

#[test]
fn a_namespace_is_removed_when_its_guard_drops_even_on_panic() {
    if weft_lab::skip_for(skip()) {
        return;
    }
    let name = unique("ns");
    let n2 = name.clone();
    let r = std::thread::spawn(move || {
        let ns = Netns::create(&n2).unwrap();
        assert!(weft_lab::netns::exists(ns.name()));
        panic!("test failure inside");
    })
    .join();
    assert!(r.is_err());
    assert!(!weft_lab::netns::exists(&name), "namespace left behind");
    // Creating an existing namespace is refused, never adopted silently.
    let ns = Netns::create(&name).unwrap();
    assert!(Netns::create(&name).is_err());
    drop(ns);
}
