//! Engine overhead on a null workload, against a bare `BinaryHeap`.
//!
//! `engine/timers-1000-hosts`: 1,000 hosts, each re-arming one timer on
//! every expiry (a node that does nothing else), so the queue holds 1,000
//! events and every event goes through the whole engine path: pop, timer
//! generation check, trace hash, node dispatch, output drain, timer table,
//! push. `bare-heap/depth-1000`: the same pattern with nothing but a
//! `BinaryHeap<Reverse<(u64, u64)>>` push + pop at the same depth.
//! Both report events per second; BENCHMARKS.md records their ratio.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use node_logic::HostId;
use node_logic::TimerId;
use node_logic::io::{Input, Node, Output};
use node_logic::outbox::Outbox;
use node_logic::time::{SimDuration, SimTime};
use rand_core::Rng;
use sim_core::engine::{EngineConfig, Simulation};
use sim_core::fs::FsConfig;
use sim_core::network::{DEFAULT_BANDWIDTH, Link, Network};
use sim_core::trace::NoTrace;
use sim_core::units::Probability;

const HOSTS: u32 = 1_000;
const EVENTS_PER_ITER: u64 = 100_000;

/// A node that re-arms one timer, a little slower for higher host ids so
/// the hosts do not tick in lockstep.
struct TimerNode {
    period: SimDuration,
    out: Outbox,
}

impl Node for TimerNode {
    fn handle_input(&mut self, now: SimTime, input: Input, _rng: &mut dyn Rng) {
        if matches!(input, Input::Start { .. } | Input::Timer(_)) {
            self.out.set_timer(TimerId::Workload(0), now + self.period);
        }
    }
    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }
}

fn period(host: u32) -> SimDuration {
    SimDuration::from_nanos(1_000_000 + u64::from(host) * 997)
}

fn null_simulation() -> Simulation<TimerNode> {
    let link = Link {
        latency: SimDuration::from_millis(1),
        jitter: SimDuration::ZERO,
        loss: Probability::ZERO,
    };
    let network = Network::mesh(HOSTS, link, DEFAULT_BANDWIDTH);
    let config = EngineConfig {
        seed: 1,
        stop_at: SimTime::NEVER,
        fs: FsConfig::default(),
    };
    let mut sim = Simulation::new(
        config,
        network,
        Box::new(|id: HostId| TimerNode {
            period: period(id.0),
            out: Outbox::default(),
        }),
    );
    for h in 0..HOSTS {
        sim.schedule_start(HostId(h), SimTime::ZERO);
    }
    sim
}

fn bench_engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("null-workload");
    group.throughput(Throughput::Elements(EVENTS_PER_ITER));

    let mut sim = null_simulation();
    let mut sink = NoTrace;
    group.bench_function("engine/timers-1000-hosts", |b| {
        b.iter(|| {
            let target = sim.log().events + EVENTS_PER_ITER;
            while sim.log().events < target {
                sim.step(&mut sink)
                    .expect("the null workload stays within queue limits");
            }
            black_box(sim.now())
        })
    });

    let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut seq = 0u64;
    for h in 0..HOSTS {
        heap.push(Reverse((period(h).as_nanos(), seq)));
        seq += 1;
    }
    group.bench_function("bare-heap/depth-1000", |b| {
        b.iter(|| {
            for _ in 0..EVENTS_PER_ITER {
                // The heap always holds HOSTS entries.
                let Reverse((t, s)) = heap.pop().expect("non-empty");
                heap.push(Reverse((t + 1_000_000 + (s % 1_000) * 997, seq)));
                seq += 1;
            }
            black_box(heap.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_engine);
criterion_main!(benches);
