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
//!
//! Recovery: `max_gap_s` is the longest time without a new block: between
//! the first honest finalizations of consecutive heights, and from the last
//! one to the end of the run (a stall at the end counts); null without a
//! block. `recovery_s` runs from when the last fault was over (its heal or
//! restart; the start of the run without faults; as the liveness checker
//! counts) to the first honest finalization of a height at or after it,
//! with `recovery_reached`; null and `false` when no block followed or a
//! fault never ends. `first_block_s` comes with `first_block_reached`.
//! Every metric is written in every run with consensus (null when it has
//! no value).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use node_logic::protocols::consensus::{ConsensusEvent, Hash32};
use node_logic::{HostId, Observation};
use reports::summary::{Metric, Summary};
use reports::tables::{host_name, rows};
use reports::{ReportError, ResultDir, percentile, seconds};
use sim_core::record::RunLog;
use sim_core::units::{SimDuration, SimTime};

use crate::model::Scenario;
use crate::protocols::{PlotContext, ProtocolReport};

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
    /// When the run ended (for the gap after the last block).
    pub end: SimTime,
    /// When the last fault was over (`None`: a fault never ends).
    pub recovery_from: Option<SimTime>,
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
            end: SimTime::ZERO,
            recovery_from: Some(SimTime::ZERO),
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
                | ConsensusEvent::CaughtUp { .. } => {}
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

    /// The longest time without a new block (see the module docs), if a
    /// block was finalized.
    pub fn max_gap(&self) -> Option<SimDuration> {
        let times: Vec<SimTime> = self.heights.values().map(|h| h.first).collect();
        let last = *times.last()?;
        let tail = self.end.max(last) - last;
        let gaps = times.windows(2).map(|w| w[1].max(w[0]) - w[0]);
        Some(gaps.fold(tail, SimDuration::max))
    }

    /// From when the last fault was over to the next first honest
    /// finalization (see the module docs), if there was one.
    pub fn recovery(&self) -> Option<SimDuration> {
        let from = self.recovery_from?;
        let next = self
            .heights
            .values()
            .map(|h| h.first)
            .find(|t| *t >= from)?;
        Some(next - from)
    }

    /// Adds the `consensus.*` metrics to `summary`.
    fn metrics(&self, summary: &mut Summary) {
        if let Some((requests, checks)) = self.signatures {
            summary.set("consensus.signature_requests", Metric::Count(requests));
            summary.set("consensus.signature_checks", Metric::Count(checks));
        }
        let best = self.heights.keys().next_back().copied().unwrap_or(0);
        summary.set("consensus.blocks_finalized", Metric::Count(best));
        let first = self.heights.get(&1).map(|h| h.first.as_secs_f64());
        summary.set_event("consensus.first_block", first);
        let mut finality: Vec<f64> = self
            .heights
            .values()
            .map(|h| (h.first - h.proposed_at).as_secs_f64())
            .collect();
        finality.sort_by(f64::total_cmp);
        let real = |x: Option<f64>| x.map_or(Metric::Null, Metric::Real);
        summary.set("consensus.finality_p50_s", real(percentile(&finality, 0.5)));
        summary.set(
            "consensus.finality_p95_s",
            real(percentile(&finality, 0.95)),
        );
        let gap = self.max_gap().map(SimDuration::as_secs_f64);
        summary.set("consensus.max_gap_s", real(gap));
        let recovery = self.recovery().map(SimDuration::as_secs_f64);
        summary.set_event("consensus.recovery", recovery);
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
    fn write_plots(&self, dir: &ResultDir, plot: &PlotContext<'_>) -> Result<(), ReportError> {
        let finality = super::plots::finality(self, plot);
        reports::plots::write_svg(dir, "consensus_finality.svg", finality)
    }
}

