//! Quantities with units that scenarios and GML graphs carry: bandwidth and
//! probabilities. Times live in [`node_logic::time`] because protocols use them.

use std::fmt;
use std::str::FromStr;

use node_logic::time::parse_quantity;
pub use node_logic::time::{SimDuration, SimTime, UnitError};

/// Bits per second in each bandwidth unit we accept (Shadow's spellings:
/// decimal `Kbit` = 1000 bit, binary `Kibit` = 1024 bit; byte forms too).
const BANDWIDTH_UNITS: &[(&[&str], u64)] = &[
    (&["bit", "bits", "bps"], 1),
    (&["Kbit", "kbit", "kilobit", "Kbps", "kbps"], 1_000),
    (&["Mbit", "mbit", "megabit", "Mbps", "mbps"], 1_000_000),
    (&["Gbit", "gbit", "gigabit", "Gbps", "gbps"], 1_000_000_000),
    (&["Tbit", "tbit", "terabit", "Tbps"], 1_000_000_000_000),
    (&["Kibit", "kibibit"], 1 << 10),
    (&["Mibit", "mebibit"], 1 << 20),
    (&["Gibit", "gibibit"], 1 << 30),
    (&["B", "byte", "bytes", "B/s"], 8),
    (&["KB", "kB", "KB/s", "kB/s"], 8_000),
    (&["MB", "MB/s"], 8_000_000),
    (&["GB", "GB/s"], 8_000_000_000),
    (&["KiB", "KiB/s"], 8 << 10),
    (&["MiB", "MiB/s"], 8 << 20),
    (&["GiB", "GiB/s"], 8 << 30),
];

/// A link or host rate in bits per second; never zero (a host with no
/// bandwidth could never send, which is always a mistake in a scenario).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bandwidth(u64);

impl Bandwidth {
    /// A rate of `bits_per_sec`; `None` for zero.
    pub const fn from_bits_per_sec(bits_per_sec: u64) -> Option<Self> {
        if bits_per_sec == 0 {
            None
        } else {
            Some(Bandwidth(bits_per_sec))
        }
    }
    /// The rate in bits per second.
    pub const fn bits_per_sec(self) -> u64 {
        self.0
    }
    /// How long `bytes` take to serialize onto a link of this rate, rounded
    /// up to the next nanosecond so a message never takes zero time.
    pub fn transmit_time(self, bytes: u64) -> SimDuration {
        let bits = u128::from(bytes) * 8 * 1_000_000_000;
        // Every datagram's bits fit 64: divide there (the same quotient;
        // a 128-bit division is a library call on every send and arrival).
        let ns = match u64::try_from(bits) {
            Ok(bits) => u128::from(bits.div_ceil(self.0)),
            Err(_) => bits.div_ceil(u128::from(self.0)),
        };
        SimDuration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

impl FromStr for Bandwidth {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, UnitError> {
        let bits = parse_quantity(
            text,
            BANDWIDTH_UNITS,
            "bit, Kbit, Mbit, Gbit, Tbit, Kibit, Mibit, Gibit, or bytes: B, KB, MB, GB, KiB, MiB, GiB",
        )?;
        Bandwidth::from_bits_per_sec(bits)
            .ok_or_else(|| UnitError::OutOfRange(text.trim().to_string()))
    }
}

impl fmt::Display for Bandwidth {
    /// The largest decimal unit that shows the rate exactly: `100 Mbit`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, scale) in [
            ("Tbit", 1_000_000_000_000u64),
            ("Gbit", 1_000_000_000),
            ("Mbit", 1_000_000),
            ("Kbit", 1_000),
        ] {
            if self.0.is_multiple_of(scale) {
                return write!(f, "{} {}", self.0 / scale, name);
            }
        }
        write!(f, "{} bit", self.0)
    }
}

/// A probability in `0..=1` (packet loss, a fault fraction); parsing rejects
/// anything else so a typo like `loss = 5` (meaning 5 %) is caught.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Probability(f64);

/// Why a probability was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0} is not a probability: write a number from 0 to 1 (e.g. 0.05 for 5 %)")]
pub struct ProbabilityError(pub f64);

