//! The Sans-IO vocabulary: what a driver feeds a node ([`Input`]) and what a
//! node asks its driver to do ([`Output`]).
//!
//! # The calling contract
//!
//! A driver owns the clock, the network, the files and the entropy. It:
//!
//! 1. calls [`Node::handle_input`] with the current time, one [`Input`] and
//!    the host's RNG;
//! 2. then drains [`Node::poll_output`] until it returns `None`, carrying out
//!    each [`Output`] in order;
//! 3. repeats with the next input. A node never blocks and never calls back.
//!
//! Timers are named by [`TimerId`]: setting a timer that is already set moves
//! it, so a host has at most one pending timer per id. When it fires the
//! driver feeds [`Input::Timer`]; a node must treat a timer it no longer
//! expects as a no-op. File operations complete later with an
//! [`Input::File`] result. Messages are byte strings: a node encodes what it
//! sends and must survive anything it receives (bad input is dropped and
//! recorded, never a panic).
//!
//! The simulator (`sim-core`) and the real-process runtime (`sim node`) are
//! the two drivers; both honour this contract, so the same node runs in both.

use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use rand_core::Rng;

use crate::HostId;
use crate::protocols::{Observation, TimerId};
use crate::time::SimTime;

/// A protocol state machine that a driver runs. See the module docs for the
/// calling contract.
pub trait Node {
    /// Feed one input observed at `now`. `rng` is the host's own stream; a
    /// node draws all its randomness from it.
    fn handle_input(&mut self, now: SimTime, input: Input, rng: &mut dyn Rng);

    /// The next thing the node wants done, or `None` when it has nothing more
    /// until the next input.
    fn poll_output(&mut self) -> Option<Output>;

    /// The work the inputs since the last call cost, as counted operations
    /// (see [`Work`]), and resets the count. A driver that models CPU time
    /// calls it after each input and prices the operations; the node never
    /// measures time itself. Nodes that count nothing report no work.
    fn take_work(&mut self) -> Work {
        Work::default()
    }

    /// A hint from the driver: `payload` from `from` will be handed to
    /// this node soon (the simulator says so when the datagram reaches the
    /// host's down-link, a few events before it is delivered). A node may
    /// ask the processor for the memory handling it reads (see
    /// [`crate::prefetch`]); it must change nothing a run could observe.
    fn expect_message(&mut self, _from: HostId, _payload: &Payload) {}
}

/// What handling inputs cost a node, as counts of the operations a driver
/// prices (the simulator's `[cpu]` costs). Counting is the node's part;
/// time is the driver's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Signature verifications done in full.
    pub verifies: u64,
    /// Signature verifications answered by the host's own cache of
    /// signatures it verified before.
    pub cached_verifies: u64,
    /// Signatures made.
    pub signs: u64,
    /// Bytes hashed (transaction ids, block payload digests).
    pub hashed_bytes: u64,
}

/// Something that happened to a host, fed to [`Node::handle_input`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The host boots. `restarted` is true after a crash: memory state is
    /// new, files written before the crash are still there.
    Start {
        /// Whether this is a restart after a crash.
        restarted: bool,
    },
    /// A datagram arrived.
    Message {
        /// The host that sent it, as the transport saw it.
        from: HostId,
        /// The bytes as sent; may be anything.
        payload: Payload,
    },
    /// A timer the node set has expired.
    Timer(TimerId),
    /// A file operation the node asked for has completed (boxed: file
    /// results are rare and large; messages and timers stay small).
    File(Box<FileResult>),
    /// A watched directory changed (see [`FileOp::Watch`]).
    FileChanged {
        /// The path that was created, modified, renamed to or deleted.
        path: String,
    },
    /// Fault injection: the driver turns Byzantine behaviour of this host on
    /// or off (for consensus: an equivocating validator, see
    /// [`crate::protocols::consensus::Validator::set_misbehaving`]). It models a
    /// compromised host; it never comes from the network, and honest runs
    /// never feed it.
    Misbehave {
        /// Whether the host misbehaves from now on.
        on: bool,
    },
}

/// Something a node wants done, drained with [`Node::poll_output`].
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send a datagram (best effort: it may be delayed, dropped or cut off by
    /// a partition).
    Send {
        /// The destination host.
        to: HostId,
        /// The encoded message (shared by every copy of a broadcast).
        payload: Payload,
    },
    /// Set (or move) the timer `timer` to expire at `at`.
    SetTimer {
        /// Which timer.
        timer: TimerId,
        /// When it expires; a time in the past fires as soon as possible.
        at: SimTime,
    },
    /// Cancel the timer if it is set.
    CancelTimer(TimerId),
    /// Operate on the shared directory (boxed: file operations are rare
    /// and large; sends and timers stay small).
    File(Box<FileOp>),
    /// Record an observation for the reports (no effect on the run).
    /// Boxed: observations are rare and the largest variant; boxing keeps
    /// every output (sends and timers on each heartbeat) small to move.
    Record(Box<Observation>),
}

