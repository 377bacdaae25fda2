//! The peer registry's plots: `peers_live.svg` (live peers per member over
//! time) and `peers_flaps.svg` (peer-down events over time), both with the
//! run's faults shaded.

use reports::plots::{MAX_SERIES, svg};
use reports::tables::host_name;

use super::report::PeersReport;
use crate::protocols::PlotContext;

/// Live peers per member over simulated time (a step function; 0 while
/// the member is down). Up to [`MAX_SERIES`] members, one line each
/// (members with the same history share a line); more are summarized as
/// three lines: the lowest, median and highest count over members at each
/// change. `None` without members.
pub fn live_peers(report: &PeersReport, plot: &PlotContext<'_>) -> Option<String> {
    let live = report.live_peers();
    if live.is_empty() {
        return None;
    }
    let end = plot.scenario.duration.as_secs_f64();
    let series: Vec<svg::Series> = if live.len() <= MAX_SERIES {
        live.iter()
            .map(|(host, changes)| {
                let mut points: Vec<(f64, f64)> = changes
                    .iter()
                    .map(|(t, n)| (t.as_secs_f64(), *n as f64))
                    .collect();
                if let Some(&(_, last)) = points.last() {
                    points.push((end, last));
                }
                svg::Series::new(host_name(plot.scenario, *host), points)
            })
            .collect()
    } else {
        spread(report, end)
    };
    let members = live.len();
    let note = match members <= MAX_SERIES {
        true => format!("{members} members; a crashed member counts 0"),
        false => format!("{members} members: lowest, median and highest count at each change"),
    };
    let chart = svg::Chart {
        note,
        step: true,
        ..plot.time_chart("Live peers per member", "peers up in its view")
    };
    Some(svg::line(&chart, &series))
}

/// The lowest, median (nearest rank) and highest live-peer count over
/// members, at every change of any of them.
fn spread(report: &PeersReport, end: f64) -> Vec<svg::Series> {
    let live = report.live_peers();
    let mut times: Vec<sim_core::units::SimTime> = live
        .values()
        .flat_map(|changes| changes.iter().map(|(t, _)| *t))
        .collect();
    times.sort_unstable();
    times.dedup();
    let mut lines = [Vec::new(), Vec::new(), Vec::new()];
    for t in times {
        let mut counts: Vec<f64> = live
            .values()
            .map(|changes| {
                let at = changes.partition_point(|(c, _)| *c <= t);
                at.checked_sub(1).map_or(0.0, |i| changes[i].1 as f64)
            })
            .collect();
        counts.sort_by(f64::total_cmp);
        let median = counts[counts.len().div_ceil(2) - 1];
        let x = t.as_secs_f64();
        for (line, v) in lines
            .iter_mut()
            .zip([counts[0], median, counts[counts.len() - 1]])
        {
            line.push((x, v));
        }
    }
    let names = ["lowest", "median", "highest"];
    lines
        .into_iter()
        .zip(names)
        .map(|(mut points, name)| {
            if let Some(&(_, last)) = points.last() {
                points.push((end, last));
            }
            svg::Series::new(name, points)
        })
        .collect()
}

/// Peer-down events (flaps) over simulated time, cumulative, from 0 at
/// the start to the total at the end. `None` without members.
pub fn flaps(report: &PeersReport, plot: &PlotContext<'_>) -> Option<String> {
    if report.live_peers().is_empty() {
        return None;
    }
    let mut points = vec![(0.0, 0.0)];
    for (i, t) in report.flap_times().iter().enumerate() {
        points.push((t.as_secs_f64(), (i + 1) as f64));
    }
    let total = report.flap_times().len();
    points.push((plot.scenario.duration.as_secs_f64(), total as f64));
    let chart = svg::Chart {
        note: format!(
            "{}: a member dropped a peer it had up",
            reports::plural(total as f64, "peer-down event", "peer-down events")
        ),
        step: true,
        ..plot.time_chart("Peer flaps", "peer-down events so far")
    };
    Some(svg::line(
        &chart,
        &[svg::Series::new("all members", points)],
    ))
}

#[cfg(test)]
mod tests {
    use node_logic::protocols::peers::PeerRegistryEvent;
    use node_logic::{HostId, Observation};
    use reports::plots::xml_check;
    use sim_core::record::{Lifecycle, RunLog};
    use sim_core::units::SimTime;

    use super::*;

    fn s(secs: u64) -> SimTime {
        SimTime::from_nanos(secs * 1_000_000_000)
    }

    #[test]
    fn live_peers_and_flaps_are_drawn_with_the_fault_shaded() {
        let scenario = crate::model::parse_str(
            "name = \"hb\"\nduration = \"100 s\"\n[[hosts]]\nname = \"p\"\ncount = 2\nrole = \"peer\"\n\
             [[faults]]\nat = \"30 s\"\npartition = [\"p-0\", \"p-1\"]\nuntil = \"60 s\"\n",
            None,
            &[],
        )
        .unwrap();
        let mut log = RunLog::new(2);
        for h in 0..2 {
            log.lifecycle.push((s(0), HostId(h), Lifecycle::Started));
        }
        for (t, a, b, up) in [(1, 0, 1, true), (1, 1, 0, true), (40, 0, 1, false)] {
            let peer = HostId(b);
            let event = match up {
                true => PeerRegistryEvent::Up { peer },
                false => PeerRegistryEvent::Down { peer },
            };
            log.observations
                .push((s(t), HostId(a), Observation::Peers(event)));
        }
        let report = PeersReport::new(&[HostId(0), HostId(1)], &log, Some(s(60))).unwrap();
        let plot = PlotContext::new(&scenario, &log);
        for svg in [
            live_peers(&report, &plot).unwrap(),
            flaps(&report, &plot).unwrap(),
        ] {
            xml_check::check(&svg).unwrap();
            assert!(svg.contains(">hb \u{b7} seed 1<"), "{svg}");
            assert!(svg.contains(">partition #0<"));
            assert_eq!(svg.matches("<rect class=\"shade\"").count(), 1);
        }
        let live = live_peers(&report, &plot).unwrap();
        assert!(live.contains(">p-0<") && live.contains(">p-1<"));
        let flaps = flaps(&report, &plot).unwrap();
        assert!(flaps.contains("1 peer-down event: a member dropped a peer it had up"));
    }
}
