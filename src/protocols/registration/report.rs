//! The registration study's outputs: `registration.csv`,
//! `registration_progress.csv`, `registration_errors.csv` and the
//! `registration.*` metrics of `summary.json`.
//!
//! Everything is computed from the registration observations the run
//! recorded, the hosts' boot times and file-operation counts, and the plan's
//! ground truth of each wallet (to catch a wrongly accepted registration).
//!
//! Definitions (documented for users in README):
//! - a miner is **registered** when every registrar has accepted its wallet
//!   (with `top_registrar`: when the top-level registrar has);
//!   its **registration time** runs from its first boot (time 0 for legacy
//!   registry entries) to the last of those acceptances;
//! - `p50_s`/`p95_s` use the nearest-rank percentile over registered miners;
//! - `ready_s` is when the last registrar stopped waiting (a registrar still
//!   waiting at the end of the run counts at the end time);
//! - `corrupt_detected` counts every read of a damaged registration (the
//!   "corruption errors" of the findings: the baseline re-reads and
//!   re-counts a damaged file every poll);
//! - `corrupt_accepted` counts acceptances whose wallet or key is not the
//!   agent's real one (must stay 0);
//! - `recovered` counts miners whose registration was seen damaged and who
//!   ended registered;
//! - `recovery_s` is the time to recover damaged files: the longest, over
//!   every file damage, from the damage to the moment every registrar had
//!   accepted that miner (0 for a miner already accepted everywhere before
//!   its file was damaged, and 0 when no file was damaged), with
//!   `recovery_reached`; null and `false` when a damaged miner never ended
//!   registered.
//!
//! - with `skip_unchanged`, `file_stats` counts the registrars' stats and
//!   `unchanged_skips` the reads they skipped because a stat showed the
//!   file unchanged (both written only with `skip_unchanged`).
//!
//! Every other metric is written in every run with registration: `p50_s`,
//! `p95_s`, `max_s` are null when no miner registered, `success_rate` when
//! no miner was expected.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use foldhash::fast::FixedState;

use node_logic::protocols::registration::{RegistrationEvent, WalletSource};
use node_logic::{HostId, Observation};
use reports::summary::{Metric, Summary};
use reports::tables::{host_name, rows};
use reports::{ReportError, ResultDir, percentile, seconds};
use sim_core::record::{Lifecycle, RunLog};
use sim_core::units::{SimDuration, SimTime};

use super::plan::RegistrationPlan;
use crate::model::Scenario;
use crate::protocols::{PlotContext, ProtocolReport};

/// What one registrar saw of one miner.
#[derive(Clone, Debug, Default)]
struct Pair {
    accepted: Option<(SimTime, WalletSource)>,
    errors: u32,
}

