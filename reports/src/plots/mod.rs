//! The run's plots, as SVG files beside its CSV tables:
//! `registration_progress.svg`, `registration_cdf.svg`,
//! `consensus_finality.svg` and `messages_per_host.svg`.
//!
//! Each plot is a function from what the run recorded to `Option<String>`
//! (the SVG text), `None` when the run has no such data; [`write_run_plots`]
//! writes the ones that apply. The charts themselves come from [`svg`]:
//! plain SVG text whose bytes depend on the input only.

pub mod svg;
#[cfg(test)]
mod xml_check;

use std::path::{Path, PathBuf};

use node_logic::HostId;
use node_logic::io::Observation;
use node_logic::registration::RegistrationEvent;
use sim_core::record::RunLog;
use sim_core::scenario::Scenario;

use crate::ReportError;
use crate::consensus::ConsensusReport;
use crate::registration::{RegistrationReport, percentile};
use crate::tables::host_name;
use svg::Series;

/// At most this many series in one chart; the rest are left out and a note
/// says so.
pub const MAX_SERIES: usize = 8;

/// Registration progress: each registrar's registered / expected miners
/// over simulated time, as a step function, from its
/// `RegistrationEvent::Progress` and `Ready` observations (an expected
/// count of 0 counts as complete, as in `registration_progress.csv`). One
/// series per registrar in host order; beyond [`MAX_SERIES`] registrars
/// only the first ones are drawn and a note says how many. `None` when no
/// registrar reported progress.
pub fn registration_progress(scenario: &Scenario, log: &RunLog) -> Option<String> {
    let mut by_host: std::collections::BTreeMap<HostId, Vec<(f64, f64)>> = Default::default();
    for (time, host, observation) in &log.observations {
        let (registered, expected) = match observation {
            Observation::Registration(RegistrationEvent::Progress {
                registered,
                expected,
            })
            | Observation::Registration(RegistrationEvent::Ready {
                registered,
                expected,
                ..
            }) => (*registered, *expected),
            _ => continue,
        };
        let fraction = if expected == 0 {
            1.0
        } else {
            f64::from(registered) / f64::from(expected)
        };
        by_host
            .entry(*host)
            .or_default()
            .push((time.as_secs_f64(), fraction));
    }
    if by_host.is_empty() {
        return None;
    }
    let total = by_host.len();
    let series: Vec<Series> = by_host
        .into_iter()
        .take(MAX_SERIES)
        .map(|(host, points)| Series {
            name: host_name(scenario, host).to_string(),
            points,
        })
        .collect();
    let note = (total > MAX_SERIES)
        .then(|| format!("showing the first {MAX_SERIES} of {total} registrars"));
    Some(svg::line_chart_with_note(
        "Registration progress",
        note.as_deref(),
        "simulated time (s)",
        "miners registered (fraction of expected)",
        &series,
        true,
    ))
}

/// The CDF of per-miner registration times: one line per `(label, times in
/// seconds)`, e.g. one per strategy in a sweep, or one for a single run
/// (see [`RegistrationReport::cdf_times`]). A miner that never registered
/// is given as `+inf`: it counts in the denominator but is never reached,
/// so the y axis is the fraction of *expected* miners and a strategy that
/// leaves miners unregistered stays below 1. NaN is skipped; beyond
/// [`MAX_SERIES`] labels only the first ones are drawn, with a note.
/// `None` when no label has a time.
pub fn registration_cdf(series: &[(String, Vec<f64>)]) -> Option<String> {
    let lines: Vec<Series> = series
        .iter()
        .take(MAX_SERIES)
        .map(|(name, times)| Series {
            name: name.clone(),
            points: cdf_points(times),
        })
        .collect();
    if lines.iter().all(|s| s.points.is_empty()) {
        return None;
    }
    let note = (series.len() > MAX_SERIES)
        .then(|| format!("showing the first {MAX_SERIES} of {} series", series.len()));
    Some(svg::line_chart_with_note(
        "Registration time CDF",
        note.as_deref(),
        "registration time (s)",
        "fraction of miners",
        &lines,
        true,
    ))
}

