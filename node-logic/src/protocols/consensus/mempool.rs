//! A validator's bounded transaction pool and the block bodies it holds.
//!
//! The pool keeps at most `max_txs` transactions and `max_bytes` bytes.
//! A transaction is checked on receipt, cheapest check first: one already
//! held (same account and nonce) is a **duplicate**, one whose nonce the
//! account already finalized is a **replay** (the account's
//! [`NonceWindow`]), one whose signature fails is **bad**; each is refused
//! and counted. When a new transaction does not fit, the pool **evicts**
//! by its policy ([`Eviction`]): the oldest first (arrival order), or the
//! lowest fee first (ties: the oldest) — under lowest-fee a newcomer whose
//! fee is below everything held is itself the one dropped. Evictions are
//! counted. Transactions leave when a block carrying them is finalized;
//! their nonces are then marked used.
//!
//! A leader fills a block in the pool's order (oldest first; or highest fee
//! first, ties newest first) up to `block_txs` transactions and
//! `block_bytes` bytes. Followers check a block's body before voting for
//! it: every transaction validly signed (those already in the pool are
//! cache hits of the host's signature cache when CPU time is modelled),
//! none a replay, no `(account, nonce)` twice, within the limits.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use foldhash::fast::FixedState;

use crate::codec::{Reader, Writer};
use crate::identity::PublicKey;
use crate::io::SharedBytes;
use crate::meter::Meter;
use crate::protocols::consensus::block::Hash32;
use crate::protocols::consensus::held_index::HeldIndex;
use crate::protocols::consensus::pool_order::{OrderKey, PoolOrder};
use crate::protocols::consensus::transaction::{BlockBody, NonceWindow, Transaction};
use crate::protocols::consensus::verify::SignatureVerifier;

/// Which transactions a full pool drops first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// The one that arrived first.
    Oldest,
    /// The one with the lowest fee (ties: the oldest).
    LowestFee,
}

/// A validator's transaction settings (from the scenario's `[load]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub max_txs: usize,
    /// Most bytes held.
    pub max_bytes: usize,
    /// What a full pool drops.
    pub eviction: Eviction,
    /// Most transactions in a block.
    pub block_txs: usize,
    /// Most transaction bytes in a block (at most
    /// [`crate::protocols::consensus::transaction::MAX_BODY_TX_BYTES`]).
    pub block_bytes: usize,
}

/// Why a transaction or a body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxRejection {
    /// The signature does not verify.
    BadSignature,
    /// The account already finalized this nonce.
    Replay,
    /// Already held (same account and nonce), or twice in one body.
    Duplicate,
    /// Undecodable, or a body over the block limits or for another height.
    Malformed,
}

/// Counters of a pool, from its validator's start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MempoolStats {
    /// Transactions taken in.
    pub accepted: u64,
    /// Transactions dropped for space.
    pub evicted: u64,
    /// Transactions and bodies refused.
    pub rejected: u64,
    /// The most transactions held since the last [`Mempool::take_peak`].
    pub peak: u64,
}

/// A held transaction: its encoding (in the datagram it arrived in, shared
/// with every other pool it reached: 56 bytes a slot instead of a decoded
/// copy's 160, issue 11) and what the indexes need.
#[derive(Clone, Debug)]
struct Entry {
    bytes: SharedBytes,
    nonce: u64,
    account: u32,
    order: OrderKey,
}

impl Entry {
    /// The transaction, decoded again (it was decoded from these bytes
    /// when it arrived).
    fn transaction(&self) -> Option<Transaction> {
        let mut r = Reader::new(self.bytes.as_slice()).ok()?;
        Transaction::decode(&mut r).ok()
    }
}

/// A validator's transaction pool (see the module docs).
///
/// Held transactions live in a slab (`slots`, reused through `free`) and
/// the indexes name them by slot; accounts are numbered in the order the
/// pool first holds or finalizes one of theirs, so the per-delivery
/// lookups compare small integers, not 32-byte keys (issue 11). `held`
/// is a ring of slots per account indexed by nonce ([`HeldIndex`]): a
/// client's nonces arrive in order, so inserts and evictions touch the
/// same cache lines at either end, where a hash map's probes land anywhere
/// (measured: a hash map made `insert` and eviction 1.4x slower than the
/// B-tree it replaced, with 100 pools of 10,000; the ring is faster than
/// both).
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    /// Account key → its number (index into `windows`); hashed with a
    /// fixed seed and never iterated, so no hash order reaches a run.
    accounts: HashMap<PublicKey, u32, FixedState>,
    /// Each numbered account's finalized nonces.
    windows: Vec<NonceWindow>,
    /// `(account, nonce)` → slot of a held transaction.
    held: HeldIndex,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    /// Eviction order over the slots: eviction takes the first.
    order: PoolOrder,
    bytes: usize,
    arrivals: u64,
    stats: MempoolStats,
    /// Checked bodies by payload digest: `(height, body)`.
    bodies: BTreeMap<Hash32, (u64, Rc<BlockBody>)>,
    meter: Option<Rc<Meter>>,
}

