//! A small SVG chart writer: line charts (optionally drawn as step
//! functions) and bar charts, as plain SVG text.
//!
//! The output bytes are a pure function of the input: no fonts are
//! embedded (text uses the generic `sans-serif` family), no system library
//! is asked anything, every number is printed with a fixed number of
//! decimals (coordinates with two, tick labels with as many as the tick
//! step needs), and nothing iterates a hash map.
//!
//! Conventions every chart follows:
//! - a fixed size of [`WIDTH`] x [`HEIGHT`] pixels with a matching
//!   `viewBox`, a title, and axis labels as the caller gives them (they
//!   should carry units, e.g. `"simulated time (s)"`);
//! - axes span "nice" tick values (1, 2 or 5 x 10^k, see [`nice_ticks`])
//!   and always include 0, since every quantity plotted here (time, counts,
//!   fractions) is measured from 0;
//! - series colours come from the Okabe-Ito colour-blind-safe palette
//!   ([`PALETTE`]), cycling; from the ninth series on, the cycle repeats
//!   with a dash pattern so that no two series look alike;
//! - every text is XML-escaped; characters XML cannot carry (control
//!   characters) are replaced with U+FFFD;
//! - NaN and infinite values are skipped; a chart with nothing left to
//!   draw is still a valid SVG, saying "no data";
//! - a [`Chart`] says what is drawn: a title, a subtitle naming the run
//!   (scenario, seeds, parameters), an optional note, shaded and labelled
//!   windows on the x axis (faults in force), a logarithmic x axis for
//!   long tails, and a confidence band around any series;
//! - series that would hide each other stay apart: every series after the
//!   first has its own dash pattern, earlier series are drawn wider, and
//!   series with identical points are drawn once, named together in the
//!   legend (`registrar-0, registrar-1 (identical)`).
//!
//! **Many bars.** Up to [`MAX_LABELLED_BARS`] bars are drawn one by one in
//! the order given, each with its label. Beyond that (10,000 hosts would
//! give bars a few hundredths of a pixel wide with unreadable labels) the
//! chart becomes a *sorted distribution*: the values sorted from highest to
//! lowest, drawn as one filled step outline with the rank on the x axis and
//! no per-bar labels, and a note naming how many bars there are, the
//! highest one (by label) and the median and lowest values. When there are
//! more bars than pixel columns, each column shows the highest value of the
//! ranks it covers (the first of them, as they are sorted), so the picture
//! is what the full-resolution drawing would look like and the file stays
//! small.

use std::fmt::Write as _;

/// Chart width in pixels (and `viewBox` units).
pub const WIDTH: u32 = 800;
/// Chart height in pixels (and `viewBox` units).
pub const HEIGHT: u32 = 480;
/// A bar chart with more bars than this is drawn as a sorted distribution.
pub const MAX_LABELLED_BARS: usize = 60;
/// The Okabe-Ito palette, ordered so that the first colours are the most
/// distinct on white (yellow, the faintest, comes last).
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
];
/// Dash patterns, one per series in turn (the first series is solid).
const DASHES: [&str; 4] = ["", "7 3", "2 2", "9 3 2 3"];
/// Stroke width of the first series; each later one is thinner, down to
/// [`MIN_STROKE`], so a series drawn over an earlier one leaves its edges
/// showing.
const FIRST_STROKE: f64 = 3.5;
/// The thinnest series stroke.
const MIN_STROKE: f64 = 1.5;
/// Legend names longer than this are shortened (the full name stays in a
/// tooltip).
const MAX_LEGEND_CHARS: usize = 24;
/// Bar labels longer than this are shortened (full name in a tooltip).
const MAX_BAR_LABEL_CHARS: usize = 16;
/// Bar labels up to this long fit under a bar unrotated (with few bars).
const SHORT_BAR_LABEL_CHARS: usize = 8;

/// Plot area left edge.
const LEFT: f64 = 80.0;
/// Plot area top edge (below title, subtitle and note).
const TOP: f64 = 80.0;
/// Plot area bottom edge when x tick labels are plain numbers.
const BOTTOM: f64 = 410.0;
/// Plot area right edge when there is a legend.
const RIGHT_WITH_LEGEND: f64 = 600.0;
/// Plot area right edge without a legend.
const RIGHT: f64 = 770.0;

/// One line of a line chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The name shown in the legend.
    pub name: String,
    /// `(x, y)` points; drawn in order of `x` (points with equal `x` keep
    /// their order). Non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// A band drawn under the line, `(x, low, high)` (a 95 % confidence
    /// interval); empty for none.
    pub band: Vec<(f64, f64, f64)>,
}

impl Series {
    /// A series without a band.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            band: Vec::new(),
        }
    }
}

/// A window on the x axis drawn shaded and labelled (a fault in force);
/// `from == to` is an instant, drawn as a dashed line.
#[derive(Clone, Debug, PartialEq)]
pub struct Shade {
    /// Where it starts.
    pub from: f64,
    /// Where it ends.
    pub to: f64,
    /// Its label (e.g. `partition #0`).
    pub label: String,
}

/// What a chart says around its data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// The title.
    pub title: String,
    /// The line under the title naming the run: scenario, seeds,
    /// parameters (empty for none).
    pub subtitle: String,
    /// A remark under the subtitle (empty for none).
    pub note: String,
    /// The x axis label, with its unit.
    pub x_label: String,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// Lines are step functions (the value holds until the next point).
    pub step: bool,
    /// A logarithmic x axis (decades; points at or below 0 are left out
    /// and the note says how many).
    pub log_x: bool,
    /// Shaded windows on the x axis.
    pub shades: Vec<Shade>,
    /// The x range to show at least (e.g. the whole run), beyond the data.
    pub x_span: Option<(f64, f64)>,
}

impl Chart {
    /// A chart with a title and axis labels, and nothing else yet.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Chart {
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            ..Chart::default()
        }
    }
}

/// Tick values for one axis: evenly spaced multiples of a 1/2/5 x 10^k
/// step covering the data.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticks {
    /// The tick values, ascending; the first and last are the axis ends.
    pub values: Vec<f64>,
    /// Decimals that print every tick exactly (0 for steps of 1 or more).
    pub decimals: usize,
}

impl Ticks {
    /// The axis start.
    pub fn lo(&self) -> f64 {
        self.values.first().copied().unwrap_or(0.0)
    }
    /// The axis end.
    pub fn hi(&self) -> f64 {
        self.values.last().copied().unwrap_or(1.0)
    }
    /// A tick value as printed on the axis.
    pub fn label(&self, value: f64) -> String {
        num(value, self.decimals)
    }
}

