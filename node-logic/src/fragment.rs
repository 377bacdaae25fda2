//! Messages larger than one datagram, as fragments: how many datagrams a
//! message takes, how real processes split one, and the bounded
//! [`Reassembler`] a receiver puts the pieces back together with.
//!
//! # Why
//!
//! A certificate or new-view message carries a quorum of signed items, so
//! it grows with the validator set: past about 256 validators it no longer
//! fits a 64 KiB datagram ([`MAX_DATAGRAM`]). Messages up to
//! [`MAX_MESSAGE`] bytes may be sent; one that fits a datagram travels
//! exactly as before, a larger one as fragments, each a datagram of its
//! own (as QUIC's and Shadow's datagrams are: the network only ever
//! carries datagrams, and losing any fragment loses the message).
//!
//! # Layout
//!
//! A fragment is the payload of a frame sealed as
//! [`crate::frame::FrameKind::Fragment`] (its own magic, signed like every
//! frame, so only the claimed sender can make one and the replay window
//! refuses copies). All integers little-endian:
//!
//! | bytes | field |
//! |-------|-------|
//! | 8     | message id: per sending process, from 0 |
//! | 4     | the whole message's length |
//! | 2     | this fragment's index |
//! | 2     | fragment count |
//! | n     | bytes `index × FRAGMENT_DATA ..` of the message |
//!
//! Every fragment but the last carries [`FRAGMENT_DATA`] bytes, so the
//! length determines the count and every fragment's size: a fragment that
//! disagrees is refused before anything is stored.
//!
//! # Bounds
//!
//! A receiver holds at most [`PARTIAL_PER_SENDER`] incomplete messages per
//! sender and [`REASSEMBLY_BYTES`] bytes of them in all (by their declared
//! lengths, allocated when the first fragment arrives); a message that
//! would exceed either evicts the oldest incomplete one (of that sender,
//! then of anyone), and the eviction is counted. So a lost fragment's
//! message is cleaned up by the sender's later messages, and a hostile
//! sender (which must hold a host's key to be heard at all) can occupy its
//! own few slots and a bounded share of memory, nothing more. No clock is
//! read: Sans-IO, like every node-logic module.

use std::collections::BTreeMap;

use crate::HostId;
use crate::codec::{MAX_DATAGRAM, MAX_MESSAGE, Reader, Writer};
use crate::frame::FRAME_OVERHEAD;

/// Bytes a fragment's header takes (message id, length, index, count).
pub const FRAGMENT_HEADER: usize = 8 + 4 + 2 + 2;
/// Message bytes one fragment carries (the last may carry fewer): 60 KiB,
/// so a fragment in its frame fits one IPv4 UDP datagram
/// ([`MAX_UDP_PAYLOAD`]).
pub const FRAGMENT_DATA: usize = 60 * 1024;
/// The largest UDP payload over IPv4: 65,535 bytes less the IP (20) and
/// UDP (8) headers. Real processes send a frame up to this size whole.
pub const MAX_UDP_PAYLOAD: usize = 65_507;
const _: () = assert!(FRAGMENT_DATA + FRAGMENT_HEADER + FRAME_OVERHEAD <= MAX_UDP_PAYLOAD);
/// The most fragments a message takes.
pub const MAX_FRAGMENTS: usize = MAX_MESSAGE.div_ceil(FRAGMENT_DATA);
/// Incomplete messages a receiver keeps per sender.
pub const PARTIAL_PER_SENDER: usize = 4;
/// Bytes of incomplete messages a receiver keeps in all.
pub const REASSEMBLY_BYTES: usize = 32 * MAX_MESSAGE;

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

/// Why a fragment was refused (counted by the receiver).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// Not a well-formed fragment: truncated, a count or index out of
    /// bounds, or a size the message length does not give.
    #[error("malformed fragment")]
    Malformed,
    /// Disagrees with earlier fragments of its message (length or count).
    #[error("fragment disagrees with its message's earlier fragments")]
    Inconsistent,
    /// A fragment of the message already held (a copy).
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

