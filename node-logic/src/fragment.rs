//! Messages larger than one datagram, as fragments: how many datagrams the
//! simulator charges a large message, how real processes split a sealed
//! frame into MTU-sized pieces, and the bounded [`Reassembler`] a receiver
//! puts the pieces back together with.
//!
//! # Why
//!
//! A certificate or new-view message carries a quorum of signed items, so
//! it grows with the validator set, and a block carries its transactions.
//! Messages up to [`MAX_MESSAGE`](crate::codec::MAX_MESSAGE) bytes may be
//! sent.
//!
//! **In the simulator** a message up to [`MAX_DATAGRAM`] travels as one
//! datagram, exactly as it always did; a larger one as [`datagrams`]
//! fragments of [`FRAGMENT_DATA`] bytes, each charged a
//! [`FRAGMENT_HEADER`] and each lost on its own (losing any loses the
//! message).
//!
//! **Real processes** keep every datagram within an Ethernet MTU
//! ([`MTU_PAYLOAD`] bytes of UDP payload), as QUIC and devp2p discovery do:
//! IPv4 would otherwise fragment a large datagram itself (a lost fragment
//! losing it all), and Shadow, which has no IP fragmentation
//! (shadow/shadow#3199), stalls a host's interface behind a datagram
//! larger than its bandwidth × 1 ms. A message is sealed into one signed
//! frame ([`crate::frame`]: one signature per message, whatever its size);
//! a frame larger than [`MTU_PAYLOAD`] is cut into pieces of [`PIECE_DATA`]
//! bytes, each a datagram of its own, and the receiver opens (verifies)
//! the frame once all its pieces are back. The pieces themselves are not
//! signed: like IP fragments, a forged piece can spoil the message it
//! joins (its frame then fails the signature and is counted), never forge
//! one.
//!
//! # Layout of a piece
//!
//! All integers little-endian:
//!
//! | bytes | field |
//! |-------|-------|
//! | 4     | magic `b"SIMD"` (a frame starts `b"SIMF"`) |
//! | 1     | version ([`PIECE_VERSION`]) |
//! | 4     | sender host id (as claimed; the frame inside is signed) |
//! | 8     | the sending process's epoch (as in its frames' stamps) |
//! | 8     | message id: per sending process, from 0 |
//! | 4     | the whole frame's length |
//! | 2     | this piece's index |
//! | 2     | piece count |
//! | n     | bytes `index × PIECE_DATA ..` of the frame |
//!
//! Every piece but the last carries [`PIECE_DATA`] bytes, so the length
//! determines the count and every piece's size: a piece that disagrees is
//! refused before anything is stored.
//!
//! # Bounds
//!
//! A receiver holds at most [`PARTIAL_PER_SENDER`] incomplete frames per
//! claimed sender and [`REASSEMBLY_BYTES`] bytes of them in all (by their
//! declared lengths, allocated when the first piece arrives); a frame that
//! would exceed either evicts the oldest incomplete one (of that sender,
//! then of anyone), and the eviction is counted. So a lost piece's frame is
//! cleaned up by the sender's later messages, and a flood of pieces
//! occupies a bounded amount of memory, nothing more. No clock is read:
//! Sans-IO, like every node-logic module.

use std::collections::BTreeMap;

use crate::HostId;
use crate::codec::{MAX_DATAGRAM, Reader, Writer};
use crate::frame::MAX_FRAME;

/// Bytes of a fragment's header in the simulator's accounting (message id,
/// length, index, count).
pub const FRAGMENT_HEADER: usize = 8 + 4 + 2 + 2;
/// Message bytes one simulated fragment carries (the last may carry
/// fewer): 60 KiB.
pub const FRAGMENT_DATA: usize = 60 * 1024;

/// UDP payload bytes of one Ethernet frame: 1,500 (MTU) less the IPv4 (20)
/// and UDP (8) headers. No datagram a real process sends is larger.
pub const MTU_PAYLOAD: usize = 1_472;
/// The piece format version this build speaks.
pub const PIECE_VERSION: u8 = 1;
/// Bytes a piece's header takes (magic, version, sender, epoch, message
/// id, length, index, count).
pub const PIECE_HEADER: usize = 4 + 1 + 4 + 8 + 8 + 4 + 2 + 2;
/// Frame bytes one piece carries (the last may carry fewer).
pub const PIECE_DATA: usize = MTU_PAYLOAD - PIECE_HEADER;
/// The most pieces a frame takes.
pub const MAX_PIECES: usize = MAX_FRAME.div_ceil(PIECE_DATA);
const _: () = assert!(MAX_PIECES <= u16::MAX as usize);
/// Incomplete frames a receiver keeps per claimed sender.
pub const PARTIAL_PER_SENDER: usize = 4;
/// Bytes of incomplete frames a receiver keeps in all.
pub const REASSEMBLY_BYTES: usize = 32 * MAX_FRAME;