/// How many evictions ahead [`Mempool::prefetch_evictions`] looks.
const PREFETCH_AHEAD: usize = 4;

/// Bodies held at once (for the next heights, across views).
const MAX_BODIES: usize = 16;

impl Mempool {
    /// An empty pool; `meter` counts the bytes it hashes.
    pub fn new(config: MempoolConfig, meter: Option<Rc<Meter>>) -> Self {
        Mempool {
            config,
            accounts: HashMap::default(),
            windows: Vec::new(),
            held: HeldIndex::default(),
            slots: Vec::new(),
            free: Vec::new(),
            order: PoolOrder::new(config.eviction),
            bytes: 0,
            arrivals: 0,
            stats: MempoolStats::default(),
            bodies: BTreeMap::new(),
            meter,
        }
    }
    /// The settings.
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }
    /// Transactions held.
    pub fn len(&self) -> usize {
        self.held.len()
    }
    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.held.len() == 0
    }
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    /// Counters.
    pub fn stats(&self) -> MempoolStats {
        self.stats
    }
    /// The peak since the last call, reset to the current size.
    pub fn take_peak(&mut self) -> u64 {
        std::mem::replace(&mut self.stats.peak, self.held.len() as u64)
    }
    /// Counts a refusal made outside the pool (an undecodable datagram).
    pub fn count_rejection(&mut self) {
        self.stats.rejected += 1;
    }

    /// Takes `tx` in, or says why not (counted); may evict others.
    pub fn insert(
        &mut self,
        tx: Transaction,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), TxRejection> {
        let mut w = Writer::with_capacity(tx.len());
        tx.encode_into(&mut w);
        let bytes = SharedBytes::copied(&w.finish());
        self.insert_received(tx, bytes, verifier)
    }

    /// [`Self::insert`] of `tx` decoded from `bytes` (its exact encoding,
    /// kept instead of a copy: [`crate::codec::Reader::rest_shared`]).
    pub fn insert_received(
        &mut self,
        tx: Transaction,
        bytes: SharedBytes,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), TxRejection> {
        debug_assert_eq!(bytes.len(), tx.len());
        let known = self.accounts.get(&tx.key).copied();
        let checked = self.check_new(&tx, &bytes, known, verifier);
        if let Err(why) = checked {
            self.stats.rejected += 1;
            return Err(why);
        }
        self.arrivals += 1;
        let order = match self.config.eviction {
            Eviction::Oldest => (0, self.arrivals),
            Eviction::LowestFee => (tx.fee, self.arrivals),
        };
        let len = tx.len();
        while self.held.len() + 1 > self.config.max_txs || self.bytes + len > self.config.max_bytes
        {
            let slots = &self.slots;
            match self.order.first(|slot, key| holds_order(slots, slot, key)) {
                // Under lowest-fee the newcomer may be the cheapest.
                Some(first) if first < order => self.evict_first(),
                Some(_) | None => {
                    self.stats.evicted += 1;
                    return Ok(());
                }
            }
        }
        let account = known.unwrap_or_else(|| self.account(&tx.key));
        let nonce = tx.nonce;
        let slot = self.store(Entry {
            bytes,
            nonce,
            account,
            order,
        });
        self.order.insert(order, slot);
        self.bytes += len;
        self.held.insert(account, nonce, slot);
        self.stats.accepted += 1;
        self.stats.peak = self.stats.peak.max(self.held.len() as u64);
        Ok(())
    }

    /// The number of account `key`, numbering it if new.
    fn account(&mut self, key: &PublicKey) -> u32 {
        if let Some(&n) = self.accounts.get(key) {
            return n;
        }
        let n = self.windows.len() as u32;
        self.accounts.insert(*key, n);
        self.windows.push(NonceWindow::default());
        n
    }

    /// Puts `entry` in a free slot.
    fn store(&mut self, entry: Entry) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Takes the transaction out of `slot` (and out of the indexes).
    fn take(&mut self, slot: u32) -> Option<Entry> {
        let entry = self.release(slot)?;
        let slots = &self.slots;
        self.order
            .removed(entry.order, |slot, key| holds_order(slots, slot, key));
        Some(entry)
    }

    /// Takes the transaction out of `slot` and every index but `order`.
    fn release(&mut self, slot: u32) -> Option<Entry> {
        let entry = self.slots.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        self.held.remove(entry.account, entry.nonce);
        self.bytes -= entry.bytes.len();
        Some(entry)
    }

    /// Whether a transaction of this account and nonce is held.
    fn holds(&self, tx: &Transaction) -> bool {
        self.accounts
            .get(&tx.key)
            .is_some_and(|&a| self.held.contains(a, tx.nonce))
    }

    /// Checks a new transaction, `encoded` as `tx`, of account number
    /// `account` (`None`: an account this pool has not seen).
    fn check_new(
        &self,
        tx: &Transaction,
        encoded: &SharedBytes,
        account: Option<u32>,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), TxRejection> {
        if let Some(a) = account {
            if self.held.contains(a, tx.nonce) {
                return Err(TxRejection::Duplicate);
            }
            if self.windows[a as usize].is_used(tx.nonce) {
                return Err(TxRejection::Replay);
            }
        }
        self.hashed(tx.len());
        if !tx.verify_received(encoded, verifier) {
            return Err(TxRejection::BadSignature);
        }
        Ok(())
    }

    fn is_replay(&self, tx: &Transaction) -> bool {
        self.accounts
            .get(&tx.key)
            .is_some_and(|&a| self.windows[a as usize].is_used(tx.nonce))
    }

    /// Drops the first transaction in eviction order.
    fn evict_first(&mut self) {
        self.prefetch_evictions();
        let slots = &self.slots;
        if let Some(slot) = self
            .order
            .pop_first(|slot, key| holds_order(slots, slot, key))
            && self.release(slot).is_some()
        {
            self.stats.evicted += 1;
        }
    }

    /// Under oldest-first, asks for the lines the next evictions read: the
    /// queue [`PREFETCH_AHEAD`] items on, and the slot of the one half as
    /// far (cold: they arrived a pool's size of deliveries ago).
    fn prefetch_evictions(&self) {
        if let Some(item) = self.order.ahead(2 * PREFETCH_AHEAD) {
            crate::prefetch::prefetch(item);
        }
        if let Some(&(_, slot)) = self.order.ahead(PREFETCH_AHEAD)
            && let Some(entry) = self.slots.get(slot as usize)
        {
            crate::prefetch::prefetch(entry);
        }
    }

    fn hashed(&self, bytes: usize) {
        if let Some(meter) = &self.meter {
            meter.hashed(bytes);
        }
    }

    /// A leader's block: transactions in pool order up to the limits.
    pub fn fill(&self) -> Vec<Transaction> {
        let slots = &self.slots;
        let iter = self
            .order
            .filling(move |slot, key| holds_order(slots, slot, key));
        let (mut txs, mut bytes) = (Vec::new(), 0);
        for slot in iter {
            if txs.len() == self.config.block_txs {
                break;
            }
            let Some(Some(entry)) = self.slots.get(slot as usize) else {
                continue;
            };
            if bytes + entry.bytes.len() > self.config.block_bytes {
                continue;
            }
            let Some(tx) = entry.transaction() else {
                continue;
            };
            bytes += entry.bytes.len();
            txs.push(tx);
        }
        txs
    }

    /// The payload digest of `txs`, hashing counted.
    pub fn digest(&self, txs: &[Transaction]) -> Hash32 {
        let (digest, hashed) = BlockBody::digest(txs);
        self.hashed(hashed);
        digest
    }

    /// Checks a body received for `height` against the limits, the
    /// signatures and the finalized nonces; a valid one is kept (by the
    /// digest it claims, which must be its own) for the proposal naming it.
    /// `wire`, if given, is the transactions' wire forms as received (the
    /// window of the datagram after the body's header): the digest is taken
    /// over it and each signature checked over its part, as a window
    /// ([`SignatureVerifier::verify_window`]), with nothing encoded again.
    pub fn receive_body(
        &mut self,
        body: BlockBody,
        claimed: Hash32,
        next_height: u64,
        wire: Option<&SharedBytes>,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), TxRejection> {
        let checked = self.check_body(&body, claimed, next_height, wire, verifier);
        if let Err(why) = checked {
            self.stats.rejected += 1;
            return Err(why);
        }
        self.keep_body(claimed, body);
        Ok(())
    }

    fn check_body(
        &self,
        body: &BlockBody,
        claimed: Hash32,
        next_height: u64,
        wire: Option<&SharedBytes>,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), TxRejection> {
        let tx_bytes = body.tx_bytes();
        let over = body.txs.len() > self.config.block_txs || tx_bytes > self.config.block_bytes;
        if body.height < next_height || over {
            return Err(TxRejection::Malformed);
        }
        // The wire forms as received, or encoded once: the digest covers
        // them, and each signature is checked over its part.
        let wire = wire.filter(|w| w.len() == tx_bytes);
        let encoded_here;
        let encoded = match wire {
            Some(wire) => wire.as_slice(),
            None => {
                encoded_here = BlockBody::encode_txs(&body.txs);
                &encoded_here[..]
            }
        };
        debug_assert_eq!(encoded, &BlockBody::encode_txs(&body.txs)[..]);
        let (digest, hashed) = BlockBody::digest_encoded(body.txs.len(), encoded);
        self.hashed(hashed);
        if digest != claimed {
            return Err(TxRejection::Malformed);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut at = 0;
        for tx in &body.txs {
            let own = at..at + tx.len();
            at = own.end;
            if !seen.insert(tx.id()) {
                return Err(TxRejection::Duplicate);
            }
            if self.is_replay(tx) {
                return Err(TxRejection::Replay);
            }
            if !self.holds(tx) {
                self.hashed(tx.len());
            }
            if !verify_in_body(tx, own, wire, encoded, verifier) {
                return Err(TxRejection::BadSignature);
            }
        }
        Ok(())
    }

    /// Keeps a body (its own proposal's, or a checked one) until its height
    /// is finalized; the fewest are kept for the furthest heights.
    pub fn keep_body(&mut self, digest: Hash32, body: BlockBody) {
        self.bodies.insert(digest, (body.height, Rc::new(body)));
        while self.bodies.len() > MAX_BODIES {
            let furthest = self
                .bodies
                .iter()
                .max_by_key(|(d, (h, _))| (*h, **d))
                .map(|(d, _)| *d);
            if let Some(d) = furthest {
                self.bodies.remove(&d);
            }
        }
    }

    /// The checked body with this payload digest, if held.
    pub fn body(&self, digest: &Hash32) -> Option<&Rc<BlockBody>> {
        self.bodies.get(digest).map(|(_, b)| b)
    }

    /// A block at `height` with payload `digest` was finalized: its
    /// transactions leave the pool and their nonces are used. Without its
    /// body (finalized by catch-up, or before the body arrived) the pool
    /// cannot tell which transactions were taken and is emptied: its
    /// transactions may be finalized already, and a block built from them
    /// would be refused as a replay by the others. Returns whether the body
    /// was known.
    pub fn finalized(&mut self, height: u64, digest: &Hash32) -> bool {
        let body = self.bodies.get(digest).map(|(_, b)| b.clone());
        self.bodies.retain(|_, (h, _)| *h > height);
        let Some(body) = body else {
            self.held.clear();
            self.slots.clear();
            self.free.clear();
            self.order.clear();
            self.bytes = 0;
            return false;
        };
        for tx in &body.txs {
            let account = self.account(&tx.key);
            self.windows[account as usize].mark(tx.nonce);
            if let Some(slot) = self.held.get(account, tx.nonce) {
                self.take(slot);
            }
        }
        true
    }
}