/// One fragment of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The message's id among its sender's.
    pub message: u64,
    /// The whole message's length.
    pub total: usize,
    /// This fragment's place.
    pub index: usize,
    /// How many fragments the message has.
    pub count: usize,
    /// Its bytes of the message.
    pub data: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// Appends the wire form (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(FRAGMENT_HEADER + self.data.len());
        // Bounded by MAX_MESSAGE and MAX_FRAGMENTS, which fit the fields.
        w.u64(self.message)
            .u32(self.total as u32)
            .u16(self.index as u16)
            .u16(self.count as u16)
            .array(self.data);
        w.finish()
    }

    /// Reads a fragment and checks its shape against its message length.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, FragmentError> {
        let malformed = |_| FragmentError::Malformed;
        let mut r = Reader::new(bytes).map_err(malformed)?;
        let message = r.u64().map_err(malformed)?;
        let total = r.u32().map_err(malformed)? as usize;
        let index = usize::from(r.u16().map_err(malformed)?);
        let count = usize::from(r.u16().map_err(malformed)?);
        let data = &bytes[FRAGMENT_HEADER.min(bytes.len())..];
        let fragment = Fragment {
            message,
            total,
            index,
            count,
            data,
        };
        if total > MAX_MESSAGE
            || count < 2
            || count != total.div_ceil(FRAGMENT_DATA)
            || index >= count
            || data.len() != fragment.expected_len()
        {
            return Err(FragmentError::Malformed);
        }
        Ok(fragment)
    }

    /// The size the message length gives this fragment.
    fn expected_len(&self) -> usize {
        let start = self.index * FRAGMENT_DATA;
        self.total.saturating_sub(start).min(FRAGMENT_DATA)
    }
}

/// The fragments (wire form) of message `message`: `payload` in pieces of
/// [`FRAGMENT_DATA`] bytes. `None` if it is larger than [`MAX_MESSAGE`].
pub fn split(message: u64, payload: &[u8]) -> Option<Vec<Vec<u8>>> {
    if payload.len() > MAX_MESSAGE {
        return None;
    }
    let count = payload.len().div_ceil(FRAGMENT_DATA);
    let pieces = payload.chunks(FRAGMENT_DATA).enumerate();
    Some(
        pieces
            .map(|(index, data)| {
                Fragment {
                    message,
                    total: payload.len(),
                    index,
                    count,
                    data,
                }
                .encode()
            })
            .collect(),
    )
}

/// An incomplete message.
#[derive(Debug)]
struct Partial {
    /// When it started, in the reassembler's own count (smaller = older).
    age: u64,
    /// Which fragments arrived.
    have: Vec<bool>,
    /// How many of them.
    got: usize,
    /// The message, filled in as fragments arrive.
    buffer: Vec<u8>,
}

/// Which message a fragment belongs to: its sender, the sender process's
/// epoch (from the frame's stamp) and the message id.
type MessageKey = (HostId, u64, u64);

/// A receiver's incomplete messages (see the module docs for its bounds).
#[derive(Debug, Default)]
pub struct Reassembler {
    partial: BTreeMap<MessageKey, Partial>,
    /// Declared bytes of everything in `partial`.
    held: usize,
    /// Messages started so far (the next one's age).
    started: u64,
    /// Incomplete messages evicted so far.
    evicted: u64,
}

