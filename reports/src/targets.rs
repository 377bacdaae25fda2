//! Target verdicts: each `[targets]` comparison checked against a run's
//! summary. `sim run` prints them; `sim check` will turn misses into its
//! exit code.

use sim_core::scenario::{Model, Scenario, Target};

use crate::summary::{Metric, Summary};

/// One target checked against one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict<'a> {
    /// The target as written.
    pub target: &'a Target,
    /// The measured value; `None` when the run did not produce the metric
    /// or wrote it as null (both a miss, never a silent pass).
    pub measured: Option<f64>,
    /// The run wrote the metric as null: what it measures never happened
    /// (e.g. the registry never converged).
    pub never: bool,
    /// Whether the target holds.
    pub holds: bool,
}

/// Checks every per-run target of `scenario` against `summary`, in file
/// order (targets over seeds need every seed: see [`seed_verdicts`]).
pub fn verdicts<'a, M: Model>(scenario: &'a Scenario<M>, summary: &Summary) -> Vec<Verdict<'a>> {
    scenario
        .targets
        .iter()
        .filter(|t| t.over_seeds.is_none())
        .map(|target| {
            let metric = summary.get(&target.metric);
            let measured = metric.and_then(|m| m.as_f64());
            let holds = measured.is_some_and(|m| target.op.holds(m, target.value));
            Verdict {
                target,
                measured,
                never: metric == Some(&Metric::Null),
                holds,
            }
        })
        .collect()
}

/// Checks the targets over seeds (`{ p95 = "< 60" }`) of `scenario`
/// against the summaries of all seeds of one grid point.
pub fn seed_verdicts<'a, M: Model>(
    scenario: &'a Scenario<M>,
    summaries: &[&Summary],
) -> Vec<Verdict<'a>> {
    scenario
        .targets
        .iter()
        .filter_map(|target| {
            let statistic = target.over_seeds?;
            let values: Vec<f64> = summaries
                .iter()
                .filter_map(|s| s.get(&target.metric).and_then(|m| m.as_f64()))
                .collect();
            let never = summaries
                .iter()
                .any(|s| s.get(&target.metric) == Some(&Metric::Null));
            // Every seed must have produced the metric for the statistic to mean anything.
            let measured = (values.len() == summaries.len())
                .then(|| statistic.of(&values))
                .flatten();
            let holds = measured.is_some_and(|m| target.op.holds(m, target.value));
            Some(Verdict {
                target,
                measured,
                never,
                holds,
            })
        })
        .collect()
}

impl Verdict<'_> {
    /// What was measured, for humans: the value, or why there is none.
    pub fn measured_text(&self) -> String {
        match (self.measured, self.never) {
            (Some(m), _) => m.to_string(),
            (None, true) => "null (it never happened in this run)".to_string(),
            (None, false) => "not produced by this run".to_string(),
        }
    }

    /// One line for humans: `ok   registration.p95_s < 60 (measured 12.5)`.
    pub fn line(&self) -> String {
        let t = self.target;
        let status = if self.holds { "ok  " } else { "MISS" };
        let measured = match self.measured {
            Some(m) => format!("measured {m}"),
            None => self.measured_text(),
        };
        let over = t
            .over_seeds
            .map_or(String::new(), |s| format!("{} over seeds of ", s.as_str()));
        format!(
            "{status} {over}{} {} {} ({measured})",
            t.metric,
            t.op.as_str(),
            t.value
        )
    }
}
