//! The `[explore]` table: what `sim explore` may draw — which fault kinds,
//! how many at once, when and for how long, which hosts, and each kind's
//! settings (partition size, Byzantine validators, clock skew, latency and
//! loss, duplication and reordering rates, corruption modes). Every key
//! has a default; a key that bounds only kinds that are not drawn is an
//! error (it would do nothing), and so is allowing more than f faulty
//! validators without `unsafe_faulty_validators = true`.
//!
//! **Faulty validators** are those a schedule makes Byzantine *or
//! crashes*: a restarted validator has lost its chain (no durable state),
//! so BFT must count it as faulty — four crashes of two validators each in
//! quick succession fork the chain of four validators (found by `sim
//! explore` itself; BENCHMARKS.md).

use node_logic::HostId;
use node_logic::protocols::consensus::quorum;
use sim_core::rng::{RngStreams, names};
use sim_core::scenario::{self, ErrorKind, Field, HostIndex, Section, Table, did_you_mean, one_of};
use sim_core::units::{Probability, SimDuration, SimTime};

use crate::faults::draw::{DrawSpace, Taken};
use crate::faults::{Fault, kinds};
use crate::model::Scenario;
use crate::protocols::consensus::byzantine::candidates;
use crate::protocols::registration::corrupt::CorruptMode;

/// The `[explore]` table's name and keys.
pub const SECTION: Section = Section {
    name: "explore",
    keys: &[
        "kinds",
        "min_faults",
        "max_faults",
        "window",
        "min_length",
        "max_length",
        "hosts",
        "max_hosts",
        "max_partition",
        "faulty_validators",
        "unsafe_faulty_validators",
        "clock_offset",
        "clock_drift",
        "latency",
        "loss",
        "probability",
        "reorder_window",
        "corrupt_modes",
    ],
};

/// Keys that bound only some kinds: `(key, the kinds it bounds)`.
const KIND_KEYS: &[(&str, &[&str])] = &[
    ("max_partition", &["partition"]),
    ("faulty_validators", &["byzantine", "crash"]),
    ("unsafe_faulty_validators", &["byzantine", "crash"]),
    ("clock_offset", &["clock_skew"]),
    ("clock_drift", &["clock_skew"]),
    ("latency", &["link"]),
    ("loss", &["link"]),
    ("probability", &["duplicate", "reorder"]),
    ("reorder_window", &["reorder"]),
    ("corrupt_modes", &["corrupt"]),
];

/// What `sim explore` may draw (see the module docs for the defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Bounds {
    /// The fault kinds drawn, by kind key, in table order.
    pub kinds: Vec<&'static str>,
    /// Faults per schedule: at least this many...
    pub min_faults: u32,
    /// ...and at most this many.
    pub max_faults: u32,
    /// When faults may start (inclusive).
    pub window: (SimTime, SimTime),
    /// How long a fault that ends lasts: from `min_length`...
    pub min_length: SimDuration,
    /// ...to `max_length` (cut at the end of the run).
    pub max_length: SimDuration,
    /// The hosts faults may touch, in id order.
    pub hosts: Vec<HostId>,
    /// Hosts one fault touches at most (crashes, skews, Byzantine, one
    /// end of a path).
    pub max_hosts: u32,
    /// Hosts a partition cuts off at most.
    pub max_partition: u32,
    /// Validators a schedule makes Byzantine or crashes, at most (f
    /// unless `unsafe_faulty_validators`).
    pub faulty_validators: u32,
    /// Largest clock offset either way.
    pub clock_offset: SimDuration,
    /// Largest clock drift either way.
    pub clock_drift: f64,
    /// Extra latency of a link fault: range.
    pub latency: (SimDuration, SimDuration),
    /// Loss of a link fault: range.
    pub loss: (f64, f64),
    /// Share of messages duplicated or held back: range.
    pub probability: (f64, f64),
    /// Longest hold-back of a reorder fault.
    pub reorder_window: SimDuration,
    /// Corruption modes drawn.
    pub corrupt_modes: Vec<CorruptMode>,
}