/// The first bytes of every piece.
const PIECE_MAGIC: [u8; 4] = *b"SIMD";

/// How many datagrams the simulator charges a message of `len` bytes:
/// one up to [`MAX_DATAGRAM`] (as always), else one per [`FRAGMENT_DATA`]
/// bytes, each with a [`FRAGMENT_HEADER`].
pub fn datagrams(len: usize) -> usize {
    if len <= MAX_DATAGRAM {
        1
    } else {
        len.div_ceil(FRAGMENT_DATA)
    }
}

/// Whether a datagram is a piece (by its magic) rather than a frame.
pub fn is_piece(datagram: &[u8]) -> bool {
    datagram.starts_with(&PIECE_MAGIC)
}

/// Why a piece was refused (counted by the receiver).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// Not a well-formed piece: truncated, another version, a count or
    /// index out of bounds, or a size the frame length does not give.
    #[error("malformed fragment")]
    Malformed,
    /// Disagrees with earlier pieces of its frame (length or count).
    #[error("fragment disagrees with its message's earlier fragments")]
    Inconsistent,
    /// A piece of the frame already held (a copy).
    #[error("fragment already received")]
    Duplicate,
}

impl FragmentError {
    /// A stable kebab-case name for counters.
    pub fn reason(&self) -> &'static str {
        match self {
            FragmentError::Malformed => "fragment-malformed",
            FragmentError::Inconsistent => "fragment-inconsistent",
            FragmentError::Duplicate => "fragment-duplicate",
        }
    }
}

/// One piece of a sealed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The host it claims to come from.
    pub from: HostId,
    /// The sending process's epoch.
    pub epoch: u64,
    /// The frame's id among its sending process's.
    pub message: u64,
    /// The whole frame's length.
    pub total: usize,
    /// This piece's place.
    pub index: usize,
    /// How many pieces the frame has.
    pub count: usize,
    /// Its bytes of the frame.
    pub data: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// The wire form (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(PIECE_HEADER + self.data.len());
        // Bounded by MAX_FRAME and MAX_PIECES, which fit the fields.
        w.array(&PIECE_MAGIC)
            .u8(PIECE_VERSION)
            .u32(self.from.0)
            .u64(self.epoch)
            .u64(self.message)
            .u32(self.total as u32)
            .u16(self.index as u16)
            .u16(self.count as u16)
            .array(self.data);
        w.finish()
    }

    /// Reads a piece and checks its shape against its frame length.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, FragmentError> {
        let malformed = |_| FragmentError::Malformed;
        let header = bytes.get(..PIECE_HEADER).ok_or(FragmentError::Malformed)?;
        let mut r = Reader::new(header).map_err(malformed)?;
        let magic = r.array::<4>().map_err(malformed)?;
        let version = r.u8().map_err(malformed)?;
        let fragment = Fragment {
            from: HostId(r.u32().map_err(malformed)?),
            epoch: r.u64().map_err(malformed)?,
            message: r.u64().map_err(malformed)?,
            total: r.u32().map_err(malformed)? as usize,
            index: usize::from(r.u16().map_err(malformed)?),
            count: usize::from(r.u16().map_err(malformed)?),
            data: &bytes[PIECE_HEADER..],
        };
        if magic != PIECE_MAGIC
            || version != PIECE_VERSION
            || fragment.total > MAX_FRAME
            || fragment.count < 2
            || fragment.count != fragment.total.div_ceil(PIECE_DATA)
            || fragment.index >= fragment.count
            || fragment.data.len() != fragment.expected_len()
        {
            return Err(FragmentError::Malformed);
        }
        Ok(fragment)
    }

    /// The size the frame length gives this piece.
    fn expected_len(&self) -> usize {
        let start = self.index * PIECE_DATA;
        self.total.saturating_sub(start).min(PIECE_DATA)
    }
}

