//! The transport frame around every UDP datagram in real-process mode.
//!
//! # Why it exists
//!
//! In the simulator the network itself says which host sent a datagram
//! ([`crate::io::Input::Message`]'s `from`). Between real processes the only
//! such claim is the UDP source address, which anyone on the network can
//! spoof. The frame closes that gap: the sending host signs every datagram
//! with its identity key, and the receiver accepts it only if the signature
//! verifies under the key it has for the claimed sender. So the `from` a node
//! sees is authenticated in both drivers. The frame authenticates the
//! *transport* (host to host); the protocols' own signed envelopes
//! ([`crate::envelope`]) ride inside the payload unchanged.
//!
//! # Layout
//!
//! All integers little-endian:
//!
//! | bytes | field |
//! |-------|-------|
//! | 4     | magic `b"SIMF"` |
//! | 1     | version ([`FRAME_VERSION`]) |
//! | 4     | sender host id |
//! | 4     | recipient host id |
//! | 8     | epoch: the sending process's start (unix ns) |
//! | 8     | sequence number, per (sender process, recipient), from 0 |
//! | 8     | due: when the sender's emulated path delivers it (scenario ns; 0: on arrival) |
//! | 4     | payload length |
//! | n     | payload |
//! | 64    | ed25519 signature |
//!
//! The signature is over every byte before it (so the header is
//! authenticated too), in the domain `sim/frame/v3`.
//!
//! [`open`] checks, in order: the size bound (before any parsing), the
//! minimum length, magic, version, length field, recipient, that the sender
//! is known, and last the signature (the only expensive check). It never
//! panics, whatever the bytes.
//!
//! # Replays
//!
//! A valid frame stays valid: anyone who sees it can send it again. The
//! [`Stamp`] (epoch, sequence number) inside the signature lets the
//! receiver keep a [`ReplayWindow`] per sender, checked after the
//! signature (so only authentic stamps move it): a stamp is accepted once;
//! a stamp of an older epoch than the sender's newest is a replay of a
//! previous process of that host; a restarted sender has a newer epoch (it
//! started later) and resets the window, so it is accepted at once. Within
//! an epoch the window remembers the last [`REPLAY_WINDOW`] sequence numbers,
//! so datagrams reordered by less than that are still accepted; older ones
//! cannot be told from replays and are refused as
//! [`FrameError::OutOfWindow`].

use crate::HostId;
use crate::codec::{Reader, Writer};
use crate::identity::{Identity, PublicKey, SIGNATURE_LEN};

/// The frame format version this build speaks.
pub const FRAME_VERSION: u8 = 3;
/// Bytes a frame adds around its payload (header + signature).
pub const FRAME_OVERHEAD: usize = HEADER_LEN + SIGNATURE_LEN;
/// The largest frame sealed or opened: one around the largest message
/// ([`crate::codec::MAX_MESSAGE`]). A frame larger than one datagram
/// travels as pieces ([`crate::fragment`]).
pub const MAX_FRAME: usize = crate::codec::MAX_MESSAGE + FRAME_OVERHEAD;

/// The first bytes of every frame.
const MAGIC: [u8; 4] = *b"SIMF";
/// Sequence numbers a [`ReplayWindow`] remembers below the newest one.
pub const REPLAY_WINDOW: u64 = 1024;