/// f of the scenario's consensus validators (0 without consensus).
pub fn tolerated(scenario: &Scenario) -> u32 {
    let Some(spec) = &scenario.protocols.consensus else {
        return 0;
    };
    let n = candidates(&spec.validators, &scenario.protocols).len();
    u32::try_from(n.saturating_sub(1) / 3).unwrap_or(u32::MAX)
}

impl Bounds {
    /// Reads `[explore]` (all defaults when the file has none).
    pub fn parse(root: &Table<'_>, scenario: &Scenario) -> scenario::Result<Bounds> {
        let t = root.subtable("explore", "[explore]", SECTION.keys)?;
        let index = HostIndex::new(&scenario.groups);
        let hosts = match t.get("hosts") {
            Some(f) => sorted(index.resolve(&f)?),
            None => scenario.hosts.iter().map(|h| h.id).collect(),
        };
        let (min_faults, max_faults) = counts(&t)?;
        let (window, min_length, max_length) = times(&t, scenario)?;
        let pool = u32::try_from(hosts.len()).unwrap_or(u32::MAX);
        let mut bounds = Bounds {
            kinds: Vec::new(),
            min_faults,
            max_faults,
            window,
            min_length,
            max_length,
            hosts,
            max_hosts: t.u32_or("max_hosts", 2, 1, u32::MAX)?,
            max_partition: t.u32_or("max_partition", (pool / 2).max(1), 1, u32::MAX)?,
            faulty_validators: faulty_validators(&t, scenario)?,
            clock_offset: t.duration_or("clock_offset", SimDuration::from_secs(2))?,
            clock_drift: drift(&t)?,
            latency: duration_range(
                &t,
                "latency",
                (SimDuration::ZERO, SimDuration::from_millis(200)),
            )?,
            loss: probability_range(&t, "loss", (0.0, 0.3))?,
            probability: probability_range(&t, "probability", (0.1, 0.5))?,
            reorder_window: t
                .positive_duration_or("reorder_window", SimDuration::from_millis(50))?,
            corrupt_modes: modes(&t)?,
        };
        bounds.kinds = bounds.drawn_kinds(&t, scenario)?;
        check_used(&t, &bounds.kinds)?;
        Ok(bounds)
    }

    /// `kinds` as written (each must be drawable here), or every kind the
    /// scenario can be given.
    fn drawn_kinds(
        &self,
        t: &Table<'_>,
        scenario: &Scenario,
    ) -> scenario::Result<Vec<&'static str>> {
        let all: Vec<&'static str> = kinds().iter().map(|k| k.key).collect();
        let Some(field) = t.get("kinds") else {
            let drawable: Vec<&'static str> = all
                .into_iter()
                .filter(|k| self.drawable(k, scenario))
                .collect();
            if drawable.is_empty() {
                return Err(t
                    .error(
                        ErrorKind::Conflict,
                        "no fault kind can be drawn in this scenario within these bounds",
                    )
                    .with_help("widen `hosts`, or set `kinds`"));
            }
            return Ok(drawable);
        };
        let mut chosen = Vec::new();
        for item in field.array()? {
            let name = item.str()?;
            let Some(kind) = all.iter().find(|k| **k == name) else {
                return Err(item
                    .invalid(format!(
                        "unknown fault kind `{name}`: expected {}",
                        one_of(&all)
                    ))
                    .with_help_opt(did_you_mean(name, all.iter().copied())));
            };
            if !self.drawable(kind, scenario) {
                return Err(item
                    .invalid(format!("a `{name}` fault cannot be drawn in this scenario within these bounds"))
                    .with_help(format!("the scenario needs hosts a `{name}` fault can touch among `hosts` (validators for `byzantine`, miners for `corrupt`, miners or registrars for `storage_outage`, two hosts for path faults), and bounds that allow one; or remove `{name}`")));
            }
            if !chosen.contains(kind) {
                chosen.push(*kind);
            }
        }
        if chosen.is_empty() {
            return Err(field
                .invalid("`kinds` is empty: nothing to draw")
                .with_help(format!("name some of {}", one_of(&all))));
        }
        Ok(chosen)
    }

    /// Whether a fault of `kind` can be drawn at the window's start with
    /// nothing else in the schedule.
    fn drawable(&self, kind: &str, scenario: &Scenario) -> bool {
        let at = self.window.0;
        let end = SimTime::from_duration(scenario.duration).min(at + self.max_length);
        let taken = Taken::default();
        let space = DrawSpace {
            scenario,
            bounds: self,
            at,
            end,
            taken: &taken,
        };
        let mut rng = RngStreams::new(scenario.seed).stream(names::EXPLORE, u64::MAX);
        Fault::draw(kind, &space, &mut rng).is_some()
    }
}

