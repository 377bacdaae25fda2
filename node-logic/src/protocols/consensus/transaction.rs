//! Client transactions: real ed25519-signed objects with a per-sender
//! nonce, their wire form, block bodies (the transactions a block
//! carries) and the per-sender replay window.
//!
//! A transaction is `[client u32][key 32][nonce u64][fee u64][len u32]
//! [padding len][signature 64]`: the submitting host, its public key (the
//! account), a nonce the client counts up from 0, a fee (for lowest-fee
//! eviction), padding to the scenario's transaction size, and the
//! signature of everything before it in [`TX_DOMAIN`]. Its *account* is
//! the key; `(key, nonce)` may be finalized once ([`NonceWindow`]).
//!
//! A block's payload digest, with transactions, is SHA-256 over
//! [`BODY_DOMAIN`] and the encoded transactions, so a [`BlockBody`]
//! travelling apart from the (small, signed) proposal is bound to it.

use sha2::{Digest, Sha256};

use crate::HostId;
use crate::codec::{DecodeError, MAX_DATAGRAM, Reader, Writer};
use crate::identity::{
    Identity, Keypair, PUBLIC_KEY_LEN, PublicKey, SIGNATURE_LEN, SignaturesAhead, SignedAhead,
};
use crate::io::SharedBytes;
use crate::protocols::ProtocolTag;
use crate::protocols::consensus::block::Hash32;
use crate::protocols::consensus::verify::SignatureVerifier;
use crate::wire::frame;

/// Domain of transaction signatures.
pub const TX_DOMAIN: &[u8] = b"sim/consensus/transaction/v1";
/// Domain of block payload digests over transactions.
const BODY_DOMAIN: &[u8] = b"sim/consensus/body/v1\0";
/// Bytes of a transaction without padding.
pub const TX_OVERHEAD: usize = 4 + PUBLIC_KEY_LEN + 8 + 8 + 4 + SIGNATURE_LEN;
/// The largest transaction (bytes, padding included).
pub const MAX_TX_BYTES: usize = 16 * 1024;
/// Bytes of a block body besides its transactions (kind, height, digest,
/// count) and the datagram header.
pub const BODY_OVERHEAD: usize = 2 + 1 + 8 + 32 + 4;
/// The largest block body's transaction bytes: a body is one datagram,
/// with room for the signed frame real processes wrap it in.
pub const MAX_BODY_TX_BYTES: usize = MAX_DATAGRAM - BODY_OVERHEAD - crate::frame::FRAME_OVERHEAD;

/// The message kind of a transaction datagram (after the header; the
/// consensus message kinds are 1 to 7).
pub const KIND_TRANSACTION: u8 = 8;
/// The message kind of a block body datagram.
pub const KIND_BLOCK_BODY: u8 = 9;

/// The datagram submitting `tx` to a validator.
pub fn transaction_datagram(tx: &Transaction) -> Vec<u8> {
    let mut w = frame(ProtocolTag::Consensus, 3 + tx.len());
    w.u8(KIND_TRANSACTION);
    tx.encode_into(&mut w);
    w.finish()
}

/// The datagram carrying a block's body to the other validators.
pub fn body_datagram(body: &BlockBody, digest: &Hash32) -> Vec<u8> {
    let mut w = frame(ProtocolTag::Consensus, BODY_OVERHEAD + body.tx_bytes());
    w.u8(KIND_BLOCK_BODY);
    body.encode_into(digest, &mut w);
    w.finish()
}

/// A signed client transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The submitting host (for reports; the account is `key`).
    pub client: HostId,
    /// The account's public key.
    pub key: PublicKey,
    /// The account's nonce: each is finalized at most once.
    pub nonce: u64,
    /// What the sender pays; the lowest-fee eviction policy drops low fees first.
    pub fee: u64,
    /// Padding to the transaction's size.
    pub padding: u32,
    /// The key's signature over everything above.
    pub signature: [u8; SIGNATURE_LEN],
}

