//! Serde support for 32-byte values ([`crate::identity::PublicKey`],
//! [`crate::protocols::consensus::Hash32`]) as 64 lowercase hex digits, the spelling
//! the registration files and the reports already use.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;

use crate::identity::hex;
use crate::protocols::registration::file::decode_hex;

/// Hex digits in the text form of a 32-byte value.
const HEX_LEN: usize = 64;

/// Writes `bytes` as a lowercase hex string.
pub(crate) fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex(bytes))
}

/// Reads a 32-byte value from exactly 64 lowercase hex digits; `what` names
/// the value in the error message ("public key", "hash").
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
    what: &'static str,
) -> Result<[u8; 32], D::Error> {
    deserializer.deserialize_str(Hex32Visitor { what })
}

/// Parses the hex text, saying what is wrong with it.
fn parse<E: de::Error>(text: &str, what: &str) -> Result<[u8; 32], E> {
    if text.len() != HEX_LEN {
        return Err(E::custom(format_args!(
            "invalid {what}: expected {HEX_LEN} lowercase hex digits, found {} bytes",
            text.len()
        )));
    }
    decode_hex::<32>(text).ok_or_else(|| {
        E::custom(format_args!(
            "invalid {what}: {text:?} is not {HEX_LEN} lowercase hex digits (0-9, a-f)"
        ))
    })
}

/// Accepts a string and decodes it with [`parse`].
struct Hex32Visitor {
    what: &'static str,
}

impl Visitor<'_> for Hex32Visitor {
    type Value = [u8; 32];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} as {HEX_LEN} lowercase hex digits", self.what)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<[u8; 32], E> {
        parse(text, self.what)
    }
}

#[cfg(test)]
mod tests {
    use crate::identity::{Identity, PublicKey};
    use crate::protocols::consensus::Hash32;

    #[test]
    fn keys_and_hashes_are_lowercase_hex_strings() {
        let key = Identity::from_secret([3; 32]).public_key();
        let text = serde_json::to_string(&key).unwrap();
        assert_eq!(text, format!("\"{}\"", key.to_hex()));
        assert_eq!(serde_json::from_str::<PublicKey>(&text).unwrap(), key);
        let hash = Hash32([0xc3; 32]);
        let text = serde_json::to_string(&hash).unwrap();
        assert_eq!(text, format!("\"{}\"", "c3".repeat(32)));
        assert_eq!(serde_json::from_str::<Hash32>(&text).unwrap(), hash);
    }

    #[test]
    fn bad_hex_public_key_is_a_clean_error() {
        let good = "ab".repeat(32);
        let cases = [
            (format!("\"{}\"", &good[..62]), "found 62 bytes"),
            (format!("\"{good}00\""), "found 66 bytes"),
            ("\"\"".to_string(), "found 0 bytes"),
            (
                format!("\"{}\"", good.to_uppercase()),
                "not 64 lowercase hex",
            ),
            (format!("\"zz{}\"", &good[2..]), "not 64 lowercase hex"),
            // 64 bytes but 63 characters: a multi-byte char is not a digit.
            (format!("\"\u{e9}{}\"", &good[2..]), "not 64 lowercase hex"),
            (format!("\"0x{}\"", &good[2..]), "not 64 lowercase hex"),
            ("12".to_string(), "a public key as 64 lowercase hex digits"),
            (
                "null".to_string(),
                "a public key as 64 lowercase hex digits",
            ),
            (
                format!("{:?}", [0u8; 32]),
                "a public key as 64 lowercase hex digits",
            ),
        ];
        for (json, expected) in cases {
            let err = serde_json::from_str::<PublicKey>(&json)
                .expect_err(&json)
                .to_string();
            assert!(err.contains(expected), "{json}: {err}");
            if !json.starts_with('"') {
                continue;
            }
            assert!(err.contains("invalid public key"), "{json}: {err}");
        }
        let err = serde_json::from_str::<Hash32>("\"00\"").unwrap_err();
        assert!(err.to_string().contains("invalid hash"), "{err}");
    }
}
