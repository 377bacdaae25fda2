//! Datagram framing shared by every protocol: `[version][protocol][body]`.
//! The body format belongs to the protocol named by the tag.

use crate::codec::{DecodeError, Reader, Writer};
use crate::io::Payload;
use crate::protocols::ProtocolTag;

/// The wire version this build speaks; a datagram with another is dropped.
pub const WIRE_VERSION: u8 = 1;

/// Starts a datagram for `protocol`; the protocol appends its body.
pub fn frame(protocol: ProtocolTag, capacity: usize) -> Writer {
    let mut w = Writer::with_capacity(capacity + 2);
    w.u8(WIRE_VERSION).u8(protocol as u8);
    w
}

/// Checks the header of `datagram` and returns its protocol and body reader.
pub fn open(datagram: &[u8]) -> Result<(ProtocolTag, Reader<'_>), DecodeError> {
    header(Reader::new(datagram)?)
}

/// [`open`] of a shared datagram: the body's reader can hand out parts of
/// it without copying ([`Reader::rest_shared`]).
pub fn open_payload(datagram: &Payload) -> Result<(ProtocolTag, Reader<'_>), DecodeError> {
    header(Reader::of_payload(datagram)?)
}

fn header(mut r: Reader<'_>) -> Result<(ProtocolTag, Reader<'_>), DecodeError> {
    let version = r.u8()?;
    if version != WIRE_VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    let tag = ProtocolTag::from_byte(r.u8()?)?;
    Ok((tag, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_bad_versions_and_tags() {
        let bytes = frame(ProtocolTag::Peers, 0).finish();
        let (tag, r) = open(&bytes).unwrap();
        assert_eq!(tag, ProtocolTag::Peers);
        r.finish().unwrap();
        assert_eq!(open(&[9, 1]).err(), Some(DecodeError::BadVersion(9)));
        assert_eq!(
            open(&[WIRE_VERSION, 200]).err(),
            Some(DecodeError::UnknownKind(200))
        );
        assert_eq!(open(&[]).err(), Some(DecodeError::Truncated));
    }
}