/// The registration outcome of a run.
#[derive(Debug)]
pub struct RegistrationReport<'a> {
    plan: &'a RegistrationPlan,
    log: &'a RunLog,
    /// By (agent, registrar); agents borrowed from the log and the plan,
    /// so a lookup allocates nothing. This map, `attempts` and
    /// `miner_hosts` are only looked up, never iterated (hashed with a
    /// fixed seed: 400,000 pairs at 100,000 miners, filled in the log's
    /// order, cost a tree's string comparisons each).
    pairs: HashMap<(&'a str, HostId), Pair, FixedState>,
    ready: BTreeMap<HostId, (SimTime, bool)>,
    attempts: HashMap<&'a str, u32, FixedState>,
    starts: BTreeMap<HostId, SimTime>,
    /// Miner hosts by agent id (the plan's list, indexed).
    miner_hosts: HashMap<&'a str, HostId, FixedState>,
    damaged_agents: BTreeSet<&'a str>,
    errors: Vec<(SimTime, HostId, String, &'static str)>,
    progress: Vec<(SimTime, HostId, u32, u32)>,
    corrupt_detected: u64,
    corrupt_accepted: u64,
    unchanged_skips: u64,
    end: SimTime,
}

impl<'a> RegistrationReport<'a> {
    /// Reads the outcome of a run of `plan` from its log; `end` is the
    /// simulated time the run stopped at.
    pub fn new(plan: &'a RegistrationPlan, log: &'a RunLog, end: SimTime) -> Self {
        let registrars: BTreeSet<HostId> = plan.registrars.iter().copied().collect();
        let mut report = RegistrationReport {
            plan,
            log,
            pairs: HashMap::default(),
            ready: BTreeMap::new(),
            attempts: HashMap::default(),
            starts: BTreeMap::new(),
            miner_hosts: plan.miners.iter().map(|(a, h)| (a.as_str(), *h)).collect(),
            damaged_agents: BTreeSet::new(),
            errors: Vec::new(),
            progress: Vec::new(),
            corrupt_detected: 0,
            corrupt_accepted: 0,
            unchanged_skips: 0,
            end,
        };
        for (time, host, what) in &log.lifecycle {
            if *what == Lifecycle::Started {
                report.starts.entry(*host).or_insert(*time);
            }
        }
        for (time, host, observation) in &log.observations {
            let Observation::Registration(event) = observation else {
                continue;
            };
            match event {
                RegistrationEvent::FileWritten { agent, .. } => {
                    *report.attempts.entry(agent.as_str()).or_default() += 1;
                }
                RegistrationEvent::Accepted {
                    agent,
                    wallet,
                    public_key,
                    source,
                } if registrars.contains(host) => {
                    if !plan.is_true(agent, wallet, public_key.as_ref()) {
                        report.corrupt_accepted += 1;
                    }
                    let pair = report.pairs.entry((agent.as_str(), *host)).or_default();
                    pair.accepted.get_or_insert((*time, *source));
                }
                RegistrationEvent::Invalid { agent, error } if registrars.contains(host) => {
                    report
                        .pairs
                        .entry((agent.as_str(), *host))
                        .or_default()
                        .errors += 1;
                    report
                        .errors
                        .push((*time, *host, agent.clone(), error.as_str()));
                    if error.is_damage() {
                        report.corrupt_detected += 1;
                        report.damaged_agents.insert(agent.as_str());
                    }
                }
                RegistrationEvent::Progress {
                    registered,
                    expected,
                } => {
                    report.progress.push((*time, *host, *registered, *expected));
                }
                RegistrationEvent::Ready {
                    registered,
                    expected,
                    timed_out,
                    ..
                } => {
                    report.progress.push((*time, *host, *registered, *expected));
                    report.ready.insert(*host, (*time, *timed_out));
                }
                RegistrationEvent::Unchanged { .. } if registrars.contains(host) => {
                    report.unchanged_skips += 1;
                }
                // Acceptances and errors at hosts that are not registrars,
                // and steps the metrics do not count.
                RegistrationEvent::Accepted { .. }
                | RegistrationEvent::Invalid { .. }
                | RegistrationEvent::Quarantined { .. }
                | RegistrationEvent::RestoredFromBackup { .. }
                | RegistrationEvent::ReRegistrationRequested { .. }
                | RegistrationEvent::Unchanged { .. } => {}
            }
        }
        report
    }

    /// When `agent` started registering: its miner host's first boot, or
    /// the start of the run for a legacy-only agent.
    fn start_of(&self, agent: &str) -> Option<SimTime> {
        match self.miner_hosts.get(agent) {
            Some(host) => self.starts.get(host).copied(),
            None => Some(SimTime::ZERO),
        }
    }

    /// When every judging registrar (every registrar, or the top-level
    /// one when hierarchical) had accepted `agent`, if they all did.
    fn registered_at(&self, agent: &'a str) -> Option<SimTime> {
        let mut last = SimTime::ZERO;
        for registrar in &self.plan.judges {
            let (time, _) = self.pairs.get(&(agent, *registrar))?.accepted?;
            last = last.max(time);
        }
        Some(last)
    }

    /// Registration times (seconds) of every registered known agent,
    /// sorted ascending: from its first boot (0 for a legacy-only agent) to
    /// the last registrar's acceptance. Miners never registered are absent.
    pub fn registration_times(&self) -> Vec<f64> {
        // In the table's order: the times are sorted below.
        let mut times: Vec<f64> = self
            .plan
            .truth
            .keys()
            .filter_map(|agent| {
                let done = self.registered_at(agent)?;
                let start = self.start_of(agent)?;
                Some((done - start).as_secs_f64())
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times
    }

    /// Registration times for a CDF: the registered miners' times, then
    /// `+inf` for each expected miner that never registered.
    pub fn cdf_times(&self) -> Vec<f64> {
        let mut times = self.registration_times();
        let missing = (self.plan.expected as usize).saturating_sub(times.len());
        times.extend(std::iter::repeat_n(f64::INFINITY, missing));
        times
    }

    /// Adds the `registration.*` metrics to `summary`.
    fn metrics(&self, summary: &mut Summary) {
        let log = self.log;
        let times = self.registration_times();
        let registered = times.len() as u64;
        let expected = u64::from(self.plan.expected);
        summary.set("registration.expected", Metric::Count(expected));
        summary.set("registration.registered", Metric::Count(registered));
        let real = |x: Option<f64>| x.map_or(Metric::Null, Metric::Real);
        let rate = (expected > 0).then(|| registered as f64 / expected as f64);
        summary.set("registration.success_rate", real(rate));
        summary.set("registration.p50_s", real(percentile(&times, 0.5)));
        summary.set("registration.p95_s", real(percentile(&times, 0.95)));
        summary.set("registration.max_s", real(times.last().copied()));
        let recovery = self.recovery().map(|d| d.as_secs_f64());
        summary.set_event("registration.recovery", recovery);
        let ready = self
            .plan
            .registrars
            .iter()
            .map(|r| self.ready.get(r).map_or(self.end, |(t, _)| *t))
            .max()
            .unwrap_or(self.end);
        summary.set("registration.ready_s", Metric::Real(ready.as_secs_f64()));
        summary.set(
            "registration.registrars_timed_out",
            Metric::Count(
                self.ready
                    .values()
                    .filter(|(_, timed_out)| *timed_out)
                    .count() as u64,
            ),
        );
        let (reads, lists, stats) =
            self.plan
                .registrars
                .iter()
                .fold((0, 0, 0), |(r, l, s), host| {
                    let c = log.fs.get(host).copied().unwrap_or_default();
                    (r + c.reads, l + c.lists, s + c.stats)
                });
        summary.set("registration.file_reads", Metric::Count(reads));
        summary.set("registration.dir_lists", Metric::Count(lists));
        if self.plan.skip_unchanged {
            summary.set("registration.file_stats", Metric::Count(stats));
            summary.set(
                "registration.unchanged_skips",
                Metric::Count(self.unchanged_skips),
            );
        }
        summary.set(
            "registration.corrupt_detected",
            Metric::Count(self.corrupt_detected),
        );
        summary.set(
            "registration.corrupt_accepted",
            Metric::Count(self.corrupt_accepted),
        );
        let recovered = self
            .damaged_agents
            .iter()
            .filter(|a| self.registered_at(a).is_some())
            .count();
        summary.set("registration.recovered", Metric::Count(recovered as u64));
        summary.set(
            "registration.files_damaged",
            Metric::Count(log.damaged.len() as u64),
        );
    }

    /// The time to recover damaged files (see the module docs): `None`
    /// when a damaged miner never ended registered.
    pub fn recovery(&self) -> Option<SimDuration> {
        let mut longest = SimDuration::ZERO;
        for damage in &self.log.damaged {
            // The plan's miners are in host order, each host once.
            let plan: &'a RegistrationPlan = self.plan;
            let index = plan
                .miners
                .binary_search_by_key(&damage.host, |(_, host)| *host)
                .ok()?;
            let agent = plan.miners[index].0.as_str();
            let done = self.registered_at(agent)?;
            longest = longest.max(done.max(damage.time) - damage.time);
        }
        Some(longest)
    }

    /// Writes `registration.csv`: one row per (miner, registrar).
    pub fn write_registration(&self, path: &Path, scenario: &Scenario) -> Result<(), ReportError> {
        let header = [
            "miner",
            "registrar",
            "miner_start_s",
            "accepted_s",
            "source",
            "registration_s",
            "attempts",
            "errors_seen",
        ];
        // Rows are made as they are written: 400,000 rows of 100,000
        // miners are never held at once.
        let plan: &'a RegistrationPlan = self.plan;
        let mut agents: Vec<&'a String> = plan.truth.keys().collect();
        agents.sort_unstable();
        let records = agents.into_iter().flat_map(|agent| {
            let start = self.start_of(agent);
            let attempts = self.attempts.get(agent.as_str()).copied().unwrap_or(0);
            plan.registrars.iter().map(move |registrar| {
                let pair = self
                    .pairs
                    .get(&(agent.as_str(), *registrar))
                    .cloned()
                    .unwrap_or_default();
                let (accepted, source, took) = match (pair.accepted, start) {
                    (Some((t, s)), Some(start)) => {
                        (seconds(t), s.as_str().to_string(), secs(t - start))
                    }
                    (Some((t, s)), None) => (seconds(t), s.as_str().to_string(), String::new()),
                    (None, _) => (String::new(), String::new(), String::new()),
                };
                [
                    agent.clone(),
                    host_name(scenario, *registrar).to_string(),
                    start.map(seconds).unwrap_or_default(),
                    accepted,
                    source,
                    took,
                    attempts.to_string(),
                    pair.errors.to_string(),
                ]
            })
        });
        rows(path, &header, records)
    }

    /// Writes `registration_progress.csv`: each registrar's progress
    /// reports and its final count.
    pub fn write_progress(&self, path: &Path, scenario: &Scenario) -> Result<(), ReportError> {
        let header = ["time_s", "registrar", "registered", "expected", "fraction"];
        let records = self.progress.iter().map(|(t, host, registered, expected)| {
            let fraction = if *expected == 0 {
                1.0
            } else {
                f64::from(*registered) / f64::from(*expected)
            };
            vec![
                seconds(*t),
                host_name(scenario, *host).to_string(),
                registered.to_string(),
                expected.to_string(),
                reports::number(fraction),
            ]
        });
        rows(path, &header, records)
    }

    /// Writes `registration_errors.csv`: one row per refused registration.
    pub fn write_errors(&self, path: &Path, scenario: &Scenario) -> Result<(), ReportError> {
        let header = ["time_s", "registrar", "miner", "kind"];
        let records = self.errors.iter().map(|(t, host, agent, kind)| {
            vec![
                seconds(*t),
                host_name(scenario, *host).to_string(),
                agent.clone(),
                kind.to_string(),
            ]
        });
        rows(path, &header, records)
    }
}

impl ProtocolReport for RegistrationReport<'_> {
    fn add_metrics(&self, summary: &mut Summary) {
        self.metrics(summary);
    }
    fn write_tables(&self, dir: &ResultDir, scenario: &Scenario) -> Result<(), ReportError> {
        self.write_registration(&dir.file("registration.csv"), scenario)?;
        self.write_progress(&dir.file("registration_progress.csv"), scenario)?;
        self.write_errors(&dir.file("registration_errors.csv"), scenario)
    }
    fn write_plots(&self, dir: &ResultDir, plot: &PlotContext<'_>) -> Result<(), ReportError> {
        let label = format!("seed {}", plot.scenario.seed);
        let times = [(label, self.cdf_times())];
        let cdf = reports::plots::registration_cdf(&times, &plot.caption, plot.log_cdf);
        let progress = super::plots::progress(plot);
        reports::plots::write_svg(dir, "registration_progress.svg", progress)?;
        reports::plots::write_svg(dir, "registration_cdf.svg", cdf)
    }
}

/// The registration digest line, from the run's metrics.
pub fn digest(summary: &Summary) -> Option<String> {
    let get = |name: &str| summary.get(name).and_then(|m| m.as_f64());
    let registered = get("registration.registered")?;
    let expected = get("registration.expected")?;
    let mut line = format!("registration: {registered}/{expected} registered");
    if let Some(p95) = get("registration.p95_s") {
        line.push_str(&format!(", p95 {p95:.3} s"));
    }
    if let Some(ready) = get("registration.ready_s") {
        line.push_str(&format!(", ready at {ready:.1} s"));
    }
    if let (Some(detected), Some(accepted)) = (
        get("registration.corrupt_detected"),
        get("registration.corrupt_accepted"),
    ) {
        line.push_str(&format!(
            ", {}, {accepted} wrongly accepted",
            reports::plural(detected, "damaged read", "damaged reads")
        ));
    }
    Some(line)
}

/// Seconds of a span, as in `*_s` columns.
fn secs(d: sim_core::units::SimDuration) -> String {
    seconds(SimTime::from_duration(d))
}
