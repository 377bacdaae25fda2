//! The null workload both engine benches run: 1,000 hosts whose node only
//! re-arms one timer, and a bare `BinaryHeap` doing the same pops and
//! pushes at the same depth.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use node_logic::HostId;
use node_logic::TimerId;
use node_logic::io::{Input, Node, Output};
use node_logic::outbox::Outbox;
use node_logic::time::{SimDuration, SimTime};
use rand_core::Rng;
use sim_core::engine::{EngineConfig, Simulation};
use sim_core::fs::FsConfig;
use sim_core::network::{DEFAULT_BANDWIDTH, Link, Network};
use sim_core::units::Probability;

/// Hosts in the null workload (and entries in the bare heap).
const HOSTS: u32 = 1_000;

/// A node that re-arms one timer, a little slower for higher host ids so
/// the hosts do not tick in lockstep.
pub struct TimerNode {
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

/// Host `host`'s timer period.
fn period(host: u32) -> SimDuration {
    SimDuration::from_nanos(1_000_000 + u64::from(host) * 997)
}

/// The engine with every host started.
pub fn null_simulation() -> Simulation<TimerNode> {
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

/// A bare `BinaryHeap` at the null workload's depth: one entry per host.
pub struct BareHeap {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    seq: u64,
}

impl BareHeap {
    /// The heap holding one entry per host.
    pub fn new() -> Self {
        let mut heap = BinaryHeap::new();
        let mut seq = 0u64;
        for h in 0..HOSTS {
            heap.push(Reverse((period(h).as_nanos(), seq)));
            seq += 1;
        }
        BareHeap { heap, seq }
    }

    /// `n` pops, each followed by a push (the heap keeps its depth).
    pub fn run(&mut self, n: u64) -> usize {
        for _ in 0..n {
            let Reverse((t, s)) = self.heap.pop().expect("non-empty");
            self.heap
                .push(Reverse((t + 1_000_000 + (s % 1_000) * 997, self.seq)));
            self.seq += 1;
        }
        self.heap.len()
    }
}

/// Runs `sim` for `n` more events.
pub fn run_engine(sim: &mut Simulation<TimerNode>, n: u64) -> SimTime {
    let mut sink = sim_core::trace::NoTrace;
    let target = sim.log().events + n;
    while sim.log().events < target {
        sim.step(&mut sink)
            .expect("the null workload stays within queue limits");
    }
    sim.now()
}
