//! Consensus plots: `consensus_finality.svg`.

use reports::percentile;
use reports::plots::svg;

use super::report::ConsensusReport;
use crate::protocols::PlotContext;

/// Consensus progress: the highest height finalized by an honest validator
/// over simulated time, as a step function from 0 at time 0 (each height
/// counted at its first honest finalization). A note gives the number of
/// heights and the finality (proposal to first honest finalization) median
/// and 95th percentile, nearest rank — the per-height detail is in
/// `consensus.csv`. `None` when no height was finalized.
pub fn finality(consensus: &ConsensusReport, plot: &PlotContext<'_>) -> Option<String> {
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
    let chart = svg::Chart {
        note,
        step: true,
        ..plot.time_chart("Finalized height", "finalized height")
    };
    Some(svg::line(
        &chart,
        &[svg::Series::new("honest validators", points)],
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use node_logic::protocols::consensus::{ConsensusEvent, Hash32};
    use node_logic::{HostId, Observation};
    use reports::plots::xml_check;
    use sim_core::record::RunLog;
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
        let scenario = crate::model::parse_str(
            "name = \"bft\"\nduration = \"20 s\"\n[[hosts]]\nname = \"v\"\ncount = 4\nrole = \"validator\"\n\
             [consensus]\n[[faults]]\nat = \"5 s\"\npartition = [\"v-0\", \"v-1\"]\nuntil = \"6 s\"\n",
            None,
            &[],
        )
        .unwrap();
        let plot = PlotContext::new(&scenario, &log);
        let svg = finality(&report, &plot).unwrap();
        well_formed(&svg);
        for text in [
            ">Finalized height<",
            ">simulated time (s)<",
            ">finalized height<",
            ">honest validators<",
            ">bft \u{b7} seed 1<",
            ">partition #0<",
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
        assert!(finality(&empty, &plot).is_none());
        // The partition (5..6 s) is shaded.
        assert_eq!(svg.matches("<rect class=\"shade\"").count(), 1);
    }
}
