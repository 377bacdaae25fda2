//! Target verdicts: each `[targets]` comparison checked against a run's
//! summary. `sim run` prints them; `sim check` will turn misses into its
//! exit code.

use sim_core::scenario::{Scenario, Target};

use crate::summary::Summary;

/// One target checked against one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict<'a> {
    /// The target as written.
    pub target: &'a Target,
    /// The measured value; `None` when the run did not produce the metric
    /// (which is a miss, never a silent pass).
    pub measured: Option<f64>,
    /// Whether the target holds.
    pub holds: bool,
}

/// Checks every target of `scenario` against `summary`, in file order.
pub fn verdicts<'a>(scenario: &'a Scenario, summary: &Summary) -> Vec<Verdict<'a>> {
    scenario
        .targets
        .iter()
        .map(|target| {
            let measured = summary.get(&target.metric).and_then(|m| m.as_f64());
            let holds = measured.is_some_and(|m| target.op.holds(m, target.value));
            Verdict {
                target,
                measured,
                holds,
            }
        })
        .collect()
}

impl Verdict<'_> {
    /// One line for humans: `ok   registration.p95_s < 60 (measured 12.5)`.
    pub fn line(&self) -> String {
        let t = self.target;
        let status = if self.holds { "ok  " } else { "MISS" };
        let measured = match self.measured {
            Some(m) => format!("measured {m}"),
            None => "not produced by this run".to_string(),
        };
        format!(
            "{status} {} {} {} ({measured})",
            t.metric,
            t.op.as_str(),
            t.value
        )
    }
}