impl Transaction {
    /// A transaction of `bytes` bytes in all (at least [`TX_OVERHEAD`]),
    /// signed by `identity`.
    pub fn new(identity: &Identity, client: HostId, nonce: u64, fee: u64, bytes: usize) -> Self {
        let mut tx = Transaction::unsigned(client, identity.public_key(), nonce, fee, bytes);
        tx.signature = identity.sign(TX_DOMAIN, &tx.signed_bytes());
        tx
    }
    /// The transaction [`Self::new`] makes, with a zero signature (to be
    /// signed by [`Self::sign_in_sequence`]).
    pub fn unsigned(client: HostId, key: PublicKey, nonce: u64, fee: u64, bytes: usize) -> Self {
        let padding = u32::try_from(bytes.saturating_sub(TX_OVERHEAD)).unwrap_or(u32::MAX);
        Transaction {
            client,
            key,
            nonce,
            fee,
            padding,
            signature: [0; SIGNATURE_LEN],
        }
    }
    /// Signs it with `identity`, taking the signature made ahead for its
    /// nonce if `ahead` has one for exactly these bytes
    /// ([`Identity::sign_in_sequence`]).
    pub fn sign_in_sequence(&mut self, identity: &Identity, ahead: Option<&dyn SignaturesAhead>) {
        let signed = self.signed_bytes();
        self.signature = identity.sign_in_sequence(TX_DOMAIN, &signed, self.nonce, ahead);
    }
    /// Its signature made now with `keys`, for the host that will sign it
    /// later ([`SignaturesAhead`]).
    pub fn sign_ahead(&self, keys: &Keypair) -> SignedAhead {
        keys.sign_ahead(TX_DOMAIN, &self.signed_bytes())
    }
    /// Encoded size.
    pub fn len(&self) -> usize {
        TX_OVERHEAD + self.padding as usize
    }
    /// Never empty (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        false
    }
    /// The account and nonce: what may be finalized once.
    pub fn id(&self) -> (PublicKey, u64) {
        (self.key, self.nonce)
    }
    fn header(&self, w: &mut Writer) {
        w.u32(self.client.0)
            .array(&self.key.0)
            .u64(self.nonce)
            .u64(self.fee)
            .u32(self.padding);
    }
    /// What the signature covers (header and padding, zero bytes).
    fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.len());
        self.header(&mut w);
        w.zeros(self.padding as usize);
        w.finish()
    }
    /// Appends the wire form.
    pub fn encode_into(&self, w: &mut Writer) {
        self.header(w);
        w.zeros(self.padding as usize);
        w.array(&self.signature);
    }
    /// Reads one transaction (bounded by [`MAX_TX_BYTES`]; the padding
    /// must be zero bytes).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let client = HostId(r.u32()?);
        let key = PublicKey(r.array()?);
        let nonce = r.u64()?;
        let fee = r.u64()?;
        let padding = r.u32()?;
        if padding as usize > MAX_TX_BYTES - TX_OVERHEAD {
            return Err(DecodeError::InvalidField);
        }
        // An OR over every byte (no early exit) vectorizes.
        if r.take(padding as usize)?.iter().fold(0, |acc, &b| acc | b) != 0 {
            return Err(DecodeError::InvalidField);
        }
        Ok(Transaction {
            client,
            key,
            nonce,
            fee,
            padding,
            signature: r.array()?,
        })
    }
    /// Whether the signature is the key's (one call to `verifier`).
    pub fn verify(&self, verifier: &dyn SignatureVerifier) -> bool {
        verifier.verify(&self.key, TX_DOMAIN, &self.signed_bytes(), &self.signature)
    }
    /// [`Self::verify_encoded`] of the wire form as received, a window of
    /// the datagram every validator it reached shares: the verifier sees
    /// the signed part as a window of it ([`SignatureVerifier::verify_window`]).
    pub fn verify_received(&self, encoded: &SharedBytes, verifier: &dyn SignatureVerifier) -> bool {
        let Some(signed) = self
            .signed_len(encoded.len())
            .and_then(|n| encoded.prefix(n))
        else {
            return self.verify(verifier);
        };
        debug_assert_eq!(
            signed.as_slice(),
            &self.signed_bytes()[..],
            "not this transaction's encoding"
        );
        verifier.verify_window(&self.key, TX_DOMAIN, &signed, &self.signature)
    }
    /// [`Self::verify`] given `encoded`, this transaction's wire form (the
    /// bytes it was decoded from, or its [`Self::encode_into`]): decoding
    /// is canonical (fixed-width fields, zero padding), so what the
    /// signature covers is all of it but the trailing signature, and
    /// nothing is encoded again (issue 11: one allocation and a zero fill
    /// fewer per transaction a validator receives). Bytes of another
    /// length are not this transaction's: it is then verified as by
    /// [`Self::verify`].
    pub fn verify_encoded(&self, encoded: &[u8], verifier: &dyn SignatureVerifier) -> bool {
        let Some(signed) = self.signed_len(encoded.len()).map(|n| &encoded[..n]) else {
            return self.verify(verifier);
        };
        debug_assert_eq!(
            signed,
            &self.signed_bytes()[..],
            "not this transaction's encoding"
        );
        verifier.verify(&self.key, TX_DOMAIN, signed, &self.signature)
    }
    /// How many leading bytes of a wire form `encoded_len` long the
    /// signature covers; `None` if that is not this transaction's length.
    fn signed_len(&self, encoded_len: usize) -> Option<usize> {
        // At least TX_OVERHEAD, which includes the signature.
        (encoded_len == self.len()).then(|| encoded_len - SIGNATURE_LEN)
    }
    /// Tells `verifier` that this transaction was signed here, with its
    /// key's secret (see [`SignatureVerifier::signed`]).
    pub fn vouch(&self, verifier: &dyn SignatureVerifier) {
        verifier.signed(&self.key, TX_DOMAIN, &self.signed_bytes(), &self.signature);
    }
}

