//! `link`: paths between the hosts of `a` and of `b` (both ways) get
//! extra latency and loss until `until`.

use node_logic::HostId;
use sim_core::faults::{LinkRule, NetworkRule};
use sim_core::rng::StreamRng;
use sim_core::scenario::{self, ErrorKind, FaultEntry, FaultKeys, Hosts};
use sim_core::units::{Probability, SimDuration, SimTime};

use super::draw::{self, DrawSpace, EntryWriter};
use super::path::{PathFault, ends};
use super::{FaultContext, FaultKind};
use crate::protocols::Protocols;

/// A degraded-link fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// One end.
    pub a: Vec<HostId>,
    /// The other end.
    pub b: Vec<HostId>,
    /// Added to the path latency.
    pub latency: SimDuration,
    /// Compounded with the path loss.
    pub loss: Probability,
    /// When the link recovers; `None` = never.
    pub until: Option<SimTime>,
}

impl FaultKind for Link {
    const KEYS: FaultKeys = FaultKeys {
        key: "link",
        name: "link",
        options: &["latency", "loss", "until"],
        ends_with: Some("until"),
    };
    const SAMPLE: &'static str = r#"at = "10 s"
link = ["miner-0", "validator"]
latency = "100 ms"
until = "20 s""#;

    fn parse(entry: &FaultEntry<'_>, hosts: &Hosts<'_>, _: &Protocols) -> scenario::Result<Self> {
        let (a, b) = ends(&entry.field, hosts.index)?;
        let latency = entry.table.duration_or("latency", SimDuration::ZERO)?;
        let loss = entry.table.probability_or("loss", Probability::ZERO)?;
        if latency == SimDuration::ZERO && loss == Probability::ZERO {
            let message = "this link fault adds no latency and no loss: it would change nothing";
            let err = match entry
                .table
                .get("latency")
                .or_else(|| entry.table.get("loss"))
            {
                Some(f) => f.invalid(message),
                None => entry.field.key_error(ErrorKind::MissingKey, message),
            };
            return Err(err.with_help("give `latency = \"100 ms\"`, `loss = 0.1` or both"));
        }
        Ok(Link {
            a,
            b,
            latency,
            loss,
            until: entry.end("until", hosts)?,
        })
    }

    /// Degrades the paths between up to `max_hosts` hosts and the rest of
    /// the pool: latency and loss drawn from `latency` and `loss`.
    fn draw(space: &DrawSpace<'_>, rng: &mut StreamRng) -> Option<Self> {
        let pool = space.pool(|_| true);
        let (a, b) = draw::split(rng, &pool, space.bounds.max_hosts)?;
        let (lo, hi) = space.bounds.latency;
        let (loss_lo, loss_hi) = space.bounds.loss;
        Some(Link {
            a,
            b,
            latency: draw::duration_in(rng, lo, hi),
            loss: Probability::new(draw::number_in(rng, loss_lo, loss_hi)).ok()?,
            until: Some(space.end),
        })
    }

    fn write(&self, entry: &mut EntryWriter<'_>) {
        let ends = vec![entry.host_value(&self.a), entry.host_value(&self.b)];
        entry.value("link", toml::Value::Array(ends));
        entry.duration("latency", self.latency);
        entry.value("loss", self.loss.value());
        entry.time("until", self.until);
    }

    /// An earlier end, half the loss, half the latency, then each end with
    /// one host fewer.
    fn simpler(&self, at: SimTime) -> Vec<Self> {
        let mut out = Vec::new();
        if let Some(until) = draw::earlier_end(at, self.until) {
            out.push(Link {
                until: Some(until),
                ..self.clone()
            });
        }
        if let Some(loss) = draw::halved(self.loss.value()).and_then(|l| Probability::new(l).ok()) {
            out.push(Link {
                loss,
                ..self.clone()
            });
        }
        if let Some(latency) = draw::halved_duration(self.latency, SimDuration::ZERO) {
            out.push(Link {
                latency,
                ..self.clone()
            });
        }
        for a in draw::fewer(&self.a) {
            out.push(Link { a, ..self.clone() });
        }
        for b in draw::fewer(&self.b) {
            out.push(Link { b, ..self.clone() });
        }
        out
    }
}

impl PathFault for Link {
    fn ends(&self) -> (&[HostId], &[HostId]) {
        (&self.a, &self.b)
    }
    fn until(&self) -> Option<SimTime> {
        self.until
    }
    fn rule(&self, _cx: &FaultContext<'_>) -> Box<dyn NetworkRule> {
        Box::new(LinkRule::new(&self.a, &self.b, self.latency, self.loss))
    }
}
