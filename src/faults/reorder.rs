//! `reorder`: messages on the paths between the hosts of `a` and of `b`
//! (both ways) arrive out of order until `until`. Each message is held
//! back with `probability` (default 0.2) by an extra delay drawn uniformly
//! from `0..=window` (default 50 ms), so messages sent after it overtake
//! it — as multipath routing or a loaded switch would do. Per-message
//! draws come from the fault's own `fault-rule` stream.

use node_logic::HostId;
use rand::RngExt;
use sim_core::faults::{NetworkRule, PathEnds, Verdict};
use sim_core::rng::StreamRng;
use sim_core::scenario::{self, FaultEntry, FaultKeys, Hosts};
use sim_core::units::{Probability, SimDuration, SimTime};

use super::draw::{self, DrawSpace, EntryWriter};
use super::path::{PathFault, ends};
use super::{FaultContext, FaultKind};
use crate::protocols::Protocols;

/// A reordering fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Reorder {
    /// One end.
    pub a: Vec<HostId>,
    /// The other end.
    pub b: Vec<HostId>,
    /// Share of messages held back.
    pub probability: Probability,
    /// The longest extra delay of a held-back message.
    pub window: SimDuration,
    /// When it ends; `None` = never.
    pub until: Option<SimTime>,
}

impl FaultKind for Reorder {
    const KEYS: FaultKeys = FaultKeys {
        key: "reorder",
        name: "reorder",
        options: &["probability", "window", "until"],
        ends_with: Some("until"),
    };
    const SAMPLE: &'static str = r#"at = "10 s"
reorder = ["miner-0", "validator"]
probability = 0.3
window = "30 ms"
until = "20 s""#;

    fn parse(entry: &FaultEntry<'_>, hosts: &Hosts<'_>, _: &Protocols) -> scenario::Result<Self> {
        let (a, b) = ends(&entry.field, hosts.index)?;
        let table = &entry.table;
        let window = table.positive_duration_or("window", SimDuration::from_millis(50))?;
        Ok(Reorder {
            a,
            b,
            probability: match table.get("probability") {
                Some(f) => f.probability()?,
                None => Probability::new(DEFAULT_PROBABILITY).expect("0.2 is a probability"),
            },
            window,
            until: entry.end("until", hosts)?,
        })
    }

    /// Holds back messages between up to `max_hosts` hosts and the rest
    /// of the pool: a share from `probability`, a window of 1 ms to
    /// `reorder_window`.
    fn draw(space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self> {
        let (a, b) = draw::split(rng, &space.pool(|_| true), space.bounds.max_hosts)?;
        let (lo, hi) = space.bounds.probability;
        let one = SimDuration::from_millis(1);
        Some(Reorder {
            a,
            b,
            probability: Probability::new(draw::number_in(rng, lo, hi)).ok()?,
            window: draw::duration_in(rng, one, space.bounds.reorder_window.max(one)),
            until: Some(space.end),
        })
    }

    fn write(&self, entry: &mut EntryWriter<'_>) {
        let ends = vec![entry.host_value(&self.a), entry.host_value(&self.b)];
        entry.value("reorder", toml::Value::Array(ends));
        entry.value("probability", self.probability.value());
        entry.duration("window", self.window);
        entry.time("until", self.until);
    }

    /// An earlier end, half the share, half the window, then each end
    /// with one host fewer.
    fn simpler(&self, at: SimTime) -> Vec<Self> {
        let mut out = Vec::new();
        if let Some(until) = draw::earlier_end(at, self.until) {
            out.push(Reorder {
                until: Some(until),
                ..self.clone()
            });
        }
        let share = draw::halved(self.probability.value()).and_then(|p| Probability::new(p).ok());
        if let Some(probability) = share {
            out.push(Reorder {
                probability,
                ..self.clone()
            });
        }
        if let Some(window) = draw::halved_duration(self.window, SimDuration::from_millis(1)) {
            out.push(Reorder {
                window,
                ..self.clone()
            });
        }
        for a in draw::fewer(&self.a) {
            out.push(Reorder { a, ..self.clone() });
        }
        for b in draw::fewer(&self.b) {
            out.push(Reorder { b, ..self.clone() });
        }
        out
    }
}

impl PathFault for Reorder {
    fn ends(&self) -> (&[HostId], &[HostId]) {
        (&self.a, &self.b)
    }
    fn until(&self) -> Option<SimTime> {
        self.until
    }
    /// Its rule, drawing from the context's rule stream.
    fn rule(&self, cx: &FaultContext<'_>) -> Box<dyn NetworkRule> {
        Box::new(ReorderRule {
            ends: PathEnds::new(&self.a, &self.b),
            probability: self.probability.value(),
            window: self.window,
            rng: cx.rule_rng(),
        })
    }
}

/// Holds back a share of the messages on a path, with its own draws.
#[derive(Debug)]
struct ReorderRule {
    ends: PathEnds,
    probability: f64,
    window: SimDuration,
    rng: StreamRng,
}

impl NetworkRule for ReorderRule {
    fn verdict(&mut self, from: HostId, to: HostId) -> Verdict {
        if !self.ends.carries(from, to) || !self.rng.random_bool(self.probability) {
            return Verdict::Pass;
        }
        let delay = self.rng.random_range(0..=self.window.as_nanos());
        Verdict::Deliver {
            extra_latency: SimDuration::from_nanos(delay),
            extra_loss: Probability::ZERO,
        }
    }
}

/// The share of messages held back unless the scenario says otherwise.
const DEFAULT_PROBABILITY: f64 = 0.2;

#[cfg(test)]
mod tests {
    use sim_core::rng::RngStreams;

