//! Weft's benchmarks on the DESIGN.md workload (see `README.md` for the
//! figures and how they compare with the targets).
//!
//! Run: `cargo bench -p weft-benches` (all), or a filter such as
//! `cargo bench -p weft-benches -- compile`.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use weft_benches::{ChurnLoop, Fabric, MoveLoop, VerifiedMoveLoop};
use weft_pipeline::{compile, lower_fabric};

/// The 1,000 × 48 fabric, built once per process: generating and
/// validating it takes longer than most of what is measured.
fn fabric() -> &'static Fabric {
    static FABRIC: OnceLock<Fabric> = OnceLock::new();
    FABRIC.get_or_init(|| {
        let f = Fabric::bench();
        eprintln!(
            "bench fabric: {} switches, {} networks, {} attachments, {} pipeline entries",
            f.stats.switches,
            f.stats.networks,
            f.stats.attachments,
            f.stats.expected_entries.unwrap_or(0)
        );
        f
    })
}

/// Whole-fabric work: few samples, each takes milliseconds to seconds.
fn heavy(c: &mut Criterion) {
    let f = fabric();
    let mut group = c.benchmark_group("full");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("compile", |b| {
        b.iter(|| compile(black_box(&f.topology), black_box(&f.intent)))
    });
    let compiled = compile(&f.topology, &f.intent);
    group.bench_function("lower", |b| {
        b.iter(|| lower_fabric(black_box(&f.topology), black_box(&compiled)))
    });
    let rules = lower_fabric(&f.topology, &compiled);
    // Seconds per iteration: ten of them need a longer window.
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("verify", |b| {
        b.iter(|| {
            weft_verifier::verify(
                black_box(&f.topology),
                black_box(&f.intent),
                black_box(&rules),
            )
        })
    });
    group.finish();
}

/// One change at a time, through `Intent::apply` and the incremental
/// compiler: microseconds each, so many samples.
fn changes(c: &mut Criterion) {
    let f = fabric();
    let mut group = c.benchmark_group("change");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let mut moves = MoveLoop::new(f, 0);
    // What is measured: print the move's delta once (there and back).
    let there = moves.step(&f.topology);
    let (removed, added) = there.counts();
    eprintln!(
        "one-port move: {:?}; delta {} switches, +{added} -{removed} entries",
        moves.port_move,
        there.switches.len()
    );
    moves.step(&f.topology);
    group.bench_function("one_port_move", |b| b.iter(|| moves.step(&f.topology)));
    // The same, carried down to OpenFlow rule deltas.
    group.bench_function("one_port_move_lowered", |b| {
        b.iter(|| moves.step_lowered(&f.topology))
    });

    let mut churn = ChurnLoop::new(f, 0);
    let created = churn.create(&f.topology);
    let (_, added) = created.counts();
    eprintln!(
        "network churn: {} attachments; create adds {added} entries on {} switches",
        churn.churn.attachments.len(),
        created.switches.len()
    );
    churn.delete(&f.topology);
    group.bench_function("network_create_delete", |b| {
        b.iter(|| {
            let created = churn.create(&f.topology);
            let deleted = churn.delete(&f.topology);
            (created, deleted)
        })
    });
    group.finish();
}

/// Re-verification after a one-port move. Only the verifier's update is
/// timed; the move, its compilation and lowering are prepared outside the
/// clock (they are `change/one_port_move*`).
fn incremental_verify(c: &mut Criterion) {
    let f = fabric();
    let mut group = c.benchmark_group("verify");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    let mut v = VerifiedMoveLoop::new(f, 0);
    group.bench_function("incremental_after_move", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let change = v.prepare(&f.topology);
                let start = Instant::now();
                let report = v.verify(&change);
                total += start.elapsed();
                assert!(report.is_isolated());
            }
            total
        })
    });
    // The controller's whole path for one change: intent, compiler,
    // lowering, verifier.
    group.bench_function("move_end_to_end", |b| {
        b.iter(|| {
            let change = v.prepare(&f.topology);
            v.verify(&change).is_isolated()
        })
    });
    group.finish();
}

criterion_group!(benches, heavy, changes, incremental_verify);
criterion_main!(benches);