impl Probability {
    /// Never.
    pub const ZERO: Probability = Probability(0.0);
    /// Always.
    pub const ONE: Probability = Probability(1.0);

    /// `p` if it lies in `0..=1`.
    pub fn new(p: f64) -> Result<Self, ProbabilityError> {
        if (0.0..=1.0).contains(&p) {
            Ok(Probability(p))
        } else {
            Err(ProbabilityError(p))
        }
    }
    /// The value in `0..=1`.
    pub const fn value(self) -> f64 {
        self.0
    }
    /// Both of two independent chances to pass: loss along a path compounds
    /// as `1 - (1 - a)(1 - b)`.
    pub fn compound(self, other: Probability) -> Probability {
        Probability((1.0 - (1.0 - self.0) * (1.0 - other.0)).clamp(0.0, 1.0))
    }
}

impl fmt::Display for Probability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bw(text: &str) -> Bandwidth {
        text.parse().unwrap()
    }

    #[test]
    fn parses_shadow_bandwidths() {
        assert_eq!(bw("100 Mbit").bits_per_sec(), 100_000_000);
        assert_eq!(bw("1 Gbit").bits_per_sec(), 1_000_000_000);
        assert_eq!(bw("10 Kibit").bits_per_sec(), 10_240);
        assert_eq!(bw("1.5 Mbit").bits_per_sec(), 1_500_000);
        assert_eq!(bw("1 MiB").bits_per_sec(), 8 * 1024 * 1024);
        assert_eq!(bw("2048kbit").bits_per_sec(), 2_048_000);
    }

    #[test]
    fn rejects_bad_bandwidths() {
        assert!(matches!(
            "100".parse::<Bandwidth>(),
            Err(UnitError::MissingUnit(_))
        ));
        assert!(matches!(
            "0 Mbit".parse::<Bandwidth>(),
            Err(UnitError::OutOfRange(_))
        ));
        assert!(matches!(
            "5 furlongs".parse::<Bandwidth>(),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(
            "0.1 bit".parse::<Bandwidth>(),
            Err(UnitError::OutOfRange(_))
        ));
    }

    #[test]
    fn displays_round_trip() {
        for text in ["100 Mbit", "1 Gbit", "1500 Kbit", "7 bit"] {
            assert_eq!(bw(text).to_string(), text);
        }
    }

    #[test]
    fn transmit_time_is_serialization_delay() {
        // 1250 bytes = 10,000 bits at 10 Mbit/s = 1 ms.
        assert_eq!(
            bw("10 Mbit").transmit_time(1250),
            SimDuration::from_millis(1)
        );
        // Never zero for a non-empty message; rounds up.
        assert_eq!(bw("1 Tbit").transmit_time(1), SimDuration::from_nanos(1));
        assert_eq!(bw("1 Gbit").transmit_time(0), SimDuration::ZERO);
    }

    #[test]
    fn transmit_time_is_the_128_bit_quotient_on_both_sides_of_64_bits() {
        // bytes * 8e9 passes u64::MAX just above 2,305,843,009 bytes.
        let edge = u64::MAX / 8_000_000_000;
        for rate in ["7 bit", "10 Mbit", "100 Mbit", "1 Tbit"] {
            let b = bw(rate);
            for bytes in [1, 73, 1_472, 65_536, edge - 1, edge, edge + 1, u64::MAX / 8] {
                let reference = (u128::from(bytes) * 8_000_000_000).div_ceil(u128::from(b.0));
                let expected = u64::try_from(reference).unwrap_or(u64::MAX);
                assert_eq!(
                    b.transmit_time(bytes).as_nanos(),
                    expected,
                    "{rate} {bytes}"
                );
            }
        }
    }

    #[test]
    fn probabilities_are_validated_and_compound() {
        assert!(Probability::new(1.5).is_err());
        assert!(Probability::new(-0.1).is_err());
        assert!(Probability::new(f64::NAN).is_err());
        let p = Probability::new(0.1)
            .unwrap()
            .compound(Probability::new(0.2).unwrap());
        assert!((p.value() - 0.28).abs() < 1e-12);
        assert!(ProbabilityError(5.0).to_string().contains("0.05"));
    }
}
