//! What every protocol's observations share: a fixed binary encoding for
//! the trace hash ([`Traced`]) and a one-row description for
//! `observations.csv` ([`Described`]).
//!
//! Each protocol owns its observation type (e.g.
//! [`crate::protocols::consensus::ConsensusEvent`]) and implements both
//! traits next to it; [`crate::protocols::Observation`] wraps them and
//! delegates. Drivers never look inside: the simulator hashes what
//! [`Traced::trace`] writes, the reports print what
//! [`Described::describe`] says.

use crate::HostId;

/// Where an observation writes its trace encoding (the simulator's trace
/// hasher implements it). The encoding is a sequence of 64-bit words and
/// length-prefixed byte strings; it must never depend on `Debug` text, so
/// equal runs hash equally on every platform and version of Rust.
pub trait TraceWriter {
    /// Mixes one word in.
    fn word(&mut self, word: u64);
    /// Mixes a byte string in (its length first, so boundaries count).
    fn bytes(&mut self, bytes: &[u8]);
}

/// A value with a fixed trace encoding.
pub trait Traced {
    /// Writes this value's encoding: a distinct leading code per variant,
    /// then every field that makes two values differ.
    fn trace(&self, out: &mut impl TraceWriter);
}

/// The other party an observation is about, for the `peer` column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Party {
    /// No one.
    None,
    /// Another host (the reports print its name).
    Host(HostId),
    /// An agent or file name, printed as it is.
    Named(String),
}

/// One row of `observations.csv`: `observation, peer, detail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// A stable kebab-case name, prefixed by the protocol
    /// (`consensus-finalized`), unique across protocols.
    pub kind: &'static str,
    /// Who it is about.
    pub party: Party,
    /// Free text for humans (empty when nothing more is to say).
    pub detail: String,
}

impl Description {
    /// A description with no party and no detail.
    pub fn new(kind: &'static str) -> Self {
        Description {
            kind,
            party: Party::None,
            detail: String::new(),
        }
    }
    /// The same, about `host`.
    pub fn host(mut self, host: HostId) -> Self {
        self.party = Party::Host(host);
        self
    }
    /// The same, about the agent or file `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.party = Party::Named(name.into());
        self
    }
    /// The same, with `detail`.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// A value that describes itself as one row of `observations.csv`.
pub trait Described {
    /// This observation's row.
    fn describe(&self) -> Description;
}