/// The consensus digest line, from the run's metrics.
pub fn digest(summary: &Summary) -> Option<String> {
    let get = |name: &str| summary.get(name).and_then(|m| m.as_f64());
    let blocks = get("consensus.blocks_finalized")?;
    let mut line = format!(
        "consensus: {} finalized",
        reports::plural(blocks, "block", "blocks")
    );
    if let Some(first) = get("consensus.first_block_s") {
        line.push_str(&format!(", first at {first:.3} s"));
    }
    if let Some(p95) = get("consensus.finality_p95_s") {
        line.push_str(&format!(", finality p95 {p95:.3} s"));
    }
    if let Some(recovery) = get("consensus.recovery_s") {
        line.push_str(&format!(
            ", next block {recovery:.3} s after the last fault"
        ));
    }
    for (name, one, many) in [
        ("consensus.view_changes", "view change", "view changes"),
        (
            "consensus.equivocations",
            "equivocation seen",
            "equivocations seen",
        ),
        (
            "consensus.safety_violations",
            "safety violation",
            "safety violations",
        ),
    ] {
        if let Some(n) = get(name) {
            line.push_str(&format!(", {}", reports::plural(n, one, many)));
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

#[cfg(test)]
mod tests {
    use node_logic::protocols::consensus::{ConsensusEvent, Hash32};

    use super::*;

    fn s(secs: u64) -> SimTime {
        SimTime::from_nanos(secs * 1_000_000_000)
    }

    /// Host 0 finalizes heights at these times (each proposed 1 s before).
    fn blocks(times: &[u64]) -> RunLog {
        let mut log = RunLog::new(4);
        for (i, t) in times.iter().enumerate() {
            let height = i as u64 + 1;
            log.observations.push((
                s(*t),
                HostId(0),
                Observation::Consensus(ConsensusEvent::Finalized {
                    height,
                    hash: Hash32([height as u8; 32]),
                    view: 0,
                    proposer: HostId(0),
                    proposed_at: s(t - 1),
                    via_sync: false,
                }),
            ));
        }
        log
    }

    fn metrics(report: &ConsensusReport) -> Summary {
        let mut summary = Summary::default();
        report.metrics(&mut summary);
        summary
    }

    /// Blocks every 5 s until 55 s, a partition 60..120 s (no block), the
    /// first block after the heal at 127 s, then blocks to 147 s of a 150 s
    /// run: the longest gap is 55 -> 127 = 72 s, recovery 7 s.
    #[test]
    fn max_gap_and_recovery_after_the_heal() {
        let mut times: Vec<u64> = (1..=11).map(|k| 5 * k).collect();
        times.extend([127, 132, 137, 142, 147]);
        let honest: BTreeSet<HostId> = [HostId(0)].into_iter().collect();
        let mut report = ConsensusReport::new(&blocks(&times), &honest, 0);
        report.end = s(150);
        report.recovery_from = Some(s(120));
        let summary = metrics(&report);
        assert_eq!(
            summary.get("consensus.max_gap_s"),
            Some(&Metric::Real(72.0))
        );
        assert_eq!(
            summary.get("consensus.recovery_s"),
            Some(&Metric::Real(7.0))
        );
        assert_eq!(
            summary.get("consensus.recovery_reached"),
            Some(&Metric::Flag(true))
        );
        // A stall at the end is the longest gap; no block after the fault:
        // recovery never happened.
        report.end = s(300);
        report.recovery_from = Some(s(200));
        let stalled = metrics(&report);
        assert_eq!(
            stalled.get("consensus.max_gap_s"),
            Some(&Metric::Real(153.0))
        );
        assert_eq!(stalled.get("consensus.recovery_s"), Some(&Metric::Null));
        assert_eq!(
            stalled.get("consensus.recovery_reached"),
            Some(&Metric::Flag(false))
        );
    }

    #[test]
    fn without_blocks_every_time_metric_is_null_but_present() {
        let honest: BTreeSet<HostId> = [HostId(0)].into_iter().collect();
        let report = ConsensusReport::new(&RunLog::new(4), &honest, 0);
        let summary = metrics(&report);
        for name in [
            "consensus.first_block_s",
            "consensus.finality_p50_s",
            "consensus.finality_p95_s",
            "consensus.max_gap_s",
            "consensus.recovery_s",
        ] {
            assert_eq!(summary.get(name), Some(&Metric::Null), "{name}");
        }
        assert_eq!(
            summary.get("consensus.first_block_reached"),
            Some(&Metric::Flag(false))
        );
        assert_eq!(
            summary.get("consensus.blocks_finalized"),
            Some(&Metric::Count(0))
        );
    }

    #[test]
    fn the_digest_says_1_view_change_and_2_view_changes() {
        let mut summary = Summary::default();
        summary.set("consensus.blocks_finalized", Metric::Count(1));
        summary.set("consensus.view_changes", Metric::Count(1));
        summary.set("consensus.equivocations", Metric::Count(2));
        summary.set("consensus.safety_violations", Metric::Count(0));
        let line = digest(&summary).unwrap();
        assert!(line.starts_with("consensus: 1 block finalized"), "{line}");
        assert!(line.contains(", 1 view change,"), "{line}");
        assert!(line.contains(", 2 equivocations seen,"), "{line}");
        assert!(line.contains(", 0 safety violations"), "{line}");
    }
}