/// The transactions of one proposed block, sent apart from the proposal
/// and bound to it by the block's payload digest ([`BlockBody::digest`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockBody {
    /// The block's height.
    pub height: u64,
    /// The transactions, in block order.
    pub txs: Vec<Transaction>,
}

impl BlockBody {
    /// The payload digest of a block carrying `txs`; also returns the
    /// bytes hashed (for the CPU model).
    pub fn digest(txs: &[Transaction]) -> (Hash32, usize) {
        BlockBody::digest_encoded(txs.len(), &BlockBody::encode_txs(txs))
    }
    /// The transactions' wire forms, one after another (what the payload
    /// digest covers).
    pub fn encode_txs(txs: &[Transaction]) -> Vec<u8> {
        let mut w = Writer::with_capacity(txs.iter().map(Transaction::len).sum());
        for tx in txs {
            tx.encode_into(&mut w);
        }
        w.finish()
    }
    /// [`Self::digest`] of `count` transactions whose wire forms are
    /// `encoded` ([`Self::encode_txs`]).
    pub fn digest_encoded(count: usize, encoded: &[u8]) -> (Hash32, usize) {
        let mut h = Sha256::new();
        h.update(BODY_DOMAIN);
        h.update((count as u64).to_le_bytes());
        h.update(encoded);
        (Hash32(h.finalize().into()), encoded.len() + 8)
    }
    /// Bytes of its transactions.
    pub fn tx_bytes(&self) -> usize {
        self.txs.iter().map(Transaction::len).sum()
    }
    /// Appends the wire form (after the message kind): height, the
    /// payload digest (so a receiver can file it before the proposal),
    /// count, transactions.
    pub fn encode_into(&self, digest: &Hash32, w: &mut Writer) {
        w.u64(self.height)
            .array(&digest.0)
            .u32(self.txs.len() as u32);
        for tx in &self.txs {
            tx.encode_into(w);
        }
    }
    /// Bytes of a body's wire form before its transactions: height,
    /// digest, count.
    pub const HEADER_LEN: usize = 8 + 32 + 4;
    /// Reads a body and the digest it claims (checked by the receiver);
    /// the transactions' wire forms are the [`Self::HEADER_LEN`] bytes on.
    pub fn decode(r: &mut Reader<'_>) -> Result<(Self, Hash32), DecodeError> {
        let height = r.u64()?;
        let digest = Hash32(r.array()?);
        let count = r.u32()? as usize;
        // Every transaction is at least TX_OVERHEAD bytes.
        if count > r.remaining() / TX_OVERHEAD {
            return Err(DecodeError::InvalidField);
        }
        let mut txs = Vec::with_capacity(count);
        for _ in 0..count {
            txs.push(Transaction::decode(r)?);
        }
        Ok((BlockBody { height, txs }, digest))
    }
}

