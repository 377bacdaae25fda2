//! The consensus study's outputs: `consensus.csv` (one row per height),
//! `view_changes.csv`, `byzantine_evidence.csv`, and the `consensus.*`
//! metrics of `summary.json`.
//!
//! Definitions: `blocks_finalized` is the highest height an honest
//! validator finalized; `first_block_s` is when height 1 was first
//! finalized; finality of a block runs from its proposal to its first
//! finalization by an honest validator (`finality_p50_s`, `finality_p95_s`,
//! nearest rank); `view_changes` counts the distinct views honest validators
//! moved to; `equivocations` counts pieces of evidence recorded (one per
//! observer, offender, view, height and kind); `safety_violations` is 1 when
//! a safety checker stopped the run, else 0.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use node_logic::protocols::consensus::{ConsensusEvent, Hash32};
use node_logic::{HostId, Observation};
use reports::summary::{Metric, Summary};
use reports::tables::{host_name, rows};
use reports::{ReportError, ResultDir, percentile, seconds};
use sim_core::record::RunLog;
use sim_core::units::SimTime;

use crate::model::Scenario;
use crate::protocols::ProtocolReport;

#[derive(Clone, Debug)]
struct Height {
    hash: Hash32,
    view: u64,
    proposer: HostId,
    proposed_at: SimTime,
    first: SimTime,
    last: SimTime,
    finalized_by: u32,
}

/// Consensus outcome of a run.
#[derive(Debug)]
pub struct ConsensusReport {
    /// Signature verifications the validators asked for, and those made
    /// (fewer with the run's signature cache).
    pub signatures: Option<(u64, u64)>,
    heights: BTreeMap<u64, Height>,
    view_changes: Vec<(SimTime, HostId, u64, u64)>,
    evidence: Vec<(SimTime, HostId, HostId, u64, u64, &'static str)>,
    views: BTreeSet<u64>,
    safety_violations: u64,
}

impl ConsensusReport {
    /// Reads the run's consensus observations; `honest` are the validators
    /// no `byzantine` fault touched; `safety_violations` is 1 when a safety
    /// checker stopped the run.
    pub fn new(log: &RunLog, honest: &BTreeSet<HostId>, safety_violations: u64) -> Self {
        let mut report = ConsensusReport {
            signatures: None,
            heights: BTreeMap::new(),
            view_changes: Vec::new(),
            evidence: Vec::new(),
            views: BTreeSet::new(),
            safety_violations,
        };
        for (time, host, observation) in &log.observations {
            let Observation::Consensus(event) = observation else {
                continue;
            };
            match event {
                ConsensusEvent::Finalized {
                    height,
                    hash,
                    view,
                    proposer,
                    proposed_at,
                    ..
                } if honest.contains(host) => {
                    let entry = report.heights.entry(*height).or_insert(Height {
                        hash: *hash,
                        view: *view,
                        proposer: *proposer,
                        proposed_at: *proposed_at,
                        first: *time,
                        last: *time,
                        finalized_by: 0,
                    });
                    entry.last = entry.last.max(*time);
                    entry.finalized_by += 1;
                }
                ConsensusEvent::ViewChange { from_view, to_view } => {
                    report
                        .view_changes
                        .push((*time, *host, *from_view, *to_view));
                    if honest.contains(host) {
                        report.views.insert(*to_view);
                    }
                }
                ConsensusEvent::Equivocation {
                    offender,
                    view,
                    height,
                    kind,
                } => {
                    report
                        .evidence
                        .push((*time, *host, *offender, *view, *height, kind.as_str()));
                }
                // A dishonest validator's finalization proves nothing.
                ConsensusEvent::Finalized { .. }
                | ConsensusEvent::Proposed { .. }
                | ConsensusEvent::CaughtUp { .. }
                | ConsensusEvent::BlockTxs { .. }
                | ConsensusEvent::BodyReceived { .. }
                | ConsensusEvent::Mempool { .. } => {}
            }
        }
        report
    }

    /// Every height an honest validator finalized, ascending: `(height,
    /// proposed at, first honest finalization)`.
    pub fn finalized_heights(&self) -> Vec<(u64, SimTime, SimTime)> {
        self.heights
            .iter()
            .map(|(height, h)| (*height, h.proposed_at, h.first))
            .collect()
    }