/// How a file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Write a temporary file, then rename it over the target: readers see
    /// the old content or the new, never a mix.
    Atomic,
    /// Truncate and write in place: a reader that overlaps the write sees a
    /// prefix of the new content (a torn write).
    InPlace,
}

/// An operation on the shared directory. Paths are relative to it, `/`
/// separated; `..` and absolute paths are refused by every driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOp {
    /// Create or replace a file.
    Write {
        /// Target path.
        path: String,
        /// The whole new content.
        bytes: Vec<u8>,
        /// Atomic or torn.
        mode: WriteMode,
    },
    /// Read a whole file.
    Read {
        /// The path.
        path: String,
    },
    /// List the names in a directory (`""` is the shared directory itself).
    List {
        /// The directory.
        dir: String,
    },
    /// Rename a file, replacing the target.
    Rename {
        /// Old path.
        from: String,
        /// New path.
        to: String,
    },
    /// Delete a file.
    Delete {
        /// The path.
        path: String,
    },
    /// Read a file's size and modification time, not its bytes (a
    /// `stat`): what a cache of unchanged files compares.
    Stat {
        /// The path.
        path: String,
    },
    /// Be told ([`Input::FileChanged`]) of every later change in `dir`.
    Watch {
        /// The directory (`""` is the shared directory itself).
        dir: String,
    },
}

/// A name in a directory listing ([`FileResult::Listed`]). Shared, not
/// copied: a driver that keeps its directory's names (the simulator does)
/// hands the same names to every listing, which matters when a directory
/// of 200,000 files is listed again and again. Reads as a `&str`.
pub type ListedName = Rc<str>;

pub use crate::listing::Listing;

/// The completion of a [`FileOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileResult {
    /// A write finished (for [`WriteMode::Atomic`], after the rename).
    Written {
        /// Target path.
        path: String,
        /// Outcome.
        result: Result<(), FsError>,
    },
    /// A read finished.
    Read {
        /// The path.
        path: String,
        /// The bytes as they were when the read completed.
        result: Result<Vec<u8>, FsError>,
    },
    /// A listing finished: names, sorted.
    Listed {
        /// The directory.
        dir: String,
        /// The names in it.
        result: Result<Listing, FsError>,
    },
    /// A rename finished.
    Renamed {
        /// Old path.
        from: String,
        /// New path.
        to: String,
        /// Outcome.
        result: Result<(), FsError>,
    },
    /// A delete finished.
    Deleted {
        /// The path.
        path: String,
        /// Outcome.
        result: Result<(), FsError>,
    },
    /// A stat finished.
    Stat {
        /// The path.
        path: String,
        /// The file's size and modification time as they were when the
        /// stat completed.
        result: Result<FileMeta, FsError>,
    },
    /// The watch is in place.
    Watching {
        /// The directory.
        dir: String,
    },
}

/// A file's size and modification time, as a [`FileOp::Stat`] found them.
///
/// Two stats of one path that agree on `size` and `modified_ns` mean the
/// file was not written in between, *unless* it was written within the
/// filesystem's timestamp granularity of the first one with the same
/// size. `recent` flags that window: the modification time is so close to
/// the moment of the stat that a later write could leave it unchanged, so
/// a cache must not trust this answer. The simulator's clock has 1 ns
/// granularity (recent: modified at the very nanosecond of the stat, or
/// being written right now); a real filesystem's is coarser (see
/// `src/real/shared_dir.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds (the simulator's clock, or the
    /// real filesystem's since the Unix epoch): only compared for
    /// equality, never with the node's clock.
    pub modified_ns: u64,
    /// Modified within the timestamp granularity of the stat (or being
    /// written): a same-size rewrite might not change `modified_ns`.
    pub recent: bool,
}

/// Why a file operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    /// No such file or directory.
    #[error("not found")]
    NotFound,
    /// The path is absolute, empty or leaves the shared directory.
    #[error("invalid path")]
    InvalidPath,
    /// Anything else the real filesystem said.
    #[error("io error: {0}")]
    Io(String),
}

/// Why a received datagram was dropped.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Could not be decoded (truncated, bad version, unknown kind, trailing bytes, oversize).
    Malformed,
    /// The signature does not verify.
    BadSignature,
    /// Signed by a key other than the one this host has for the sender.
    WrongKey,
    /// Claims to come from another host than the transport says.
    Misdirected,
    /// From a host that is not a member of this protocol.
    NotAMember,
}

impl RejectReason {
    /// A stable name for CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::BadSignature => "bad-signature",
            RejectReason::WrongKey => "wrong-key",
            RejectReason::Misdirected => "misdirected",
            RejectReason::NotAMember => "not-a-member",
        }
    }
}