/// The corners of an empirical CDF's step function: `(first, 0)`, then
/// `(x_i, i/n)` for the sorted finite values.
fn cdf_points(values: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    // Never-registered miners (+inf) count in n but are never reached.
    let n = (sorted.len() + values.iter().filter(|v| **v == f64::INFINITY).count()) as f64;
    let mut points = Vec::with_capacity(sorted.len() + 1);
    if let Some(first) = sorted.first() {
        points.push((*first, 0.0));
    }
    points.extend(
        sorted
            .iter()
            .enumerate()
            .map(|(i, x)| (*x, (i + 1) as f64 / n)),
    );
    points
}

/// Consensus progress: the highest height finalized by an honest validator
/// over simulated time, as a step function from 0 at time 0 (each height
/// counted at its first honest finalization). A note gives the number of
/// heights and the finality (proposal to first honest finalization) median
/// and 95th percentile, nearest rank — the per-height detail is in
/// `consensus.csv`. `None` when no height was finalized.
pub fn consensus_finality(consensus: &ConsensusReport) -> Option<String> {
    let heights = consensus.finalized_heights();
    if heights.is_empty() {
        return None;
    }
    let mut by_time: Vec<(f64, u64)> = heights
        .iter()
        .map(|(height, _, first)| (first.as_secs_f64(), *height))
        .collect();
    by_time.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut best = 0u64;
    let mut points = vec![(0.0, 0.0)];
    for (t, height) in by_time {
        best = best.max(height);
        points.push((t, best as f64));
    }
    let mut finality: Vec<f64> = heights
        .iter()
        .map(|(_, proposed, first)| (*first - *proposed).as_secs_f64())
        .collect();
    finality.sort_by(f64::total_cmp);
    let note = match (percentile(&finality, 0.5), percentile(&finality, 0.95)) {
        (Some(p50), Some(p95)) => format!(
            "{} heights finalized; finality (proposal to finalization) p50 {p50:.3} s, p95 {p95:.3} s",
            heights.len()
        ),
        _ => format!("{} heights finalized", heights.len()),
    };
    Some(svg::line_chart_with_note(
        "Finalized height",
        Some(&note),
        "simulated time (s)",
        "finalized height",
        &[Series {
            name: "honest validators".to_string(),
            points,
        }],
        true,
    ))
}

/// Messages sent per host, one bar per host in host order (labelled with
/// its name); with more than [`svg::MAX_LABELLED_BARS`] hosts, a sorted
/// distribution instead (see [`svg`]). `None` when the scenario has no
/// hosts.
pub fn messages_per_host(scenario: &Scenario, log: &RunLog) -> Option<String> {
    if scenario.hosts.is_empty() {
        return None;
    }
    let bars: Vec<(String, f64)> = scenario
        .hosts
        .iter()
        .map(|h| {
            let sent = log.net.get(h.id.index()).map_or(0, |c| c.messages_sent);
            (h.name.clone(), sent as f64)
        })
        .collect();
    Some(svg::bar_chart(
        "Messages sent per host",
        "host",
        "messages sent",
        &bars,
    ))
}