/// "Nice" ticks covering `min..=max`: a step of 1, 2 or 5 x 10^k giving
/// the interval count nearest five (so 3 to 8 intervals), with the axis ends rounded out to multiples of
/// the step (e.g. `0..37` gives `0, 10, 20, 30, 40`). An empty range
/// (`min == max`) is widened around the value; non-finite bounds give
/// `0..1`.
pub fn nice_ticks(min: f64, max: f64) -> Ticks {
    let fallback = || Ticks {
        values: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        decimals: 1,
    };
    if !min.is_finite() || !max.is_finite() {
        return fallback();
    }
    let (mut min, mut max) = if min <= max { (min, max) } else { (max, min) };
    if min == max {
        if min == 0.0 {
            return fallback();
        }
        let pad = min.abs() * 0.5;
        min -= pad;
        max += pad;
    }
    let range = max - min;
    let raw = range / 5.0;
    if !range.is_finite() || !raw.is_normal() {
        return Ticks {
            values: vec![min, max],
            decimals: 0,
        };
    }
    // Candidates 1, 2, 5 and 10 x 10^k around the raw step; the one giving
    // the interval count nearest 5 wins (the larger step on a tie).
    let k = raw.log10().floor() as i32;
    let (mult, k) = [(1.0, k), (2.0, k), (5.0, k), (1.0, k + 1)]
        .into_iter()
        .map(|(m, k)| (m, k, (range / (m * 10f64.powi(k)) - 5.0).abs()))
        .fold(None, |best: Option<(f64, i32, f64)>, c| match best {
            Some(b) if b.2 < c.2 => Some(b),
            _ => Some(c),
        })
        .map(|(m, k, _)| (m, k))
        .expect("four candidates");
    let step = mult * 10f64.powi(k);
    if !step.is_normal() {
        return Ticks {
            values: vec![min, max],
            decimals: 0,
        };
    }
    // A little slack so that a bound sitting on a multiple of the step
    // (up to rounding error) does not get a whole extra interval.
    let first = (min / step + 1e-9).floor();
    let last = (max / step - 1e-9).ceil();
    let count = ((last - first) as i64).clamp(1, 100);
    let values = (0..=count).map(|i| (first + i as f64) * step).collect();
    Ticks {
        values,
        decimals: usize::try_from(-k).unwrap_or(0).min(12),
    }
}

/// `value` with exactly `decimals` decimals, never `-0`.
fn num(value: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, value);
    match s.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
        _ => s,
    }
}

/// A coordinate, with two decimals.
fn c(value: f64) -> String {
    num(value, 2)
}

/// `text` escaped for XML text and attribute values; characters XML 1.0
/// cannot carry become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to `max` characters (with an ellipsis) when longer.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('\u{2026}');
        s
    }
}

macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        write!($out, $($arg)*).expect("writing to a String cannot fail")
    };
}

/// The plot area, in pixels.
#[derive(Clone, Copy)]
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

/// Maps data values to pixels on one axis (linear, or logarithmic for
/// positive values).
#[derive(Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
    log: bool,
}

impl Scale {
    fn at(self, v: f64) -> f64 {
        let f = |v: f64| {
            if self.log {
                v.max(f64::MIN_POSITIVE).log10()
            } else {
                v
            }
        };
        let span = f(self.hi) - f(self.lo);
        if span == 0.0 || !span.is_finite() {
            return self.from;
        }
        self.from + (f(v) - f(self.lo)) / span * (self.to - self.from)
    }
}

/// The document start: header, background, title, subtitle and note.
fn open(out: &mut String, chart: &Chart) {
    w!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    let full = match chart.subtitle.is_empty() {
        true => chart.title.clone(),
        false => format!("{} \u{2014} {}", chart.title, chart.subtitle),
    };
    w!(out, "<title>{}</title>\n", escape(&full));
    w!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#FFFFFF\"/>\n"
    );
    w!(
        out,
        "<text class=\"title\" x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        WIDTH / 2,
        escape(&chart.title)
    );
    if !chart.subtitle.is_empty() {
        w!(
            out,
            "<text class=\"subtitle\" x=\"{}\" y=\"40\" text-anchor=\"middle\" fill=\"#222222\">{}</text>\n",
            WIDTH / 2,
            escape(&shorten(&chart.subtitle, 120))
        );
    }
    if !chart.note.is_empty() {
        w!(
            out,
            "<text class=\"note\" x=\"{}\" y=\"56\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555555\">{}</text>\n",
            WIDTH / 2,
            escape(&shorten(&chart.note, 130))
        );
    }
}

/// Axis labels: x centred under the plot, y rotated along its left side.
fn axis_labels(out: &mut String, x_label: &str, y_label: &str, f: Frame) {
    w!(
        out,
        "<text class=\"x-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
        c((f.left + f.right) / 2.0),
        HEIGHT - 14,
        escape(x_label)
    );
    let y = (f.top + f.bottom) / 2.0;
    w!(
        out,
        "<text class=\"y-label\" x=\"20\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {})\">{}</text>\n",
        c(y),
        c(y),
        escape(y_label)
    );
}

/// The plot frame with a centred "no data".
fn no_data(out: &mut String, f: Frame) {
    w!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999999\"/>\n",
        c(f.left),
        c(f.top),
        c(f.right - f.left),
        c(f.bottom - f.top)
    );
    w!(
        out,
        "<text class=\"no-data\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"16\" fill=\"#666666\">no data</text>\n",
        c((f.left + f.right) / 2.0),
        c((f.top + f.bottom) / 2.0)
    );
}

/// The y axis: grid lines, tick marks and labels.
fn y_axis(out: &mut String, ticks: &Ticks, y: Scale, f: Frame) {
    let (left, right) = (f.left, f.right);
    out.push_str("<g class=\"y-axis\">\n");
    for &v in &ticks.values {
        let py = c(y.at(v));
        w!(
            out,
            "<line x1=\"{}\" y1=\"{py}\" x2=\"{}\" y2=\"{py}\" stroke=\"#E5E5E5\"/>\n",
            c(left),
            c(right)
        );
        w!(
            out,
            "<line x1=\"{}\" y1=\"{py}\" x2=\"{}\" y2=\"{py}\" stroke=\"#000000\"/>\n",
            c(left - 5.0),
            c(left)
        );
        w!(
            out,
            "<text x=\"{}\" y=\"{py}\" dy=\"4\" text-anchor=\"end\">{}</text>\n",
            c(left - 8.0),
            ticks.label(v)
        );
    }
    w!(
        out,
        "<line x1=\"{l}\" y1=\"{}\" x2=\"{l}\" y2=\"{}\" stroke=\"#000000\"/>\n",
        c(f.top),
        c(f.bottom),
        l = c(left)
    );
    out.push_str("</g>\n");
}

