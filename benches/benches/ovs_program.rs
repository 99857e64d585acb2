//! The Open vSwitch agent backend programming one leaf with 100,000 flows,
//! against a private `ovs-vswitchd` (dummy datapath) on its bridge's unix
//! management socket, as the agent runs it.
//!
//! - `ovs/reconcile_100k_from_empty`: `OvsBackend::reconcile` of the whole
//!   entry set on an emptied bridge: lowering, a dump (empty), the diff,
//!   then every flow-mod in ONE atomic bundle and its commit. The
//!   `ovs-ofctl del-flows` that empties the bridge is not timed.
//! - `ovs/ofctl_bundle_100k_from_empty`: the reference, the same flows
//!   (dumped from what Weft installed) through
//!   `ovs-ofctl -O OpenFlow13 --bundle add-flows unix:SOCK FILE`, process
//!   start and text parsing included, on an emptied bridge.
//! - `ovs/reconcile_100k_noop`: a reconcile when everything is installed
//!   (the agent's periodic repair): dump of 100,000 flows, decode, diff,
//!   zero flow-mods.
//!
//! Then one timed pass through the reconcile's parts, printed (where the
//! time goes). Skips with a printed reason when not root or Open vSwitch
//! is missing; the private instance is stopped (by pid) and its directory
//! removed whatever happens.
//!
//! Run: `cargo bench -p weft-benches --bench ovs_program`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use weft_agent::ovs::{Connection, OvsBackend, OvsTarget, plan};
use weft_agent::{ApplyStats, Backend, SwitchContext};
use weft_lab::{Datapath, OvsInstance};
use weft_model::{AttachMode, PortNo, VXLAN_TUNNEL_PORT, VlanId, Vni};
use weft_openflow::{FlowModCommand, flow_mod_from_rule, rule_from_flow_stats};
use weft_pipeline::{PipelineEntry, lower_switch};
use weft_rules::Rule;

const BRIDGE: &str = "br-int";
const LEAF: &str = "leaf1";
/// Server ports `swp1..swp48` at OpenFlow ports 1..48.
const SERVER_PORTS: u32 = 48;
/// Networks on the leaf, each on [`PORTS_PER_VNI`] tagged ports and
/// flooded to [`REMOTES_PER_VNI`] remote VTEPs: 26 rules each (6 × 3
/// port rules: classify and two inner-tag guards, 6 tunnel classify
/// rules, the flood and split-horizon rules), plus the 4 fixed rules:
/// 3,846 × 26 + 4 = 100,000.
const VNIS: u32 = 3_846;
const PORTS_PER_VNI: u32 = 6;
const REMOTES_PER_VNI: u32 = 6;
/// Remote VTEPs are drawn from this many other leaves.
const REMOTE_LEAVES: u32 = 999;
const FLOWS: u64 = 100_000;

/// One OVS leaf with 48 server ports, an uplink to one spine.
fn topology_yaml() -> String {
    weft_benches::one_leaf_topology_yaml("bench-ovs", "ovs", "10.0.0.1", SERVER_PORTS)
}

fn context() -> SwitchContext {
    let topology =
        weft_config::parse_topology("bench-ovs.yaml", &topology_yaml()).expect("bench topology");
    let switch = topology.switch_id(LEAF).expect("the leaf");
    SwitchContext {
        topology: Arc::new(topology),
        switch,
        topology_digest: "bench".into(),
    }
}

fn remote(n: u32) -> Ipv4Addr {
    // 10.1.0.1 onwards: never the leaf's own 10.0.0.1.
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 1)) + n % REMOTE_LEAVES)
}

