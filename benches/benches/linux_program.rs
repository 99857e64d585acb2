//! The Linux agent backend programming one leaf's kernel (bridges, VXLAN
//! devices, FDB flood entries over rtnetlink; drops through `nft`) in a
//! fresh network namespace, against iproute2's batch mode doing the same.
//!
//! Workload: 500 networks, each with a VXLAN device flooding to 16 remote
//! VTEPs (8,000 all-zeros FDB entries) and accepting from them; the first
//! 48 also have one access server port. Server ports are veth pairs
//! (this kernel has no `dummy` link kind).
//!
//! - `linux/create_500_networks`: `LinuxBackend::reconcile` from nothing
//!   to the whole set (dumps, `nft` read-back, every link created, marked
//!   and brought up, every FDB entry, ports enslaved, one `nft` script).
//!   Each is followed by the teardown (a reconcile back to nothing), timed
//!   on the side and printed: it is kernel-bound at ~25 s, far too slow
//!   to repeat just to reset.
//! - `linux/fdb_8000_reconcile`: the devices exist with no flood entries;
//!   a reconcile adds the 8,000 FDB entries and nothing else.
//! - `linux/fdb_8000_bridge_batch`: the reference, the same 8,000
//!   `fdb append 00:00:00:00:00:00 dev weftvXXXXXX dst R self permanent`
//!   through `bridge -n NS -batch FILE`.
//! - iproute2 doing Weft's create without the `nft` drops (`ip -n NS
//!   -batch` for the links, their alias and `addrgenmode none`, ports
//!   enslaved, up; then `bridge -batch` for the FDB) and the teardown
//!   (`ip -batch`): a plain loop of three, printed.
//!
//! Each reference is checked to build exactly Weft's state (a reconcile
//! after it changes nothing, or only the drops). Throughput is in
//! operations: netlink changes plus `nft` scripts for Weft (its
//! `ApplyStats`), batch lines for iproute2. Then one timed pass through
//! the `nft` calls, the read-back dumps and the FDB requests alone,
//! printed (where the time goes).
//!
//! Skips with a printed reason when not root or `ip`, `bridge` or `nft`
//! is missing; the namespace is deleted whatever happens.
//!
//! Run: `cargo bench -p weft-benches --bench linux_program`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures_util::{StreamExt, stream};
use tokio::runtime::Runtime;
use weft_agent::linux::names::{Alias, bridge_name, vxlan_name};
use weft_agent::linux::netlink::{self, Netlink};
use weft_agent::linux::nft::Nft;
use weft_agent::linux::{LinuxBackend, LinuxConfig};
use weft_agent::{ApplyStats, Backend, SwitchContext};
use weft_lab::Netns;
use weft_model::{AttachMode, PortNo, Vni};
use weft_pipeline::PipelineEntry;

const LEAF: &str = "leaf1";
const LOCAL_VTEP: &str = "10.0.0.1";
/// Server ports `swp1..swp48`; port `k` is the access port of network `k-1`.
const SERVER_PORTS: u32 = 48;
const VNIS: u32 = 500;
const REMOTES_PER_VNI: u32 = 16;
/// Remote VTEPs are drawn from this many other leaves.
const REMOTE_LEAVES: u32 = 999;
/// Runs of the iproute2 create and teardown (each teardown takes ~25 s).
const IPROUTE2_RUNS: usize = 3;

/// One Linux leaf with 48 server ports, an uplink to one spine.
fn topology_yaml() -> String {
    weft_benches::one_leaf_topology_yaml("bench-linux", "linux", LOCAL_VTEP, SERVER_PORTS)
}

fn context() -> SwitchContext {
    let topology =
        weft_config::parse_topology("bench-linux.yaml", &topology_yaml()).expect("bench topology");
    let switch = topology.switch_id(LEAF).expect("the leaf");
    SwitchContext {
        topology: Arc::new(topology),
        switch,
        topology_digest: "bench".into(),
    }
}

fn vni(i: u32) -> Vni {
    Vni::new(u64::from(10_000 + i)).expect("VNI")
}

fn remote(i: u32, k: u32) -> Ipv4Addr {
    // 10.1.0.1 onwards: never the leaf's own VTEP.
    let n = (i * REMOTES_PER_VNI + k) % REMOTE_LEAVES;
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 1)) + n)
}