/// The x axis: tick marks and labels (numbers).
fn x_axis(out: &mut String, ticks: &Ticks, x: Scale, f: Frame) {
    let (left, right, bottom) = (f.left, f.right, f.bottom);
    out.push_str("<g class=\"x-axis\">\n");
    for &v in &ticks.values {
        let px = c(x.at(v));
        w!(
            out,
            "<line x1=\"{px}\" y1=\"{}\" x2=\"{px}\" y2=\"{}\" stroke=\"#000000\"/>\n",
            c(bottom),
            c(bottom + 5.0)
        );
        w!(
            out,
            "<text x=\"{px}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            c(bottom + 19.0),
            ticks.label(v)
        );
    }
    w!(
        out,
        "<line x1=\"{}\" y1=\"{b}\" x2=\"{}\" y2=\"{b}\" stroke=\"#000000\"/>\n",
        c(left),
        c(right),
        b = c(bottom)
    );
    out.push_str("</g>\n");
}

/// Stroke attributes of the `i`th series: its colour, its dash pattern
/// and its width.
fn stroke(i: usize) -> String {
    let colour = PALETTE[i % PALETTE.len()];
    let width = (FIRST_STROKE - 0.5 * i as f64).max(MIN_STROKE);
    match DASHES[i % DASHES.len()] {
        "" => format!("stroke=\"{colour}\" stroke-width=\"{}\"", num(width, 1)),
        dash => format!(
            "stroke=\"{colour}\" stroke-width=\"{}\" stroke-dasharray=\"{dash}\"",
            num(width, 1)
        ),
    }
}

/// A line chart of `series`; see [`line`].
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    step: bool,
) -> String {
    line_chart_with_note(title, None, x_label, y_label, series, step)
}

/// A line chart with a note under the title; see [`line`].
pub fn line_chart_with_note(
    title: &str,
    note: Option<&str>,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    step: bool,
) -> String {
    let chart = Chart {
        note: note.unwrap_or_default().to_string(),
        step,
        ..Chart::new(title, x_label, y_label)
    };
    line(&chart, series)
}

/// A series ready to draw: its name(s) and its finite points, sorted by x.
struct Drawn {
    name: String,
    points: Vec<(f64, f64)>,
    band: Vec<(f64, f64, f64)>,
}

