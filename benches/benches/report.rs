//! Isolation reports: build (compile the intended state, verify the
//! read-back, derive every section), sign (canonical JSON + DSSE) and
//! render (HTML), for the two-racks lab fabric with 3 operators and for
//! the 1,000-leaf DESIGN.md fabric, with every switch's read-back equal to
//! its intended rules ("simulated agents"). Figures: `README.md`,
//! "Isolation reports".
//!
//! Run: `cargo bench -p weft-benches --bench report`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use weft_benches::Fabric;
use weft_model::{Intent, Topology};
use weft_report::{
    Installed, ReportInput, ReportKey, Traffic, build_report, recheck, render_html, sign,
};

/// Every programmed switch reads back exactly its intended rules, with a
/// counter per network it carries.
fn simulated_agents(topo: &Topology, intent: &Intent) -> BTreeMap<String, Option<Installed>> {
    let rules = weft_pipeline::lower_fabric(topo, &weft_pipeline::compile(topo, intent));
    rules
        .switches
        .into_iter()
        .map(|(id, rules)| {
            let counters = rules
                .rules()
                .iter()
                .filter_map(|r| r.matches.tun_id)
                .filter_map(|v| u32::try_from(v).ok())
                .map(|v| {
                    (
                        v,
                        Traffic {
                            packets: 1,
                            bytes: 64,
                        },
                    )
                })
                .collect();
            let installed = Installed {
                generation: 1,
                rules,
                counters,
            };
            (topo.switch(id).name.to_string(), Some(installed))
        })
        .collect()
}

fn input<'a>(topo: &'a Topology, intent: &'a Intent, key: &ReportKey) -> ReportInput<'a> {
    let traffic = intent
        .operators
        .values()
        .flat_map(|o| o.networks.values())
        .map(|n| {
            (
                n.vni.get(),
                Traffic {
                    packets: 1000,
                    bytes: 1_000_000,
                },
            )
        })
        .collect();
    ReportInput {
        topology: topo,
        intent,
        installed: simulated_agents(topo, intent),
        usage_period: (1_714_561_200, 1_714_564_800),
        traffic,
        audit_head: None,
        controller_version: "bench".to_owned(),
        generated_at: 1_714_564_800,
        signing_key: key.public_key(),
    }
}

fn two_racks() -> (Topology, Intent) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/");
    let topo = weft_config::load_topology(format!("{dir}two-racks.yaml"))
        .unwrap_or_else(|d| panic!("two-racks.yaml: {d:?}"));
    let intent = weft_config::load_intent(format!("{dir}two-racks.intent.yaml"), &topo)
        .unwrap_or_else(|d| panic!("two-racks.intent.yaml: {d:?}"));
    (topo, intent)
}

fn phases(c: &mut Criterion, group_name: &str, topo: &Topology, intent: &Intent, heavy: bool) {
    let key = ReportKey::from_seed(&[1; 32]);
    let input = input(topo, intent, &key);
    let report = build_report(&input);
    let envelope = sign(&report, &key);
    let html = render_html(&report, &envelope);
    eprintln!(
        "{group_name}: {} switches, {} rules read back, {} cells, {} findings; \
         payload {} bytes, envelope {} bytes, HTML {} bytes",
        report.fabric.switches.len(),
        report.fabric.switches.iter().map(|s| s.rules).sum::<u64>(),
        report.isolation.cells.len(),
        report.finding_count(),
        report.canonical_json().len(),
        envelope.len(),
        html.len()
    );
    assert!(report.is_isolated() && report.is_complete());

    let mut group = c.benchmark_group(group_name);
    if heavy {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(40));
    } else {
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5));
    }
    group.bench_function("build+sign+render", |b| {
        b.iter(|| {
            let report = build_report(black_box(&input));
            let envelope = sign(&report, &key);
            render_html(&report, &envelope)
        })
    });
    group.bench_function("build", |b| b.iter(|| build_report(black_box(&input))));
    group.bench_function("sign", |b| b.iter(|| sign(black_box(&report), &key)));
    group.bench_function("render", |b| {
        b.iter(|| render_html(black_box(&report), &envelope))
    });
    group.bench_function("open+recheck", |b| {
        b.iter(|| {
            let opened = weft_report::open(black_box(&envelope), Some(&key.public_key()))
                .unwrap_or_else(|e| panic!("{e}"));
            recheck(&opened.report).unwrap_or_else(|d| panic!("{:?}", &d[..d.len().min(3)]))
        })
    });
    group.finish();
}

fn lab(c: &mut Criterion) {
    let (topo, intent) = two_racks();
    phases(c, "report/two-racks", &topo, &intent, false);
}

fn thousand_leaves(c: &mut Criterion) {
    let f = Fabric::bench();
    phases(c, "report/1000-leaves", &f.topology, &f.intent, true);
}

criterion_group!(benches, lab, thousand_leaves);
criterion_main!(benches);
