//! Exit codes of the `sim` binary (documented in README.md).

/// How a `sim` command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything worked.
    Ok = 0,
    /// `sim check`: a target or a baseline comparison was missed.
    TargetMissed = 1,
    /// Invalid input: scenario, graph or flag.
    InvalidInput = 2,
    /// Results could not be written.
    OutputFailed = 3,
    /// A safety checker tripped (e.g. two honest validators finalized
    /// different blocks at one height).
    SafetyViolation = 4,
    /// A liveness checker tripped (no progress within the bound after
    /// the faults healed).
    LivenessViolation = 5,
    /// The run stopped before its end (an engine limit was hit, or
    /// simulated time stopped advancing).
    RunFailed = 6,
    /// `sim merge`: the shards given are not one complete sweep (runs or
    /// whole shards missing, or shards of different sweeps); nothing was
    /// written. The message names what is missing and the command that
    /// makes it.
    Incomplete = 7,
    /// Ctrl-C (SIGINT) or SIGTERM stopped the command: the runs in
    /// progress left no result; the complete ones and the records stand.
    Interrupted = 130,
}

impl Exit {
    /// The more serious of two outcomes (the higher code).
    pub fn worst(self, other: Exit) -> Exit {
        self.max(other)
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}
