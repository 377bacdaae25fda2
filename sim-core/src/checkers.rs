//! Invariant checkers that run during a run, not after it.
//!
//! A [`Checker`] sees every protocol observation and every host boot or
//! crash as it happens, and may be asked at deadlines the runner schedules
//! (liveness: "by now, something must have happened"). The first
//! [`Violation`] stops the run: the engine reports it with the simulated
//! time and the events involved, and the CLI exits with the code of its
//! [`ViolationKind`].

use std::fmt;

use node_logic::HostId;
use node_logic::Observation;

use crate::record::Lifecycle;
use crate::units::SimTime;

/// Whether a violation breaks safety or liveness (they have distinct exit
/// codes: 4 and 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// Something bad happened (two honest validators disagree, ...).
    Safety,
    /// Something good did not happen in time.
    Liveness,
}

impl ViolationKind {
    /// A stable name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::Safety => "safety",
            ViolationKind::Liveness => "liveness",
        }
    }
}

/// An invariant that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Safety or liveness.
    pub kind: ViolationKind,
    /// Which checker (`agreement`, `validity`, `monotonic-height`, `liveness`).
    pub checker: &'static str,
    /// When it was detected.
    pub time: SimTime,
    /// What went wrong, in one sentence.
    pub message: String,
    /// The events involved, oldest first, one line each.
    pub events: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} violation ({}) at {}: {}",
            self.kind.as_str(),
            self.checker,
            self.time,
            self.message
        )?;
        for event in &self.events {
            write!(f, "\n    {event}")?;
        }
        Ok(())
    }
}

/// An invariant watched during the run.
pub trait Checker {
    /// A protocol on `host` recorded `observation` at `time`.
    fn observe(
        &mut self,
        time: SimTime,
        host: HostId,
        observation: &Observation,
    ) -> Result<(), Violation>;

    /// `host` booted, restarted or crashed at `time`.
    fn lifecycle(&mut self, _time: SimTime, _host: HostId, _what: Lifecycle) {}

    /// A deadline the runner scheduled has come (see
    /// [`crate::engine::Simulation::schedule_deadline`]).
    fn deadline(&mut self, _time: SimTime) -> Result<(), Violation> {
        Ok(())
    }

    /// The run reached its stop time at `time` without another failure:
    /// the last word on what must hold "by the end" (asked once, after
    /// the last event; it schedules nothing, so it changes no event count).
    fn end(&mut self, _time: SimTime) -> Result<(), Violation> {
        Ok(())
    }
}
