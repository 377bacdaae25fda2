//! Plots, as SVG files beside a run's CSV tables: the protocol-independent
//! ones (`messages_per_host.svg`), the registration-time CDF shared by runs
//! and sweeps, and [`write_svg`]. Each protocol draws its own plots with
//! [`svg`] (plain SVG text whose bytes depend on the input only).
//!
//! Each plot is a function from data to `Option<String>` (the SVG text),
//! `None` when there is no such data.

pub mod svg;
pub mod sweep;
pub mod xml_check;

use sim_core::record::RunLog;
use sim_core::scenario::{Model, Scenario};

use crate::{ReportError, ResultDir};
use svg::Series;

/// At most this many series in one chart; the rest are left out and a note
/// says so.
pub const MAX_SERIES: usize = 8;

/// The CDF of per-miner registration times: one line per `(label, times in
/// seconds)`, e.g. one per strategy in a sweep, or one for a single run
/// (a run's registration report gives it). A miner that never registered
/// is given as `+inf`: it counts in the denominator but is never reached,
/// so the y axis is the fraction of *expected* miners and a strategy that
/// leaves miners unregistered stays below 1. NaN is skipped; beyond
/// [`MAX_SERIES`] labels only the first ones are drawn, with a note.
/// `None` when no label has a time.
/// `caption` names the run or sweep under the title; with `log_x` the time
/// axis is logarithmic (for long tails).
pub fn registration_cdf(
    series: &[(String, Vec<f64>)],
    caption: &str,
    log_x: bool,
) -> Option<String> {
    let lines: Vec<Series> = series
        .iter()
        .take(MAX_SERIES)
        .map(|(name, times)| Series::new(name.clone(), cdf_points(times)))
        .collect();
    if lines.iter().all(|s| s.points.is_empty()) {
        return None;
    }
    let note = (series.len() > MAX_SERIES)
        .then(|| format!("showing the first {MAX_SERIES} of {} series", series.len()));
    let x_label = match log_x {
        true => "registration time (s, log scale)",
        false => "registration time (s)",
    };
    let chart = svg::Chart {
        subtitle: caption.to_string(),
        note: note.unwrap_or_default(),
        step: true,
        log_x,
        ..svg::Chart::new("Registration time CDF", x_label, "fraction of miners")
    };
    Some(svg::line(&chart, &lines))
}

/// The line under a plot's title: `scenario · seed 7 · key=value, ...`
/// (`seeds` as given, e.g. `seed 7` or `seeds 1..20`).
pub fn caption(scenario: &str, seeds: &str, params: &[(String, String)]) -> String {
    let mut parts = vec![scenario.to_string(), seeds.to_string()];
    if !params.is_empty() {
        let p: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.push(p.join(", "));
    }
    parts.join(" \u{b7} ")
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

/// Messages sent per host, one bar per host in host order (labelled with
/// its name); with more than [`svg::MAX_LABELLED_BARS`] hosts, a sorted
/// distribution instead (see [`svg`]). `None` when no host sent a message
/// (a registration-only run: nothing to draw).
pub fn messages_per_host<M: Model>(
    scenario: &Scenario<M>,
    log: &RunLog,
    caption: &str,
) -> Option<String> {
    let bars: Vec<(String, f64)> = scenario
        .hosts
        .iter()
        .map(|h| {
            let sent = log.net.get(h.id.index()).map_or(0, |c| c.messages_sent);
            (h.name.clone(), sent as f64)
        })
        .collect();
    if bars.iter().all(|(_, sent)| *sent == 0.0) {
        return None;
    }
    let chart = svg::Chart {
        subtitle: caption.to_string(),
        ..svg::Chart::new("Messages sent per host", "host", "messages sent")
    };
    Some(svg::bars(&chart, &bars))
}

/// Writes `svg` as `name` into the result folder, when there is a plot.
pub fn write_svg(dir: &ResultDir, name: &str, svg: Option<String>) -> Result<(), ReportError> {
    let Some(svg) = svg else {
        return Ok(());
    };
    let path = dir.file(name);
    std::fs::write(&path, svg).map_err(|source| ReportError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use sim_core::scenario::{self, Bare};

    use super::*;

    fn well_formed(svg: &str) {
        if let Err(e) = xml_check::check(svg) {
            panic!("not well-formed: {e}\n{svg}");
        }
    }

    #[test]
    fn registration_cdf_of_one_run_and_of_a_sweep() {
        let svg =
            registration_cdf(&[("run".to_string(), vec![5.0, 6.0, 8.0])], "s", false).unwrap();
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
        let svg = registration_cdf(&sweep, "s", false).unwrap();
        well_formed(&svg);
        assert_eq!(svg.matches("<path class=\"series\"").count(), 2);
        assert!(svg.contains(">poll<") && svg.contains(">watch<"));
        assert!(svg.contains(">backoff &lt;fast&gt; (no data)<"));
        assert_eq!(
            cdf_points(&[2.0, 1.0]),
            vec![(1.0, 0.0), (1.0, 0.5), (2.0, 1.0)]
        );
        assert!(registration_cdf(&[], "s", false).is_none());
        assert!(registration_cdf(&[("x".to_string(), vec![f64::NAN])], "s", false).is_none());
        // A log time axis: decades, the same lines.
        let log = registration_cdf(&sweep, "sweep \u{b7} seeds 1..3", true).unwrap();
        well_formed(&log);
        assert!(log.contains(">registration time (s, log scale)<"));
        assert!(log.contains(">1<") && log.contains(">10<") && log.contains(">100<"));
        assert!(log.contains("class=\"subtitle\"") && log.contains("seeds 1..3"));
    }

    #[test]
    fn unregistered_miners_keep_the_cdf_below_one() {
        let points = cdf_points(&[1.0, 2.0, f64::INFINITY, f64::INFINITY]);
        assert_eq!(points.last(), Some(&(2.0, 0.5)));
        let all = cdf_points(&[1.0, 2.0]);
        assert_eq!(all.last(), Some(&(2.0, 1.0)));
    }

    #[test]
    fn messages_per_host_has_a_bar_per_host() {
        let scenario = scenario::parse_str::<Bare>(
            "duration = \"1 min\"\n[[hosts]]\nname = \"miner\"\ncount = 3\nrole = \"miner\"\n\
             [[hosts]]\nname = \"registrar\"\ncount = 2\nrole = \"registrar\"\n",
            None,
            &[],
        )
        .unwrap();
        let mut log = RunLog::new(5);
        for (i, c) in log.net.iter_mut().enumerate() {
            c.messages_sent = 10 * i as u64;
        }
        let svg = messages_per_host(&scenario, &log, "demo \u{b7} seed 1").unwrap();
        well_formed(&svg);
        assert!(svg.contains(">messages sent<") && svg.contains(">host<"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 5);
        for h in &scenario.hosts {
            assert!(svg.contains(&format!(">{}<", h.name)));
        }
        assert!(svg.contains("<title>registrar-1: 40</title>"));
        assert!(svg.contains(">demo \u{b7} seed 1<"));
        // Nobody sent anything (registration only): no plot.
        let quiet = RunLog::new(5);
        assert!(messages_per_host(&scenario, &quiet, "demo").is_none());
    }
}
