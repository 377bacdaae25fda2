//! The CPU cost model in the engine: queue arithmetic (cost `c`, `k`
//! cores, `n` inputs), outputs leaving when their cost has been served,
//! queue delays recorded, crashes emptying the queue, and no change at all
//! for hosts without a CPU.

use node_logic::HostId;
use node_logic::io::{Input, Node, Output, Work};
use node_logic::outbox::Outbox;
use node_logic::time::{SimDuration, SimTime};
use rand_core::Rng;
use sim_core::cpu::{CpuCosts, HostCpu};
use sim_core::engine::{EngineConfig, FaultAction, ScheduledFault, Simulation};
use sim_core::fs::FsConfig;
use sim_core::network::{Link, Network};
use sim_core::trace::{NoTrace, TraceEvent, TraceKind, TraceSink};
use sim_core::units::Probability;

/// Host 0 sends `burst` messages to host 1 at its start; host 1 answers
/// each with one message and counts one signature verification per
/// message it handles.
struct Echo {
    id: HostId,
    burst: u32,
    verifies: u64,
    out: Outbox,
}

impl Node for Echo {
    fn handle_input(&mut self, _now: SimTime, input: Input, _rng: &mut dyn Rng) {
        match input {
            Input::Start { .. } if self.id == HostId(0) => {
                for i in 0..self.burst {
                    self.out.send(HostId(1), vec![i as u8]);
                }
            }
            Input::Message { from, payload } if self.id == HostId(1) => {
                self.verifies += 1;
                self.out.send(from, payload.to_vec());
            }
            _ => {}
        }
    }
    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }
    fn take_work(&mut self) -> Work {
        Work {
            verifies: std::mem::take(&mut self.verifies),
            ..Work::default()
        }
    }
}

/// When each answer reached host 0.
#[derive(Default)]
struct Answers(Vec<SimTime>, Vec<SimDuration>);

impl TraceSink for Answers {
    fn record(&mut self, e: &TraceEvent<'_>) {
        match e.kind {
            TraceKind::Deliver { .. } if e.host == Some(HostId(0)) => self.0.push(e.time),
            TraceKind::Serve { cost } if e.host == Some(HostId(1)) => self.1.push(cost),
            _ => {}
        }
    }
}

fn sim(burst: u32, cpu: Option<HostCpu>) -> Simulation<Echo> {
    let config = EngineConfig {
        seed: 1,
        stop_at: SimTime::from_duration(SimDuration::from_secs(10)),
        fs: FsConfig::default(),
    };
    let link = Link {
        latency: SimDuration::from_millis(1),
        jitter: SimDuration::ZERO,
        loss: Probability::ZERO,
    };
    let network = Network::mesh(2, link, "1 Gbit".parse().unwrap());
    let mut sim = Simulation::new(
        config,
        network,
        Box::new(move |id| Echo {
            id,
            burst,
            verifies: 0,
            out: Outbox::default(),
        }),
    );
    if let Some(cpu) = cpu {
        sim.set_cpu(HostId(1), cpu);
    }
    sim.schedule_start(HostId(0), SimTime::ZERO);
    sim.schedule_start(HostId(1), SimTime::ZERO);
    sim
}

fn cpu(cores: u32, verify_us: u64, message_us: u64) -> HostCpu {
    HostCpu {
        cores,
        costs: CpuCosts {
            verify: SimDuration::from_micros(verify_us),
            message: SimDuration::from_micros(message_us),
            ..CpuCosts::default()
        },
    }
}

#[test]
fn k_cores_serve_n_inputs_of_cost_c_in_ceil_n_over_k_times_c() {
    // Every input costs c = 50 + 10 = 60 us; messages arrive together.
    for (n, k) in [(1, 1), (10, 1), (10, 2), (10, 3), (7, 8)] {
        let mut s = sim(n, Some(cpu(k, 50, 10)));
        let mut answers = Answers::default();
        s.run(&mut answers).unwrap();
        assert_eq!(answers.0.len(), n as usize, "n={n} k={k}");
        // The start costs nothing; every message c.
        let costs: Vec<_> = answers.1.iter().filter(|c| !c.is_zero()).collect();
        assert_eq!(costs.len(), n as usize);
        assert!(costs.iter().all(|&&c| c == SimDuration::from_micros(60)));
        let mut base = sim(n, None);
        let mut plain = Answers::default();
        base.run(&mut plain).unwrap();
        let arrival = plain.0[0];
        // The i-th answer (0-based) leaves after (i / k + 1) services (to
        // within the nanoseconds the burst's serialization spreads it).
        for (i, t) in answers.0.iter().enumerate() {
            let rounds = (i as u64 / u64::from(k)) + 1;
            let expected = arrival + SimDuration::from_micros(60 * rounds);
            let off = t.as_nanos().abs_diff(expected.as_nanos());
            assert!(off <= 100, "n={n} k={k} i={i}: {t:?} vs {expected:?}");
        }
        let log = s.into_log();
        let record = &log.cpu[1];
        assert_eq!(record.served, u64::from(n) + 1, "the start and n messages");
        assert_eq!(record.busy, SimDuration::from_micros(60 * u64::from(n)));
        // The last input waited (ceil(n / k) - 1) services.
        let waits = (u64::from(n).div_ceil(u64::from(k)) - 1) * 60;
        let longest = record.delays.max().as_nanos();
        assert!(
            longest.abs_diff(waits * 1000) <= 100,
            "n={n} k={k}: {longest}"
        );
        assert_eq!(log.cpu[0], Default::default(), "host 0 has no CPU model");
    }
}

#[test]
fn a_free_cpu_changes_nothing_and_no_cpu_is_the_old_engine() {
    let run = |cpu: Option<HostCpu>| {
        let mut s = sim(5, cpu);
        let mut answers = Answers::default();
        s.run(&mut answers).unwrap();
        (answers.0, s.trace_hash(), s.log().events)
    };
    let plain = run(None);
    let free = run(Some(cpu(1, 0, 0)));
    assert_eq!(plain.0, free.0, "zero costs: same times");
    assert_ne!(plain.1, free.1, "serve records are in the trace");
    assert_eq!(plain.2, free.2, "zero costs queue no extra events");
    // Same inputs twice: same hash (deterministic).
    assert_eq!(run(Some(cpu(2, 30, 5))).1, run(Some(cpu(2, 30, 5))).1);
}

#[test]
fn a_crash_loses_the_queue_and_the_outputs_not_yet_released() {
    let mut s = sim(10, Some(cpu(1, 1000, 0)));
    s.schedule_fault(ScheduledFault {
        index: 0,
        kind: "crash",
        hosts: vec![HostId(1)],
        // Messages arrive at 1 ms; three services (3 ms) are done by 4.5 ms.
        at: SimTime::from_duration(SimDuration::from_micros(4_500)),
        heal: None,
        action: FaultAction::Crash {
            hosts: vec![HostId(1)],
        },
    });
    let mut answers = Answers::default();
    s.run(&mut answers).unwrap();
    assert_eq!(answers.0.len(), 3, "{:?}", answers.0);
    let log = s.into_log();
    assert_eq!(log.cpu[1].served, 5, "start + 4 started before the crash");
    let _ = NoTrace;
}