/// Magic, version, from, to, epoch, sequence number, due, payload length.
const HEADER_LEN: usize = 4 + 1 + 4 + 4 + 8 + 8 + 8 + 4;
/// Signature domain of frames.
const DOMAIN: &[u8] = b"sim/frame/v3";
/// 64-bit words of a [`ReplayWindow`]'s bitmap.
const WINDOW_WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// Why a datagram was refused by [`open`] or a [`ReplayWindow`] (or a
/// payload by [`seal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum FrameError {
    /// The datagram is larger than [`MAX_FRAME`] (or the payload too big to
    /// seal into one).
    #[error("frame larger than {MAX_FRAME} bytes")]
    Oversize,
    /// Shorter than header and signature, or than the length field says.
    #[error("truncated frame")]
    Truncated,
    /// Not a sim frame.
    #[error("not a sim frame (bad magic)")]
    BadMagic,
    /// Another frame version.
    #[error("unsupported frame version {0}")]
    BadVersion(u8),
    /// The length field disagrees with the datagram size (trailing bytes).
    #[error("frame length field disagrees with the datagram size")]
    LengthMismatch,
    /// The claimed sender is not a host this one knows a key for.
    #[error("frame from unknown sender {0}")]
    UnknownSender(HostId),
    /// Addressed to another host.
    #[error("frame addressed to another host")]
    Misdirected,
    /// The signature does not verify under the sender's key.
    #[error("frame signature does not verify")]
    BadSignature,
    /// An authentic frame seen before, or one from an older process of
    /// its sender (a [`ReplayWindow`] refused it).
    #[error("frame replayed (its stamp was seen before or is from an older process)")]
    Replayed,
    /// An authentic frame older than the [`ReplayWindow`] remembers: it
    /// cannot be told from a replay.
    #[error("frame older than the replay window ({REPLAY_WINDOW} sequence numbers)")]
    OutOfWindow,
}

impl FrameError {
    /// Every reason name, in declaration order (for stable counter tables).
    pub const REASONS: &'static [&'static str] = &[
        "oversize",
        "truncated",
        "bad-magic",
        "bad-version",
        "length-mismatch",
        "unknown-sender",
        "misdirected",
        "bad-signature",
        "replayed",
        "out-of-window",
    ];

    /// A stable kebab-case name for counters and CSV (one of
    /// [`FrameError::REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Oversize => "oversize",
            FrameError::Truncated => "truncated",
            FrameError::BadMagic => "bad-magic",
            FrameError::BadVersion(_) => "bad-version",
            FrameError::LengthMismatch => "length-mismatch",
            FrameError::UnknownSender(_) => "unknown-sender",
            FrameError::Misdirected => "misdirected",
            FrameError::BadSignature => "bad-signature",
            FrameError::Replayed => "replayed",
            FrameError::OutOfWindow => "out-of-window",
        }
    }
}

/// Where a frame sits in its sender's stream (the sending process's epoch
/// and a sequence number) and when it is due. Signed with the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// The sending process's start, unix nanoseconds: a restarted process
    /// has a newer one.
    pub epoch: u64,
    /// The frame's number among those the process sent to this recipient.
    pub seq: u64,
    /// The scenario time (ns) at which the sender's emulated path delivers
    /// the frame to the recipient, so that the recipient handles it as
    /// due then however late it reads it; 0 when the network outside
    /// decides (the recipient takes the time it arrives).
    pub due_ns: u64,
}

/// An authentic frame's contents, as [`open`] returns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The sender.
    pub from: HostId,
    /// Its stamp, for the receiver's [`ReplayWindow`].
    pub stamp: Stamp,
    /// The payload, for the node.
    pub payload: &'a [u8],
}

/// Wraps `payload` from host `from` to host `to` with `stamp`, signed by
/// `identity`.
///
/// Fails with [`FrameError::Oversize`] when the frame would exceed
/// [`MAX_FRAME`] (`payload.len() + FRAME_OVERHEAD > MAX_FRAME`).
pub fn seal(
    identity: &Identity,
    from: HostId,
    to: HostId,
    stamp: Stamp,
    payload: &[u8],
) -> Result<Vec<u8>, FrameError> {
    if payload.len() > MAX_FRAME - FRAME_OVERHEAD {
        return Err(FrameError::Oversize);
    }
    let mut w = Writer::with_capacity(payload.len() + FRAME_OVERHEAD);
    w.array(&MAGIC)
        .u8(FRAME_VERSION)
        .u32(from.0)
        .u32(to.0)
        .u64(stamp.epoch)
        .u64(stamp.seq)
        .u64(stamp.due_ns)
        // A u32 length then the payload: bounded by MAX_FRAME above.
        .bytes(payload);
    let signature = identity.sign(DOMAIN, w.as_slice());
    w.array(&signature);
    Ok(w.finish())
}