/// Writes the run's plots that apply into `dir` (which must exist):
/// `registration_progress.svg` (when registrars reported progress),
/// `registration_cdf.svg` (with a registration report and at least one
/// registered miner; one line named after the scenario and seed),
/// `consensus_finality.svg` (with a consensus report and a finalized
/// height) and `messages_per_host.svg` (when the scenario has hosts).
/// Returns the paths written, in that order.
pub fn write_run_plots(
    dir: &Path,
    scenario: &Scenario,
    log: &RunLog,
    registration: Option<&RegistrationReport>,
    consensus: Option<&ConsensusReport>,
) -> Result<Vec<PathBuf>, ReportError> {
    let label = if scenario.name.is_empty() {
        format!("seed {}", scenario.seed)
    } else {
        format!("{} seed {}", scenario.name, scenario.seed)
    };
    let plots = [
        (
            "registration_progress.svg",
            registration_progress(scenario, log),
        ),
        (
            "registration_cdf.svg",
            registration.and_then(|r| registration_cdf(&[(label, r.cdf_times())])),
        ),
        (
            "consensus_finality.svg",
            consensus.and_then(consensus_finality),
        ),
        ("messages_per_host.svg", messages_per_host(scenario, log)),
    ];
    let mut written = Vec::new();
    for (name, svg) in plots {
        let Some(svg) = svg else { continue };
        let path = dir.join(name);
        std::fs::write(&path, svg).map_err(|source| ReportError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use node_logic::consensus::{ConsensusEvent, Hash32};
    use node_logic::registration::WalletSource;
    use sim_core::plan::RegistrationPlan;
    use sim_core::record::Lifecycle;
    use sim_core::scenario;
    use sim_core::units::SimTime;

    use super::*;

    fn s(secs: u64) -> SimTime {
        SimTime::from_nanos(secs * 1_000_000_000)
    }

    fn well_formed(svg: &str) {
        if let Err(e) = xml_check::check(svg) {
            panic!("not well-formed: {e}\n{svg}");
        }
    }

    /// Three miners and two registrars.
    fn registration_scenario() -> Scenario {
        scenario::parse_str(
            "name = \"reg\"\nseed = 7\nduration = \"1 min\"\n\
             [[hosts]]\nname = \"miner\"\ncount = 3\nrole = \"miner\"\n\
             [[hosts]]\nname = \"registrar\"\ncount = 2\nrole = \"registrar\"\n",
            None,
            &[],
        )
        .unwrap()
    }

    fn progress(log: &mut RunLog, t: u64, host: u32, registered: u32) {
        log.observations.push((
            s(t),
            HostId(host),
            Observation::Registration(RegistrationEvent::Progress {
                registered,
                expected: 3,
            }),
        ));
    }

    /// Miners boot at 0, 1, 2 s; both registrars accept each miner; the
    /// registrars report progress and become ready.
    fn registration_log(scenario: &Scenario) -> RunLog {
        let mut log = RunLog::new(scenario.hosts.len());
        for h in 0..5 {
            log.lifecycle
                .push((s(u64::from(h.min(2))), HostId(h), Lifecycle::Started));
        }
        for (miner, t) in [(0u32, 4u64), (1, 6), (2, 9)] {
            for registrar in [3u32, 4] {
                log.observations.push((
                    s(t + u64::from(registrar - 3)),
                    HostId(registrar),
                    Observation::Registration(RegistrationEvent::Accepted {
                        agent: scenario.hosts[miner as usize].name.clone(),
                        wallet: "0xnot-checked-here".to_string(),
                        public_key: None,
                        source: WalletSource::File,
                    }),
                ));
            }
        }
        for (t, registered) in [(5, 1), (7, 2)] {
            progress(&mut log, t, 3, registered);
            progress(&mut log, t + 1, 4, registered);
        }
        for registrar in [3u32, 4] {
            log.observations.push((
                s(10),
                HostId(registrar),
                Observation::Registration(RegistrationEvent::Ready {
                    registered: 3,
                    expected: 3,
                    timed_out: false,
                    missing: Vec::new(),
                }),
            ));
        }
        for (i, c) in log.net.iter_mut().enumerate() {
            c.messages_sent = 10 * i as u64;
        }
        log
    }

    fn finalized(log: &mut RunLog, t: u64, host: u32, height: u64, proposed: u64) {
        log.observations.push((
            s(t),
            HostId(host),
            Observation::Consensus(ConsensusEvent::Finalized {
                height,
                hash: Hash32([height as u8; 32]),
                view: 0,
                proposer: HostId(0),
                proposed_at: s(proposed),
                via_sync: false,
            }),
        ));
    }

    #[test]
    fn registration_progress_has_one_step_line_per_registrar() {
        let scenario = registration_scenario();
        let log = registration_log(&scenario);
        let svg = registration_progress(&scenario, &log).unwrap();
        well_formed(&svg);
        for text in [
            ">Registration progress<",
            ">simulated time (s)<",
            ">miners registered (fraction of expected)<",
            ">registrar-0<",
            ">registrar-1<",
        ] {
            assert!(svg.contains(text), "missing {text}\n{svg}");
        }
        assert_eq!(svg.matches("<path class=\"series\"").count(), 2);
        assert!(!svg.contains(">miner-0<"));
        // Three reports each (two progress, one ready): two steps each.
        let path = svg
            .lines()
            .find(|l| l.starts_with("<path class=\"series\""))
            .unwrap();
        assert_eq!(path.matches(" H").count(), 2);
        assert!(registration_progress(&scenario, &RunLog::new(5)).is_none());
    }

    #[test]
    fn registration_progress_caps_the_series() {
        let scenario = scenario::parse_str(
            "duration = \"1 min\"\n[[hosts]]\nname = \"r\"\ncount = 11\nrole = \"registrar\"\n\
             [[hosts]]\nname = \"m\"\nrole = \"miner\"\n",
            None,
            &[],
        )
        .unwrap();
        let mut log = RunLog::new(12);
        for host in 0..11 {
            progress(&mut log, 1, host, 1);
        }
        let svg = registration_progress(&scenario, &log).unwrap();
        well_formed(&svg);
        assert_eq!(svg.matches("<path class=\"series\"").count(), MAX_SERIES);
        assert!(svg.contains("showing the first 8 of 11 registrars"));
    }

    #[test]
    fn registration_cdf_from_a_report_and_from_a_sweep() {
        let scenario = registration_scenario();
        let log = registration_log(&scenario);
        let plan = RegistrationPlan::of(&scenario).unwrap().unwrap();
        let report = RegistrationReport::new(&plan, &log, s(60));
        // Registered when the second registrar accepted: 5-0, 7-1, 10-2.
        assert_eq!(report.registration_times(), vec![5.0, 6.0, 8.0]);
        let svg = registration_cdf(&[("run".to_string(), report.registration_times())]).unwrap();
        well_formed(&svg);
        for text in [
            ">Registration time CDF<",
            ">registration time (s)<",
            ">fraction of miners<",
            ">run<",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        let path = svg
            .lines()
            .find(|l| l.starts_with("<path class=\"series\""))
            .unwrap();
        // (5, 0) then three rises.
        assert_eq!(path.matches(" V").count(), 3);

        let sweep = [
            ("poll".to_string(), vec![5.0, 9.0, 30.0]),
            ("watch".to_string(), vec![1.0, f64::NAN, 2.0]),
            ("backoff <fast>".to_string(), vec![]),
        ];
        let svg = registration_cdf(&sweep).unwrap();
        well_formed(&svg);
        assert_eq!(svg.matches("<path class=\"series\"").count(), 2);
        assert!(svg.contains(">poll<") && svg.contains(">watch<"));
        assert!(svg.contains(">backoff &lt;fast&gt; (no data)<"));
        assert_eq!(
            cdf_points(&[2.0, 1.0]),
            vec![(1.0, 0.0), (1.0, 0.5), (2.0, 1.0)]
        );
        assert!(registration_cdf(&[]).is_none());
        assert!(registration_cdf(&[("x".to_string(), vec![f64::NAN])]).is_none());
    }

    #[test]
    fn consensus_finality_steps_up_at_each_first_honest_finalization() {
        let mut log = RunLog::new(4);
        finalized(&mut log, 2, 0, 1, 1);
        finalized(&mut log, 3, 1, 1, 1);
        finalized(&mut log, 4, 0, 2, 3);
        // Host 3 is byzantine: its early claim does not count.
        finalized(&mut log, 5, 3, 3, 4);
        finalized(&mut log, 7, 1, 3, 4);
        let honest: BTreeSet<HostId> = [0, 1, 2].map(HostId).into_iter().collect();
        let report = ConsensusReport::new(&log, &honest, 0);
        assert_eq!(
            report.finalized_heights(),
            vec![(1, s(1), s(2)), (2, s(3), s(4)), (3, s(4), s(7))]
        );
        let svg = consensus_finality(&report).unwrap();
        well_formed(&svg);
        for text in [
            ">Finalized height<",
            ">simulated time (s)<",
            ">finalized height<",
            ">honest validators<",
            "3 heights finalized; finality (proposal to finalization) p50 1.000 s, p95 3.000 s",
        ] {
            assert!(svg.contains(text), "missing {text}\n{svg}");
        }
        let path = svg
            .lines()
            .find(|l| l.starts_with("<path class=\"series\""))
            .unwrap();
        // From (0, 0): up to 1, 2, 3.
        assert_eq!(path.matches(" V").count(), 3);
        let empty = ConsensusReport::new(&RunLog::new(4), &honest, 0);
        assert!(consensus_finality(&empty).is_none());
    }

    #[test]
    fn messages_per_host_has_a_bar_per_host() {
        let scenario = registration_scenario();
        let log = registration_log(&scenario);
        let svg = messages_per_host(&scenario, &log).unwrap();
        well_formed(&svg);
        assert!(svg.contains(">messages sent<") && svg.contains(">host<"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 5);
        for h in &scenario.hosts {
            assert!(svg.contains(&format!(">{}<", h.name)));
        }
        assert!(svg.contains("<title>registrar-1: 40</title>"));
    }

    #[test]
    fn write_run_plots_writes_the_plots_that_apply() {
        let scenario = registration_scenario();
        let log = registration_log(&scenario);
        let plan = RegistrationPlan::of(&scenario).unwrap().unwrap();
        let report = RegistrationReport::new(&plan, &log, s(60));
        let dir = std::env::temp_dir().join(format!("sim-plots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();

        let written = write_run_plots(&dir, &scenario, &log, Some(&report), None).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "registration_progress.svg",
                "registration_cdf.svg",
                "messages_per_host.svg"
            ]
        );
        for path in &written {
            well_formed(&std::fs::read_to_string(path).unwrap());
        }
        let cdf = std::fs::read_to_string(dir.join("registration_cdf.svg")).unwrap();
        assert!(cdf.contains(">reg seed 7<"));
        // Same inputs, same bytes.
        let again = dir.join("again");
        std::fs::create_dir_all(&again).unwrap();
        write_run_plots(&again, &scenario, &log, Some(&report), None).unwrap();
        for name in &names {
            assert_eq!(
                std::fs::read(dir.join(name)).unwrap(),
                std::fs::read(again.join(name)).unwrap()
            );
        }

        let mut consensus_log = RunLog::new(5);
        finalized(&mut consensus_log, 2, 3, 1, 1);
        let honest: BTreeSet<HostId> = [HostId(3)].into_iter().collect();
        let consensus = ConsensusReport::new(&consensus_log, &honest, 0);
        let only = dir.join("consensus");
        std::fs::create_dir_all(&only).unwrap();
        let written =
            write_run_plots(&only, &scenario, &consensus_log, None, Some(&consensus)).unwrap();
        assert_eq!(
            written,
            [
                only.join("consensus_finality.svg"),
                only.join("messages_per_host.svg")
            ]
        );
        let missing = dir.join("no-such-folder");
        assert!(matches!(
            write_run_plots(&missing, &scenario, &log, None, None),
            Err(ReportError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod cdf_denominator {
    #[test]
    fn unregistered_miners_keep_the_cdf_below_one() {
        let points = super::cdf_points(&[1.0, 2.0, f64::INFINITY, f64::INFINITY]);
        assert_eq!(points.last(), Some(&(2.0, 0.5)));
        let all = super::cdf_points(&[1.0, 2.0]);
        assert_eq!(all.last(), Some(&(2.0, 1.0)));
    }
}