/// The series' finite points (and positive x on a log axis), sorted by
/// x; series with identical points and bands are drawn once, named
/// together. Returns them and how many points a log axis left out.
fn drawn(series: &[Series], log_x: bool) -> (Vec<Drawn>, usize) {
    let keep = |x: f64| x.is_finite() && (!log_x || x > 0.0);
    let mut dropped = 0;
    let mut out: Vec<(Drawn, usize)> = Vec::new();
    for s in series {
        let mut points: Vec<(f64, f64)> = Vec::new();
        for &(x, y) in &s.points {
            match (keep(x), y.is_finite()) {
                (true, true) => points.push((x, y)),
                (false, true) if x.is_finite() => dropped += 1,
                _ => {}
            }
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut band: Vec<(f64, f64, f64)> = s
            .band
            .iter()
            .copied()
            .filter(|(x, lo, hi)| keep(*x) && lo.is_finite() && hi.is_finite())
            .collect();
        band.sort_by(|a, b| a.0.total_cmp(&b.0));
        let twin = out
            .iter_mut()
            .find(|(d, _)| !points.is_empty() && d.points == points && d.band == band);
        match twin {
            Some((d, count)) => {
                d.name = format!("{}, {}", d.name, s.name);
                *count += 1;
            }
            None => out.push((
                Drawn {
                    name: s.name.clone(),
                    points,
                    band,
                },
                1,
            )),
        }
    }
    let drawn = out
        .into_iter()
        .map(|(mut d, count)| {
            if count > 1 {
                d.name.push_str(" (identical)");
            }
            d
        })
        .collect();
    (drawn, dropped)
}

/// A line chart: one line per series, coloured from [`PALETTE`] with its
/// own dash pattern and named in a legend to the right of the plot, over
/// axes with nice ticks that include 0 (decades on a log x axis). With
/// `chart.step`, each line is a step function (the value holds until the
/// next point, as for CDFs and counts); otherwise points are joined by
/// straight segments. A series with a single point is drawn as a dot;
/// bands are drawn under the lines, shades under everything.
pub fn line(chart: &Chart, series: &[Series]) -> String {
    let (drawn, dropped) = drawn(series, chart.log_x);
    let mut chart = chart.clone();
    if dropped > 0 {
        let sep = if chart.note.is_empty() { "" } else { "; " };
        chart.note = format!(
            "{}{sep}{dropped} points at or below 0 not shown on the log axis",
            chart.note
        );
    }
    let mut out = String::new();
    open(&mut out, &chart);
    let f = Frame {
        left: LEFT,
        right: RIGHT_WITH_LEGEND,
        top: TOP,
        bottom: BOTTOM,
    };
    axis_labels(&mut out, &chart.x_label, &chart.y_label, f);
    let has_data = drawn.iter().any(|d| !d.points.is_empty());
    if has_data {
        let (x, y) = axes(&mut out, &chart, &drawn, f);
        shades(&mut out, &chart.shades, x, f);
        lines(&mut out, &drawn, chart.step, x, y);
    } else {
        no_data(&mut out, f);
    }
    legend(&mut out, &drawn, f);
    out.push_str("</svg>\n");
    out
}

/// Draws both axes for the data (and `chart.x_span`); returns their scales.
fn axes(out: &mut String, chart: &Chart, drawn: &[Drawn], f: Frame) -> (Scale, Scale) {
    let xs = drawn.iter().flat_map(|d| {
        let points = d.points.iter().map(|p| p.0);
        points.chain(d.band.iter().map(|b| b.0))
    });
    let ys = drawn.iter().flat_map(|d| {
        let points = d.points.iter().map(|p| p.1);
        points.chain(d.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let span = chart.x_span.filter(|(a, b)| a.is_finite() && b.is_finite());
    let span = span.into_iter().flat_map(|(a, b)| [a, b]);
    let fold = |(lo, hi): (f64, f64), v: f64| (lo.min(v), hi.max(v));
    let (y_lo, y_hi) = ys.fold((0.0, 0.0), fold);
    let yt = nice_ticks(y_lo, y_hi);
    let y = Scale {
        lo: yt.lo(),
        hi: yt.hi(),
        from: f.bottom,
        to: f.top,
        log: false,
    };
    let (xt, log) = if chart.log_x {
        let xs = xs.chain(span.filter(|v| *v > 0.0));
        let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), fold);
        (decade_ticks(lo, hi), true)
    } else {
        let (lo, hi) = xs.chain(span).fold((0.0, 0.0), fold);
        (nice_ticks(lo, hi), false)
    };
    let x = Scale {
        lo: xt.lo(),
        hi: xt.hi(),
        from: f.left,
        to: f.right,
        log,
    };
    y_axis(out, &yt, y, f);
    x_axis(out, &xt, x, f);
    (x, y)
}

/// Ticks at powers of ten covering `lo..=hi` (both positive), for a log
/// axis: at least one decade.
pub fn decade_ticks(lo: f64, hi: f64) -> Ticks {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > 0.0) {
        return Ticks {
            values: vec![1.0, 10.0],
            decimals: 0,
        };
    }
    let first = lo.log10().floor().clamp(-12.0, 12.0) as i32;
    let last = (hi.log10().ceil().clamp(-12.0, 12.0) as i32).max(first + 1);
    Ticks {
        values: (first..=last).map(|k| 10f64.powi(k)).collect(),
        decimals: usize::try_from(-first).unwrap_or(0),
    }
}

/// The shaded windows: a light rectangle (or a dashed line for an
/// instant) clipped to the plot, its label along its top.
fn shades(out: &mut String, shades: &[Shade], x: Scale, f: Frame) {
    if shades.is_empty() {
        return;
    }
    out.push_str("<g class=\"shades\">\n");
    // Labels go just above the plot, or (when that row is taken there)
    // into the first free row inside it.
    let mut rows = [f64::NEG_INFINITY; 4];
    for shade in shades {
        let clip = |v: f64| x.at(v).clamp(f.left, f.right);
        let (a, b) = (clip(shade.from), clip(shade.to.max(shade.from)));
        let label = shorten(&shade.label, 28);
        let width = 6.0 * label.chars().count() as f64;
        let row = rows.iter().position(|end| a >= end + 4.0).unwrap_or(0);
        rows[row] = a + 3.0 + width;
        let label_y = c(f.top - 5.0 + 13.0 * row as f64);
        if b - a < 0.5 {
            w!(
                out,
                "<line class=\"shade\" x1=\"{p}\" y1=\"{}\" x2=\"{p}\" y2=\"{}\" stroke=\"#777777\" stroke-dasharray=\"4 3\"/>\n",
                c(f.top),
                c(f.bottom),
                p = c(a)
            );
        } else {
            w!(
                out,
                "<rect class=\"shade\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#000000\" fill-opacity=\"0.08\"/>\n",
                c(a),
                c(f.top),
                c(b - a),
                c(f.bottom - f.top)
            );
        }
        w!(
            out,
            "<text class=\"shade-label\" x=\"{}\" y=\"{label_y}\" font-size=\"10\" fill=\"#444444\">{}</text>\n",
            c(a + 3.0),
            escape(&label)
        );
    }
    out.push_str("</g>\n");
}

/// Every series' band, then every series' line.
fn lines(out: &mut String, drawn: &[Drawn], step: bool, x: Scale, y: Scale) {
    out.push_str("<g class=\"bands\">\n");
    for (i, d) in drawn.iter().enumerate() {
        if d.band.is_empty() {
            continue;
        }
        let mut path = String::new();
        for (k, &(bx, _, hi)) in d.band.iter().enumerate() {
            let op = if k == 0 { 'M' } else { 'L' };
            w!(path, "{op}{} {} ", c(x.at(bx)), c(y.at(hi)));
        }
        for &(bx, lo, _) in d.band.iter().rev() {
            w!(path, "L{} {} ", c(x.at(bx)), c(y.at(lo)));
        }
        w!(
            out,
            "<path class=\"band\" data-series=\"{i}\" d=\"{}Z\" fill=\"{}\" fill-opacity=\"0.18\" stroke=\"none\"/>\n",
            path,
            PALETTE[i % PALETTE.len()]
        );
    }
    out.push_str("</g>\n<g class=\"series\" fill=\"none\">\n");
    for (i, d) in drawn.iter().enumerate() {
        let Some(&(x0, y0)) = d.points.first() else {
            continue;
        };
        let mut path = format!("M{} {}", c(x.at(x0)), c(y.at(y0)));
        for &(px, py) in &d.points[1..] {
            if step {
                w!(path, " H{} V{}", c(x.at(px)), c(y.at(py)));
            } else {
                w!(path, " L{} {}", c(x.at(px)), c(y.at(py)));
            }
        }
        w!(
            out,
            "<path class=\"series\" data-series=\"{i}\" {} d=\"{path}\"/>\n",
            stroke(i)
        );
        if d.points.len() == 1 || !d.band.is_empty() && d.points.len() < 30 {
            for &(px, py) in &d.points {
                w!(
                    out,
                    "<circle class=\"marker\" cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>\n",
                    c(x.at(px)),
                    c(y.at(py)),
                    PALETTE[i % PALETTE.len()]
                );
            }
        }
    }
    out.push_str("</g>\n");
}

/// The legend: one row per series, its line sample (over its band's
/// colour when it has one) and its name.
fn legend(out: &mut String, drawn: &[Drawn], f: Frame) {
    if drawn.is_empty() {
        return;
    }
    let x = f.right + 20.0;
    out.push_str("<g class=\"legend\">\n");
    for (i, d) in drawn.iter().enumerate() {
        let y = f.top + 8.0 + 20.0 * i as f64;
        if y > f.bottom {
            w!(
                out,
                "<text x=\"{}\" y=\"{}\">\u{2026} {} more</text>\n",
                c(x),
                c(y + 4.0),
                drawn.len() - i
            );
            break;
        }
        if !d.band.is_empty() {
            w!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"24\" height=\"10\" fill=\"{}\" fill-opacity=\"0.18\"/>\n",
                c(x),
                c(y - 5.0),
                PALETTE[i % PALETTE.len()]
            );
        }
        w!(
            out,
            "<line x1=\"{}\" y1=\"{py}\" x2=\"{}\" y2=\"{py}\" {}/>\n",
            c(x),
            c(x + 24.0),
            stroke(i),
            py = c(y)
        );
        w!(
            out,
            "<text class=\"legend-name\" x=\"{}\" y=\"{}\"><title>{}</title>{}{}</text>\n",
            c(x + 30.0),
            c(y + 4.0),
            escape(&d.name),
            escape(&shorten(&d.name, MAX_LEGEND_CHARS)),
            if d.points.is_empty() {
                " (no data)"
            } else {
                ""
            }
        );
    }
    out.push_str("</g>\n");
}