/// Checks a received datagram addressed to `me`: returns the sender, the
/// stamp and the payload. `key_of` gives the public key of a host id
/// (`None` = unknown host). See the module docs for the order of the
/// checks; replays are the receiver's [`ReplayWindow`]'s to refuse.
pub fn open(
    datagram: &[u8],
    me: HostId,
    key_of: impl Fn(HostId) -> Option<PublicKey>,
) -> Result<Opened<'_>, FrameError> {
    if datagram.len() > MAX_FRAME {
        return Err(FrameError::Oversize);
    }
    let Some(signed_len) = datagram.len().checked_sub(SIGNATURE_LEN) else {
        return Err(FrameError::Truncated);
    };
    if signed_len < HEADER_LEN {
        return Err(FrameError::Truncated);
    }
    let (signed, signature) = datagram.split_at(signed_len);
    let header = Header::read(signed)?;
    if header.to != me {
        return Err(FrameError::Misdirected);
    }
    let key = key_of(header.from).ok_or(FrameError::UnknownSender(header.from))?;
    let signature: &[u8; SIGNATURE_LEN] =
        signature.try_into().map_err(|_| FrameError::Truncated)?;
    key.verify(DOMAIN, signed, signature)
        .map_err(|_| FrameError::BadSignature)?;
    Ok(Opened {
        from: header.from,
        stamp: header.stamp,
        payload: header.payload,
    })
}

/// The signed part of a frame, parsed but not yet authenticated.
struct Header<'a> {
    from: HostId,
    to: HostId,
    stamp: Stamp,
    payload: &'a [u8],
}

impl<'a> Header<'a> {
    /// Parses everything before the signature; `signed` is at least
    /// [`HEADER_LEN`] bytes and at most [`MAX_FRAME`].
    fn read(signed: &'a [u8]) -> Result<Self, FrameError> {
        let truncated = |_| FrameError::Truncated;
        // The fixed fields through the reader; the payload (up to a
        // message) is the rest, checked against the length field.
        let (fixed, payload) = signed.split_at(HEADER_LEN.min(signed.len()));
        let mut r = Reader::new(fixed).map_err(truncated)?;
        if r.array::<4>().map_err(truncated)? != MAGIC {
            return Err(FrameError::BadMagic);
        }
        let version = r.u8().map_err(truncated)?;
        if version != FRAME_VERSION {
            return Err(FrameError::BadVersion(version));
        }
        let from = HostId(r.u32().map_err(truncated)?);
        let to = HostId(r.u32().map_err(truncated)?);
        let epoch = r.u64().map_err(truncated)?;
        let seq = r.u64().map_err(truncated)?;
        let due_ns = r.u64().map_err(truncated)?;
        let declared = r.u32().map_err(truncated)? as usize;
        // Shorter than the length field says: Truncated; longer: trailing bytes.
        match payload.len().cmp(&declared) {
            std::cmp::Ordering::Less => return Err(FrameError::Truncated),
            std::cmp::Ordering::Greater => return Err(FrameError::LengthMismatch),
            std::cmp::Ordering::Equal => {}
        }
        Ok(Header {
            from,
            to,
            stamp: Stamp { epoch, seq, due_ns },
            payload,
        })
    }
}

/// What a receiver remembers of one sender's stamps: its newest epoch, the
/// highest sequence number seen in it and which of the [`REPLAY_WINDOW`]
/// numbers below that were seen. Fixed size (144 bytes), whatever arrives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// `(epoch, highest seq)` once a stamp was accepted.
    newest: Option<(u64, u64)>,
    /// Bit `seq % REPLAY_WINDOW` is set when `seq` (within the window) was seen.
    seen: [u64; WINDOW_WORDS],
}

