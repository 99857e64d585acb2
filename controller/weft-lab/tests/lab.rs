#![allow(clippy::unwrap_used)]
//! `Lab::up` builds the two-racks fabric and `down` removes every trace,
//! also when the lab is abandoned half-way (state written before each step).

use std::path::Path;

use weft_lab::{Lab, LabSpec, process};

fn skip() -> Option<&'static str> {
    weft_lab::ovs_unavailable()
}

fn topology() -> weft_model::topology::Topology {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies/two-racks.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    weft_config::parse_topology("two-racks.yaml", &text).unwrap()
}

#[test]
fn up_builds_the_fabric_and_down_removes_everything() {
    if weft_lab::skip_for(skip()) {
        return;
    }
    let root = tempfile::Builder::new()
        .prefix("wl")
        .tempdir_in("/tmp")
        .unwrap();
    let name = format!("wlt{}", std::process::id() % 100_000);
    let spec = LabSpec {
        name: name.clone(),
        topology: topology(),
        state_root: root.path().to_path_buf(),
        agents: None,
    };
    // Removes the lab even when an assertion below fails.
    struct Guard<'a>(&'a str, &'a Path);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            let _ = weft_lab::down(self.0, self.1);
        }
    }
    let _guard = Guard(&name, root.path());
    let mut lab = Lab::up(&spec).unwrap();
    assert_eq!(lab.state().nics.len(), 8);
    assert_eq!(lab.state().leaves.len(), 2);
    // The OVS leaf's Weft bridge holds the server ports at their topology
    // numbers and the tunnel port at 65000, and no flows.
    let ovs = lab.leaf_ovs("rack1-leaf").unwrap();
    for (port, number) in [("eth1", "1"), ("eth4", "4"), ("vxlan0", "65000")] {
        let got = ovs.vsctl(&["get", "interface", port, "ofport"]).unwrap();
        assert_eq!(got.trim(), number, "{port}");
    }
    assert!(
        !ovs.ofctl("dump-flows", "br-int", &[])
            .unwrap()
            .contains("actions=")
    );
    // The underlay carries the VTEPs: rack1's VTEP answers rack2's.
    let leaf2 = &lab.leaf("rack2-leaf").unwrap().netns;
    weft_lab::run(
        "ip",
        &[
            "netns",
            "exec",
            leaf2,
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "10.0.0.11",
        ],
    )
    .unwrap();
    // Tagged endpoints are namespaces of their own.
    let e = lab.tagged_endpoint("r1-srv1/eth0", 100).unwrap();
    assert!(weft_lab::netns::exists(&e.netns));
    assert_eq!(lab.tagged_endpoint("r1-srv1/eth0", 100).unwrap(), e);
    let namespaces = lab.state().namespaces.clone();
    let pids: Vec<u32> = lab
        .state()
        .ovs_dirs
        .iter()
        .flat_map(|d| weft_lab::OvsInstance::attach(d, None).pids())
        .collect();
    assert_eq!(pids.len(), 4, "{:?} {pids:?}", lab.state().ovs_dirs);
    // A second `up` of the same lab is refused.
    assert!(Lab::up(&spec).is_err());
    // `down` from the state file alone, as after a crash of the process
    // that made the lab.
    drop(lab);
    assert!(weft_lab::down(&name, root.path()).unwrap());
    for ns in &namespaces {
        assert!(!weft_lab::netns::exists(ns), "{ns} left behind");
    }
    for pid in pids {
        assert!(!process::alive(pid), "pid {pid} left running");
    }
    assert!(!root.path().join(&name).exists());
    assert!(!weft_lab::down(&name, root.path()).unwrap(), "down twice");
}