/// A bar chart of `(label, value)` bars; see [`bar_chart_with_note`].
pub fn bar_chart(title: &str, x_label: &str, y_label: &str, bars: &[(String, f64)]) -> String {
    bar_chart_with_note(title, None, x_label, y_label, bars)
}

/// A bar chart with a note under the title; see [`bars`].
pub fn bar_chart_with_note(
    title: &str,
    note: Option<&str>,
    x_label: &str,
    y_label: &str,
    bars: &[(String, f64)],
) -> String {
    let chart = Chart {
        note: note.unwrap_or_default().to_string(),
        ..Chart::new(title, x_label, y_label)
    };
    self::bars(&chart, bars)
}

/// A bar chart over a value axis with nice ticks that includes 0. Up to
/// [`MAX_LABELLED_BARS`] bars are drawn in the order given, each labelled;
/// more are drawn as a sorted distribution (highest first, the x axis
/// showing the rank, no per-bar labels, a note naming the count, highest,
/// median and lowest values; see the module docs). Bars with a non-finite
/// value are skipped. The chart's note is printed under the title (before
/// the distribution's own note); its shades and scales are not used.
pub fn bars(chart: &Chart, bars: &[(String, f64)]) -> String {
    let (x_label, y_label) = (chart.x_label.as_str(), chart.y_label.as_str());
    let note = (!chart.note.is_empty()).then_some(chart.note.as_str());
    let bars: Vec<&(String, f64)> = bars.iter().filter(|(_, v)| v.is_finite()).collect();
    let many = bars.len() > MAX_LABELLED_BARS;
    let mut sorted = bars.clone();
    if many {
        // Highest first; equal values keep their input order.
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
    }
    let distribution_note = many.then(|| {
        let n = sorted.len();
        let (top_label, top) = (&sorted[0].0, sorted[0].1);
        // Nearest-rank median of the ascending order = rank n - ceil(n/2) + 1
        // from the top.
        let median = sorted[n - n.div_ceil(2)].1;
        let low = sorted[n - 1].1;
        let d = |v: f64| num(v, if v.fract() == 0.0 { 0 } else { 3 });
        format!(
            "{n} bars sorted highest first: highest {} ({}), median {}, lowest {}",
            shorten(top_label, 32),
            d(top),
            d(median),
            d(low)
        )
    });
    let note = match (note, distribution_note) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.map(str::to_string).or(b),
    };
    let mut out = String::new();
    let header = Chart {
        note: note.unwrap_or_default(),
        ..chart.clone()
    };
    open(&mut out, &header);
    // Rotated bar labels need room under the plot.
    let rotate = !many
        && (sorted.len() > 10
            || sorted
                .iter()
                .any(|(l, _)| l.chars().count() > SHORT_BAR_LABEL_CHARS));
    let f = Frame {
        left: LEFT,
        right: RIGHT,
        top: TOP,
        bottom: if rotate { BOTTOM - 50.0 } else { BOTTOM },
    };
    let x_label = if many {
        format!("{x_label}, ranked by value (highest first)")
    } else {
        x_label.to_string()
    };
    axis_labels(&mut out, &x_label, y_label, f);
    if sorted.is_empty() {
        no_data(&mut out, f);
        out.push_str("</svg>\n");
        return out;
    }
    let (lo, hi) = sorted.iter().fold((0.0f64, 0.0f64), |(lo, hi), (_, v)| {
        (lo.min(*v), hi.max(*v))
    });
    let yt = nice_ticks(lo, hi);
    let y = Scale {
        lo: yt.lo(),
        hi: yt.hi(),
        from: f.bottom,
        to: f.top,
        log: false,
    };
    y_axis(&mut out, &yt, y, f);
    if many {
        distribution(&mut out, &sorted, y, f);
    } else {
        labelled_bars(&mut out, &sorted, y, f, rotate);
    }
    out.push_str("</svg>\n");
    out
}

/// A bar chart of means with their intervals: `(label, mean, low, high)`
/// per bar, in the order given, each bar labelled and its interval drawn
/// as a whisker; the value axis (with nice ticks, including 0) covers the
/// whiskers. Bars with a non-finite mean are skipped; an empty chart says
/// "no data".
pub fn bars_with_intervals(chart: &Chart, bars: &[(String, f64, f64, f64)]) -> String {
    let bars: Vec<&(String, f64, f64, f64)> = bars.iter().filter(|b| b.1.is_finite()).collect();
    let mut out = String::new();
    open(&mut out, chart);
    let rotate = bars.len() > 10
        || bars
            .iter()
            .any(|b| b.0.chars().count() > SHORT_BAR_LABEL_CHARS);
    let f = Frame {
        left: LEFT,
        right: RIGHT,
        top: TOP,
        bottom: if rotate { BOTTOM - 50.0 } else { BOTTOM },
    };
    axis_labels(&mut out, &chart.x_label, &chart.y_label, f);
    if bars.is_empty() {
        no_data(&mut out, f);
        out.push_str("</svg>\n");
        return out;
    }
    let (lo, hi) = bars
        .iter()
        .flat_map(|b| [b.1, b.2, b.3])
        .filter(|v| v.is_finite())
        .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let yt = nice_ticks(lo, hi);
    let y = Scale {
        lo: yt.lo(),
        hi: yt.hi(),
        from: f.bottom,
        to: f.top,
        log: false,
    };
    y_axis(&mut out, &yt, y, f);
    let plain: Vec<(String, f64)> = bars.iter().map(|b| (b.0.clone(), b.1)).collect();
    let refs: Vec<&(String, f64)> = plain.iter().collect();
    labelled_bars(&mut out, &refs, y, f, rotate);
    let slot = (f.right - f.left) / bars.len() as f64;
    out.push_str("<g class=\"whiskers\" stroke=\"#000000\">\n");
    for (i, (_, _, low, high)) in bars.iter().enumerate() {
        if !(low.is_finite() && high.is_finite()) {
            continue;
        }
        let cx = f.left + slot * (i as f64 + 0.5);
        let (top, bottom) = (y.at(*high), y.at(*low));
        w!(
            out,
            "<path class=\"whisker\" d=\"M{a} {t} H{b} M{x} {t} V{bo} M{a} {bo} H{b}\"/>\n",
            a = c(cx - 6.0),
            b = c(cx + 6.0),
            x = c(cx),
            t = c(top),
            bo = c(bottom)
        );
    }
    out.push_str("</g>\n</svg>\n");
    out
}