/// Bits a [`NonceWindow`] remembers below its highest nonce.
pub const NONCE_WINDOW: u64 = 1024;

/// The finalized nonces of one account: the highest, and which of the
/// [`NONCE_WINDOW`] below it were finalized. A nonce further below is
/// taken as finalized (too old to tell; clients count up, so honest ones
/// never fall that far behind their own finalized nonces).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NonceWindow {
    highest: Option<u64>,
    bits: [u64; (NONCE_WINDOW / 64) as usize],
}

impl NonceWindow {
    /// Whether `nonce` was finalized (or is too old to tell): a replay.
    pub fn is_used(&self, nonce: u64) -> bool {
        let Some(highest) = self.highest else {
            return false;
        };
        if nonce > highest {
            return false;
        }
        let back = highest - nonce;
        back >= NONCE_WINDOW || self.bit(back)
    }
    /// Marks `nonce` finalized.
    pub fn mark(&mut self, nonce: u64) {
        match self.highest {
            Some(highest) if nonce <= highest => {
                let back = highest - nonce;
                if back < NONCE_WINDOW {
                    self.set(back);
                }
            }
            Some(highest) => {
                self.shift(nonce - highest);
                self.highest = Some(nonce);
                self.set(0);
            }
            None => {
                self.highest = Some(nonce);
                self.set(0);
            }
        }
    }
    fn bit(&self, back: u64) -> bool {
        self.bits[(back / 64) as usize] & (1 << (back % 64)) != 0
    }
    fn set(&mut self, back: u64) {
        self.bits[(back / 64) as usize] |= 1 << (back % 64);
    }
    /// Moves every remembered nonce `by` places further back.
    fn shift(&mut self, by: u64) {
        if by >= NONCE_WINDOW {
            self.bits = Default::default();
            return;
        }
        // A left shift of the window as one little-endian number of
        // `NONCE_WINDOW` bits: whole words, then the bits within them.
        let old = self.bits;
        let (words, bits) = ((by / 64) as usize, (by % 64) as u32);
        for i in 0..old.len() {
            let lower = |k: usize| i.checked_sub(k).map_or(0, |j| old[j]);
            let high = lower(words) << bits;
            let low = match bits {
                0 => 0,
                _ => lower(words + 1) >> (64 - bits),
            };
            self.bits[i] = high | low;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::consensus::DirectVerifier;

    fn tx(nonce: u64, bytes: usize) -> Transaction {
        Transaction::new(&Identity::from_secret([3; 32]), HostId(7), nonce, 5, bytes)
    }

    #[test]
    fn transactions_round_trip_at_their_size_and_verify() {
        for bytes in [TX_OVERHEAD, 250, 4000] {
            let t = tx(9, bytes);
            let mut w = Writer::default();
            t.encode_into(&mut w);
            let enc = w.finish();
            assert_eq!(enc.len(), bytes);
            assert_eq!(t.len(), bytes);
            let mut r = Reader::new(&enc).unwrap();
            assert_eq!(Transaction::decode(&mut r).unwrap(), t);
            r.finish().unwrap();
            assert!(t.verify(&DirectVerifier));
            let mut forged = t.clone();
            forged.nonce += 1;
            assert!(!forged.verify(&DirectVerifier), "the nonce is signed");
            for cut in 0..enc.len() {
                let mut r = Reader::new(&enc[..cut]).unwrap();
                assert!(Transaction::decode(&mut r).is_err());
            }
        }
    }

    /// A verifier that records what it was asked, to show which bytes a
    /// check covers and through which entry point.
    #[derive(Debug, Default)]
    struct Asked(std::cell::RefCell<Vec<(Vec<u8>, bool)>>);

    impl SignatureVerifier for Asked {
        fn verify(&self, key: &PublicKey, d: &[u8], m: &[u8], s: &[u8; SIGNATURE_LEN]) -> bool {
            self.0.borrow_mut().push((m.to_vec(), false));
            DirectVerifier.verify(key, d, m, s)
        }
        fn verify_window(
            &self,
            key: &PublicKey,
            d: &[u8],
            m: &SharedBytes,
            s: &[u8; SIGNATURE_LEN],
        ) -> bool {
            self.0.borrow_mut().push((m.as_slice().to_vec(), true));
            DirectVerifier.verify(key, d, m.as_slice(), s)
        }
    }

    /// Checking from the wire form asks about exactly the bytes a fresh
    /// encoding signs, and answers as [`Transaction::verify`] does, for a
    /// good and a forged signature alike; bytes of another length fall
    /// back to encoding.
    #[test]
    fn checks_from_the_wire_form_cover_the_signed_bytes() {
        for bytes in [TX_OVERHEAD, 250, 4000] {
            let good = tx(4, bytes);
            let mut forged = good.clone();
            forged.signature[9] ^= 1;
            for t in [good, forged] {
                let mut w = Writer::default();
                w.u8(0xee);
                t.encode_into(&mut w);
                let datagram = crate::io::Payload::from(w.finish());
                let wire = SharedBytes::window(&datagram, 1, bytes).unwrap();
                let asked = Asked::default();
                let expected = t.verify(&asked);
                assert_eq!(t.verify_encoded(wire.as_slice(), &asked), expected);
                assert_eq!(t.verify_received(&wire, &asked), expected);
                let short = SharedBytes::window(&datagram, 1, bytes - 1).unwrap();
                assert_eq!(t.verify_received(&short, &asked), expected);
                let asked = asked.0.into_inner();
                let signed = t.signed_bytes();
                assert_eq!(
                    asked,
                    [
                        (signed.clone(), false),
                        (signed.clone(), false),
                        (signed.clone(), true),
                        (signed, false)
                    ]
                );
            }
        }
    }

    #[test]
    fn bodies_round_trip_and_digests_bind_every_transaction() {
        let txs = vec![tx(1, 200), tx(2, 300)];
        let (digest, hashed) = BlockBody::digest(&txs);
        assert_eq!(hashed, 508);
        let body = BlockBody {
            height: 4,
            txs: txs.clone(),
        };
        let mut w = Writer::default();
        body.encode_into(&digest, &mut w);
        let enc = w.finish();
        let mut r = Reader::new(&enc).unwrap();
        assert_eq!(BlockBody::decode(&mut r).unwrap(), (body, digest));
        assert_eq!(
            enc[BlockBody::HEADER_LEN..],
            BlockBody::encode_txs(&txs)[..]
        );
        assert_ne!(BlockBody::digest(&txs[..1]).0, digest);
        assert_ne!(
            BlockBody::digest(&[txs[1].clone(), txs[0].clone()]).0,
            digest
        );
        assert_ne!(BlockBody::digest(&[]).0, digest);
    }

    #[test]
    fn nonce_window_shifts_like_marking_bit_by_bit() {
        // Against a plain set of finalized nonces, over shifts of every
        // kind (within a word, whole words, across words, past the window).
        let mut w = NonceWindow::default();
        let mut used = std::collections::BTreeSet::new();
        let mut nonce = 0u64;
        for step in [1, 3, 64, 65, 1, 127, 0, 200, 5, 1023, 2, 1024, 7, 3000, 1] {
            nonce += step;
            for back in [0, 1, 63, 64, 100, 700] {
                if let Some(n) = nonce.checked_sub(back) {
                    w.mark(n);
                    used.insert(n);
                }
            }
            for n in nonce.saturating_sub(NONCE_WINDOW - 1)..=nonce + 2 {
                assert_eq!(w.is_used(n), used.contains(&n), "nonce {n} at {nonce}");
            }
        }
    }

    #[test]
    fn nonce_window_remembers_what_was_finalized() {
        let mut w = NonceWindow::default();
        assert!(!w.is_used(0));
        w.mark(5);
        assert!(w.is_used(5) && !w.is_used(4) && !w.is_used(6));
        w.mark(3);
        assert!(w.is_used(3) && !w.is_used(4));
        w.mark(5 + 100);
        assert!(w.is_used(5) && w.is_used(3) && w.is_used(105) && !w.is_used(104));
        w.mark(5000);
        assert!(
            w.is_used(105),
            "more than the window below: too old, refused"
        );
        assert!(w.is_used(5000) && !w.is_used(4999) && !w.is_used(5001));
    }
}