impl Reassembler {
    /// Takes `fragment` from `from` (whose process has `epoch`): the whole
    /// message once its last fragment arrived, `Ok(None)` while it is
    /// incomplete.
    pub fn accept(
        &mut self,
        from: HostId,
        epoch: u64,
        fragment: &Fragment<'_>,
    ) -> Result<Option<Vec<u8>>, FragmentError> {
        let key = (from, epoch, fragment.message);
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
        let start = fragment.index * FRAGMENT_DATA;
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

    /// Incomplete messages evicted so far (each a message lost).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Incomplete messages held now.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Bytes of incomplete messages held now (declared lengths).
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Evicts the oldest incomplete messages until a new one of `total`
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

    /// Drops the incomplete message `key` (counted).
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

    fn message(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn feed(r: &mut Reassembler, from: u32, pieces: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
        pieces
            .iter()
            .map(|p| {
                let f = Fragment::decode(p).unwrap();
                r.accept(HostId(from), 1, &f).unwrap()
            })
            .collect()
    }

    #[test]
    fn split_then_reassemble_in_any_order_gives_the_message_once() {
        let m = message(3 * FRAGMENT_DATA + 17);
        let mut pieces = split(5, &m).unwrap();
        assert_eq!(pieces.len(), 4);
        assert!(
            pieces
                .iter()
                .all(|p| p.len() + FRAME_OVERHEAD <= MAX_UDP_PAYLOAD)
        );
        pieces.reverse();
        let mut r = Reassembler::default();
        let out = feed(&mut r, 1, &pieces);
        assert_eq!(out[..3], [None, None, None]);
        assert_eq!(out[3].as_deref(), Some(&m[..]));
        assert_eq!((r.pending(), r.held_bytes(), r.evicted()), (0, 0, 0));
    }

    #[test]
    fn the_largest_message_splits_and_a_larger_one_is_refused() {
        let pieces = split(0, &message(MAX_MESSAGE)).unwrap();
        assert_eq!(pieces.len(), MAX_FRAGMENTS);
        assert!(split(0, &message(MAX_MESSAGE + 1)).is_none());
        assert_eq!(datagrams(MAX_DATAGRAM), 1);
        assert_eq!(datagrams(MAX_DATAGRAM + 1), 2);
    }

    #[test]
    fn malformed_inconsistent_and_duplicate_fragments_are_refused() {
        let m = message(2 * FRAGMENT_DATA);
        let pieces = split(9, &m).unwrap();
        for cut in 0..FRAGMENT_HEADER + 3 {
            assert_eq!(
                Fragment::decode(&pieces[1][..cut]),
                Err(FragmentError::Malformed)
            );
        }
        let mut shaped = pieces[0].clone();
        shaped.push(0);
        assert_eq!(Fragment::decode(&shaped), Err(FragmentError::Malformed));
        let one = Fragment {
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
            total: MAX_MESSAGE + 1,
            count: (MAX_MESSAGE + 1).div_ceil(FRAGMENT_DATA),
            data: &[0; FRAGMENT_DATA],
            ..one
        };
        assert_eq!(
            Fragment::decode(&huge.encode()),
            Err(FragmentError::Malformed)
        );
        let mut r = Reassembler::default();
        let first = Fragment::decode(&pieces[0]).unwrap();
        assert_eq!(r.accept(HostId(1), 1, &first), Ok(None));
        assert_eq!(
            r.accept(HostId(1), 1, &first),
            Err(FragmentError::Duplicate)
        );
        let other = split(9, &message(3 * FRAGMENT_DATA)).unwrap();
        let other = Fragment::decode(&other[2]).unwrap();
        assert_eq!(
            r.accept(HostId(1), 1, &other),
            Err(FragmentError::Inconsistent)
        );
        let last = Fragment::decode(&pieces[1]).unwrap();
        assert_eq!(
            r.accept(HostId(1), 1, &last).unwrap().as_deref(),
            Some(&m[..])
        );
    }

    #[test]
    fn a_lost_fragment_is_cleaned_up_by_later_messages_and_memory_stays_bounded() {
        let m = message(FRAGMENT_DATA + 1);
        let mut r = Reassembler::default();
        for id in 0..PARTIAL_PER_SENDER as u64 + 3 {
            let pieces = split(id, &m).unwrap();
            assert_eq!(feed(&mut r, 1, &pieces[..1]), [None]);
            assert!(r.pending() <= PARTIAL_PER_SENDER);
        }
        assert_eq!(r.evicted(), 3);
        // Many senders each starting the largest message: bounded bytes.
        let big = split(0, &message(MAX_MESSAGE)).unwrap();
        for from in 2..100 {
            feed(&mut r, from, &big[..1]);
            assert!(r.held_bytes() <= REASSEMBLY_BYTES);
        }
        // A complete message still gets through after all that.
        let pieces = split(77, &m).unwrap();
        assert_eq!(feed(&mut r, 1, &pieces)[1].as_deref(), Some(&m[..]));
    }
}