/// Up to [`MAX_LABELLED_BARS`] bars, each with its label.
fn labelled_bars(out: &mut String, bars: &[&(String, f64)], y: Scale, f: Frame, rotate: bool) {
    let (left, right, base) = (f.left, f.right, y.at(0.0));
    let slot = (right - left) / bars.len() as f64;
    let width = slot * 0.8;
    out.push_str("<g class=\"bars\">\n");
    for (i, (label, value)) in bars.iter().enumerate() {
        let bx = left + slot * i as f64 + (slot - width) / 2.0;
        let top = y.at(*value);
        let (ry, rh) = if top <= base {
            (top, base - top)
        } else {
            (base, top - base)
        };
        w!(
            out,
            "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect>\n",
            c(bx),
            c(ry),
            c(width),
            c(rh),
            PALETTE[0],
            escape(label),
            num(*value, if value.fract() == 0.0 { 0 } else { 3 })
        );
        let lx = c(bx + width / 2.0);
        let ly = c(f.bottom + 14.0);
        let text = escape(&shorten(label, MAX_BAR_LABEL_CHARS));
        if rotate {
            w!(
                out,
                "<text class=\"bar-label\" x=\"{lx}\" y=\"{ly}\" text-anchor=\"end\" font-size=\"10\" transform=\"rotate(-45 {lx} {ly})\">{text}</text>\n"
            );
        } else {
            w!(
                out,
                "<text class=\"bar-label\" x=\"{lx}\" y=\"{ly}\" text-anchor=\"middle\">{text}</text>\n"
            );
        }
    }
    w!(
        out,
        "<line x1=\"{}\" y1=\"{b}\" x2=\"{}\" y2=\"{b}\" stroke=\"#000000\"/>\n",
        c(left),
        c(right),
        b = c(base)
    );
    out.push_str("</g>\n");
}

