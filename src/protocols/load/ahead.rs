//! Load clients' transaction signatures, made ahead on a spare core.
//!
//! A client's transactions are a pure function of its settings and its
//! stream ([`Submissions`]): what it will sign, and when, is known before
//! the run. With a core to spare (`sim run` of one scenario), one thread
//! per run signs every client's transactions in the order of their arrival
//! times (earliest first across clients), at most [`AHEAD`] signatures
//! ahead of what the clients have taken; each client takes its own by
//! nonce ([`SignaturesAhead`]) and checks they were made over exactly the
//! bytes it signs ([`node_logic::identity::Identity::sign_in_sequence`]).
//!
//! The run never waits for the thread: a signature not made yet when its
//! client needs it is signed by the client, and the thread skips it.
//! Ed25519 signatures are deterministic (RFC 8032), so a run's outputs are
//! the same whichever side signed (ARCHITECTURE.md, "A run's events are
//! processed on one thread").

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use node_logic::identity::{Keypair, SignaturesAhead, SignedAhead};
use node_logic::protocols::load::Submissions;

/// The most signatures made and not yet taken, over all clients (about
/// 1 MB of signed bytes at 250-byte transactions).
pub const AHEAD: usize = 4096;

/// The signing thread of one run; stopped and joined when dropped.
pub struct Signer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// One client's signatures ([`SignaturesAhead`]): its place in the
/// signer's list, and the signer (kept running while a client may ask).
#[derive(Debug)]
pub struct ClientSignatures {
    signer: Rc<Signer>,
    index: usize,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// The thread waits on it for room (or the stop).
    room: Condvar,
}

#[derive(Default)]
struct State {
    /// Per client: `(nonce, signature)` made and not taken, in nonce order.
    ready: Vec<VecDeque<(u64, SignedAhead)>>,
    /// Per client: the lowest nonce it may still ask for.
    wanted: Vec<u64>,
    /// Entries in `ready`, over all clients.
    queued: usize,
    /// The thread is waiting for room.
    waiting: bool,
    /// The thread has signed every transaction there is.
    done: bool,
    /// Signatures handed to clients.
    given: u64,
    stop: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on the other side leaves the state consistent (every
        // change is one step), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the thread does next with a signature it could make.
enum Next {
    Sign,
    Skip,
    Stop,
}

impl Signer {
    /// Starts signing the transactions of `clients` (each client's keys
    /// and submissions, in the order [`Self::client`] will name them).
    pub fn start(clients: Vec<(Keypair, Submissions)>) -> Rc<Signer> {
        let shared = Arc::new(Shared::default());
        {
            let mut state = shared.lock();
            state.ready = clients.iter().map(|_| VecDeque::new()).collect();
            state.wanted = vec![0; clients.len()];
        }
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sign-ahead".into())
            .spawn(move || {
                sign_all(&worker, clients);
                worker.lock().done = true;
            })
            .ok();
        Rc::new(Signer { shared, thread })
    }

    /// Whether the thread has made every signature it may make now (it
    /// waits for room, or has signed everything): for tests and
    /// benchmarks that want a run not to race it.
    pub fn is_idle(&self) -> bool {
        let state = self.shared.lock();
        state.waiting || state.done
    }

    /// Signatures handed to clients so far.
    pub fn given(&self) -> u64 {
        self.shared.lock().given
    }

    /// The signatures of client `index`.
    pub fn client(self: &Rc<Self>, index: usize) -> ClientSignatures {
        ClientSignatures {
            signer: self.clone(),
            index,
        }
    }
}

impl std::fmt::Debug for Signer {
    /// Counts only (a client's configuration prints its signer, and the
    /// signatures themselves are thousands of bytes of noise).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Signer")
            .field("clients", &state.ready.len())
            .field("queued", &state.queued)
            .field("given", &state.given)
            .finish()
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread only signs; a panic there changed nothing here.
            let _ = thread.join();
        }
    }
}

impl SignaturesAhead for ClientSignatures {
    fn take(&self, seq: u64) -> Option<SignedAhead> {
        let shared = &self.signer.shared;
        let mut state = shared.lock();
        let state = &mut *state;
        state.wanted[self.index] = state.wanted[self.index].max(seq.saturating_add(1));
        let ready = &mut state.ready[self.index];
        let mut found = None;
        while ready.front().is_some_and(|(nonce, _)| *nonce <= seq) {
            if let Some((nonce, made)) = ready.pop_front() {
                state.queued -= 1;
                if nonce == seq {
                    state.given += 1;
                    found = Some(made);
                }
            }
        }
        if state.waiting && state.queued <= AHEAD / 2 {
            state.waiting = false;
            shared.room.notify_one();
        }
        found
    }
}

/// The thread: every client's transactions in arrival order, each signed
/// unless its client has gone past it.
fn sign_all(shared: &Shared, mut clients: Vec<(Keypair, Submissions)>) {
    let mut due = BinaryHeap::new();
    for (index, (_, submissions)) in clients.iter_mut().enumerate() {
        if let Some(at) = submissions.first() {
            due.push(Reverse((at, index, 0u64)));
        }
    }
    while let Some(Reverse((at, index, nonce))) = due.pop() {
        let (keys, submissions) = &mut clients[index];
        if let Some(next) = submissions.after(at) {
            due.push(Reverse((next, index, nonce + 1)));
        }
        match next_step(shared, index, nonce) {
            Next::Stop => return,
            Next::Skip => continue,
            Next::Sign => {}
        }
        let (tx, _) = submissions.transaction(keys.public_key(), nonce);
        let made = tx.sign_ahead(keys);
        let mut state = shared.lock();
        if state.wanted[index] <= nonce {
            state.ready[index].push_back((nonce, made));
            state.queued += 1;
        }
    }
}

/// Waits for room for one more signature; whether to make the one for
/// `nonce` of client `index`.
fn next_step(shared: &Shared, index: usize, nonce: u64) -> Next {
    let mut state = shared.lock();
    while state.queued >= AHEAD && !state.stop {
        state.waiting = true;
        state = shared
            .room
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
    }
    if state.stop {
        Next::Stop
    } else if state.wanted[index] > nonce {
        Next::Skip
    } else {
        Next::Sign
    }
}

#[cfg(test)]
mod tests;