impl ReplayWindow {
    /// Accepts `stamp` (and remembers it) if it is new: a newer epoch, or a
    /// sequence number of the current epoch not seen before and not below
    /// the window. Refuses a seen stamp or an older epoch with
    /// [`FrameError::Replayed`], one below the window with
    /// [`FrameError::OutOfWindow`].
    pub fn check(&mut self, stamp: Stamp) -> Result<(), FrameError> {
        let Some((epoch, top)) = self.newest.filter(|(epoch, _)| stamp.epoch <= *epoch) else {
            self.restart(stamp);
            return Ok(());
        };
        if stamp.epoch < epoch {
            return Err(FrameError::Replayed);
        }
        if stamp.seq > top {
            self.advance(top, stamp.seq);
            self.newest = Some((epoch, stamp.seq));
        } else if top - stamp.seq >= REPLAY_WINDOW {
            return Err(FrameError::OutOfWindow);
        } else if self.is_seen(stamp.seq) {
            return Err(FrameError::Replayed);
        }
        self.mark(stamp.seq);
        Ok(())
    }

    /// Whether `stamp` is older than anything the window can tell apart:
    /// an older epoch, or below the window of the current one.
    pub fn is_behind(&self, stamp: Stamp) -> bool {
        self.newest.is_some_and(|(epoch, top)| {
            stamp.epoch < epoch
                || (stamp.epoch == epoch && stamp.seq < top && top - stamp.seq >= REPLAY_WINDOW)
        })
    }

    /// Starts over at `stamp` (the first stamp, or a newer process).
    fn restart(&mut self, stamp: Stamp) {
        self.newest = Some((stamp.epoch, stamp.seq));
        self.seen = [0; WINDOW_WORDS];
        self.mark(stamp.seq);
    }

    /// Forgets the bits of the numbers `top + 1 ..= new_top` now enter the
    /// window with (they held numbers that fell out of it).
    fn advance(&mut self, top: u64, new_top: u64) {
        if new_top - top >= REPLAY_WINDOW {
            self.seen = [0; WINDOW_WORDS];
            return;
        }
        for seq in top + 1..=new_top {
            let (word, bit) = Self::slot(seq);
            self.seen[word] &= !bit;
        }
    }

    fn is_seen(&self, seq: u64) -> bool {
        let (word, bit) = Self::slot(seq);
        self.seen[word] & bit != 0
    }

    fn mark(&mut self, seq: u64) {
        let (word, bit) = Self::slot(seq);
        self.seen[word] |= bit;
    }

    /// The word and bit of `seq` in the bitmap.
    fn slot(seq: u64) -> (usize, u64) {
        let index = seq % REPLAY_WINDOW;
        // index < REPLAY_WINDOW = 1024, so index / 64 < WINDOW_WORDS.
        ((index / 64) as usize, 1 << (index % 64))
    }
}