/// The pieces (wire form) of frame `message` of host `from`'s process
/// `epoch`: `frame` cut into [`PIECE_DATA`] bytes each. `None` if it is
/// larger than [`MAX_FRAME`].
pub fn split(from: HostId, epoch: u64, message: u64, frame: &[u8]) -> Option<Vec<Vec<u8>>> {
    if frame.len() > MAX_FRAME {
        return None;
    }
    let count = frame.len().div_ceil(PIECE_DATA);
    let pieces = frame.chunks(PIECE_DATA).enumerate();
    Some(
        pieces
            .map(|(index, data)| {
                Fragment {
                    from,
                    epoch,
                    message,
                    total: frame.len(),
                    index,
                    count,
                    data,
                }
                .encode()
            })
            .collect(),
    )
}
/// An incomplete frame.
#[derive(Debug)]
struct Partial {
    /// When it started, in the reassembler's own count (smaller = older).
    age: u64,
    /// Which fragments arrived.
    have: Vec<bool>,
    /// How many of them.
    got: usize,
    /// The frame, filled in as pieces arrive.
    buffer: Vec<u8>,
}

/// Which frame a piece belongs to: its claimed sender, the sending
/// process's epoch and the message id.
type MessageKey = (HostId, u64, u64);

impl Fragment<'_> {
    /// The frame this piece belongs to.
    fn key(&self) -> MessageKey {
        (self.from, self.epoch, self.message)
    }
}

/// A receiver's incomplete frames (see the module docs for its bounds).
#[derive(Debug, Default)]
pub struct Reassembler {
    partial: BTreeMap<MessageKey, Partial>,
    /// Declared bytes of everything in `partial`.
    held: usize,
    /// Frames started so far (the next one's age).
    started: u64,
    /// Incomplete frames evicted so far.
    evicted: u64,
}

impl Reassembler {
    /// Takes `fragment`: the whole frame once its last piece arrived,
    /// `Ok(None)` while it is incomplete.
    pub fn accept(&mut self, fragment: &Fragment<'_>) -> Result<Option<Vec<u8>>, FragmentError> {
        let (from, key) = (fragment.from, fragment.key());
        if !self.partial.contains_key(&key) {
            self.make_room(from, fragment.total);
            self.started += 1;
            self.held += fragment.total;
            let partial = Partial {
                age: self.started,
                have: vec![false; fragment.count],
                got: 0,
                buffer: vec![0; fragment.total],
            };
            self.partial.insert(key, partial);
        }
        let partial = self.partial.get_mut(&key).ok_or(FragmentError::Malformed)?;
        if partial.buffer.len() != fragment.total || partial.have.len() != fragment.count {
            return Err(FragmentError::Inconsistent);
        }
        if partial.have[fragment.index] {
            return Err(FragmentError::Duplicate);
        }
        let start = fragment.index * PIECE_DATA;
        partial.buffer[start..start + fragment.data.len()].copy_from_slice(fragment.data);
        partial.have[fragment.index] = true;
        partial.got += 1;
        if partial.got < partial.have.len() {
            return Ok(None);
        }
        let done = self.partial.remove(&key).map(|p| p.buffer);
        self.held -= fragment.total;
        Ok(done)
    }

    /// Incomplete frames evicted so far (each a message lost).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Incomplete frames held now.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Bytes of incomplete frames held now (declared lengths).
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Evicts the oldest incomplete frames until a new one of `total`
    /// bytes from `from` fits both bounds.
    fn make_room(&mut self, from: HostId, total: usize) {
        let lo = (from, 0, 0);
        let hi = (from, u64::MAX, u64::MAX);
        while self.partial.range(lo..=hi).count() >= PARTIAL_PER_SENDER {
            let oldest = self.oldest(self.partial.range(lo..=hi));
            self.evict(oldest);
        }
        while self.held + total > REASSEMBLY_BYTES && !self.partial.is_empty() {
            let oldest = self.oldest(self.partial.iter());
            self.evict(oldest);
        }
    }