    /// Adds the `consensus.*` metrics to `summary`.
    fn metrics(&self, summary: &mut Summary) {
        if let Some((requests, checks)) = self.signatures {
            summary.set("consensus.signature_requests", Metric::Count(requests));
            summary.set("consensus.signature_checks", Metric::Count(checks));
        }
        let best = self.heights.keys().next_back().copied().unwrap_or(0);
        summary.set("consensus.blocks_finalized", Metric::Count(best));
        if let Some(first) = self.heights.get(&1) {
            summary.set(
                "consensus.first_block_s",
                Metric::Real(first.first.as_secs_f64()),
            );
        }
        let mut finality: Vec<f64> = self
            .heights
            .values()
            .map(|h| (h.first - h.proposed_at).as_secs_f64())
            .collect();
        finality.sort_by(f64::total_cmp);
        if let (Some(p50), Some(p95)) = (percentile(&finality, 0.5), percentile(&finality, 0.95)) {
            summary.set("consensus.finality_p50_s", Metric::Real(p50));
            summary.set("consensus.finality_p95_s", Metric::Real(p95));
        }
        summary.set(
            "consensus.view_changes",
            Metric::Count(self.views.len() as u64),
        );
        summary.set(
            "consensus.equivocations",
            Metric::Count(self.evidence.len() as u64),
        );
        summary.set(
            "consensus.safety_violations",
            Metric::Count(self.safety_violations),
        );
    }

    /// Writes `consensus.csv`: one row per finalized height.
    pub fn write_heights(&self, path: &Path, scenario: &Scenario) -> Result<(), ReportError> {
        let header = [
            "height",
            "block",
            "view",
            "proposer",
            "proposed_s",
            "first_final_s",
            "last_final_s",
            "finality_s",
            "finalized_by",
        ];
        let records = self.heights.iter().map(|(height, h)| {
            vec![
                height.to_string(),
                format!("{:?}", h.hash),
                h.view.to_string(),
                host_name(scenario, h.proposer).to_string(),
                seconds(h.proposed_at),
                seconds(h.first),
                seconds(h.last),
                seconds(SimTime::from_duration(h.first - h.proposed_at)),
                h.finalized_by.to_string(),
            ]
        });
        rows(path, &header, records)
    }

    /// Writes `view_changes.csv`: one row per validator entering a new view.
    pub fn write_view_changes(&self, path: &Path, scenario: &Scenario) -> Result<(), ReportError> {
        let header = ["time_s", "host", "from_view", "to_view"];
        let records = self.view_changes.iter().map(|(t, host, from, to)| {
            vec![
                seconds(*t),
                host_name(scenario, *host).to_string(),
                from.to_string(),
                to.to_string(),
            ]
        });
        rows(path, &header, records)
    }

    /// Writes `byzantine_evidence.csv`: one row per equivocation detected.
    pub fn write_evidence(&self, path: &Path, scenario: &Scenario) -> Result<(), ReportError> {
        let header = ["time_s", "observer", "offender", "view", "height", "kind"];
        let records = self
            .evidence
            .iter()
            .map(|(t, observer, offender, view, height, kind)| {
                vec![
                    seconds(*t),
                    host_name(scenario, *observer).to_string(),
                    host_name(scenario, *offender).to_string(),
                    view.to_string(),
                    height.to_string(),
                    kind.to_string(),
                ]
            });
        rows(path, &header, records)
    }
}

impl ProtocolReport for ConsensusReport {
    fn add_metrics(&self, summary: &mut Summary) {
        self.metrics(summary);
    }
    fn write_tables(&self, dir: &ResultDir, scenario: &Scenario) -> Result<(), ReportError> {
        self.write_heights(&dir.file("consensus.csv"), scenario)?;
        self.write_view_changes(&dir.file("view_changes.csv"), scenario)?;
        self.write_evidence(&dir.file("byzantine_evidence.csv"), scenario)
    }
    fn write_plots(&self, dir: &ResultDir, _: &Scenario, _: &RunLog) -> Result<(), ReportError> {
        reports::plots::write_svg(dir, "consensus_finality.svg", super::plots::finality(self))
    }
}

/// The consensus digest line, from the run's metrics.
pub fn digest(summary: &Summary) -> Option<String> {
    let get = |name: &str| summary.get(name).and_then(|m| m.as_f64());
    let blocks = get("consensus.blocks_finalized")?;
    let mut line = format!("consensus: {blocks} blocks finalized");
    if let Some(first) = get("consensus.first_block_s") {
        line.push_str(&format!(", first at {first:.3} s"));
    }
    if let Some(p95) = get("consensus.finality_p95_s") {
        line.push_str(&format!(", finality p95 {p95:.3} s"));
    }
    for (name, what) in [
        ("consensus.view_changes", "view changes"),
        ("consensus.equivocations", "equivocations seen"),
        ("consensus.safety_violations", "safety violations"),
    ] {
        if let Some(n) = get(name) {
            line.push_str(&format!(", {n} {what}"));
        }
    }
    if let (Some(checks), true) = (get("consensus.signature_checks"), blocks > 0.0) {
        line.push_str(&format!(
            ", {:.0} signature checks per block",
            checks / blocks
        ));
    }
    Some(line)
}
