//! `summary.json`: one flat object of metrics, keys sorted, the names that
//! targets, `sim check` and downstream scripts share (SCENARIO-FORMAT.md).
//! A metric of a protocol the run does not have is absent, never zero; a
//! metric of a protocol it has is always there, as `null` when what it
//! measures never happened (a registry that never converged), so it stays
//! a column of every table. Times of events that may never happen come
//! with a `*_reached` boolean beside them.

use std::collections::BTreeMap;
use std::path::Path;

use sim_core::record::RunLog;
use sim_core::scenario::{Model, Scenario};
use sim_core::units::SimTime;

use crate::ReportError;

/// One metric value.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// A count.
    Count(u64),
    /// A measurement (seconds, a ratio).
    Real(f64),
    /// A label (the trace hash, the scenario name).
    Text(String),
    /// Whether something happened (a `*_reached` companion); `true` counts
    /// as 1 and `false` as 0 in targets and statistics.
    Flag(bool),
    /// No value: what it measures never happened in this run (JSON `null`;
    /// a target on it is a miss, statistics leave it out of `n`).
    Null,
}

impl Metric {
    /// The value as a number, for targets; `None` for text and null.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Metric::Count(n) => Some(*n as f64),
            Metric::Real(x) => Some(*x),
            Metric::Flag(b) => Some(f64::from(u8::from(*b))),
            Metric::Text(_) | Metric::Null => None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Metric::Count(n) => serde_json::Value::from(*n),
            Metric::Real(x) => serde_json::Number::from_f64(*x)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Metric::Text(s) => serde_json::Value::from(s.as_str()),
            Metric::Flag(b) => serde_json::Value::Bool(*b),
            Metric::Null => serde_json::Value::Null,
        }
    }
}

/// The metrics every run writes, whatever its protocols (`run.*`,
/// `network.*`, `faults.*`); each protocol declares its own.
pub const RUN_METRICS: &[&str] = &[
    "run.seed",
    "run.events",
    "run.sim_time_s",
    "run.trace_hash",
    "run.hosts",
    "run.scenario",
    "network.messages_sent",
    "network.messages_delivered",
    "network.messages_dropped",
    "network.bytes_sent",
    "faults.applied",
    "faults.crashes",
];

/// The metrics of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    metrics: BTreeMap<String, Metric>,
}

/// What a finished run hands to [`Summary::from_run`].
#[derive(Clone, Copy, Debug)]
pub struct RunFacts<'a, M: Model> {
    /// The scenario that ran (with the seed actually used).
    pub scenario: &'a Scenario<M>,
    /// What it recorded.
    pub log: &'a RunLog,
    /// The trace hash.
    pub trace_hash: &'a str,
    /// Simulated time at the end.
    pub end: SimTime,
}

impl Summary {
    /// The metrics of a finished run, computed from its log.
    pub fn from_run<M: Model>(facts: RunFacts<'_, M>) -> Self {
        let mut s = Summary::default();
        let log = facts.log;
        s.set("run.scenario", Metric::Text(facts.scenario.name.clone()));
        s.set("run.seed", Metric::Count(facts.scenario.seed));
        s.set("run.events", Metric::Count(log.events));
        s.set(
            "run.hosts",
            Metric::Count(facts.scenario.hosts.len() as u64),
        );
        s.set("run.sim_time_s", Metric::Real(facts.end.as_secs_f64()));
        s.set("run.trace_hash", Metric::Text(facts.trace_hash.to_string()));
        let total = log.net_total();
        s.set("network.messages_sent", Metric::Count(total.messages_sent));
        s.set(
            "network.messages_delivered",
            Metric::Count(total.messages_received),
        );
        s.set(
            "network.messages_dropped",
            Metric::Count(total.messages_dropped),
        );
        s.set("network.bytes_sent", Metric::Count(total.bytes_sent));
        let crashes = log
            .lifecycle
            .iter()
            .filter(|(_, _, l)| *l == sim_core::record::Lifecycle::Crashed)
            .count();
        s.set(
            "faults.applied",
            Metric::Count(
                log.faults
                    .iter()
                    .filter(|f| f.phase == sim_core::trace::FaultPhase::Apply)
                    .count() as u64,
            ),
        );
        s.set("faults.crashes", Metric::Count(crashes as u64));
        s
    }

    /// Sets (or replaces) a metric.
    pub fn set(&mut self, name: &str, value: Metric) {
        self.metrics.insert(name.to_string(), value);
    }
    /// Sets the time of an event that may never happen: `<name>_s` (null
    /// when it did not) and its companion `<name>_reached`.
    pub fn set_event(&mut self, name: &str, time: Option<f64>) {
        let value = time.map_or(Metric::Null, Metric::Real);
        self.set(&format!("{name}_s"), value);
        self.set(&format!("{name}_reached"), Metric::Flag(time.is_some()));
    }
    /// A metric by name.
    pub fn get(&self, name: &str) -> Option<&Metric> {
        self.metrics.get(name)
    }
    /// All metrics, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Metric)> {
        self.metrics.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// The JSON text: a flat object, keys sorted, two-space indent, newline at the end.
    pub fn to_json(&self) -> String {
        let object: serde_json::Map<String, serde_json::Value> = self
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(object))
            .unwrap_or_else(|_| "{}".to_string());
        text.push('\n');
        text
    }
    /// Writes `summary.json` to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        std::fs::write(path, self.to_json()).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
