//! `duplicate`: messages on the paths between the hosts of `a` and of `b`
//! (both ways) arrive more than once until `until` — as a misbehaving
//! router or a retransmitting link layer would deliver them. Each message
//! is duplicated with `probability` (default 1): `copies` extra copies
//! (default 1), each `spacing` after the previous (default 1 ms). Copies
//! cross the receiver's down-link like any message and are lost with the
//! original (loss is drawn once per message). Per-message draws come from
//! the fault's own `fault-rule` stream, so other runs' draws stay put.

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

/// The most copies one message may get (a bound on what one send costs).
const MAX_COPIES: u32 = 16;

/// A duplication fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Duplicate {
    /// One end.
    pub a: Vec<HostId>,
    /// The other end.
    pub b: Vec<HostId>,
    /// Share of messages duplicated.
    pub probability: Probability,
    /// Extra copies of a duplicated message.
    pub copies: u32,
    /// Between one copy's arrival and the next.
    pub spacing: SimDuration,
    /// When it ends; `None` = never.
    pub until: Option<SimTime>,
}

impl FaultKind for Duplicate {
    const KEYS: FaultKeys = FaultKeys {
        key: "duplicate",
        name: "duplicate",
        options: &["probability", "copies", "spacing", "until"],
        ends_with: Some("until"),
    };
    const SAMPLE: &'static str = r#"at = "10 s"
duplicate = ["miner-0", "validator"]
probability = 0.5
copies = 2
until = "20 s""#;

    fn parse(entry: &FaultEntry<'_>, hosts: &Hosts<'_>, _: &Protocols) -> scenario::Result<Self> {
        let (a, b) = ends(&entry.field, hosts.index)?;
        let table = &entry.table;
        Ok(Duplicate {
            a,
            b,
            probability: table.probability_or("probability", Probability::ONE)?,
            copies: table.u32_or("copies", 1, 1, MAX_COPIES)?,
            spacing: table.duration_or("spacing", SimDuration::from_millis(1))?,
            until: entry.end("until", hosts)?,
        })
    }

    /// Duplicates messages between up to `max_hosts` hosts and the rest
    /// of the pool, with a share from `probability` and 1 to 3 copies.
    fn draw(space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self> {
        let (a, b) = draw::split(rng, &space.pool(|_| true), space.bounds.max_hosts)?;
        let (lo, hi) = space.bounds.probability;
        Some(Duplicate {
            a,
            b,
            probability: Probability::new(draw::number_in(rng, lo, hi)).ok()?,
            copies: rng.random_range(1..=3),
            spacing: SimDuration::from_millis(1),
            until: Some(space.end),
        })
    }

    fn write(&self, entry: &mut EntryWriter<'_>) {
        let ends = vec![entry.host_value(&self.a), entry.host_value(&self.b)];
        entry.value("duplicate", toml::Value::Array(ends));
        entry.value("probability", self.probability.value());
        entry.value("copies", i64::from(self.copies));
        entry.duration("spacing", self.spacing);
        entry.time("until", self.until);
    }

    /// An earlier end, one copy, half the share, then each end with one
    /// host fewer.
    fn simpler(&self, at: SimTime) -> Vec<Self> {
        let mut out = Vec::new();
        if let Some(until) = draw::earlier_end(at, self.until) {
            out.push(Duplicate {
                until: Some(until),
                ..self.clone()
            });
        }
        if self.copies > 1 {
            out.push(Duplicate {
                copies: 1,
                ..self.clone()
            });
        }
        let share = draw::halved(self.probability.value()).and_then(|p| Probability::new(p).ok());
        if let Some(probability) = share {
            out.push(Duplicate {
                probability,
                ..self.clone()
            });
        }
        for a in draw::fewer(&self.a) {
            out.push(Duplicate { a, ..self.clone() });
        }
        for b in draw::fewer(&self.b) {
            out.push(Duplicate { b, ..self.clone() });
        }
        out
    }
}

impl PathFault for Duplicate {
    fn ends(&self) -> (&[HostId], &[HostId]) {
        (&self.a, &self.b)
    }
    fn until(&self) -> Option<SimTime> {
        self.until
    }
    /// Its rule, drawing from the context's rule stream.
    fn rule(&self, cx: &FaultContext<'_>) -> Box<dyn NetworkRule> {
        Box::new(DuplicateRule {
            ends: PathEnds::new(&self.a, &self.b),
            probability: self.probability.value(),
            copies: self.copies,
            spacing: self.spacing,
            rng: cx.rule_rng(),
        })
    }
}

/// Duplicates a share of the messages on a path, with its own draws.
#[derive(Debug)]
struct DuplicateRule {
    ends: PathEnds,
    probability: f64,
    copies: u32,
    spacing: SimDuration,
    rng: StreamRng,
}

impl NetworkRule for DuplicateRule {
    fn verdict(&mut self, from: HostId, to: HostId) -> Verdict {
        if !self.ends.carries(from, to) || !self.rng.random_bool(self.probability) {
            return Verdict::Pass;
        }
        Verdict::Duplicate {
            copies: self.copies,
            spacing: self.spacing,
        }
    }
}

#[cfg(test)]
mod tests {
    use sim_core::trace::NoTrace;