/// The workload's entries; without the `FloodTunnel` ones when `flood` is
/// false (the VXLAN devices then exist with no FDB entry).
fn entries(flood: bool) -> Vec<PipelineEntry> {
    let mut out = Vec::new();
    for i in 0..VNIS {
        let vni = vni(i);
        if i < SERVER_PORTS {
            let port = PortNo::new(u64::from(i + 1)).expect("port number");
            let mode = AttachMode::Access;
            out.push(PipelineEntry::PortIngress { port, mode, vni });
            out.push(PipelineEntry::FloodPort { vni, port, mode });
        }
        for k in 0..REMOTES_PER_VNI {
            let remote = remote(i, k);
            out.push(PipelineEntry::TunnelIngress { vni, remote });
            if flood {
                out.push(PipelineEntry::FloodTunnel { vni, remote });
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// `bridge -batch` input: the flood entries Weft installs.
fn fdb_batch() -> String {
    let mut s = String::new();
    for i in 0..VNIS {
        let dev = vxlan_name(vni(i));
        for k in 0..REMOTES_PER_VNI {
            s.push_str(&format!(
                "fdb append 00:00:00:00:00:00 dev {dev} dst {} self permanent\n",
                remote(i, k)
            ));
        }
    }
    s
}

/// `ip -batch` input: Weft's links, in the order it makes them.
fn link_batch() -> String {
    let mut s = String::new();
    for i in 0..VNIS {
        let v = vni(i);
        s.push_str(&format!(
            "link add {} type bridge stp_state 0 mcast_snooping 0\n",
            bridge_name(v)
        ));
    }
    for i in 0..VNIS {
        let v = vni(i);
        s.push_str(&format!(
            "link add {} master {} type vxlan id {v} local {LOCAL_VTEP} dstport 4789 nolearning\n",
            vxlan_name(v),
            bridge_name(v),
        ));
    }
    for i in 0..VNIS {
        let v = vni(i);
        for (name, alias) in [
            (bridge_name(v), Alias::Bridge { vni: v }),
            (vxlan_name(v), Alias::Vxlan { vni: v }),
        ] {
            s.push_str(&format!(
                "link set dev {name} alias \"{alias}\" addrgenmode none\n"
            ));
        }
    }
    for i in 0..SERVER_PORTS {
        s.push_str(&format!(
            "link set dev swp{} master {}\n",
            i + 1,
            bridge_name(vni(i))
        ));
    }
    for i in 0..VNIS {
        let v = vni(i);
        s.push_str(&format!("link set dev {} up\n", bridge_name(v)));
        s.push_str(&format!("link set dev {} up\n", vxlan_name(v)));
    }
    s
}

/// `ip -batch` input removing what [`link_batch`] made: ports released,
/// VXLAN devices, then bridges (the order of Weft's teardown).
fn unlink_batch() -> String {
    let mut s = String::new();
    for p in 1..=SERVER_PORTS {
        s.push_str(&format!("link set dev swp{p} nomaster\n"));
    }
    for i in 0..VNIS {
        s.push_str(&format!("link del dev {}\n", vxlan_name(vni(i))));
    }
    for i in 0..VNIS {
        s.push_str(&format!("link del dev {}\n", bridge_name(vni(i))));
    }
    s
}

fn skip_reason() -> Option<String> {
    if !weft_lab::is_root() {
        return Some("not root: network namespaces need CAP_SYS_ADMIN".into());
    }
    for tool in ["ip", "bridge", "nft"] {
        if !weft_lab::have(tool) {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// A leaf namespace: `swpN` veths (peers `pN`, in the namespace too) and
/// the VTEP address on `up1`. Deleted when dropped.
fn leaf() -> Netns {
    let ns =
        Netns::create(&format!("wbench-lx-{}", std::process::id())).expect("network namespace");
    let mut links = String::new();
    for p in 1..=SERVER_PORTS {
        links.push_str(&format!(
            "link add swp{p} type veth peer name p{p}\nlink set swp{p} up\nlink set p{p} up\n"
        ));
    }
    links.push_str(&format!(
        "link add up1 type veth peer name u1\naddr add {LOCAL_VTEP}/24 dev up1\nlink set up1 up\n"
    ));
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("leaf.batch");
    std::fs::write(&file, links).expect("write batch");
    batch("ip", ns.name(), &file);
    ns
}

/// `PROGRAM -n NS -batch FILE` (`ip` or `bridge`), timed.
fn batch(program: &str, ns: &str, file: &Path) -> Duration {
    let started = Instant::now();
    let out = Command::new(program)
        .args(["-n", ns, "-batch"])
        .arg(file)
        .output()
        .expect("run iproute2");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{program} -batch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn lines(text: &str) -> u64 {
    u64::try_from(text.lines().count()).expect("count")
}

fn ops(s: ApplyStats) -> u64 {
    s.added + s.removed
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The median of `n` timings of `f`.
fn median(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..n).map(|_| f()).collect();
    v.sort();
    v[n / 2]
}

struct Leaf {
    rt: Runtime,
    ctx: SwitchContext,
    backend: LinuxBackend,
    generation: u64,
    full: Vec<PipelineEntry>,
    no_flood: Vec<PipelineEntry>,
}

impl Leaf {
    fn reconcile(&mut self, entries: Which) -> ApplyStats {
        self.generation += 1;
        let e: &[PipelineEntry] = match entries {
            Which::Full => &self.full,
            Which::NoFlood => &self.no_flood,
            Which::Empty => &[],
        };
        self.rt
            .block_on(self.backend.reconcile(&self.ctx, self.generation, e))
            .expect("reconcile")
    }

    fn timed(&mut self, entries: Which) -> (Duration, ApplyStats) {
        let started = Instant::now();
        let s = self.reconcile(entries);
        (started.elapsed(), s)
    }
}

#[derive(Clone, Copy)]
enum Which {
    Full,
    NoFlood,
    Empty,
}

/// Where the time of a reconcile goes besides the kernel's own work: the
/// `nft` processes, the read-back dumps, and the FDB requests alone.
fn breakdown(leaf: &mut Leaf, ns: &str) {
    let nft = Nft {
        nft: PathBuf::from("nft"),
        ip: PathBuf::from("ip"),
        netns: Some(ns.to_string()),
    };
    let nl = {
        let _enter = leaf.rt.enter();
        Netlink::open(Some(ns)).expect("netlink in the namespace")
    };
    leaf.reconcile(Which::Full);
    let state = nft
        .read()
        .expect("nft read")
        .state()
        .cloned()
        .expect("Weft's tables read back canonical");
    let read = median(5, || {
        let t = Instant::now();
        nft.read().expect("nft read");
        t.elapsed()
    });
    let replace = median(5, || {
        let t = Instant::now();
        nft.replace(&state).expect("nft replace");
        t.elapsed()
    });
    let snapshot = median(5, || {
        let t = Instant::now();
        leaf.rt.block_on(nl.snapshot()).expect("dump");
        t.elapsed()
    });
    let plan_full = median(5, || {
        let t = Instant::now();
        let (_, p) = leaf
            .rt
            .block_on(leaf.backend.plan(&leaf.ctx, &leaf.full))
            .expect("plan");
        assert!(p.is_empty());
        t.elapsed()
    });
    // The 8,000 FDB appends as the backend sends them (64 in flight), with
    // nothing else around them.
    let fdb = median(5, || {
        leaf.reconcile(Which::NoFlood);
        let kernel = leaf.rt.block_on(nl.snapshot()).expect("dump");
        let mut reqs = Vec::new();
        for i in 0..VNIS {
            let name = vxlan_name(vni(i));
            let index = kernel.by_name(&name).expect("VXLAN device").index;
            for k in 0..REMOTES_PER_VNI {
                reqs.push(netlink::fdb_append(index, &name, remote(i, k)));
            }
        }
        let t = Instant::now();
        leaf.rt.block_on(async {
            let mut done = stream::iter(reqs)
                .map(|r| nl.execute(r))
                .buffer_unordered(64);
            while let Some(r) = done.next().await {
                r.expect("fdb append");
            }
        });
        let took = t.elapsed();
        assert_eq!(leaf.reconcile(Which::Full), ApplyStats::default());
        took
    });
    leaf.reconcile(Which::Empty);
    let plan_empty = median(5, || {
        let t = Instant::now();
        leaf.rt
            .block_on(leaf.backend.plan(&leaf.ctx, &leaf.full))
            .expect("plan");
        t.elapsed()
    });
    let snapshot_empty = median(5, || {
        let t = Instant::now();
        leaf.rt.block_on(nl.snapshot()).expect("dump");
        t.elapsed()
    });
    let fdb_n = VNIS * REMOTES_PER_VNI;
    eprintln!(
        "linux breakdown (medians of 5; {} vteps, {} guarded devices):\n  \
         nft read-back (2 x `ip netns exec nft -j list`): {}\n  \
         nft replace (1 script): {}\n  \
         link + FDB dump (Netlink::snapshot), everything installed: {}; nothing installed: {}\n  \
         plan, everything installed (dump + nft read + diff): {}; nothing installed: {}\n  \
         {fdb_n} FDB appends alone, 64 in flight: {} ({:.0} ops/s)",
        state.vteps.len(),
        state.devices.len(),
        ms(read),
        ms(replace),
        ms(snapshot),
        ms(snapshot_empty),
        ms(plan_full),
        ms(plan_empty),
        ms(fdb),
        f64::from(fdb_n) / fdb.as_secs_f64(),
    );
}

/// min / median / max and the rate of `n` operations.
fn summary(mut v: Vec<Duration>, n: u64) -> String {
    v.sort();
    let med = v[v.len() / 2];
    format!(
        "{} runs: median {} (min {}, max {}), {:.0} ops/s at the median",
        v.len(),
        ms(med),
        ms(v[0]),
        ms(v[v.len() - 1]),
        u64_f64(n) / med.as_secs_f64()
    )
}

fn u64_f64(n: u64) -> f64 {
    f64::from(u32::try_from(n).expect("small count"))
}

fn bench(c: &mut Criterion) {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED linux_program: {why}");
        return;
    }
    let ns = leaf();
    let rt = Runtime::new().expect("tokio runtime");
    let backend = {
        let _enter = rt.enter();
        LinuxBackend::new(LinuxConfig {
            netns: Some(ns.name().to_string()),
            ..LinuxConfig::default()
        })
        .expect("netlink in the namespace")
    };
    let mut leaf = Leaf {
        rt,
        ctx: context(),
        backend,
        generation: 0,
        full: entries(true),
        no_flood: entries(false),
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write batch file");
        path
    };
    let fdb_text = fdb_batch();
    let link_text = link_batch();
    let down_text = unlink_batch();
    let fdb_file = write("fdb.batch", &fdb_text);
    let link_file = write("links.batch", &link_text);
    let down_file = write("down.batch", &down_text);

    // The operation counts, and the checks that each reference does what
    // Weft does.
    let fdb_total = u64::from(VNIS * REMOTES_PER_VNI);
    let create = ops(leaf.reconcile(Which::Full));
    assert_eq!(leaf.reconcile(Which::Full), ApplyStats::default());
    leaf.reconcile(Which::NoFlood);
    let fdb = ops(leaf.reconcile(Which::Full));
    assert_eq!(
        fdb, fdb_total,
        "from NoFlood to Full is the FDB entries alone"
    );
    leaf.reconcile(Which::NoFlood);
    batch("bridge", ns.name(), &fdb_file);
    assert_eq!(
        leaf.reconcile(Which::Full),
        ApplyStats::default(),
        "bridge -batch made Weft's FDB"
    );
    let teardown = ops(leaf.reconcile(Which::Empty));
    batch("ip", ns.name(), &link_file);
    batch("bridge", ns.name(), &fdb_file);
    assert_eq!(
        leaf.reconcile(Which::Full),
        ApplyStats {
            added: 1,
            removed: 0
        },
        "iproute2 made Weft's links and FDB; only the nft drops were missing"
    );
    batch("ip", ns.name(), &down_file);
    // Only the drops are left, which a reconcile to nothing keeps.
    leaf.reconcile(Which::Empty);
    eprintln!(
        "workload: {} entries; Weft: create {create} ops, teardown {teardown} ops, \
         FDB only {fdb} ops; iproute2: create {} ip + {} bridge lines, teardown {} ip lines",
        leaf.full.len(),
        lines(&link_text),
        lines(&fdb_text),
        lines(&down_text),
    );

    let mut group = c.benchmark_group("linux");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1));
    // Each create is followed by its teardown (the reset), timed on the
    // side: a teardown is dominated by the kernel's bridge deletion, tens
    // of seconds, too slow to run again just to reset.
    let mut teardowns = Vec::new();
    group
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(create));
    group.bench_function("create_500_networks", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let (t, s) = leaf.timed(Which::Full);
                assert_eq!(ops(s), create);
                timed += t;
                let (t, s) = leaf.timed(Which::Empty);
                assert_eq!(ops(s), teardown);
                teardowns.push(t);
            }
            timed
        })
    });
    group
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(fdb_total));
    group.bench_function("fdb_8000_reconcile", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                leaf.reconcile(Which::NoFlood);
                let (t, s) = leaf.timed(Which::Full);
                assert_eq!(ops(s), fdb_total);
                timed += t;
            }
            timed
        })
    });
    group.bench_function("fdb_8000_bridge_batch", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                leaf.reconcile(Which::NoFlood);
                timed += batch("bridge", ns.name(), &fdb_file);
            }
            timed
        })
    });
    group.finish();
    leaf.reconcile(Which::Empty);
    eprintln!(
        "linux teardown_500_networks (reconcile to nothing, {teardown} ops): {}",
        summary(teardowns, teardown)
    );

    // iproute2 doing the links and the FDB, then removing them: a plain
    // loop, as each removal is as slow as Weft's.
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    for _ in 0..IPROUTE2_RUNS {
        ups.push(batch("ip", ns.name(), &link_file) + batch("bridge", ns.name(), &fdb_file));
        downs.push(batch("ip", ns.name(), &down_file));
    }
    eprintln!(
        "iproute2 create (ip -batch + bridge -batch, {} lines): {}",
        lines(&link_text) + lines(&fdb_text),
        summary(ups, lines(&link_text) + lines(&fdb_text))
    );
    eprintln!(
        "iproute2 teardown (ip -batch, {} lines): {}",
        lines(&down_text),
        summary(downs, lines(&down_text))
    );

    breakdown(&mut leaf, ns.name());
    leaf.reconcile(Which::Empty);
    drop(leaf);
    // `ns` drops last: the namespace goes with everything in it.
}

criterion_group!(benches, bench);
criterion_main!(benches);