/// A datagram's bytes, immutable and shared: a broadcast to `n` hosts is
/// one buffer with `n` handles, not `n` copies, through the outbox, the
/// simulated network and delivery alike.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Payload(Rc<[u8]>);

impl Payload {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Payload(bytes.into())
    }
}

impl From<&[u8]> for Payload {
    fn from(bytes: &[u8]) -> Self {
        Payload(bytes.into())
    }
}

/// Bytes inside a shared [`Payload`]: part of a datagram a receiver keeps
/// (a transaction in a validator's pool) without copying it. Every host a
/// broadcast reached then holds the one buffer ([`crate::codec::Reader::rest_shared`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SharedBytes {
    payload: Payload,
    start: u32,
    len: u32,
}

impl SharedBytes {
    /// All of `bytes`, in a buffer of their own.
    pub fn copied(bytes: &[u8]) -> Self {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        // Never more than a datagram: a u32 holds it; past that, only the
        // first 4 GiB would be named (and kept).
        let kept = &bytes[..len as usize];
        SharedBytes {
            payload: Payload::from(kept),
            start: 0,
            len,
        }
    }
    /// `len` bytes of `payload` from `start`; `None` if they are not all in it.
    pub fn window(payload: &Payload, start: usize, len: usize) -> Option<Self> {
        payload.get(start..start.checked_add(len)?)?;
        Some(SharedBytes {
            payload: payload.clone(),
            start: u32::try_from(start).ok()?,
            len: u32::try_from(len).ok()?,
        })
    }
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        let start = self.start as usize;
        &self.payload[start..start + self.len as usize]
    }
    /// The first `len` of these bytes (`None` if there are fewer).
    pub fn prefix(&self, len: usize) -> Option<SharedBytes> {
        self.slice(0, len)
    }
    /// `len` of these bytes from `start` (`None` if they are not all here).
    pub fn slice(&self, start: usize, len: usize) -> Option<SharedBytes> {
        (start.checked_add(len)? <= self.len()).then(|| SharedBytes {
            payload: self.payload.clone(),
            // Within `self`, whose start and length fit in u32.
            start: self.start + start as u32,
            len: len as u32,
        })
    }
    /// Whether `other` names the very same bytes of the very same buffer
    /// (so, the buffer being immutable and kept alive by both, the same
    /// bytes without comparing them).
    pub fn same_window(&self, other: &SharedBytes) -> bool {
        Rc::ptr_eq(&self.payload.0, &other.payload.0)
            && self.start == other.start
            && self.len == other.len
    }
    /// How many.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.len)
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_bytes_are_a_checked_window_of_the_payload() {
        let payload = Payload::from(vec![1, 2, 3, 4, 5]);
        let window = SharedBytes::window(&payload, 1, 3).unwrap();
        assert_eq!(window.as_slice(), [2, 3, 4]);
        assert_eq!(window.len(), 3);
        assert!(SharedBytes::window(&payload, 5, 0).unwrap().is_empty());
        assert!(SharedBytes::window(&payload, 3, 3).is_none());
        assert!(SharedBytes::window(&payload, usize::MAX, 2).is_none());
        assert_eq!(SharedBytes::copied(&[7, 8]).as_slice(), [7, 8]);
        assert_eq!(window.prefix(2).unwrap().as_slice(), [2, 3]);
        assert!(window.prefix(3).is_some() && window.prefix(4).is_none());
        assert_eq!(window.slice(1, 2).unwrap().as_slice(), [3, 4]);
        assert!(window.slice(1, 3).is_none() && window.slice(usize::MAX, 2).is_none());
    }

    /// The same window means the same buffer and range, never merely
    /// equal bytes.
    #[test]
    fn a_window_is_the_same_only_over_the_same_buffer_and_range() {
        let payload = Payload::from(vec![1, 2, 1, 2]);
        let a = SharedBytes::window(&payload, 0, 2).unwrap();
        assert!(a.same_window(&SharedBytes::window(&payload.clone(), 0, 2).unwrap()));
        assert!(a.same_window(&a.prefix(2).unwrap()));
        let equal_bytes_elsewhere = SharedBytes::window(&payload, 2, 2).unwrap();
        assert_eq!(a.as_slice(), equal_bytes_elsewhere.as_slice());
        assert!(!a.same_window(&equal_bytes_elsewhere));
        assert!(!a.same_window(&a.prefix(1).unwrap()));
        assert!(!a.same_window(&SharedBytes::copied(&[1, 2])));
    }

    /// Every heartbeat moves outputs through the outbox and the engine by
    /// value: a send or a timer must not pay for the largest observation.
    #[test]
    fn outputs_are_small() {
        assert!(
            std::mem::size_of::<Output>() <= 32,
            "{}",
            std::mem::size_of::<Output>()
        );
    }
}