    use super::*;
    use crate::faults::path::testing::{PEERS, verdicts};
    use crate::model::parse_str;

    fn fault(probability: f64) -> Reorder {
        Reorder {
            a: vec![HostId(0)],
            b: vec![HostId(1)],
            probability: Probability::new(probability).unwrap(),
            window: SimDuration::from_millis(40),
            until: None,
        }
    }

    #[test]
    fn a_share_of_path_messages_is_held_back_within_the_window() {
        let (on, off) = verdicts(&fault(0.25), 2, 4000);
        assert!(off.iter().all(|v| *v == Verdict::Pass));
        let delays: Vec<SimDuration> = on
            .iter()
            .filter_map(|v| match v {
                Verdict::Deliver { extra_latency, .. } => Some(*extra_latency),
                _ => None,
            })
            .collect();
        assert!(
            (850..1150).contains(&delays.len()),
            "{} of 4000",
            delays.len()
        );
        let window = SimDuration::from_millis(40);
        assert!(delays.iter().all(|d| *d <= window));
        let half = SimDuration::from_millis(20);
        assert!(delays.iter().any(|d| *d > half), "spread over the window");
        assert_eq!(
            verdicts(&fault(0.25), 2, 4000).0,
            on,
            "the fault's own stream"
        );
    }

    /// Host 0 sends a numbered datagram to host 1 every 10 ms; host 1
    /// counts the ones that arrive after a higher number.
    struct Numbered {
        me: HostId,
        next: u32,
        highest: Option<u32>,
        overtaken: u32,
        out: node_logic::outbox::Outbox,
    }

    impl node_logic::Node for Numbered {
        fn handle_input(
            &mut self,
            now: SimTime,
            input: node_logic::Input,
            _: &mut dyn rand_core::Rng,
        ) {
            let tick = node_logic::TimerId::Workload(0);
            match input {
                node_logic::Input::Start { .. } | node_logic::Input::Timer(_)
                    if self.me == HostId(0) =>
                {
                    self.out.send(HostId(1), self.next.to_le_bytes().to_vec());
                    self.next += 1;
                    self.out.set_timer(tick, now + SimDuration::from_millis(10));
                }
                node_logic::Input::Message { payload, .. } => {
                    let n = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes"));
                    if self.highest.is_some_and(|h| n < h) {
                        self.overtaken += 1;
                    }
                    self.highest = Some(self.highest.map_or(n, |h| h.max(n)));
                }
                _ => {}
            }
        }
        fn poll_output(&mut self) -> Option<node_logic::Output> {
            self.out.pop()
        }
    }

    #[test]
    fn held_back_messages_are_overtaken_only_while_in_force() {
        let scenario = parse_str(PEERS, None, &[]).unwrap();
        let streams = RngStreams::new(scenario.seed);
        let cx = FaultContext {
            scenario: &scenario,
            index: 0,
            at: SimTime::ZERO,
            streams: &streams,
            host: None,
        };
        let link = sim_core::network::Link {
            latency: SimDuration::from_millis(10),
            jitter: SimDuration::ZERO,
            loss: Probability::ZERO,
        };
        let network = sim_core::network::Network::mesh(2, link, "1 Gbit".parse().unwrap());
        let config = sim_core::engine::EngineConfig {
            seed: 1,
            stop_at: SimTime::from_duration(SimDuration::from_secs(20)),
            fs: sim_core::fs::FsConfig::default(),
        };
        let factory = Box::new(|me| Numbered {
            me,
            next: 0,
            highest: None,
            overtaken: 0,
            out: Default::default(),
        });
        let run = |reorder: Option<&Reorder>| {
            let mut sim =
                sim_core::engine::Simulation::new(config, network.clone(), factory.clone());
            sim.schedule_start(HostId(0), SimTime::ZERO);
            sim.schedule_start(HostId(1), SimTime::ZERO);
            if let Some(fault) = reorder {
                sim.schedule_fault(sim_core::engine::ScheduledFault {
                    index: 0,
                    kind: "reorder",
                    hosts: Vec::new(),
                    at: SimTime::ZERO,
                    heal: fault.until,
                    action: sim_core::engine::FaultAction::Network(fault.rule(&cx)),
                });
            }
            sim.run(&mut sim_core::trace::NoTrace).unwrap();
            sim.node(HostId(1)).expect("up").overtaken
        };
        assert_eq!(run(None), 0, "a plain link keeps the order");
        let reorder = Reorder {
            until: Some(SimTime::from_duration(SimDuration::from_secs(10))),
            ..fault(0.3)
        };
        let overtaken = run(Some(&reorder));
        assert!(overtaken > 50, "{overtaken} of 2000 overtaken");
    }

    #[test]
    fn bad_settings_are_located_errors() {
        for (bad, says) in [
            ("window = \"0 s\"", "window"),
            ("probability = -1", "probability"),
            ("window = 5", "window"),
        ] {
            let text =
                format!("{PEERS}[[faults]]\nat = \"1 s\"\nreorder = [\"p-0\", \"p-1\"]\n{bad}\n");
            let err = parse_str(&text, None, &[]).unwrap_err();
            assert!(err.line().is_some(), "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
