//! The clock of a real process: scenario time read off the monotonic
//! clock, optionally sped up (`--time-scale 0.1` runs ten times faster),
//! and optionally skewed like the simulator skews a host's clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sim_core::engine::ClockSkew;
use sim_core::units::{SimDuration, SimTime};

/// Maps the monotonic clock to scenario time for one process.
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    origin: Instant,
    start_at: SimTime,
    scale: f64,
    skew: Option<ClockSkew>,
}

impl ScaledClock {
    /// A clock that reads `start_at` now and advances by one scenario
    /// second every `scale` real seconds (`scale` > 0).
    pub fn new(start_at: SimTime, scale: f64) -> Self {
        ScaledClock {
            origin: Instant::now(),
            start_at,
            scale,
            skew: None,
        }
    }

    /// A clock on which scenario time 0 was the wall-clock instant
    /// `epoch_unix_ns` (ns since the Unix epoch): processes on one machine
    /// started with the same epoch share one timeline, whatever their
    /// start-up delays; an epoch ahead reads 0 until it comes. The wall clock is read once, here; the clock then
    /// runs on the monotonic clock.
    pub fn from_epoch(epoch_unix_ns: u64, scale: f64) -> Self {
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let epoch = Duration::from_nanos(epoch_unix_ns);
        let now = Instant::now();
        // The epoch may lie ahead (`sim launch` starts processes early).
        let origin = match now_unix.checked_sub(epoch) {
            Some(since) => now.checked_sub(since).unwrap_or(now),
            None => now + (epoch - now_unix),
        };
        ScaledClock {
            origin,
            start_at: SimTime::ZERO,
            scale,
            skew: None,
        }
    }

    /// The true scenario time now (what reports are stamped with).
    pub fn now(&self) -> SimTime {
        self.at(Instant::now())
    }

    /// The scenario time at real instant `instant`.
    fn at(&self, instant: Instant) -> SimTime {
        let real = instant.saturating_duration_since(self.origin).as_nanos() as f64;
        let scenario = (real / self.scale).min(u64::MAX as f64) as u64;
        self.start_at + SimDuration::from_nanos(scenario)
    }

    /// What the host's own (possibly skewed) clock reads at true time `t`:
    /// the time the node logic is given.
    pub fn local(&self, t: SimTime) -> SimTime {
        match self.skew {
            Some(skew) if t >= skew.since => skew.local(t),
            _ => t,
        }
    }

    /// The true time at which the host's clock reads `local` (timers are set
    /// in the host's own time).
    pub fn global(&self, local: SimTime) -> SimTime {
        match self.skew {
            Some(skew) => skew.global(local),
            None => local,
        }
    }

    /// Skews the host's clock from now on.
    pub fn set_skew(&mut self, skew: ClockSkew) {
        self.skew = Some(skew);
    }

    /// Real time left until true scenario time `t` (zero if it has passed;
    /// counted from the real instant of `t`, so also right before an
    /// epoch that lies ahead).
    pub fn real_until(&self, t: SimTime) -> Duration {
        let since_start = t.as_nanos().saturating_sub(self.start_at.as_nanos());
        let real =
            Duration::from_nanos((since_start as f64 * self.scale).min(u64::MAX as f64) as u64);
        let target = self.origin.checked_add(real).unwrap_or(self.origin);
        target.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_runs_faster_and_starts_where_told() {
        let clock = ScaledClock::new(SimTime::from_nanos(5_000_000_000), 0.01);
        let later = clock.origin + Duration::from_millis(20);
        // 20 ms real at scale 0.01 = 2 s of scenario time.
        assert_eq!(clock.at(later), SimTime::from_nanos(7_000_000_000));
        let wait = clock.real_until(SimTime::from_nanos(6_000_000_000));
        assert!(wait <= Duration::from_millis(10), "{wait:?}");
        assert_eq!(clock.real_until(SimTime::ZERO), Duration::ZERO);
    }

    #[test]
    fn clocks_with_one_epoch_agree_whenever_they_start() {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            - 2_000_000_000;
        let a = ScaledClock::from_epoch(epoch, 0.5);
        std::thread::sleep(Duration::from_millis(5));
        let b = ScaledClock::from_epoch(epoch, 0.5);
        let (ta, tb) = (a.now(), b.now());
        // 2 s real since the epoch at scale 0.5 = about 4 s of scenario time.
        assert!(ta.as_nanos() >= 4_000_000_000, "{ta:?}");
        let gap = ta.as_nanos().abs_diff(tb.as_nanos());
        assert!(gap < 2_000_000, "clocks {gap} ns apart");
        // An epoch ahead: scenario time 0 until it comes, then one timeline.
        let ahead = epoch + 2_000_000_000 + 50_000_000;
        let c = ScaledClock::from_epoch(ahead, 0.5);
        assert_eq!(c.now(), SimTime::ZERO);
        let wait = c.real_until(SimTime::from_nanos(1));
        assert!(wait > Duration::from_millis(40), "{wait:?}");
        std::thread::sleep(Duration::from_millis(5));
        let d = ScaledClock::from_epoch(ahead, 0.5);
        assert!(c.origin.max(d.origin) - c.origin.min(d.origin) < Duration::from_millis(2));
    }

    #[test]
    fn a_skewed_clock_reads_ahead_and_sets_timers_earlier() {
        let mut clock = ScaledClock::new(SimTime::ZERO, 1.0);
        let since = SimTime::from_nanos(1_000);
        clock.set_skew(ClockSkew {
            since,
            offset_ns: 500,
            drift: 0.0,
        });
        assert_eq!(
            clock.local(SimTime::from_nanos(10)),
            SimTime::from_nanos(10)
        );
        assert_eq!(
            clock.local(SimTime::from_nanos(2_000)),
            SimTime::from_nanos(2_500)
        );
        assert_eq!(
            clock.global(SimTime::from_nanos(2_500)),
            SimTime::from_nanos(2_000)
        );
    }
}