    use super::*;
    use crate::faults::path::testing::{PEERS, verdicts};
    use crate::model::parse_str;

    fn fault(probability: f64) -> Duplicate {
        Duplicate {
            a: vec![HostId(0)],
            b: vec![HostId(1)],
            probability: Probability::new(probability).unwrap(),
            copies: 2,
            spacing: SimDuration::from_millis(5),
            until: None,
        }
    }

    #[test]
    fn messages_on_the_path_get_their_copies_others_pass() {
        let (on, off) = verdicts(&fault(1.0), 3, 20);
        let copies = Verdict::Duplicate {
            copies: 2,
            spacing: SimDuration::from_millis(5),
        };
        assert!(on.iter().all(|v| *v == copies), "{on:?}");
        assert!(off.iter().all(|v| *v == Verdict::Pass), "{off:?}");
    }

    #[test]
    fn a_share_of_messages_is_duplicated_the_same_way_every_time() {
        let (on, _) = verdicts(&fault(0.3), 3, 2000);
        let duplicated = on.iter().filter(|v| **v != Verdict::Pass).count();
        assert!((500..700).contains(&duplicated), "{duplicated} of 2000");
        assert_eq!(
            verdicts(&fault(0.3), 3, 2000).0,
            on,
            "the fault's own stream"
        );
    }

    #[test]
    fn a_run_with_duplicates_is_deterministic_and_delivers_more() {
        let run = |faults: &str| {
            let scenario = parse_str(&format!("{PEERS}{faults}"), None, &[]).unwrap();
            let mut sim = crate::runner::prepare(&scenario).unwrap().sim;
            sim.run(&mut NoTrace).unwrap();
            let delivered: u64 = sim.log().net.iter().map(|c| c.messages_received).sum();
            (delivered, sim.trace_hash())
        };
        let fault = "[[faults]]\nat = \"0 s\"\nduplicate = [\"p-0\", [\"p-1\", \"p-2\"]]\nuntil = \"30 s\"\n";
        let (plain, _) = run("");
        let (doubled, hash) = run(fault);
        assert!(doubled > plain + plain / 4, "{doubled} vs {plain}");
        assert_eq!(run(fault).1, hash);
    }

    #[test]
    fn bad_settings_are_located_errors() {
        for (bad, says) in [
            ("copies = 0", "copies"),
            ("copies = 17", "copies"),
            ("probability = 1.5", "probability"),
            ("spacing = 5", "spacing"),
        ] {
            let text =
                format!("{PEERS}[[faults]]\nat = \"1 s\"\nduplicate = [\"p-0\", \"p-1\"]\n{bad}\n");
            let err = parse_str(&text, None, &[]).unwrap_err();
            assert!(err.line().is_some(), "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
