//! A tiny, strict binary codec for wire messages: fixed-width little-endian
//! integers and length-prefixed byte strings. Decoding never panics: every
//! read is bounds-checked and reports [`DecodeError`].

use crate::io::{Payload, SharedBytes};

/// The largest datagram, in bytes: a message up to this size travels as
/// one datagram, exactly as it always did.
pub const MAX_DATAGRAM: usize = 64 * 1024;

/// The largest message any protocol sends or accepts, in bytes. A message
/// larger than [`MAX_DATAGRAM`] travels as fragments of at most a datagram
/// each ([`crate::fragment`]): the simulator charges every fragment to the
/// network and loses the message if one is lost; real processes split and
/// reassemble it. 1 MiB holds a new-view message of
/// [`crate::protocols::consensus::MAX_VALIDATORS`] validators.
pub const MAX_MESSAGE: usize = 1024 * 1024;

/// Why bytes could not be decoded into a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the message did.
    #[error("truncated message")]
    Truncated,
    /// The message is larger than [`MAX_MESSAGE`].
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    /// A wire version this build does not speak.
    #[error("unsupported wire version {0}")]
    BadVersion(u8),
    /// A protocol or message kind byte that is not defined.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// Bytes left over after a complete message.
    #[error("trailing bytes after message")]
    TrailingBytes,
    /// A field holds a value it may not (e.g. a length beyond its bound).
    #[error("invalid field value")]
    InvalidField,
}

/// Builds a message; pairs with [`Reader`].
#[derive(Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty message with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Writer {
            bytes: Vec::with_capacity(capacity),
        }
    }
    /// Appends one byte.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }
    /// Appends a little-endian `u16`.
    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }
    /// Appends a little-endian `u32`.
    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }
    /// Appends a little-endian `u64`.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }
    /// Appends fixed-size bytes with no length prefix.
    pub fn array(&mut self, value: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(value);
        self
    }
    /// Appends `n` zero bytes (padding) without building them first.
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.bytes.resize(self.bytes.len() + n, 0);
        self
    }
    /// Appends a `u32` length then the bytes.
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        // Lengths beyond u32 cannot occur: messages are bounded by MAX_MESSAGE.
        self.u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
        self.bytes.extend_from_slice(value);
        self
    }
    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }
    /// The finished message.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads a message written by [`Writer`], checking every bound.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
    /// The shared buffer `rest` lies in, if it was read from one
    /// ([`Self::of_payload`]).
    shared: Option<&'a Payload>,
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`; refuses oversize input outright.
    pub fn new(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(DecodeError::TooLarge);
        }
        Ok(Reader {
            rest: bytes,
            shared: None,
        })
    }
    /// Starts reading a shared datagram, so a receiver may keep part of it
    /// without copying ([`Self::rest_shared`]).
    pub fn of_payload(payload: &'a Payload) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(payload)?;
        reader.shared = Some(payload);
        Ok(reader)
    }
    /// The bytes not read yet, as a handle on the shared datagram they lie
    /// in; `None` if this reader reads no shared datagram.
    pub fn rest_shared(&self) -> Option<SharedBytes> {
        let payload = self.shared?;
        let start = (self.rest.as_ptr() as usize).checked_sub(payload.as_ptr() as usize)?;
        SharedBytes::window(payload, start, self.rest.len())
    }
    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    /// Takes exactly `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    /// Reads a little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// Reads a `u32` length then that many bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    /// The next byte, without taking it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.rest.first().copied()
    }
    /// Bytes consumed so far from `original`, for signing the decoded prefix.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
    /// Ends decoding: fails if bytes are left over.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let mut w = Writer::default();
        w.u8(7)
            .u16(0xbeef)
            .u32(0xdead_beef)
            .u64(u64::MAX)
            .bytes(b"hello")
            .array(&[1, 2]);
        let bytes = w.finish();
        let mut r = Reader::new(&bytes).unwrap();
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u16().unwrap(), 0xbeef);
        assert_eq!(r.u32().unwrap(), 0xdead_beef);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.bytes().unwrap(), b"hello");
        assert_eq!(r.array::<2>().unwrap(), [1, 2]);
        r.finish().unwrap();
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut w = Writer::default();
        w.u32(1).bytes(b"abcdef").u64(9);
        let bytes = w.finish();
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]).unwrap();
            let all = (|| -> Result<(), DecodeError> {
                r.u32()?;
                r.bytes()?;
                r.u64()?;
                Ok(())
            })();
            assert_eq!(all, Err(DecodeError::Truncated), "cut at {cut}");
        }
    }

    #[test]
    fn huge_length_prefix_is_truncated_not_a_panic() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2];
        let mut r = Reader::new(&bytes).unwrap();
        assert_eq!(r.bytes(), Err(DecodeError::Truncated));
    }

    #[test]
    fn oversize_and_trailing_are_rejected() {
        assert_eq!(
            Reader::new(&vec![0; MAX_MESSAGE + 1]).err(),
            Some(DecodeError::TooLarge)
        );
        let r = Reader::new(&[1]).unwrap();
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes));
    }
}
