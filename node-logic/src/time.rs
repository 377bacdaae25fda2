//! Simulated time: integer nanoseconds, never floating point.
//!
//! [`SimTime`] is an instant since the start of a run; [`SimDuration`] a span
//! between two instants. Both are `u64` nanoseconds (about 584 years of range),
//! the unit Shadow uses, so every value exports to Shadow exactly.
//!
//! Human spellings ("250 ms", "10 s", "10 sec", "5 min", "1 h", "1.5 s") are
//! parsed with [`SimDuration::from_str`]; a bare number is an error because a
//! unit left out is the most common mistake in hand-written scenario files.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::str::FromStr;

/// Nanoseconds in one of each unit we accept, longest spelling last.
const UNITS: &[(&[&str], u64)] = &[
    (&["ns", "nsec", "nanosecond", "nanoseconds"], 1),
    (&["us", "usec", "microsecond", "microseconds", "µs"], 1_000),
    (&["ms", "msec", "millisecond", "milliseconds"], 1_000_000),
    (&["s", "sec", "secs", "second", "seconds"], 1_000_000_000),
    (&["min", "mins", "minute", "minutes"], 60_000_000_000),
    (&["h", "hr", "hour", "hours"], 3_600_000_000_000),
];

/// A span of simulated time, used for latencies, intervals and timeouts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest representable span; used as "never" for deadlines.
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// A span of `ns` nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    /// A span of `us` microseconds (saturating).
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us.saturating_mul(1_000))
    }
    /// A span of `ms` milliseconds (saturating).
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms.saturating_mul(1_000_000))
    }
    /// A span of `s` seconds (saturating).
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s.saturating_mul(1_000_000_000))
    }
    /// The span in whole nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The span in seconds, for reports only (never for arithmetic on time).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// Whether this is the empty span.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// `self * factor`, rounded down, saturating; for backoff multipliers.
    pub fn mul_f64(self, factor: f64) -> Self {
        if !(factor.is_finite() && factor >= 0.0) {
            return SimDuration::MAX;
        }
        let product = self.0 as f64 * factor;
        if product >= u64::MAX as f64 {
            SimDuration::MAX
        } else {
            SimDuration(product as u64)
        }
    }
    /// `self * n`, saturating.
    pub const fn saturating_mul(self, n: u64) -> Self {
        SimDuration(self.0.saturating_mul(n))
    }
    /// `self + other`, saturating at [`SimDuration::MAX`].
    pub const fn saturating_add(self, other: SimDuration) -> Self {
        SimDuration(self.0.saturating_add(other.0))
    }
    /// `self - other`, or zero when `other` is longer.
    pub const fn saturating_sub(self, other: SimDuration) -> Self {
        SimDuration(self.0.saturating_sub(other.0))
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        self.saturating_add(rhs)
    }
}

impl fmt::Display for SimDuration {
    /// The largest unit that shows the value exactly, as an integer: `1500 us`,
    /// `10 s`, `5 min`. This is also the spelling Shadow accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0 s");
        }
        // Names chosen for export: Shadow understands ns, us, ms, s, min, h.
        let shown: &[(&str, u64)] = &[
            ("h", 3_600_000_000_000),
            ("min", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
            ("ns", 1),
        ];
        for (name, scale) in shown {
            if self.0.is_multiple_of(*scale) {
                return write!(f, "{} {}", self.0 / scale, name);
            }
        }
        unreachable!("every integer is a whole number of nanoseconds")
    }
}

/// Why a time or quantity spelling was rejected; the message says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Nothing was given.
    #[error("empty value: write a number with a unit, e.g. \"250 ms\"")]
    Empty,
    /// A number without a unit.
    #[error("\"{0}\" has no unit: write it with one, e.g. \"{0} s\" or \"{0} ms\"")]
    MissingUnit(String),
    /// A unit we do not know.
    #[error("unknown unit \"{unit}\" in \"{text}\": use one of {expected}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole value as written.
        text: String,
        /// The accepted units, for the message.
        expected: &'static str,
    },
    /// The number part is not a non-negative decimal.
    #[error("\"{0}\" is not a number followed by a unit (e.g. \"1.5 s\")")]
    BadNumber(String),
    /// The value does not fit, or is not a whole number of the base unit.
    #[error("\"{0}\" is out of range or finer than the smallest unit")]
    OutOfRange(String),
}

/// Splits "1.5 ms" into ("1.5", "ms"), tolerating no space ("1.5ms").
pub fn split_number_unit(text: &str) -> Result<(&str, &str), UnitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Empty);
    }
    let end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(end);
    if number.is_empty() {
        return Err(UnitError::BadNumber(trimmed.to_string()));
    }
    let unit = unit.trim();
    if unit.is_empty() {
        return Err(UnitError::MissingUnit(trimmed.to_string()));
    }
    Ok((number, unit))
}