fn sorted(mut hosts: Vec<HostId>) -> Vec<HostId> {
    hosts.sort_unstable();
    hosts
}

/// `min_faults` and `max_faults`: 1 to 64, the first no more than the second.
fn counts(t: &Table<'_>) -> scenario::Result<(u32, u32)> {
    let min = t.u32_or("min_faults", 1, 0, 64)?;
    let max = t.u32_or("max_faults", 3.max(min), 1, 64)?;
    if min > max {
        let f = t.get("min_faults").or_else(|| t.get("max_faults"));
        let message = format!("`min_faults` ({min}) is above `max_faults` ({max})");
        let err = match f {
            Some(f) => f.invalid(message),
            None => t.error(ErrorKind::InvalidValue, message),
        };
        return Err(err.with_help("a schedule has from `min_faults` to `max_faults` faults"));
    }
    Ok((min, max))
}

/// `window`, `min_length` and `max_length`, checked against the run.
fn times(
    t: &Table<'_>,
    scenario: &Scenario,
) -> scenario::Result<((SimTime, SimTime), SimDuration, SimDuration)> {
    let duration = scenario.duration;
    let half = SimDuration::from_millis(duration.as_nanos() / 2_000_000);
    let (from, to) = duration_range(t, "window", (SimDuration::ZERO, half))?;
    if to >= duration {
        let f = t
            .get("window")
            .expect("the default window ends at half the run");
        return Err(f
            .invalid(format!(
                "the window ends at {to}, but the run lasts {duration}"
            ))
            .with_help("faults must start before the end of the run: end the window earlier"));
    }
    let quarter = SimDuration::from_millis(duration.as_nanos() / 4_000_000);
    let min_length = t.positive_duration_or(
        "min_length",
        SimDuration::from_secs(1).min(quarter.max(SimDuration::from_millis(1))),
    )?;
    let max_length = t.positive_duration_or("max_length", quarter.max(min_length))?;
    if min_length > max_length {
        let f = t.get("min_length").or_else(|| t.get("max_length"));
        let message =
            format!("`min_length` ({min_length}) is longer than `max_length` ({max_length})");
        let err = match f {
            Some(f) => f.invalid(message),
            None => t.error(ErrorKind::InvalidValue, message),
        };
        return Err(err.with_help("faults last from `min_length` to `max_length`"));
    }
    Ok((
        (SimTime::from_duration(from), SimTime::from_duration(to)),
        min_length,
        max_length,
    ))
}

/// `faulty_validators`: at most f unless `unsafe_faulty_validators =
/// true` (which must then be needed).
fn faulty_validators(t: &Table<'_>, scenario: &Scenario) -> scenario::Result<u32> {
    let f = tolerated(scenario);
    let count = t.u32_or("faulty_validators", f, 0, u32::MAX)?;
    let unsafe_ok = t.bool_or("unsafe_faulty_validators", false)?;
    let n = scenario
        .protocols
        .consensus
        .as_ref()
        .map_or(0, |c| candidates(&c.validators, &scenario.protocols).len());
    if count > f && !unsafe_ok {
        let field = t.get("faulty_validators").expect("the default is f");
        return Err(field
            .invalid(format!("`faulty_validators = {count}` allows more faulty validators (Byzantine or crashed) than consensus tolerates (f = {f} of {n} validators, quorum {}): runs could break safety by design", quorum(n)))
            .with_help(format!("lower it to at most {f}, or set `unsafe_faulty_validators = true` to test that the checkers catch it")));
    }
    if unsafe_ok && count <= f {
        let field = t.get("unsafe_faulty_validators").expect("it is true");
        return Err(field
            .invalid(format!(
                "`unsafe_faulty_validators = true` does nothing: `faulty_validators` is {count}, within f = {f}"
            ))
            .with_help(format!(
                "set `faulty_validators` above {f}, or remove `unsafe_faulty_validators`"
            )));
    }
    Ok(count)
}

