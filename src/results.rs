//! From a finished run's log to its metrics and result folder. Shared by
//! `sim run` (a simulated run) and `sim collect` / `sim launch` (a run of
//! real processes), so both write the same files with the same metric
//! names. Each protocol's part comes from its own report
//! ([`crate::protocols::ProtocolReport`]).

use std::path::PathBuf;

use reports::plots::svg;
use reports::summary::RunFacts;
use reports::{Metric, ReportError, ResultDir, Summary, tables};
use sim_core::checkers::{Checker, ViolationKind};
use sim_core::record::RunLog;
use sim_core::units::SimTime;

use crate::model::Scenario;
use crate::protocols::{Plans, PlotContext, ProtocolCounters, ProtocolReport};

/// What a finished run hands to the reports.
pub struct Finished<'a> {
    /// The scenario that ran (with its seed).
    pub scenario: &'a Scenario,
    /// What happened.
    pub log: &'a RunLog,
    /// Every protocol's plan.
    pub plans: &'a Plans,
    /// The trace hash (a real run has none and says so).
    pub trace_hash: &'a str,
    /// Time at the end of the run.
    pub end: SimTime,
    /// Whether a safety checker stopped the run.
    pub safety_violated: bool,
    /// Counters read off the live nodes at the end, summed.
    pub counters: ProtocolCounters,
}

/// The metrics of a finished run and the reports behind them.
pub struct Reports<'a> {
    /// Every metric (`summary.json`).
    pub summary: Summary,
    protocols: Vec<Box<dyn ProtocolReport + 'a>>,
    /// The line under every plot's title (scenario, seed, parameters;
    /// [`Reports::of`] names the sweep's, see [`Reports::caption_with`]).
    caption: String,
}

/// Which plots a run writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlotOptions {
    /// Write SVG plots at all.
    pub plots: bool,
    /// Draw CDFs on a logarithmic time axis.
    pub log_cdf: bool,
}

impl<'a> Reports<'a> {
    /// Computes every report of `run`; `params` are a sweep's values.
    pub fn of(run: &Finished<'a>, params: &[(String, String)]) -> Self {
        let seed = format!("seed {}", run.scenario.seed);
        let caption = reports::plots::caption(&run.scenario.name, &seed, params);
        let mut summary = Summary::from_run(RunFacts {
            scenario: run.scenario,
            log: run.log,
            trace_hash: run.trace_hash,
            end: run.end,
        });
        for (key, value) in params {
            summary.set(&format!("param.{key}"), Metric::Text(value.clone()));
        }
        let protocols = run.scenario.protocols.reports(run.plans, run);
        for report in &protocols {
            report.add_metrics(&mut summary);
        }
        Reports {
            summary,
            protocols,
            caption,
        }
    }

    /// Names `changed` (the `--set` values and the grid point, as (key,
    /// value)) under every plot's title.
    pub fn caption_with(mut self, run: &Finished<'_>, changed: &[(String, String)]) -> Self {
        let seed = format!("seed {}", run.scenario.seed);
        self.caption = reports::plots::caption(&run.scenario.name, &seed, changed);
        self
    }

    /// Writes `summary.json`, the CSV tables, the plots (as `plots` says)
    /// and `index.html` into `result`, then moves it into place.
    pub fn write(
        &self,
        result: ResultDir,
        run: &Finished<'_>,
        plots: PlotOptions,
    ) -> Result<PathBuf, ReportError> {
        let (scenario, log) = (run.scenario, run.log);
        self.summary.write(&result.file("summary.json"))?;
        tables::write_network(&result.file("network.csv"), scenario, log)?;
        tables::write_faults(&result.file("faults.csv"), scenario, log)?;
        tables::write_lifecycle(&result.file("lifecycle.csv"), scenario, log)?;
        tables::write_observations(&result.file("observations.csv"), scenario, log)?;
        for report in &self.protocols {
            report.write_tables(&result, scenario)?;
        }
        if plots.plots {
            let context = PlotContext {
                scenario,
                log,
                caption: self.caption.clone(),
                faults: fault_shades(scenario),
                log_cdf: plots.log_cdf,
            };
            for report in &self.protocols {
                report.write_plots(&result, &context)?;
            }
            let messages = reports::plots::messages_per_host(scenario, log, &self.caption);
            reports::plots::write_svg(&result, "messages_per_host.svg", messages)?;
        }
        let title = format!("{} \u{2014} seed {}", scenario.name, scenario.seed);
        reports::index::write_run_index(&result, &title, &self.caption, &self.summary)?;
        result.commit()
    }
}

/// The scenario's faults as shaded windows for plots over time (a fault
/// that never ends lasts to the end of the run).
pub fn fault_shades(scenario: &Scenario) -> Vec<svg::Shade> {
    crate::faults::windows(scenario, SimTime::ZERO + scenario.duration)
        .into_iter()
        .map(|(from, to, label)| svg::Shade {
            from: from.as_secs_f64(),
            to: to.as_secs_f64(),
            label,
        })
        .collect()
}

/// Whether a safety checker would have stopped the run: `checkers` see its
/// boots, crashes and observations again, in time order (a boot or crash
/// before what happens at the same instant). For real runs, which no
/// checker watched as they went; liveness is not judged afterwards.
pub fn safety_violated(mut checkers: Vec<Box<dyn Checker>>, log: &RunLog) -> bool {
    let mut steps: Vec<(SimTime, u8, usize)> = log
        .lifecycle
        .iter()
        .enumerate()
        .map(|(i, (t, _, _))| (*t, 0, i))
        .chain(
            log.observations
                .iter()
                .enumerate()
                .map(|(i, (t, _, _))| (*t, 1, i)),
        )
        .collect();
    steps.sort_unstable();
    for (time, kind, i) in steps {
        for checker in &mut checkers {
            if kind == 0 {
                let (_, host, what) = log.lifecycle[i];
                checker.lifecycle(time, host, what);
            } else {
                let (_, host, observation) = &log.observations[i];
                if let Err(v) = checker.observe(time, *host, observation)
                    && v.kind == ViolationKind::Safety
                {
                    return true;
                }
            }
        }
    }
    false
}
