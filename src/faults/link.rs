//! `link`: paths between the hosts of `a` and of `b` (both ways) get
//! extra latency and loss until `until`.

use node_logic::HostId;
use sim_core::engine::FaultAction;
use sim_core::faults::LinkRule;
use sim_core::scenario::{self, ErrorKind, FaultEntry, FaultKeys, Field, HostIndex, Hosts};
use sim_core::units::{Probability, SimDuration, SimTime};
use toml::de::DeValue;

use super::{FaultContext, FaultEffects, FaultKind, RealEffect};
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
}

impl FaultEffects for Link {
    fn hosts(&self, _cx: &FaultContext<'_>) -> Vec<HostId> {
        [self.a.as_slice(), self.b.as_slice()].concat()
    }
    fn heal(&self) -> Option<SimTime> {
        self.until
    }
    fn over(&self, _at: SimTime) -> Option<SimTime> {
        self.until
    }
    fn action(&self, _cx: &FaultContext<'_>) -> FaultAction {
        FaultAction::Network(Box::new(self.rule()))
    }
    fn real(&self, _cx: &FaultContext<'_>) -> RealEffect {
        RealEffect::Network {
            hosts: [self.a.as_slice(), self.b.as_slice()].concat(),
            until: self.until,
            rule: Box::new(self.rule()),
        }
    }
}

impl Link {
    fn rule(&self) -> LinkRule {
        LinkRule::new(&self.a, &self.b, self.latency, self.loss)
    }
}

/// `<key> = [a, b]`: two host references with no host in common (the
/// ends of a path, both ways; other path faults read theirs the same way).
pub fn ends(
    field: &Field<'_>,
    index: &HostIndex<'_>,
) -> scenario::Result<(Vec<HostId>, Vec<HostId>)> {
    let ends = match field.value() {
        DeValue::Array(_) => field.array()?,
        _ => Vec::new(),
    };
    let [a, b] = ends.as_slice() else {
        let key = field.name();
        return Err(field
            .invalid(format!("`{key}` needs exactly two ends, [a, b]"))
            .with_help(format!(
                "write e.g. `{key} = [\"miner-1\", \"validator-0\"]`"
            )));
    };
    let (a, b) = (index.resolve(a)?, index.resolve(b)?);
    if let Some(host) = a.iter().find(|h| b.contains(h)) {
        return Err(field
            .invalid(format!(
                "host `{}` is on both ends of the path",
                index.name(*host)
            ))
            .with_help("the two ends of a link must not share hosts"));
    }
    Ok((a, b))
}