    /// The key of the oldest entry among `entries`.
    fn oldest<'a>(
        &self,
        entries: impl Iterator<Item = (&'a MessageKey, &'a Partial)>,
    ) -> Option<MessageKey> {
        entries.min_by_key(|(_, p)| p.age).map(|(k, _)| *k)
    }

    /// Drops the incomplete frame `key` (counted).
    fn evict(&mut self, key: Option<MessageKey>) {
        if let Some(p) = key.and_then(|k| self.partial.remove(&k)) {
            self.held -= p.buffer.len();
            self.evicted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn pieces(message: u64, frame: &[u8]) -> Vec<Vec<u8>> {
        split(HostId(1), 1, message, frame).unwrap()
    }

    fn feed(r: &mut Reassembler, from: u32, pieces: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
        pieces
            .iter()
            .map(|p| {
                let f = Fragment {
                    from: HostId(from),
                    ..Fragment::decode(p).unwrap()
                };
                r.accept(&f).unwrap()
            })
            .collect()
    }

    #[test]
    fn split_then_reassemble_in_any_order_gives_the_frame_once() {
        let m = frame_bytes(3 * PIECE_DATA + 17);
        let mut pieces = pieces(5, &m);
        assert_eq!(pieces.len(), 4);
        assert!(pieces.iter().all(|p| p.len() <= MTU_PAYLOAD));
        assert!(pieces.iter().all(|p| is_piece(p)));
        pieces.reverse();
        let mut r = Reassembler::default();
        let out = feed(&mut r, 1, &pieces);
        assert_eq!(out[..3], [None, None, None]);
        assert_eq!(out[3].as_deref(), Some(&m[..]));
        assert_eq!((r.pending(), r.held_bytes(), r.evicted()), (0, 0, 0));
    }

    #[test]
    fn the_largest_frame_splits_and_a_larger_one_is_refused() {
        let all = pieces(0, &frame_bytes(MAX_FRAME));
        assert_eq!(all.len(), MAX_PIECES);
        assert!(split(HostId(0), 0, 0, &frame_bytes(MAX_FRAME + 1)).is_none());
        assert_eq!(datagrams(MAX_DATAGRAM), 1);
        assert_eq!(datagrams(MAX_DATAGRAM + 1), 2);
    }

    #[test]
    fn malformed_pieces_are_refused() {
        let all = pieces(9, &frame_bytes(2 * PIECE_DATA));
        for cut in 0..PIECE_HEADER + 3 {
            let err = Fragment::decode(&all[1][..cut]);
            assert_eq!(err, Err(FragmentError::Malformed));
        }
        let mut shaped = all[0].clone();
        shaped.push(0);
        assert_eq!(Fragment::decode(&shaped), Err(FragmentError::Malformed));
        let mut version = all[0].clone();
        version[4] = PIECE_VERSION + 1;
        assert_eq!(Fragment::decode(&version), Err(FragmentError::Malformed));
        let one = Fragment {
            from: HostId(1),
            epoch: 1,
            message: 1,
            total: 10,
            index: 0,
            count: 1,
            data: &[0; 10],
        };
        assert_eq!(
            Fragment::decode(&one.encode()),
            Err(FragmentError::Malformed)
        );
        let huge = Fragment {
            total: MAX_FRAME + 1,
            count: (MAX_FRAME + 1).div_ceil(PIECE_DATA),
            data: &[0; PIECE_DATA],
            ..one
        };
        assert_eq!(
            Fragment::decode(&huge.encode()),
            Err(FragmentError::Malformed)
        );
    }

    #[test]
    fn inconsistent_and_duplicate_pieces_are_refused() {
        let m = frame_bytes(2 * PIECE_DATA);
        let all = pieces(9, &m);
        let mut r = Reassembler::default();
        let first = Fragment::decode(&all[0]).unwrap();
        assert_eq!(r.accept(&first), Ok(None));
        assert_eq!(r.accept(&first), Err(FragmentError::Duplicate));
        let other = pieces(9, &frame_bytes(3 * PIECE_DATA));
        let other = Fragment::decode(&other[2]).unwrap();
        assert_eq!(r.accept(&other), Err(FragmentError::Inconsistent));
        let last = Fragment::decode(&all[1]).unwrap();
        assert_eq!(r.accept(&last).unwrap().as_deref(), Some(&m[..]));
    }

    #[test]
    fn a_lost_piece_is_cleaned_up_by_later_frames_and_memory_stays_bounded() {
        let m = frame_bytes(PIECE_DATA + 1);
        let mut r = Reassembler::default();
        for id in 0..PARTIAL_PER_SENDER as u64 + 3 {
            assert_eq!(feed(&mut r, 1, &pieces(id, &m)[..1]), [None]);
            assert!(r.pending() <= PARTIAL_PER_SENDER);
        }
        assert_eq!(r.evicted(), 3);
        // Many senders each starting the largest frame: bounded bytes.
        let big = pieces(0, &frame_bytes(MAX_FRAME));
        for from in 2..100 {
            feed(&mut r, from, &big[..1]);
            assert!(r.held_bytes() <= REASSEMBLY_BYTES);
        }
        // A complete frame still gets through after all that.
        assert_eq!(feed(&mut r, 1, &pieces(77, &m))[1].as_deref(), Some(&m[..]));
    }
}
