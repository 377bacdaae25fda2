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
/// members, at every change of any of them. One sweep over the changes in
/// time order with the members' counts in a [`Counts`] tree: O(changes x
/// log(largest count)), not O(changes x members), so 10,000 members with
/// hundreds of thousands of changes take milliseconds.
fn spread(report: &PeersReport, end: f64) -> Vec<svg::Series> {
    let live = report.live_peers();
    let mut changes: Vec<(sim_core::units::SimTime, usize, usize)> = live
        .values()
        .enumerate()
        .flat_map(|(m, series)| series.iter().map(move |(t, n)| (*t, m, *n)))
        .collect();
    changes.sort_by_key(|(t, m, _)| (*t, *m));
    let largest = changes.iter().map(|(_, _, n)| *n).max().unwrap_or(0);
    let mut now = vec![0usize; live.len()];
    let mut counts = Counts::new(largest, live.len());
    let median_rank = live.len().div_ceil(2);
    let mut lines = [Vec::new(), Vec::new(), Vec::new()];
    let mut i = 0;
    while i < changes.len() {
        let t = changes[i].0;
        while let Some(&(at, m, n)) = changes.get(i)
            && at == t
        {
            counts.replace(now[m], n);
            now[m] = n;
            i += 1;
        }
        let x = t.as_secs_f64();
        let ranks = [1, median_rank, live.len()];
        for (line, rank) in lines.iter_mut().zip(ranks) {
            line.push((x, counts.nth(rank) as f64));
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

/// How many members have each live-peer count, as a Fenwick tree over the
/// counts 0..=largest: a change and the n-th smallest count in O(log).
struct Counts {
    tree: Vec<usize>,
}

impl Counts {
    /// `members` members, all at count 0.
    fn new(largest: usize, members: usize) -> Self {
        let mut counts = Counts {
            tree: vec![0; largest + 2],
        };
        counts.add(0, members as isize);
        counts
    }

    fn add(&mut self, count: usize, delta: isize) {
        let mut i = count + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// One member's count goes from `from` to `to`.
    fn replace(&mut self, from: usize, to: usize) {
        if from != to {
            self.add(from, -1);
            self.add(to, 1);
        }
    }

    /// The `rank`-th smallest count (1-based).
    fn nth(&self, rank: usize) -> usize {
        let (mut at, mut left) = (0, rank);
        let mut step = (self.tree.len() - 1).next_power_of_two();
        while step > 0 {
            let next = at + step;
            if next < self.tree.len() && self.tree[next] < left {
                at = next;
                left -= self.tree[next];
            }
            step /= 2;
        }
        // `at` counts with fewer than `rank` members at or below them.
        at
    }
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
    use crate::protocols::peers::report::Mode;

    fn s(secs: u64) -> SimTime {
        SimTime::from_nanos(secs * 1_000_000_000)
    }

    /// The tree's lowest, median and highest agree with sorting every
    /// member's count, through a long run of changes.
    #[test]
    fn counts_tree_ranks_match_a_sort() {
        let members = 37;
        let mut now = vec![0usize; members];
        let mut counts = Counts::new(20, members);
        let mut x: u64 = 12345;
        for _ in 0..2_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (m, n) = ((x >> 33) as usize % members, (x >> 45) as usize % 21);
            counts.replace(now[m], n);
            now[m] = n;
            let mut sorted = now.clone();
            sorted.sort_unstable();
            for rank in [1, members.div_ceil(2), members] {
                assert_eq!(counts.nth(rank), sorted[rank - 1]);
            }
        }
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
        let report =
            PeersReport::new(&[HostId(0), HostId(1)], &log, Some(s(60)), Mode::Mesh).unwrap();
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
