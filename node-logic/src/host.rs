//! Host identity within a run.

use std::fmt;

/// A host's index in the scenario's expanded host list (groups in file order,
/// `name-0 .. name-(count-1)` within a group). Both drivers derive it from the
/// same scenario file, so it names the same host in the simulator and in
/// real processes. Serializes as the plain number.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct HostId(pub u32);

impl HostId {
    /// The index as a `usize`, for indexing per-host tables.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host#{}", self.0)
    }
}
