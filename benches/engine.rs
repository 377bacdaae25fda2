//! Engine overhead on a null workload, against a bare `BinaryHeap`.
//!
//! `engine/timers-1000-hosts`: 1,000 hosts, each re-arming one timer on
//! every expiry (a node that does nothing else), so the queue holds 1,000
//! events and every event goes through the whole engine path: pop, timer
//! generation check, trace hash, node dispatch, output drain, timer table,
//! push. `bare-heap/depth-1000`: the same pattern with nothing but a
//! `BinaryHeap<Reverse<(u64, u64)>>` push + pop at the same depth.
//! Both report events per second; BENCHMARKS.md records their ratio
//! (`engine_ratio` measures the same ratio interleaved, for noisy machines).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod null_workload;
use null_workload::{BareHeap, null_simulation, run_engine};

const EVENTS_PER_ITER: u64 = 100_000;

fn bench_engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("null-workload");
    group.throughput(Throughput::Elements(EVENTS_PER_ITER));

    let mut sim = null_simulation();
    group.bench_function("engine/timers-1000-hosts", |b| {
        b.iter(|| black_box(run_engine(&mut sim, EVENTS_PER_ITER)))
    });

    let mut heap = BareHeap::new();
    group.bench_function("bare-heap/depth-1000", |b| {
        b.iter(|| black_box(heap.run(EVENTS_PER_ITER)))
    });
    group.finish();
}

criterion_group!(benches, bench_engine);
criterion_main!(benches);