/// Many bars: the values sorted highest first as one filled step outline,
/// at most one step per pixel column, with the rank on the x axis.
fn distribution(out: &mut String, sorted: &[&(String, f64)], y: Scale, f: Frame) {
    let (left, right, base) = (f.left, f.right, y.at(0.0));
    let n = sorted.len();
    let xt = nice_ticks(0.0, n as f64);
    let x = Scale {
        lo: xt.lo(),
        hi: xt.hi(),
        from: left,
        to: right,
        log: false,
    };
    x_axis(out, &xt, x, f);
    let columns = n.min((right - left) as usize);
    let mut d = format!("M{} {}", c(x.at(0.0)), c(base));
    for col in 0..columns {
        // Ranks [start, end) fall in this column; sorted descending, so the
        // first is the column's highest value.
        let start = col * n / columns;
        let end = (col + 1) * n / columns;
        w!(d, " V{} H{}", c(y.at(sorted[start].1)), c(x.at(end as f64)));
    }
    w!(d, " V{} Z", c(base));
    w!(
        out,
        "<path class=\"distribution\" d=\"{d}\" fill=\"{}\" fill-opacity=\"0.35\" stroke=\"{}\" stroke-width=\"1\"/>\n",
        PALETTE[0],
        PALETTE[0]
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::xml_check::check;

    fn well_formed(svg: &str) {
        if let Err(e) = check(svg) {
            panic!("not well-formed: {e}\n{svg}");
        }
        assert!(svg.contains(&format!("viewBox=\"0 0 {WIDTH} {HEIGHT}\"")));
    }

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series::new(name, points.to_vec())
    }

    fn ticks(min: f64, max: f64) -> (Vec<String>, usize) {
        let t = nice_ticks(min, max);
        (t.values.iter().map(|v| t.label(*v)).collect(), t.decimals)
    }

    #[test]
    fn nice_ticks_are_1_2_5_multiples_covering_the_range() {
        assert_eq!(
            ticks(0.0, 37.0),
            (
                vec!["0", "10", "20", "30", "40"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                0
            )
        );
        assert_eq!(ticks(0.0, 7.0).0, ["0", "2", "4", "6", "8"]);
        assert_eq!(ticks(0.0, 100.0).0, ["0", "20", "40", "60", "80", "100"]);
        assert_eq!(
            ticks(0.0, 1.0),
            (
                vec!["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                1
            )
        );
        assert_eq!(
            ticks(0.0, 0.037).0,
            ["0.00", "0.01", "0.02", "0.03", "0.04"]
        );
        assert_eq!(ticks(-12.0, 5.0).0, ["-15", "-10", "-5", "0", "5"]);
        assert_eq!(
            ticks(0.0, 0.3).0,
            ["0.00", "0.05", "0.10", "0.15", "0.20", "0.25", "0.30"]
        );
        assert_eq!(
            ticks(0.0, 2500.0).0,
            ["0", "500", "1000", "1500", "2000", "2500"]
        );
        // A single value is widened around itself.
        assert_eq!(
            ticks(3.0, 3.0).0,
            ["1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5"]
        );
        // Reversed, empty at zero, non-finite or absurd ranges never panic.
        assert_eq!(ticks(37.0, 0.0).0, ["0", "10", "20", "30", "40"]);
        assert_eq!(
            ticks(0.0, 0.0).0,
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        assert_eq!(ticks(f64::NAN, 1.0).0.len(), 6);
        assert!(nice_ticks(-f64::MAX, f64::MAX).values.len() >= 2);
        assert!(nice_ticks(0.0, 1e-320).values.len() >= 2);
        // Every tick is a multiple of a 1/2/5 step.
        for max in [0.7, 3.0, 13.0, 99.0, 450.0, 61_234.0] {
            let t = nice_ticks(0.0, max);
            assert!(t.lo() <= 0.0 && t.hi() >= max, "{max}: {t:?}");
            assert!((4..=11).contains(&t.values.len()), "{max}: {t:?}");
            let step = t.values[1] - t.values[0];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6),
                "{max}: step {step}"
            );
        }
    }

    #[test]
    fn numbers_have_fixed_decimals_and_no_negative_zero() {
        assert_eq!(num(-0.0, 2), "0.00");
        assert_eq!(num(-0.001, 2), "0.00");
        assert_eq!(num(-0.5, 1), "-0.5");
        assert_eq!(num(0.1 + 0.2, 1), "0.3");
        assert_eq!(num(12.0, 0), "12");
    }

    #[test]
    fn escaping_covers_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y"), "x\u{FFFD}y");
    }

    #[test]
    fn a_line_chart_has_title_labels_legend_and_one_path_per_series() {
        let data = [
            series("poll", &[(0.0, 0.0), (10.0, 0.5), (20.0, 1.0)]),
            series("watch", &[(0.0, 0.0), (3.0, 1.0)]),
            series("backoff", &[(5.0, 0.25)]),
        ];
        let svg = line_chart(
            "Registration",
            "simulated time (s)",
            "fraction (of expected)",
            &data,
            false,
        );
        well_formed(&svg);
        for text in [
            ">Registration<",
            ">simulated time (s)<",
            ">fraction (of expected)<",
            ">poll<",
            ">watch<",
            ">backoff<",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert_eq!(svg.matches("<path class=\"series\"").count(), 3);
        assert_eq!(svg.matches("<circle class=\"marker\"").count(), 1);
        for colour in &PALETTE[..3] {
            assert!(svg.contains(colour));
        }
        // x axis 0..20 and y axis 0..1 with nice ticks.
        assert!(svg.contains(">20<") && svg.contains(">1.0<"));
        assert!(!svg.contains("no data"));
    }

    #[test]
    fn step_lines_go_across_then_up() {
        let data = [series("cdf", &[(0.0, 0.0), (2.0, 0.5), (4.0, 1.0)])];
        let svg = line_chart("t", "x (s)", "y", &data, true);
        well_formed(&svg);
        let path = svg
            .lines()
            .find(|l| l.starts_with("<path class=\"series\""))
            .unwrap();
        assert_eq!(path.matches(" H").count(), 2);
        assert_eq!(path.matches(" V").count(), 2);
        assert!(!path.contains(" L"));
        let straight = line_chart("t", "x (s)", "y", &data, false);
        assert!(straight.contains(" L"));
    }

    #[test]
    fn output_is_a_pure_function_of_the_input() {
        let data: Vec<Series> = (0..12)
            .map(|i| {
                Series::new(
                    format!("s{i}"),
                    (0..50)
                        .map(|k| (f64::from(k) * 0.37, f64::from(k * i) / 7.0))
                        .collect(),
                )
            })
            .collect();
        let a = line_chart("T", "x (s)", "y (n)", &data, true);
        let b = line_chart("T", "x (s)", "y (n)", &data.clone(), true);
        assert_eq!(a, b);
        let bars: Vec<(String, f64)> = (0..500)
            .map(|i| (format!("h{i}"), f64::from(i % 17)))
            .collect();
        assert_eq!(
            bar_chart("B", "host", "messages sent", &bars),
            bar_chart("B", "host", "messages sent", &bars.clone())
        );
        // Beyond the palette, series repeat colours with a dash pattern.
        well_formed(&a);
        assert_eq!(a.matches("<path class=\"series\"").count(), 12);
        assert!(a.contains("stroke-dasharray"));
    }

    #[test]
    fn every_text_is_escaped() {
        let nasty = "<b>&\"q\"'";
        let data = [series(nasty, &[(1.0, 1.0), (2.0, 3.0)])];
        let svg = line_chart(nasty, nasty, nasty, &data, false);
        well_formed(&svg);
        assert!(!svg.contains(nasty));
        assert!(svg.contains("&lt;b&gt;&amp;&quot;q&quot;&apos;"));
        let svg = bar_chart(nasty, nasty, nasty, &[(nasty.to_string(), 2.0)]);
        well_formed(&svg);
        assert!(!svg.contains(nasty));
        let svg = line_chart("t\u{0}", "x", "y", &[], false);
        well_formed(&svg);
    }

    #[test]
    fn empty_and_non_finite_input_gives_a_no_data_chart() {
        for svg in [
            line_chart("Empty", "x (s)", "y (n)", &[], true),
            line_chart(
                "Empty",
                "x (s)",
                "y (n)",
                &[series("nan", &[(f64::NAN, 1.0), (1.0, f64::INFINITY)])],
                false,
            ),
            bar_chart("Empty", "x (s)", "y (n)", &[]),
            bar_chart("Empty", "x (s)", "y (n)", &[("a".into(), f64::NAN)]),
        ] {
            well_formed(&svg);
            assert!(svg.contains(">no data<"));
            assert!(svg.contains(">Empty<") && svg.contains(">x (s)<") && svg.contains(">y (n)<"));
            assert!(!svg.contains("class=\"series\" data") && !svg.contains("class=\"bar\""));
            assert!(!svg.contains("NaN") && !svg.contains("inf"));
        }
        // NaN points are skipped, the rest drawn.
        let svg = line_chart(
            "Mixed",
            "x",
            "y",
            &[
                series(
                    "ok",
                    &[
                        (0.0, 1.0),
                        (f64::NAN, 2.0),
                        (2.0, f64::NEG_INFINITY),
                        (3.0, 4.0),
                    ],
                ),
                series("none", &[(f64::NAN, f64::NAN)]),
            ],
            false,
        );
        well_formed(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert_eq!(svg.matches("<path class=\"series\"").count(), 1);
        assert!(svg.contains(">none (no data)<"));
        let path = svg
            .lines()
            .find(|l| l.starts_with("<path class=\"series\""))
            .unwrap();
        assert_eq!(path.matches(" L").count(), 1);
        let bars = bar_chart("B", "x", "y", &[("a".into(), 1.0), ("b".into(), f64::NAN)]);
        assert_eq!(bars.matches("class=\"bar\"").count(), 1);
    }

    #[test]
    fn a_few_bars_are_drawn_one_by_one_with_labels() {
        let bars: Vec<(String, f64)> = [
            ("alpha", 3.0),
            ("beta", 7.0),
            ("gamma", 0.0),
            ("delta", 12.0),
        ]
        .iter()
        .map(|(l, v)| (l.to_string(), *v))
        .collect();
        let svg = bar_chart("Messages", "host", "messages sent", &bars);
        well_formed(&svg);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 4);
        assert_eq!(svg.matches("class=\"bar-label\"").count(), 4);
        for (label, _) in &bars {
            assert!(svg.contains(&format!(">{label}<")));
        }
        // Given order is kept (alpha before delta), value axis 0..12 by 2.
        assert!(svg.find(">alpha<").unwrap() < svg.find(">delta<").unwrap());
        assert!(svg.contains(">12<") && svg.contains(">10<") && !svg.contains(">14<"));
        assert!(!svg.contains("class=\"distribution\""));
        // Sixty bars are still labelled.
        let sixty: Vec<(String, f64)> = (0..60)
            .map(|i| (format!("host-{i}"), f64::from(i)))
            .collect();
        let svg = bar_chart("M", "host", "messages sent", &sixty);
        well_formed(&svg);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 60);
        assert!(svg.contains("rotate(-45"));
    }

    #[test]
    fn many_bars_become_a_sorted_distribution() {
        let bars: Vec<(String, f64)> = (0..10_000u32)
            .map(|i| (format!("host-{i}"), f64::from((i * 7919) % 1000)))
            .collect();
        let svg = bar_chart("Messages", "host", "messages sent", &bars);
        well_formed(&svg);
        assert!(svg.len() < 60_000, "{} bytes", svg.len());
        assert_eq!(svg.matches("class=\"distribution\"").count(), 1);
        assert!(!svg.contains("class=\"bar\"") && !svg.contains("class=\"bar-label\""));
        assert!(svg.contains("10000 bars sorted highest first: highest host-"));
        assert!(svg.contains("(999), median "));
        assert!(svg.contains(", lowest 0"));
        assert!(svg.contains(">host, ranked by value (highest first)<"));
        assert!(svg.contains(">10000<"));
        // Sorted descending: the outline's heights never rise.
        let path = svg
            .lines()
            .find(|l| l.contains("class=\"distribution\""))
            .unwrap();
        let ys: Vec<f64> = path
            .split(" V")
            .skip(1)
            .map(|s| s.split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(ys.len() > 100);
        // y grows downwards in SVG: non-decreasing pixel y = non-increasing value.
        assert!(ys[..ys.len() - 1].windows(2).all(|w| w[0] <= w[1]));
        // 61 bars already switch.
        let few: Vec<(String, f64)> = (0..61).map(|i| (format!("h{i}"), f64::from(i))).collect();
        let svg = bar_chart("M", "host", "messages sent", &few);
        well_formed(&svg);
        assert!(svg.contains("class=\"distribution\""));
        assert!(svg.contains("highest h60 (60), median 30, lowest 0"));
    }

    #[test]
    fn long_names_are_shortened_with_the_full_name_kept() {
        let long = "a-very-long-series-name-that-goes-on-and-on";
        let svg = line_chart(
            "t",
            "x",
            "y",
            &[series(long, &[(0.0, 1.0), (1.0, 2.0)])],
            false,
        );
        well_formed(&svg);
        assert!(svg.contains(&format!("<title>{long}</title>")));
        assert!(svg.contains("a-very-long-series-name\u{2026}<"));
    }

    #[test]
    fn charts_say_what_ran_shade_faults_draw_bands_and_keep_overlapping_series_apart() {
        let chart = Chart {
            subtitle: "demo \u{b7} seed 7 \u{b7} heartbeat=5 s".into(),
            shades: vec![
                Shade {
                    from: 10.0,
                    to: 20.0,
                    label: "partition #0".into(),
                },
                Shade {
                    from: 30.0,
                    to: 30.0,
                    label: "corrupt #1".into(),
                },
            ],
            x_span: Some((0.0, 60.0)),
            step: true,
            ..Chart::new("Progress", "simulated time (s)", "fraction")
        };
        let same = vec![(0.0, 0.0), (5.0, 1.0)];
        let series = [
            Series::new("registrar-0", same.clone()),
            Series::new("registrar-1", same),
            Series {
                name: "mean".into(),
                points: vec![(0.0, 0.5), (40.0, 0.7)],
                band: vec![(0.0, 0.4, 0.6), (40.0, 0.6, 0.8)],
            },
        ];
        let svg = line(&chart, &series);
        well_formed(&svg);
        assert!(
            svg.contains(
                "<title>Progress \u{2014} demo \u{b7} seed 7 \u{b7} heartbeat=5 s</title>"
            )
        );
        assert!(svg.contains(">demo \u{b7} seed 7 \u{b7} heartbeat=5 s<"));
        assert_eq!(svg.matches("<rect class=\"shade\"").count(), 1);
        assert_eq!(svg.matches("<line class=\"shade\"").count(), 1);
        assert!(svg.contains(">partition #0<") && svg.contains(">corrupt #1<"));
        // Identical registrars share one line, named together.
        assert_eq!(svg.matches("<path class=\"series\"").count(), 2);
        assert!(svg.contains("registrar-0, registrar-1 (identical)"));
        assert_eq!(svg.matches("<path class=\"band\"").count(), 1);
        // The x axis spans the whole run (60 s), not just the data.
        assert!(svg.contains(">60<"));
        // Later series are dashed and thinner.
        assert!(svg.contains("stroke-width=\"3.0\" stroke-dasharray=\"7 3\""));

        let log = Chart {
            log_x: true,
            ..Chart::new("CDF", "time (s, log scale)", "fraction")
        };
        let svg = line(
            &log,
            &[Series::new("t", vec![(0.0, 0.0), (0.5, 0.1), (120.0, 1.0)])],
        );
        well_formed(&svg);
        for tick in [">0.1<", ">1.0<", ">10.0<", ">1000.0<"] {
            assert!(svg.contains(tick), "missing {tick}");
        }
        assert!(svg.contains("1 points at or below 0 not shown on the log axis"));
    }

    #[test]
    fn bars_with_intervals_draw_a_whisker_per_bar() {
        let chart = Chart::new("ready_s per grid point", "grid point", "ready_s (s)");
        let bars = vec![
            ("poll".to_string(), 300.0, 290.0, 310.0),
            ("watch".to_string(), 30.0, 29.0, 31.0),
        ];
        let svg = bars_with_intervals(&chart, &bars);
        well_formed(&svg);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        assert_eq!(svg.matches("class=\"whisker\"").count(), 2);
        assert!(svg.contains(">poll<") && svg.contains(">300<"));
    }
}