/// `number * scale` computed exactly from a decimal string ("1.25" x 1000 =
/// 1250); `None` when it overflows or leaves a fraction of the base unit.
pub fn scale_decimal(number: &str, scale: u64) -> Option<u64> {
    let number: String = number.chars().filter(|&c| c != '_').collect();
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number.as_str(), ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if frac.contains('.') {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole.checked_mul(scale)?;
    let mut place = scale;
    for digit in frac.chars() {
        let d = u64::from(digit.to_digit(10)?);
        if !place.is_multiple_of(10) {
            // A non-zero digit finer than the base unit cannot be represented.
            if d != 0 {
                return None;
            }
            continue;
        }
        place /= 10;
        value = value.checked_add(d * place)?;
    }
    Some(value)
}

/// A quantity written as a number and a unit from `units` (each unit's
/// spellings and its size in the base unit), in base units, exactly:
/// `"1.5 ms"` with the time units is 1 500 000. `expected` lists the units
/// for the error message. Every quantity with a unit (times here,
/// bandwidths in the simulator) is read by this one function.
pub fn parse_quantity(
    text: &str,
    units: &[(&[&str], u64)],
    expected: &'static str,
) -> Result<u64, UnitError> {
    let (number, unit) = split_number_unit(text)?;
    let scale = units
        .iter()
        .find(|(names, _)| names.contains(&unit))
        .map(|(_, scale)| *scale)
        .ok_or_else(|| UnitError::UnknownUnit {
            unit: unit.to_string(),
            text: text.trim().to_string(),
            expected,
        })?;
    if !number.chars().any(|c| c.is_ascii_digit()) {
        return Err(UnitError::BadNumber(text.trim().to_string()));
    }
    scale_decimal(number, scale).ok_or_else(|| UnitError::OutOfRange(text.trim().to_string()))
}

impl FromStr for SimDuration {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, UnitError> {
        parse_quantity(text, UNITS, "ns, us, ms, s (sec), min, h").map(SimDuration)
    }
}

/// An instant of simulated time, measured from the start of the run.
/// Serializes as the integer nanoseconds.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct SimTime(u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// An instant that never comes; a deadline that is not set.
    pub const NEVER: SimTime = SimTime(u64::MAX);

    /// The instant `ns` nanoseconds after the start.
    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }
    /// The instant `d` after the start.
    pub const fn from_duration(d: SimDuration) -> Self {
        SimTime(d.0)
    }
    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Seconds since the start, for reports only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// The span since the start of the run.
    pub const fn since_start(self) -> SimDuration {
        SimDuration(self.0)
    }
    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    /// Saturates at [`SimTime::NEVER`] so "now + forever" stays "never".
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    /// The span between two instants; zero if `rhs` is later.
    fn sub(self, rhs: SimTime) -> SimDuration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Display for SimTime {
    /// Seconds with nanosecond precision, e.g. `12.000250000 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09} s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> SimDuration {
        text.parse().unwrap()
    }

    #[test]
    fn parses_shadow_spellings() {
        assert_eq!(d("250 ms"), SimDuration::from_millis(250));
        assert_eq!(d("10 s"), SimDuration::from_secs(10));
        assert_eq!(d("10 sec"), SimDuration::from_secs(10));
        assert_eq!(d("5 min"), SimDuration::from_secs(300));
        assert_eq!(d("1 h"), SimDuration::from_secs(3600));
        assert_eq!(d("7ns"), SimDuration::from_nanos(7));
        assert_eq!(d("3 us"), SimDuration::from_micros(3));
        assert_eq!(d("1_000 ms"), SimDuration::from_secs(1));
    }

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(d("1.5 s"), SimDuration::from_millis(1500));
        assert_eq!(d("0.001 s"), SimDuration::from_millis(1));
        assert_eq!(d(".5 ms"), SimDuration::from_micros(500));
        assert_eq!(d("1.000 ns"), SimDuration::from_nanos(1));
    }

    #[test]
    fn rejects_bad_spellings() {
        assert!(matches!(
            "10".parse::<SimDuration>(),
            Err(UnitError::MissingUnit(_))
        ));
        assert!(matches!("".parse::<SimDuration>(), Err(UnitError::Empty)));
        assert!(matches!(
            "10 parsecs".parse::<SimDuration>(),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(
            "-1 s".parse::<SimDuration>(),
            Err(UnitError::BadNumber(_))
        ));
        assert!(matches!(
            "s".parse::<SimDuration>(),
            Err(UnitError::BadNumber(_))
        ));
        assert!(matches!(
            "1.2.3 s".parse::<SimDuration>(),
            Err(UnitError::OutOfRange(_))
        ));
        assert!(matches!(
            "0.5 ns".parse::<SimDuration>(),
            Err(UnitError::OutOfRange(_))
        ));
        assert!(matches!(
            "99999999999999 h".parse::<SimDuration>(),
            Err(UnitError::OutOfRange(_))
        ));
    }

    #[test]
    fn error_messages_say_how_to_fix() {
        let err = "10".parse::<SimDuration>().unwrap_err().to_string();
        assert!(err.contains("\"10 s\""), "{err}");
        let err = "3 fortnights"
            .parse::<SimDuration>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("ms") && err.contains("fortnights"), "{err}");
    }

    #[test]
    fn displays_exact_integer_units() {
        assert_eq!(SimDuration::from_millis(1500).to_string(), "1500 ms");
        assert_eq!(SimDuration::from_micros(1500).to_string(), "1500 us");
        assert_eq!(SimDuration::from_secs(300).to_string(), "5 min");
        assert_eq!(SimDuration::ZERO.to_string(), "0 s");
        for text in ["1 ns", "999 us", "12 s", "7 h", "61 s"] {
            assert_eq!(d(text).to_string(), text);
        }
    }

    #[test]
    fn time_arithmetic_saturates() {
        let t = SimTime::from_nanos(5);
        assert_eq!(t + SimDuration::MAX, SimTime::NEVER);
        assert_eq!(SimTime::ZERO - t, SimDuration::ZERO);
        assert_eq!(
            (t + SimDuration::from_nanos(3)) - t,
            SimDuration::from_nanos(3)
        );
        assert_eq!(
            SimDuration::from_secs(2).mul_f64(1.5),
            SimDuration::from_secs(3)
        );
        assert_eq!(
            SimDuration::from_secs(2).mul_f64(f64::NAN),
            SimDuration::MAX
        );
    }
}
