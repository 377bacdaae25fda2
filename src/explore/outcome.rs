//! One run made in memory with every checker on (nothing written), and
//! what failed: a checker (safety, liveness, a registration invariant),
//! the engine (a stall or limit), or the code (a panic).

use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use sim_core::checkers::ViolationKind;
use sim_core::engine::EngineError;
use sim_core::trace::NoTrace;
use sim_core::units::SimTime;

use crate::model::Scenario;
use crate::runner::{self, RunError};

/// What kind of failure a run had (the summary counts by these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    /// A consensus safety checker (agreement, validity, monotonic heights).
    Safety,
    /// The consensus liveness checker.
    Liveness,
    /// A registration invariant (`registration-*` checkers).
    Registration,
    /// The engine stopped the run (time stopped advancing, queue limits).
    Stall,
    /// The code panicked.
    Panic,
}

impl FailureKind {
    /// Every kind, in summary order.
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Safety,
        FailureKind::Liveness,
        FailureKind::Registration,
        FailureKind::Stall,
        FailureKind::Panic,
    ];

    /// Its name in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Safety => "safety",
            FailureKind::Liveness => "liveness",
            FailureKind::Registration => "registration",
            FailureKind::Stall => "stall",
            FailureKind::Panic => "panic",
        }
    }
}

/// How a run failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Its kind.
    pub kind: FailureKind,
    /// The checker that tripped (`agreement`, `registration-complete`),
    /// `stall` or `panic`.
    pub checker: String,
    /// Safety or liveness, for a checker's failure (`sim run` exits 4 or 5).
    pub violation: Option<ViolationKind>,
    /// When, if known.
    pub time: Option<SimTime>,
    /// What happened (for a checker: its whole report).
    pub message: String,
}

impl Failure {
    /// Whether `other` is the same failure for shrinking: same kind, same
    /// checker (the time and details may differ).
    pub fn same(&self, other: &Failure) -> bool {
        self.kind == other.kind && self.checker == other.checker
    }

    /// One line: `safety (agreement) at 12.000000000 s`.
    pub fn headline(&self) -> String {
        match self.time {
            Some(t) => format!("{} ({}) at {t}", self.kind.as_str(), self.checker),
            None => format!("{} ({})", self.kind.as_str(), self.checker),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.headline(), self.message)
    }
}

thread_local! {
    /// The last panic's message on this thread (set by [`quiet_panics`]).
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Replaces the panic hook with one that keeps the message for
/// [`run`] instead of printing it (explore and shrink expect panics).
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|last| *last.borrow_mut() = info.to_string());
    }));
}

/// Makes `scenario`'s run in memory; `Ok(None)` when nothing failed.
pub fn run(scenario: &Scenario) -> Result<Option<Failure>, RunError> {
    let prepared = runner::prepare(scenario)?;
    let mut sim = prepared.sim;
    let result = catch_unwind(AssertUnwindSafe(|| sim.run(&mut NoTrace)));
    Ok(match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(engine_failure(e)),
        Err(_) => Some(Failure {
            kind: FailureKind::Panic,
            checker: "panic".into(),
            violation: None,
            time: None,
            message: LAST_PANIC.with(|last| last.borrow().clone()),
        }),
    })
}

fn engine_failure(e: EngineError) -> Failure {
    match e {
        EngineError::Violation(v) => Failure {
            kind: match (v.checker.starts_with("registration"), v.kind) {
                (true, _) => FailureKind::Registration,
                (false, ViolationKind::Safety) => FailureKind::Safety,
                (false, ViolationKind::Liveness) => FailureKind::Liveness,
            },
            checker: v.checker.to_string(),
            violation: Some(v.kind),
            time: Some(v.time),
            message: v.to_string(),
        },
        EngineError::QueueFull { at, .. } | EngineError::Stalled { at, .. } => Failure {
            kind: FailureKind::Stall,
            checker: "stall".into(),
            violation: None,
            time: Some(at),
            message: e.to_string(),
        },
    }
}