#[cfg(test)]
mod tests {
    use rand::RngExt;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};

    use super::*;

    /// The receiving host in every test.
    const ME: HostId = HostId(1);
    /// Hosts `0..KNOWN` have keys; others are unknown.
    const KNOWN: u32 = 4;

    fn identity(host: HostId) -> Identity {
        let mut secret = [0x5a; 32];
        secret[..4].copy_from_slice(&host.0.to_le_bytes());
        Identity::from_secret(secret)
    }

    /// The key table of the known hosts, indexed by host id.
    fn keys() -> Vec<PublicKey> {
        (0..KNOWN)
            .map(|i| identity(HostId(i)).public_key())
            .collect()
    }

    /// The stamp tests seal with unless they say otherwise.
    const STAMP: Stamp = Stamp {
        epoch: 0x0102_0304_0506_0708,
        seq: 9,
        due_ns: 0x1112_1314_1516_1718,
    };

    fn sealed(from: u32, to: HostId, payload: &[u8]) -> Vec<u8> {
        seal(&identity(HostId(from)), HostId(from), to, STAMP, payload).unwrap()
    }

    /// Opens `bytes` at [`ME`] with the known-host key table.
    fn open_at_me(bytes: &[u8], keys: &[PublicKey]) -> Result<(HostId, Vec<u8>), FrameError> {
        open(bytes, ME, |h| keys.get(h.index()).copied()).map(|o| (o.from, o.payload.to_vec()))
    }

    /// Overwrites the payload length field.
    fn set_length(frame: &mut [u8], len: u32) {
        frame[37..41].copy_from_slice(&len.to_le_bytes());
    }

    #[test]
    fn round_trip() {
        let keys = keys();
        for payload in [&b""[..], b"hello", &[0xff; 300]] {
            let frame = sealed(2, ME, payload);
            assert_eq!(frame.len(), payload.len() + FRAME_OVERHEAD);
            assert_eq!(open_at_me(&frame, &keys), Ok((HostId(2), payload.to_vec())));
        }
        // The largest payload makes a frame of exactly MAX_FRAME.
        let payload = vec![7; MAX_FRAME - FRAME_OVERHEAD];
        let frame = sealed(3, ME, &payload);
        assert_eq!(frame.len(), MAX_FRAME);
        assert_eq!(open_at_me(&frame, &keys), Ok((HostId(3), payload)));
    }

    #[test]
    fn layout_is_as_documented() {
        let frame = sealed(2, HostId(0x0102_0304), b"ab");
        assert_eq!(&frame[..4], b"SIMF");
        assert_eq!(frame[4], FRAME_VERSION);
        assert_eq!(&frame[5..9], &2u32.to_le_bytes());
        assert_eq!(&frame[9..13], &0x0102_0304u32.to_le_bytes());
        assert_eq!(&frame[13..21], &STAMP.epoch.to_le_bytes());
        assert_eq!(&frame[21..29], &STAMP.seq.to_le_bytes());
        assert_eq!(&frame[29..37], &STAMP.due_ns.to_le_bytes());
        assert_eq!(&frame[37..41], &2u32.to_le_bytes());
        assert_eq!(&frame[41..43], b"ab");
        assert_eq!(frame.len(), 43 + SIGNATURE_LEN);
        assert_eq!(FRAME_OVERHEAD, 41 + SIGNATURE_LEN);
        let signature: [u8; SIGNATURE_LEN] = frame[43..].try_into().unwrap();
        let key = identity(HostId(2)).public_key();
        assert_eq!(
            key.verify(b"sim/frame/v3", &frame[..43], &signature),
            Ok(())
        );
    }

    #[test]
    fn seal_refuses_an_oversize_payload() {
        let payload = vec![0; MAX_FRAME - FRAME_OVERHEAD + 1];
        assert_eq!(
            seal(&identity(HostId(2)), HostId(2), ME, STAMP, &payload),
            Err(FrameError::Oversize)
        );
    }

    #[test]
    fn oversize_datagram_is_refused_before_parsing() {
        let keys = keys();
        assert_eq!(
            open_at_me(&vec![0; MAX_FRAME + 1], &keys),
            Err(FrameError::Oversize)
        );
        let mut frame = sealed(2, ME, &vec![1; MAX_FRAME - FRAME_OVERHEAD]);
        frame.push(0);
        assert_eq!(open_at_me(&frame, &keys), Err(FrameError::Oversize));
    }

    #[test]
    fn every_truncation_is_truncated() {
        let keys = keys();
        let frame = sealed(2, ME, b"some payload");
        for cut in 0..frame.len() {
            assert_eq!(
                open_at_me(&frame[..cut], &keys),
                Err(FrameError::Truncated),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn random_bytes_are_not_a_frame() {
        let keys = keys();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut bytes = vec![0; 200];
        rng.fill_bytes(&mut bytes);
        assert_eq!(open_at_me(&bytes, &keys), Err(FrameError::BadMagic));
    }

    #[test]
    fn wrong_magic_and_version_are_refused() {
        let keys = keys();
        let frame = sealed(2, ME, b"x");
        let mut bad = frame.clone();
        bad[..4].copy_from_slice(b"SIMG");
        assert_eq!(open_at_me(&bad, &keys), Err(FrameError::BadMagic));
        for version in [0, 1, 2, 4, 0xff] {
            let mut bad = frame.clone();
            bad[4] = version;
            assert_eq!(
                open_at_me(&bad, &keys),
                Err(FrameError::BadVersion(version))
            );
        }
    }

    #[test]
    fn length_field_must_match_the_datagram() {
        let keys = keys();
        let frame = sealed(2, ME, b"four");
        let mut trailing = frame.clone();
        trailing.push(0);
        assert_eq!(
            open_at_me(&trailing, &keys),
            Err(FrameError::LengthMismatch)
        );
        for (len, expected) in [
            (5, FrameError::Truncated),
            (u32::MAX, FrameError::Truncated),
            (3, FrameError::LengthMismatch),
            (0, FrameError::LengthMismatch),
        ] {
            let mut bad = frame.clone();
            set_length(&mut bad, len);
            assert_eq!(open_at_me(&bad, &keys), Err(expected), "length {len}");
        }
    }

    #[test]
    fn misdirected_and_unknown_sender_are_refused() {
        let keys = keys();
        // Addressed to host 3, replayed to host 1.
        let frame = sealed(2, HostId(3), b"for three");
        assert_eq!(open_at_me(&frame, &keys), Err(FrameError::Misdirected));
        assert!(open(&frame, HostId(3), |h| keys.get(h.index()).copied()).is_ok());
        let stranger = sealed(KNOWN + 5, ME, b"hi");
        assert_eq!(
            open_at_me(&stranger, &keys),
            Err(FrameError::UnknownSender(HostId(KNOWN + 5)))
        );
    }

    #[test]
    fn signature_by_another_key_is_refused() {
        let keys = keys();
        // Host 3 claims to be host 2.
        let forged = seal(&identity(HostId(3)), HostId(2), ME, STAMP, b"trust me").unwrap();
        assert_eq!(open_at_me(&forged, &keys), Err(FrameError::BadSignature));
        // Host 2's real signature moved onto another payload of the same size.
        let genuine = sealed(2, ME, b"pay 1");
        let mut spliced = sealed(2, ME, b"pay 9");
        let at = spliced.len() - SIGNATURE_LEN;
        spliced[at..].copy_from_slice(&genuine[at..]);
        assert_eq!(open_at_me(&spliced, &keys), Err(FrameError::BadSignature));
    }

    #[test]
    fn every_flipped_bit_is_refused_by_the_check_for_its_field() {
        let keys = keys();
        let payload = b"sixteen byte msg";
        let frame = sealed(2, ME, payload);
        for bit in 0..frame.len() * 8 {
            let mut bad = frame.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let err = open_at_me(&bad, &keys).unwrap_err();
            let ok = match bit / 8 {
                0..=3 => err == FrameError::BadMagic,
                4 => matches!(err, FrameError::BadVersion(_)),
                // Another known sender's key does not verify; others are unknown.
                5..=8 => matches!(err, FrameError::BadSignature | FrameError::UnknownSender(_)),
                9..=12 => err == FrameError::Misdirected,
                // The stamp is signed: a changed one does not verify.
                13..=36 => err == FrameError::BadSignature,
                37..=40 => matches!(err, FrameError::Truncated | FrameError::LengthMismatch),
                _ => err == FrameError::BadSignature,
            };
            assert!(ok, "bit {bit}: {err:?}");
        }
    }

    #[test]
    fn reasons_are_stable_and_in_declaration_order() {
        let all = [
            FrameError::Oversize,
            FrameError::Truncated,
            FrameError::BadMagic,
            FrameError::BadVersion(9),
            FrameError::LengthMismatch,
            FrameError::UnknownSender(HostId(4)),
            FrameError::Misdirected,
            FrameError::BadSignature,
            FrameError::Replayed,
            FrameError::OutOfWindow,
        ];
        let names: Vec<&str> = all.iter().map(FrameError::reason).collect();
        assert_eq!(names, FrameError::REASONS);
        for err in all {
            assert!(!err.to_string().is_empty());
        }
        assert_eq!(
            FrameError::UnknownSender(HostId(4)).to_string(),
            "frame from unknown sender host#4"
        );
    }

    fn stamp(epoch: u64, seq: u64) -> Stamp {
        Stamp {
            epoch,
            seq,
            due_ns: 0,
        }
    }

    #[test]
    fn the_stamp_round_trips_inside_the_signature() {
        let keys = keys();
        let sent = Stamp {
            due_ns: 123_456,
            ..stamp(7, 42)
        };
        let frame = seal(&identity(HostId(2)), HostId(2), ME, sent, b"x").unwrap();
        let opened = open(&frame, ME, |h| keys.get(h.index()).copied()).unwrap();
        assert_eq!(opened.stamp, sent);
        assert_eq!((opened.from, opened.payload), (HostId(2), &b"x"[..]));
    }

    #[test]
    fn a_window_accepts_each_stamp_once_and_reordering_within_it() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check(stamp(5, 10)), Ok(()));
        assert_eq!(w.check(stamp(5, 10)), Err(FrameError::Replayed));
        // Later and earlier numbers within the window, each once.
        for seq in [12, 11, 3, 0] {
            assert_eq!(w.check(stamp(5, seq)), Ok(()), "{seq}");
            assert_eq!(w.check(stamp(5, seq)), Err(FrameError::Replayed), "{seq}");
        }
        // A jump far ahead: what is now below the window cannot be told apart.
        assert_eq!(w.check(stamp(5, 12 + REPLAY_WINDOW)), Ok(()));
        assert_eq!(w.check(stamp(5, 12)), Err(FrameError::OutOfWindow));
        assert!(w.is_behind(stamp(5, 12)));
        assert_eq!(w.check(stamp(5, 13)), Ok(()));
        assert!(!w.is_behind(stamp(5, 13)));
        assert_eq!(w.check(stamp(5, 13)), Err(FrameError::Replayed));
    }

    #[test]
    fn a_restarted_sender_is_accepted_and_its_old_process_refused() {
        let mut w = ReplayWindow::default();
        for seq in 0..100 {
            assert_eq!(w.check(stamp(1_000, seq)), Ok(()));
        }
        // The restarted process starts later and counts from 0 again.
        assert_eq!(w.check(stamp(2_000, 0)), Ok(()));
        assert_eq!(w.check(stamp(2_000, 1)), Ok(()));
        // Anything of the old process, even a number it never sent, is a replay.
        assert_eq!(w.check(stamp(1_000, 100)), Err(FrameError::Replayed));
        assert_eq!(w.check(stamp(1_000, 5)), Err(FrameError::Replayed));
        assert!(w.is_behind(stamp(1_000, 5)));
        assert_eq!(w.check(stamp(2_000, 1)), Err(FrameError::Replayed));
    }

    /// Every sequence of stamps, against a model that remembers everything:
    /// accepted at most once, and a refusal is a replay or below the window.
    #[test]
    fn a_window_matches_a_model_that_remembers_everything() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x7e91);
        for _ in 0..200 {
            let mut w = ReplayWindow::default();
            let mut seen = std::collections::BTreeSet::new();
            let mut newest = (0u64, 0u64);
            for _ in 0..500 {
                let epoch = rng.random_range(newest.0.saturating_sub(1)..=newest.0 + 1);
                let spread = REPLAY_WINDOW * 2;
                let seq = rng.random_range(newest.1.saturating_sub(spread)..=newest.1 + spread);
                let s = stamp(epoch, seq);
                let fresh = !seen.contains(&(epoch, seq));
                match w.check(s) {
                    Ok(()) => {
                        assert!(fresh && epoch >= newest.0, "{s:?}");
                        seen.insert((epoch, seq));
                        newest = if epoch > newest.0 {
                            (epoch, seq)
                        } else {
                            (epoch, newest.1.max(seq))
                        };
                    }
                    Err(FrameError::Replayed) => {
                        assert!(!fresh || epoch < newest.0, "{s:?}")
                    }
                    Err(FrameError::OutOfWindow) => {
                        assert!(
                            epoch == newest.0 && newest.1 - seq >= REPLAY_WINDOW,
                            "{s:?}"
                        )
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
    }

    /// Applies one random mutation: flip a bit, truncate, extend, or
    /// overwrite a range (possibly with the same bytes).
    fn mutate(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
        match rng.random_range(0..4u8) {
            0 if !bytes.is_empty() => {
                let bit = rng.random_range(0..bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            1 => {
                let len = rng.random_range(0..=bytes.len());
                bytes.truncate(len);
            }
            2 => {
                let mut extra = vec![0; rng.random_range(1..=8)];
                rng.fill_bytes(&mut extra);
                bytes.extend_from_slice(&extra);
            }
            _ if !bytes.is_empty() => {
                let start = rng.random_range(0..bytes.len());
                let end = rng.random_range(start..=bytes.len().min(start + 8));
                // Small values make equal bytes (no change) likely now and then.
                for b in &mut bytes[start..end] {
                    *b = rng.random_range(0..4u8);
                }
            }
            _ => bytes.push(0),
        }
    }

    /// Random strings and mutated frames: `open` never panics, and accepts
    /// exactly the bytes of a validly sealed frame.
    #[test]
    fn fuzz_open_accepts_only_sealed_frames() {
        const RANDOM_CASES: usize = 20_000;
        const MUTATION_CASES: usize = 20_000;
        let keys = keys();
        let mut rng = ChaCha8Rng::seed_from_u64(0x513f_f4a3);
        // (frame, sender, payload) for a few senders (one unknown) and sizes.
        let valid: Vec<(Vec<u8>, HostId, Vec<u8>)> = (0..16u32)
            .map(|i| {
                let from = i % (KNOWN + 1);
                let mut payload = vec![0; rng.random_range(0..120)];
                rng.fill_bytes(&mut payload);
                (sealed(from, ME, &payload), HostId(from), payload)
            })
            .collect();
        let accepted = |bytes: &[u8]| {
            valid
                .iter()
                .find(|(frame, from, _)| frame == bytes && from.0 < KNOWN)
                .map(|(_, from, payload)| (*from, payload.clone()))
        };

        let tally = |counts: &mut std::collections::BTreeMap<&'static str, usize>,
                     result: &Result<(HostId, Vec<u8>), FrameError>| {
            let name = result.as_ref().map_or_else(|e| e.reason(), |_| "ok");
            *counts.entry(name).or_default() += 1;
        };
        let mut random = std::collections::BTreeMap::new();
        let mut mutated = std::collections::BTreeMap::new();
        for case in 0..RANDOM_CASES {
            let mut bytes = vec![0; rng.random_range(0..200)];
            rng.fill_bytes(&mut bytes);
            // Half the cases get a plausible header, to reach the later checks.
            if case % 2 == 0 && bytes.len() >= HEADER_LEN {
                bytes[..4].copy_from_slice(&MAGIC);
                bytes[4] = FRAME_VERSION;
                bytes[5..9].copy_from_slice(&rng.random_range(0..KNOWN + 1).to_le_bytes());
                bytes[9..13].copy_from_slice(&ME.0.to_le_bytes());
                if case % 4 == 0 {
                    let len = bytes.len().saturating_sub(FRAME_OVERHEAD) as u32;
                    set_length(&mut bytes, len);
                }
            }
            let result = open_at_me(&bytes, &keys);
            tally(&mut random, &result);
            assert_eq!(result.ok(), accepted(&bytes), "{bytes:?}");
        }

        let mut changed = 0;
        for _ in 0..MUTATION_CASES {
            let (original, _, _) = &valid[rng.random_range(0..valid.len())];
            let mut bytes = original.clone();
            for _ in 0..rng.random_range(1..=3) {
                mutate(&mut rng, &mut bytes);
            }
            if bytes != *original {
                changed += 1;
            }
            let result = open_at_me(&bytes, &keys);
            tally(&mut mutated, &result);
            assert_eq!(result.ok(), accepted(&bytes), "{bytes:?}");
        }
        assert!(changed >= MUTATION_CASES * 9 / 10, "{changed}");
        // The cases reach the deep checks, the signature above all.
        let reached = |counts: &std::collections::BTreeMap<&str, usize>, name| {
            counts.get(name).copied().unwrap_or(0)
        };
        assert!(reached(&random, "bad-signature") >= 1_000, "{random:?}");
        assert!(reached(&mutated, "bad-signature") >= 2_000, "{mutated:?}");
        for name in [
            "bad-magic",
            "bad-version",
            "truncated",
            "length-mismatch",
            "misdirected",
            "unknown-sender",
        ] {
            assert!(reached(&mutated, name) > 0, "{name}: {mutated:?}");
        }
    }
}
