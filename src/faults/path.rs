//! What the faults on the paths between two sets of hosts share (`link`,
//! `duplicate`, `reorder`): the `[a, b]` ends a scenario names, and their
//! effects, which differ only by the rule each puts on those paths.

use node_logic::HostId;
use sim_core::engine::FaultAction;
use sim_core::faults::NetworkRule;
use sim_core::scenario::{self, Field, HostIndex};
use sim_core::units::SimTime;
use toml::de::DeValue;

use super::{FaultContext, FaultEffects, RealEffect};

/// A fault on the paths between the hosts of two ends, both ways, from its
/// start until its `until`: its [`FaultEffects`] follow from these.
pub trait PathFault {
    /// One end and the other.
    fn ends(&self) -> (&[HostId], &[HostId]);
    /// When it ends; `None` = never.
    fn until(&self) -> Option<SimTime>;
    /// The rule it puts on the paths (drawing, if it draws, from the
    /// context's rule stream).
    fn rule(&self, cx: &FaultContext<'_>) -> Box<dyn NetworkRule>;
}

impl<T: PathFault> FaultEffects for T {
    fn hosts(&self, _cx: &FaultContext<'_>) -> Vec<HostId> {
        let (a, b) = self.ends();
        [a, b].concat()
    }
    fn heal(&self) -> Option<SimTime> {
        self.until()
    }
    fn over(&self, _at: SimTime) -> Option<SimTime> {
        self.until()
    }
    fn action(&self, cx: &FaultContext<'_>) -> FaultAction {
        FaultAction::Network(self.rule(cx))
    }
    fn real(&self, cx: &FaultContext<'_>) -> RealEffect {
        RealEffect::Network {
            hosts: self.hosts(cx),
            until: self.until(),
            rule: self.rule(cx),
        }
    }
}

/// `<key> = [a, b]`: two host references with no host in common (the
/// ends of a path, both ways).
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

/// What the path faults' tests share: three peers, and the verdicts of a
/// fault's rule on a path it covers and one it does not.
#[cfg(test)]
pub mod testing {
    use node_logic::HostId;
    use sim_core::faults::Verdict;
    use sim_core::rng::RngStreams;
    use sim_core::units::SimTime;

    use super::PathFault;
    use crate::faults::FaultContext;
    use crate::model::parse_str;

    /// A scenario of three peers, `p-0` to `p-2`, for faults to name.
    pub const PEERS: &str = r#"
duration = "40 s"
[[hosts]]
name = "p"
count = 3
role = "peer"
"#;

    /// The verdicts of `fault`'s rule (as fault number `index` of
    /// [`PEERS`]) for `n` messages from host 0 to 1 and from 0 to 2.
    pub fn verdicts(
        fault: &impl PathFault,
        index: usize,
        n: usize,
    ) -> (Vec<Verdict>, Vec<Verdict>) {
        let scenario = parse_str(PEERS, None, &[]).unwrap();
        let streams = RngStreams::new(scenario.seed);
        let cx = FaultContext {
            scenario: &scenario,
            index,
            at: SimTime::ZERO,
            streams: &streams,
            host: None,
        };
        let mut rule = fault.rule(&cx);
        let on: Vec<Verdict> = (0..n).map(|_| rule.verdict(HostId(0), HostId(1))).collect();
        let off: Vec<Verdict> = (0..n).map(|_| rule.verdict(HostId(0), HostId(2))).collect();
        (on, off)
    }
}
