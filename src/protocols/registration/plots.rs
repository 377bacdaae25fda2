//! Registration's plots: `registration_progress.svg` (registered fraction
//! over time per registrar; the registration-time CDF is drawn by
//! `reports::plots::registration_cdf` from the report's times).

use std::collections::BTreeMap;

use node_logic::protocols::registration::RegistrationEvent;
use node_logic::{HostId, Observation};
use reports::plots::{MAX_SERIES, svg};
use reports::tables::host_name;

use crate::protocols::PlotContext;

/// Registration progress: each registrar's registered / expected miners
/// over simulated time, as a step function, from its
/// `RegistrationEvent::Progress` and `Ready` observations (an expected
/// count of 0 counts as complete, as in `registration_progress.csv`). One
/// series per registrar in host order; beyond [`MAX_SERIES`] registrars
/// only the first ones are drawn and a note says how many. `None` when no
/// registrar reported progress.
pub fn progress(plot: &PlotContext<'_>) -> Option<String> {
    let (scenario, log) = (plot.scenario, plot.log);
    let mut by_host: BTreeMap<HostId, Vec<(f64, f64)>> = BTreeMap::new();
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
    let series: Vec<svg::Series> = by_host
        .into_iter()
        .take(MAX_SERIES)
        .map(|(host, points)| svg::Series::new(host_name(scenario, host), points))
        .collect();
    let note = (total > MAX_SERIES)
        .then(|| format!("showing the first {MAX_SERIES} of {total} registrars"));
    let chart = svg::Chart {
        note: note.unwrap_or_default(),
        step: true,
        ..plot.time_chart(
            "Registration progress",
            "miners registered (fraction of expected)",
        )
    };
    Some(svg::line(&chart, &series))
}

#[cfg(test)]
mod tests {
    use node_logic::protocols::registration::WalletSource;
    use reports::plots::xml_check;
    use sim_core::record::Lifecycle;
    use sim_core::units::SimTime;

    use super::*;
    use crate::model::Scenario;
    use crate::protocols::registration::plan::{Keys, RegistrationPlan};
    use crate::protocols::registration::report::RegistrationReport;
    use sim_core::record::RunLog;

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
        crate::model::parse_str(
            "name = \"reg\"\nseed = 7\nduration = \"1 min\"\n\
             [[hosts]]\nname = \"miner\"\ncount = 3\nrole = \"miner\"\n\
             [[hosts]]\nname = \"registrar\"\ncount = 2\nrole = \"registrar\"\n",
            None,
            &[],
        )
        .unwrap()
    }

    fn report_progress(log: &mut RunLog, t: u64, host: u32, registered: u32) {
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
            report_progress(&mut log, t, 3, registered);
            report_progress(&mut log, t + 1, 4, registered);
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

    #[test]
    fn registration_progress_has_one_step_line_per_registrar() {
        let scenario = registration_scenario();
        let log = registration_log(&scenario);
        let svg = progress(&PlotContext::new(&scenario, &log)).unwrap();
        well_formed(&svg);
        for text in [
            ">Registration progress<",
            ">reg \u{b7} seed 7<",
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
        let empty = RunLog::new(5);
        assert!(progress(&PlotContext::new(&scenario, &empty)).is_none());
    }

    #[test]
    fn registration_progress_caps_the_series() {
        let scenario = crate::model::parse_str(
            "duration = \"1 min\"\n[[hosts]]\nname = \"r\"\ncount = 11\nrole = \"registrar\"\n\
             [[hosts]]\nname = \"m\"\nrole = \"miner\"\n",
            None,
            &[],
        )
        .unwrap();
        let mut log = RunLog::new(12);
        for host in 0..11 {
            report_progress(&mut log, 1, host, 1);
        }
        let svg = progress(&PlotContext::new(&scenario, &log)).unwrap();
        well_formed(&svg);
        // Identical registrars are drawn once, named together.
        assert_eq!(svg.matches("<path class=\"series\"").count(), 1);
        assert!(svg.contains("r-0, r-1, r-2"));
        assert!(svg.contains("showing the first 8 of 11 registrars"));
    }

    /// Registered (by both registrars) at 5, 7 and 10 s. miner-1's file is
    /// damaged at 3 s (recovered 4 s later, at 7 s), miner-0's at 8 s after
    /// it was registered (0 s): the recovery time is 4 s. A damaged miner
    /// that never registers makes it null.
    #[test]
    fn recovery_time_of_damaged_files() {
        use reports::summary::{Metric, Summary};
        use sim_core::record::DamageRecord;
        let scenario = registration_scenario();
        let mut log = registration_log(&scenario);
        let spec = scenario.protocols.registration.as_ref().unwrap();
        let plan = RegistrationPlan::of(spec, &scenario, Keys::Derive { parallel: false }).unwrap();
        let metrics = |log: &RunLog| {
            let mut summary = Summary::default();
            let report = RegistrationReport::new(&plan, log, s(60));
            crate::protocols::ProtocolReport::add_metrics(&report, &mut summary);
            summary
        };
        let none = metrics(&log);
        assert_eq!(
            none.get("registration.recovery_s"),
            Some(&Metric::Real(0.0))
        );
        for (t, host) in [(3, 1u32), (8, 0)] {
            log.damaged.push(DamageRecord {
                time: s(t),
                fault: 0,
                host: HostId(host),
                path: format!("miner-{host}_miner_info.json"),
                mode: "truncate",
            });
        }
        let summary = metrics(&log);
        assert_eq!(
            summary.get("registration.recovery_s"),
            Some(&Metric::Real(4.0))
        );
        assert_eq!(
            summary.get("registration.recovery_reached"),
            Some(&Metric::Flag(true))
        );
        // miner-2 is damaged but never accepted by registrar-1.
        log.observations
            .retain(|(t, h, _)| !(*t == s(10) && *h == HostId(4)));
        log.damaged[0].host = HostId(2);
        let never = metrics(&log);
        assert_eq!(never.get("registration.recovery_s"), Some(&Metric::Null));
        assert_eq!(
            never.get("registration.recovery_reached"),
            Some(&Metric::Flag(false))
        );
    }

    #[test]
    fn registration_times_from_the_report_make_the_cdf() {
        let scenario = registration_scenario();
        let log = registration_log(&scenario);
        let spec = scenario.protocols.registration.as_ref().unwrap();
        let plan = RegistrationPlan::of(spec, &scenario, Keys::Derive { parallel: false }).unwrap();
        let report = RegistrationReport::new(&plan, &log, s(60));
        // Registered when the second registrar accepted: 5-0, 7-1, 10-2.
        assert_eq!(report.registration_times(), vec![5.0, 6.0, 8.0]);
        let times = [("run".to_string(), report.registration_times())];
        let svg = reports::plots::registration_cdf(&times, "reg", false).unwrap();
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
    }
}