/// Checks the signature of `tx`, whose wire form is `range` of a body's
/// transactions: of `wire` as received if there is one (a window of the
/// datagram), else of `encoded`.
fn verify_in_body(
    tx: &Transaction,
    range: std::ops::Range<usize>,
    wire: Option<&SharedBytes>,
    encoded: &[u8],
    verifier: &dyn SignatureVerifier,
) -> bool {
    match wire.and_then(|w| w.slice(range.start, range.len())) {
        Some(window) => tx.verify_received(&window, verifier),
        None => tx.verify_encoded(encoded.get(range).unwrap_or_default(), verifier),
    }
}

/// Whether `slot` holds the transaction with order key `key` (the pool
/// order's test for its stale items).
fn holds_order(slots: &[Option<Entry>], slot: u32, key: OrderKey) -> bool {
    matches!(slots.get(slot as usize), Some(Some(entry)) if entry.order == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostId;
    use crate::identity::Identity;
    use crate::protocols::consensus::DirectVerifier;

    fn config(max_txs: usize, max_bytes: usize, eviction: Eviction) -> MempoolConfig {
        MempoolConfig {
            max_txs,
            max_bytes,
            eviction,
            block_txs: 3,
            block_bytes: 1000,
        }
    }

    fn tx(account: u8, nonce: u64, fee: u64) -> Transaction {
        let id = Identity::from_secret([account; 32]);
        Transaction::new(&id, HostId(u32::from(account)), nonce, fee, 200)
    }

    fn ids(txs: &[Transaction]) -> Vec<(u32, u64)> {
        txs.iter().map(|t| (t.client.0, t.nonce)).collect()
    }

    #[test]
    fn count_and_byte_bounds_evict_the_oldest_first() {
        let mut pool = Mempool::new(config(3, 10_000, Eviction::Oldest), None);
        for n in 0..5 {
            pool.insert(tx(1, n, 1), &DirectVerifier).unwrap();
        }
        assert_eq!((pool.len(), pool.stats().evicted), (3, 2));
        assert_eq!(ids(&pool.fill()), [(1, 2), (1, 3), (1, 4)]);
        let mut pool = Mempool::new(config(100, 450, Eviction::Oldest), None);
        for n in 0..3 {
            pool.insert(tx(1, n, 1), &DirectVerifier).unwrap();
        }
        assert_eq!(
            (pool.len(), pool.bytes(), pool.stats().evicted),
            (2, 400, 1)
        );
    }

    #[test]
    fn a_pool_keeps_the_received_datagram_and_fills_blocks_from_it() {
        use crate::codec::Reader;
        use crate::io::Payload;
        use crate::protocols::consensus::transaction::transaction_datagram;
        // As a validator receives them: each decoded from a datagram
        // shared with every other receiver, the pool keeping its bytes.
        let sent: Vec<Transaction> = (0..4).map(|n| tx(2, n, 10 + n)).collect();
        let mut pool = Mempool::new(config(3, 10_000, Eviction::Oldest), None);
        let mut held = Vec::new();
        for t in &sent {
            let datagram = Payload::from(transaction_datagram(t));
            let (_, mut body) = crate::wire::open_payload(&datagram).unwrap();
            body.u8().unwrap();
            let bytes = body.rest_shared().expect("a shared datagram");
            assert_eq!(bytes.len(), t.len());
            let decoded = Transaction::decode(&mut body).unwrap();
            pool.insert_received(decoded, bytes, &DirectVerifier)
                .unwrap();
            held.push(datagram);
        }
        // The oldest was evicted; the block carries the other three as sent.
        assert_eq!(pool.fill(), sent[1..]);
        assert_eq!(pool.bytes(), 3 * sent[0].len());
        // A reader of plain bytes has no shared buffer to hand out.
        let plain = transaction_datagram(&sent[0]);
        assert!(Reader::new(&plain).unwrap().rest_shared().is_none());
    }

    #[test]
    fn lowest_fee_evicts_the_cheapest_and_drops_a_cheaper_newcomer() {
        let mut pool = Mempool::new(config(3, 10_000, Eviction::LowestFee), None);
        for (n, fee) in [(0, 5), (1, 2), (2, 9)] {
            pool.insert(tx(1, n, fee), &DirectVerifier).unwrap();
        }
        pool.insert(tx(1, 3, 7), &DirectVerifier).unwrap();
        assert_eq!(
            ids(&pool.fill()),
            [(1, 2), (1, 3), (1, 0)],
            "fee 2 evicted; highest first"
        );
        pool.insert(tx(1, 4, 1), &DirectVerifier).unwrap();
        assert_eq!(pool.stats().evicted, 2, "the cheaper newcomer is dropped");
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn duplicates_replays_and_forgeries_are_refused_and_counted() {
        let mut pool = Mempool::new(config(10, 10_000, Eviction::Oldest), None);
        pool.insert(tx(1, 0, 1), &DirectVerifier).unwrap();
        assert_eq!(
            pool.insert(tx(1, 0, 1), &DirectVerifier),
            Err(TxRejection::Duplicate)
        );
        let mut forged = tx(1, 1, 1);
        forged.fee = 100;
        assert_eq!(
            pool.insert(forged, &DirectVerifier),
            Err(TxRejection::BadSignature)
        );
        let body = BlockBody {
            height: 1,
            txs: pool.fill(),
        };
        let digest = pool.digest(&body.txs);
        pool.keep_body(digest, body);
        assert!(pool.finalized(1, &digest));
        assert!(pool.is_empty());
        assert_eq!(
            pool.insert(tx(1, 0, 1), &DirectVerifier),
            Err(TxRejection::Replay)
        );
        assert_eq!(pool.stats().rejected, 3);
        pool.insert(tx(1, 1, 1), &DirectVerifier).unwrap();
    }

    /// A body checked over its wire form as received gets the answers,
    /// the signature checks and the hashing a body checked by encoding
    /// gets: valid, forged in one transaction, or with a wire form that
    /// is not its own length (ignored).
    #[test]
    fn bodies_checked_over_their_wire_form_answer_as_encoded_ones() {
        let mut forged = vec![tx(3, 0, 1), tx(3, 1, 1)];
        forged[1].signature[3] ^= 8;
        for txs in [vec![tx(3, 0, 1), tx(4, 0, 2)], forged] {
            let body = BlockBody { height: 2, txs };
            let digest = BlockBody::digest(&body.txs).0;
            let mut w = Writer::default();
            body.encode_into(&digest, &mut w);
            let datagram = crate::io::Payload::from(w.finish());
            let len = datagram.len() - BlockBody::HEADER_LEN;
            let wire = SharedBytes::window(&datagram, BlockBody::HEADER_LEN, len).unwrap();
            let short = wire.prefix(len - 1).unwrap();
            let outcome = |wire: Option<&SharedBytes>| {
                let meter = Rc::new(Meter::default());
                let mut pool =
                    Mempool::new(config(10, 10_000, Eviction::Oldest), Some(meter.clone()));
                let count = std::cell::Cell::new(0);
                let verifier = crate::protocols::consensus::verify::Counting {
                    inner: &DirectVerifier,
                    count: &count,
                };
                let result = pool.receive_body(body.clone(), digest, 1, wire, &verifier);
                (result, count.get(), meter.take())
            };
            let encoded = outcome(None);
            assert_eq!(outcome(Some(&wire)), encoded);
            assert_eq!(outcome(Some(&short)), encoded);
        }
    }

    #[test]
    fn blocks_honour_count_and_byte_limits_and_bodies_are_checked() {
        let mut pool = Mempool::new(config(100, 100_000, Eviction::Oldest), None);
        for n in 0..10 {
            pool.insert(tx(1, n, 1), &DirectVerifier).unwrap();
        }
        assert_eq!(pool.fill().len(), 3, "block_txs");
        let mut small = pool.config;
        small.block_bytes = 450;
        let limited = Mempool {
            config: small,
            ..Mempool::new(small, None)
        };
        assert!(limited.fill().is_empty(), "empty pool");
        let mut pool2 = Mempool::new(small, None);
        for n in 0..10 {
            pool2.insert(tx(1, n, 1), &DirectVerifier).unwrap();
        }
        assert_eq!(pool2.fill().len(), 2, "block_bytes");
        // A body over the limits, twice one transaction, or not matching
        // its digest is refused.
        let four: Vec<_> = (0..4).map(|n| tx(2, n, 1)).collect();
        let over = BlockBody {
            height: 1,
            txs: four.clone(),
        };
        let d = pool.digest(&four);
        assert_eq!(
            pool.receive_body(over, d, 1, None, &DirectVerifier),
            Err(TxRejection::Malformed)
        );
        let twice = vec![tx(2, 0, 1), tx(2, 0, 1)];
        let d = pool.digest(&twice);
        let body = BlockBody {
            height: 1,
            txs: twice,
        };
        assert_eq!(
            pool.receive_body(body, d, 1, None, &DirectVerifier),
            Err(TxRejection::Duplicate)
        );
        let ok = vec![tx(2, 0, 1)];
        let body = BlockBody {
            height: 1,
            txs: ok.clone(),
        };
        assert_eq!(
            pool.receive_body(body.clone(), Hash32::ZERO, 1, None, &DirectVerifier),
            Err(TxRejection::Malformed)
        );
        let d = pool.digest(&ok);
        pool.receive_body(body, d, 1, None, &DirectVerifier)
            .unwrap();
        assert!(pool.body(&d).is_some());
        // Finalizing without the body empties the pool (it cannot tell).
        assert!(!pool.finalized(1, &Hash32([9; 32])));
        assert!(pool.is_empty() && pool.body(&d).is_none());
    }
}
