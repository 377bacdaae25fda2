//! From a finished run's log to its metrics and result folder. Shared by
//! `sim run` (a simulated run) and `sim collect` / `sim launch` (a run of
//! real processes), so both write the same files with the same metric
//! names.

use std::collections::BTreeSet;
use std::path::PathBuf;

use node_logic::HostId;
use reports::consensus::ConsensusReport;
use reports::peers::PeersReport;
use reports::registration::RegistrationReport;
use reports::summary::RunFacts;
use reports::{Metric, ReportError, ResultDir, Summary, tables};
use sim_core::plan::RegistrationPlan;
use sim_core::record::RunLog;
use sim_core::runner::ConsensusPlan;
use sim_core::scenario::Scenario;
use sim_core::units::SimTime;

/// What a finished run hands to the reports.
pub struct Finished<'a> {
    /// The scenario that ran (with its seed).
    pub scenario: &'a Scenario,
    /// What happened.
    pub log: &'a RunLog,
    /// The registration ground truth, when the scenario registers wallets.
    pub plan: Option<&'a RegistrationPlan>,
    /// The validators, when the scenario has consensus.
    pub consensus: Option<&'a ConsensusPlan>,
    /// The trace hash (a real run has none and says so).
    pub trace_hash: &'a str,
    /// Time at the end of the run.
    pub end: SimTime,
    /// Whether the agreement checker stopped the run.
    pub safety_violated: bool,
    /// Signature verifications the validators asked for.
    pub signature_requests: u64,
}

/// The metrics of a finished run and the reports behind them.
pub struct Reports<'a> {
    /// Every metric (`summary.json`).
    pub summary: Summary,
    registration: Option<RegistrationReport<'a>>,
    peers: Option<PeersReport>,
    consensus: Option<ConsensusReport>,
}

impl<'a> Reports<'a> {
    /// Computes every report of `run`; `params` are a sweep's values.
    pub fn of(run: &Finished<'a>, params: &[(String, String)]) -> Self {
        let (scenario, log) = (run.scenario, run.log);
        let mut summary = Summary::from_run(RunFacts {
            scenario,
            log,
            trace_hash: run.trace_hash,
            end: run.end,
        });
        for (key, value) in params {
            summary.set(&format!("param.{key}"), Metric::Text(value.clone()));
        }
        let registration = run.plan.map(|p| RegistrationReport::new(p, log, run.end));
        let peers = PeersReport::new(scenario, log);
        if let Some(report) = &peers {
            report.add_metrics(&mut summary);
        }
        if let Some(report) = &registration {
            report.add_metrics(&mut summary, log);
        }
        let consensus = run.consensus.map(|c| {
            let honest: BTreeSet<HostId> = c
                .validators
                .iter()
                .copied()
                .filter(|v| !c.dishonest.contains(v))
                .collect();
            let report = ConsensusReport::new(log, &honest, u64::from(run.safety_violated));
            report.add_metrics(&mut summary);
            summary.set(
                "consensus.signature_requests",
                Metric::Count(run.signature_requests),
            );
            let checks = c
                .cache
                .as_ref()
                .map_or(run.signature_requests, |cache| cache.checks());
            summary.set("consensus.signature_checks", Metric::Count(checks));
            report
        });
        Reports {
            summary,
            registration,
            peers,
            consensus,
        }
    }

    /// Writes `summary.json`, the CSV tables and (unless `no_plots`) the
    /// plots into `result`, then moves it into place.
    pub fn write(
        &self,
        result: ResultDir,
        run: &Finished<'_>,
        no_plots: bool,
    ) -> Result<PathBuf, ReportError> {
        let (scenario, log) = (run.scenario, run.log);
        self.summary.write(&result.file("summary.json"))?;
        tables::write_network(&result.file("network.csv"), scenario, log)?;
        tables::write_faults(&result.file("faults.csv"), scenario, log)?;
        tables::write_lifecycle(&result.file("lifecycle.csv"), scenario, log)?;
        tables::write_observations(&result.file("observations.csv"), scenario, log)?;
        if let Some(report) = &self.peers {
            report.write(&result.file("peers.csv"), scenario)?;
        }
        if let Some(report) = &self.consensus {
            report.write_heights(&result.file("consensus.csv"), scenario)?;
            report.write_view_changes(&result.file("view_changes.csv"), scenario)?;
            report.write_evidence(&result.file("byzantine_evidence.csv"), scenario)?;
        }
        if let Some(report) = &self.registration {
            report.write_registration(&result.file("registration.csv"), scenario)?;
            report.write_progress(&result.file("registration_progress.csv"), scenario)?;
            report.write_errors(&result.file("registration_errors.csv"), scenario)?;
        }
        if !no_plots {
            reports::plots::write_run_plots(
                &result.file(""),
                scenario,
                log,
                self.registration.as_ref(),
                self.consensus.as_ref(),
            )?;
        }
        result.commit()
    }
}