/// Network `i` (VNI 10,000 + i) is tagged `i + 2` on six consecutive
/// server ports (so each port carries about 480 tags) and reaches six
/// remote VTEPs, with the matching tunnel ingress.
fn entries() -> Vec<PipelineEntry> {
    let mut out = Vec::new();
    for i in 0..VNIS {
        let vni = Vni::new(u64::from(10_000 + i)).expect("VNI");
        let tag = VlanId::new(u64::from(i + 2)).expect("VLAN id");
        for k in 0..PORTS_PER_VNI {
            let port = PortNo::new(u64::from((i * PORTS_PER_VNI + k) % SERVER_PORTS + 1))
                .expect("port number");
            let mode = AttachMode::Tagged(tag);
            out.push(PipelineEntry::PortIngress { port, mode, vni });
            out.push(PipelineEntry::FloodPort { vni, port, mode });
        }
        for k in 0..REMOTES_PER_VNI {
            let remote = remote(i * REMOTES_PER_VNI + k);
            out.push(PipelineEntry::TunnelIngress { vni, remote });
            out.push(PipelineEntry::FloodTunnel { vni, remote });
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn skip_reason() -> Option<String> {
    if !weft_lab::is_root() {
        return Some("not root: a private Open vSwitch needs root".into());
    }
    for tool in ["ovs-vswitchd", "ovsdb-server", "ovs-vsctl", "ovs-ofctl"] {
        if !weft_lab::have(tool) {
            return Some(format!("`{tool}` is not installed (openvswitch-switch)"));
        }
    }
    None
}

/// The private switch: stopped by its pids, then its directory removed,
/// when dropped (fields drop in order).
struct Switch {
    ovs: OvsInstance,
    dir: tempfile::TempDir,
}

impl Switch {
    fn start() -> Switch {
        // Short path: unix socket names are limited to 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("wbovs")
            .tempdir_in("/tmp")
            .expect("temporary directory");
        let ovs = OvsInstance::start(dir.path(), None, Datapath::Dummy).expect("start OVS");
        ovs.add_bridge(BRIDGE).expect("bridge");
        for p in 1..=SERVER_PORTS {
            ovs.add_port(BRIDGE, &format!("swp{p}"), p, &["type=dummy"])
                .expect("server port");
        }
        ovs.add_port(
            BRIDGE,
            "vxlan0",
            VXLAN_TUNNEL_PORT.get(),
            &["type=vxlan", "options:remote_ip=flow", "options:key=flow"],
        )
        .expect("tunnel port");
        Switch { ovs, dir }
    }

    fn socket(&self) -> PathBuf {
        self.ovs.mgmt_socket(BRIDGE)
    }

    fn target(&self) -> OvsTarget {
        OvsTarget::Unix(self.socket())
    }

    fn empty(&self) {
        self.ovs
            .ofctl("del-flows", BRIDGE, &[])
            .expect("ovs-ofctl del-flows");
    }

    /// Flows on the bridge, from `dump-aggregate`.
    fn flow_count(&self) -> u64 {
        let out = self
            .ovs
            .ofctl("dump-aggregate", BRIDGE, &[])
            .expect("ovs-ofctl dump-aggregate");
        out.split_whitespace()
            .find_map(|w| w.strip_prefix("flow_count="))
            .and_then(|n| n.parse().ok())
            .expect("flow_count in dump-aggregate")
    }

    /// What is installed, as `ovs-ofctl add-flows` input (cookies kept).
    fn flow_text(&self) -> String {
        let out = self
            .ovs
            .ofctl("dump-flows", BRIDGE, &["--no-stats"])
            .expect("ovs-ofctl dump-flows");
        let mut text = String::new();
        for line in out.lines().filter(|l| l.contains("actions=")) {
            text.push_str(line.trim());
            text.push('\n');
        }
        text
    }
}

/// `ovs-ofctl -O OpenFlow13 --bundle add-flows unix:SOCK FILE`, timed.
fn ofctl_bundle(socket: &Path, file: &Path) -> Duration {
    let target = format!("unix:{}", socket.display());
    let started = Instant::now();
    let out = Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13", "--bundle", "add-flows", &target])
        .arg(file)
        .output()
        .expect("run ovs-ofctl");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "ovs-ofctl --bundle add-flows: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn secs(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// CPU time (user + system) a process has used, from `/proc/PID/stat`
/// (clock ticks of 10 ms).
fn cpu(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name, which ends with the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|x| x.parse().expect("tick count"))
        .collect();
    Duration::from_millis(10 * f.iter().sum::<u64>())
}

/// One pass through the parts of a reconcile from empty and of a no-op
/// one, each timed on its own, printed.
fn breakdown(rt: &Runtime, sw: &Switch, ctx: &SwitchContext, entries: &[PipelineEntry]) {
    let t = Instant::now();
    let rules = lower_switch(&ctx.topology, ctx.switch, entries);
    let lower = t.elapsed();

    let t = Instant::now();
    let mods = rules
        .rules()
        .iter()
        .map(|r| flow_mod_from_rule(r, FlowModCommand::Add).expect("encodable rule"))
        .collect::<Vec<_>>();
    let convert = t.elapsed();

    sw.empty();
    let vswitchd = sw
        .ovs
        .pids()
        .first()
        .map(u32::to_string)
        .expect("ovs-vswitchd pid");
    let (bundle, dump, decode, diff, n, busy) = rt.block_on(async {
        let conn = Connection::connect(&sw.target(), Duration::from_secs(60))
            .await
            .expect("OpenFlow connection");
        let (ovs0, own0) = (cpu(&vswitchd), cpu("self"));
        let t = Instant::now();
        conn.bundle(mods).await.expect("bundle");
        let bundle = t.elapsed();
        let (ovs1, own1) = (cpu(&vswitchd), cpu("self"));
        let t = Instant::now();
        let flows = conn.dump_flows().await.expect("dump");
        let dump = t.elapsed();
        let (ovs2, own2) = (cpu(&vswitchd), cpu("self"));
        let busy = [ovs1 - ovs0, own1 - own0, ovs2 - ovs1, own2 - own1];
        let t = Instant::now();
        let installed: Vec<Rule> = flows.iter().map(rule_from_flow_stats).collect();
        let decode = t.elapsed();
        let t = Instant::now();
        let p = plan(&installed, &rules);
        let diff = t.elapsed();
        assert!(p.is_empty(), "the bundle installed exactly the lowering");
        (bundle, dump, decode, diff, flows.len(), busy)
    });
    eprintln!(
        "ovs breakdown, {n} flows:\n  lower_switch {}\n  Rule -> FlowMod {}\n  \
         bundle (encode, send, open/add/commit, barriers) {} \
         (CPU: ovs-vswitchd {}, this process {})\n  \
         dump-flows {} (CPU: ovs-vswitchd {}, this process {})\n  \
         FlowStats -> Rule {}\n  plan (diff) {}",
        secs(lower),
        secs(convert),
        secs(bundle),
        secs(busy[0]),
        secs(busy[1]),
        secs(dump),
        secs(busy[2]),
        secs(busy[3]),
        secs(decode),
        secs(diff),
    );
}

fn bench(c: &mut Criterion) {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED ovs_program: {why}");
        return;
    }
    let rt = Runtime::new().expect("tokio runtime");
    let ctx = context();
    let entries = entries();
    let expected = lower_switch(&ctx.topology, ctx.switch, &entries)
        .rules()
        .len();
    eprintln!(
        "workload: {} pipeline entries on one leaf, {expected} OpenFlow rules",
        entries.len()
    );
    assert_eq!(u64::try_from(expected).expect("count"), FLOWS);

    let sw = Switch::start();
    let mut backend = rt
        .block_on(OvsBackend::connect_with_timeout(
            sw.target(),
            Duration::from_secs(60),
        ))
        .expect("connect the backend");
    let mut generation = 0;
    let mut reconcile = |backend: &mut OvsBackend| {
        generation += 1;
        rt.block_on(backend.reconcile(&ctx, generation, &entries))
            .expect("reconcile")
    };

    // Install once: checks the workload and gives ovs-ofctl its input.
    let stats = reconcile(&mut backend);
    assert_eq!(
        stats,
        ApplyStats {
            added: FLOWS,
            removed: 0
        }
    );
    assert_eq!(sw.flow_count(), FLOWS);
    let flow_file = sw.dir.path().join("flows.txt");
    std::fs::write(&flow_file, sw.flow_text()).expect("write the flow file");

    let mut group = c.benchmark_group("ovs");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(FLOWS));
    group.bench_function("reconcile_100k_from_empty", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                sw.empty();
                let started = Instant::now();
                let stats = reconcile(&mut backend);
                timed += started.elapsed();
                assert_eq!(stats.added, FLOWS);
            }
            timed
        })
    });
    group.bench_function("ofctl_bundle_100k_from_empty", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                sw.empty();
                timed += ofctl_bundle(&sw.socket(), &flow_file);
            }
            timed
        })
    });
    assert_eq!(sw.flow_count(), FLOWS, "ovs-ofctl installed every flow");
    // What ovs-ofctl installed is exactly Weft's: the no-op below would
    // otherwise not be one.
    let stats = reconcile(&mut backend);
    assert_eq!(stats, ApplyStats::default());

    let sent = backend.flow_mods_sent();
    group.bench_function("reconcile_100k_noop", |b| {
        b.iter(|| {
            let stats = reconcile(&mut backend);
            assert_eq!(stats, ApplyStats::default());
        })
    });
    group.finish();
    assert_eq!(backend.flow_mods_sent(), sent, "a no-op sends nothing");
    drop(backend);

    breakdown(&rt, &sw, &ctx, &entries);
}

criterion_group!(benches, bench);
criterion_main!(benches);