/// `clock_drift`: from 0 to below 1.
fn drift(t: &Table<'_>) -> scenario::Result<f64> {
    let Some(f) = t.get("clock_drift") else {
        return Ok(0.001);
    };
    let d = f.f64()?;
    if !(0.0..1.0).contains(&d) {
        return Err(f
            .invalid(format!(
                "`clock_drift` must be from 0 to below 1, found {d}"
            ))
            .with_help("it bounds the drift either way: 0.001 means up to 1 ms per second"));
    }
    Ok(d)
}

/// `key = [lo, hi]`: two fields, the first no more than the second.
fn pair<'a>(
    t: &Table<'a>,
    key: &str,
    example: &str,
) -> scenario::Result<Option<(Field<'a>, Field<'a>, Field<'a>)>> {
    let Some(field) = t.get(key) else {
        return Ok(None);
    };
    let items = match field.value() {
        scenario::DeValue::Array(_) => field.array()?,
        _ => Vec::new(),
    };
    let [lo, hi] = items.as_slice() else {
        return Err(field
            .invalid(format!("`{key}` is a range: two values, [lowest, highest]"))
            .with_help(format!("write e.g. `{key} = {example}`")));
    };
    Ok(Some((field.clone(), lo.clone(), hi.clone())))
}

fn duration_range(
    t: &Table<'_>,
    key: &str,
    default: (SimDuration, SimDuration),
) -> scenario::Result<(SimDuration, SimDuration)> {
    let Some((field, lo, hi)) = pair(t, key, "[\"0 s\", \"200 ms\"]")? else {
        return Ok(default);
    };
    let (lo, hi) = (lo.duration()?, hi.duration()?);
    if lo > hi {
        return Err(field
            .invalid(format!("`{key}` goes from {lo} down to {hi}"))
            .with_help("write the lowest value first"));
    }
    Ok((lo, hi))
}

fn probability_range(
    t: &Table<'_>,
    key: &str,
    default: (f64, f64),
) -> scenario::Result<(f64, f64)> {
    let Some((field, lo, hi)) = pair(t, key, "[0.1, 0.5]")? else {
        return Ok(default);
    };
    let (lo, hi): (Probability, Probability) = (lo.probability()?, hi.probability()?);
    if lo.value() > hi.value() {
        return Err(field
            .invalid(format!(
                "`{key}` goes from {} down to {}",
                lo.value(),
                hi.value()
            ))
            .with_help("write the lowest value first"));
    }
    Ok((lo.value(), hi.value()))
}

/// `corrupt_modes`: damage modes or `mixed`; every one by default.
fn modes(t: &Table<'_>) -> scenario::Result<Vec<CorruptMode>> {
    let all = CorruptMode::all();
    let Some(field) = t.get("corrupt_modes") else {
        return Ok(all);
    };
    let options: Vec<(&str, CorruptMode)> = all.iter().map(|m| (m.as_str(), *m)).collect();
    let mut modes = Vec::new();
    for item in field.array()? {
        let mode = item.choice("corruption mode", &options)?;
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    if modes.is_empty() {
        return Err(field
            .invalid("`corrupt_modes` is empty")
            .with_help("name at least one mode, or remove the key"));
    }
    Ok(modes)
}

/// A key that bounds only kinds not drawn would do nothing: an error.
fn check_used(t: &Table<'_>, drawn: &[&str]) -> scenario::Result<()> {
    for (key, bounded) in KIND_KEYS {
        let Some(field) = t.get(key) else {
            continue;
        };
        if bounded.iter().any(|k| drawn.contains(k)) {
            continue;
        }
        return Err(field
            .key_error(
                ErrorKind::Conflict,
                format!(
                    "`{key}` bounds {} faults, but none are drawn",
                    one_of(bounded)
                ),
            )
            .with_help(format!(
                "add {} to `kinds`, or remove `{key}`",
                one_of(bounded)
            )));
    }
    Ok(())
}
