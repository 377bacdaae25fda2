//! A small deterministic driver for protocol tests: the one every
//! node-logic test uses instead of hand-rolling its own.
//!
//! [`TestNet`] runs hosts (any [`Node`], [`HostNode`] by default) under the
//! calling contract of [`crate::io`]: one event queue ordered by
//! `(time, sequence)`, a network with fixed latency plus optional jitter
//! and cuts (isolated hosts, partition sides), one timer per id and host,
//! crashes and restarts, and an in-memory shared directory whose
//! operations complete after a fixed cost. It is far simpler than the
//! simulator (no bandwidth, no loss, no routes) on purpose: a protocol test
//! should read like its story. [`drive`] feeds a single node by hand.
//!
//! Everything is seeded: equal calls give equal runs.

use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::HostId;
use crate::io::{FileMeta, FileOp, FileResult, FsError, Input, Listing, Node, Output, Payload};
use crate::listing::ListingJournal;
use crate::protocols::{HostConfig, HostNode, Observation, TimerId};
use crate::time::{SimDuration, SimTime};

/// Feeds `input` to `node` at `now` and returns everything it asks for.
pub fn drive(node: &mut impl Node, now: SimTime, input: Input, rng: &mut dyn Rng) -> Vec<Output> {
    node.handle_input(now, input, rng);
    std::iter::from_fn(|| node.poll_output()).collect()
}

/// A test RNG stream, deterministic from `seed`.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Rewrites the bytes of a file write (see [`TestNet::damage_next_write`]).
pub type Rewrite = Box<dyn FnMut(&[u8]) -> Vec<u8>>;

enum Event {
    Input {
        host: HostId,
        input: Input,
    },
    Timer {
        host: HostId,
        timer: TimerId,
        generation: u64,
    },
    Deliver {
        from: HostId,
        to: HostId,
        payload: Payload,
    },
}

/// What a host did, in the order it did it.
#[derive(Clone, Debug, PartialEq)]
pub enum Logged {
    /// It sent a datagram.
    Sent {
        /// The destination.
        to: HostId,
        /// The bytes.
        payload: Payload,
    },
    /// It recorded an observation.
    Observed(Observation),
}

/// Hosts on a test network; see the module docs.
pub struct TestNet<N: Node = HostNode> {
    now: SimTime,
    /// Every datagram's delay (default 10 ms).
    pub latency: SimDuration,
    /// Every file operation's cost (default 2 ms; 0 completes at once).
    pub file_cost: SimDuration,
    jitter: u64,
    jitter_rng: ChaCha8Rng,
    nodes: Vec<Option<N>>,
    factory: Box<dyn FnMut(HostId) -> N>,
    rngs: Vec<ChaCha8Rng>,
    timers: Vec<BTreeMap<TimerId, u64>>,
    queue: BTreeMap<(SimTime, u64), Event>,
    seq: u64,
    isolated: BTreeSet<HostId>,
    sides: Vec<u8>,
    dir: MemDir,
    watchers: BTreeSet<HostId>,
    log: Vec<Vec<(SimTime, Logged)>>,
}

impl TestNet<HostNode> {
    /// One [`HostNode`] per configuration (host `i` is `configs[i]`, built
    /// anew from it at a restart); host `i`'s RNG is seeded with `seed`
    /// and `i`.
    pub fn of(configs: Vec<HostConfig>, seed: u64) -> Self {
        TestNet::new(configs.len(), seed, move |id| {
            HostNode::new(configs[id.index()].clone())
        })
    }
}

impl<N: Node> TestNet<N> {
    /// `n` hosts built by `factory` (at the start and at every restart).
    pub fn new(n: usize, seed: u64, mut factory: impl FnMut(HostId) -> N + 'static) -> Self {
        TestNet {
            now: SimTime::ZERO,
            latency: SimDuration::from_millis(10),
            file_cost: SimDuration::from_millis(2),
            jitter: 0,
            jitter_rng: rng(seed ^ 0x6a17),
            nodes: (0..n).map(|i| Some(factory(host(i)))).collect(),
            factory: Box::new(factory),
            rngs: (0..n as u64)
                .map(|i| rng(seed.wrapping_mul(1000) + i))
                .collect(),
            timers: vec![BTreeMap::new(); n],
            queue: BTreeMap::new(),
            seq: 0,
            isolated: BTreeSet::new(),
            sides: vec![0; n],
            dir: MemDir::default(),
            watchers: BTreeSet::new(),
            log: vec![Vec::new(); n],
        }
    }

    /// The current time.
    pub fn now(&self) -> SimTime {
        self.now
    }
    /// The hosts' ids, in order.
    pub fn hosts(&self) -> impl Iterator<Item = HostId> + use<N> {
        (0..self.nodes.len()).map(host)
    }
    /// Adds a delay drawn uniformly from `0..max` to every datagram.
    pub fn set_jitter(&mut self, max: SimDuration, seed: u64) {
        self.jitter = max.as_nanos();
        self.jitter_rng = rng(seed);
    }
    /// Boots every host at `at`.
    pub fn start_all(&mut self, at: SimTime) {
        for i in 0..self.nodes.len() {
            self.start(host(i), at);
        }
    }
    /// Boots `host` at `at`.
    pub fn start(&mut self, host: HostId, at: SimTime) {
        self.schedule(host, at, Input::Start { restarted: false });
    }
    /// Feeds `input` to `host` at `at` (at once if `at` is now or past).
    pub fn schedule(&mut self, host: HostId, at: SimTime, input: Input) {
        self.push(at.max(self.now), Event::Input { host, input });
    }
    /// Feeds `input` to `host` now and carries out what it asks.
    pub fn input(&mut self, host: HostId, input: Input) {
        let now = self.now;
        self.feed(now, host, input);
    }

    /// Processes every event due up to and including `until`; the clock
    /// then reads `until`.
    pub fn run_until(&mut self, until: SimTime) {
        while let Some(entry) = self.queue.first_entry() {
            let (at, _) = *entry.key();
            if at > until {
                break;
            }
            let event = entry.remove();
            self.now = at;
            self.dispatch(at, event);
        }
        self.now = self.now.max(until);
    }
    /// Runs in `step`s until `done` holds or `limit` passes; whether it held.
    pub fn run_while(
        &mut self,
        limit: SimTime,
        step: SimDuration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> bool {
        while self.now < limit {
            if done(self) {
                return true;
            }
            let next = self.now + step;
            self.run_until(next);
        }
        done(self)
    }

    /// Cuts `host` off from everyone (datagrams to and from it are lost).
    pub fn isolate(&mut self, host: HostId) {
        self.isolated.insert(host);
    }
    /// Puts host `i` on side `sides[i]`: hosts on different sides cannot
    /// talk. All zeros heals the partition.
    pub fn set_sides(&mut self, sides: &[u8]) {
        assert_eq!(sides.len(), self.nodes.len(), "one side per host");
        self.sides = sides.to_vec();
    }
    /// Lifts every cut: no isolated host, no partition.
    pub fn heal(&mut self) {
        self.isolated.clear();
        self.sides.iter_mut().for_each(|s| *s = 0);
    }
    /// Crashes `host`: its node, timers and pending inputs are gone;
    /// datagrams to it are lost until it restarts. Files stay.
    pub fn crash(&mut self, host: HostId) {
        self.nodes[host.index()] = None;
        self.timers[host.index()].clear();
        self.watchers.remove(&host);
    }
    /// Restarts `host` now: built anew by the factory, fed `Start { restarted: true }`.
    pub fn restart(&mut self, host: HostId) {
        self.nodes[host.index()] = Some((self.factory)(host));
        self.input(host, Input::Start { restarted: true });
    }

    /// The node of `host` (panics if it is down: a test bug).
    pub fn node(&self, host: HostId) -> &N {
        self.nodes[host.index()].as_ref().expect("the host is up")
    }
    /// The node of `host`, mutably.
    pub fn node_mut(&mut self, host: HostId) -> &mut N {
        self.nodes[host.index()].as_mut().expect("the host is up")
    }
    /// Every observation `host` recorded, with its time.
    pub fn observations(&self, host: HostId) -> impl Iterator<Item = (SimTime, &Observation)> + '_ {
        self.log[host.index()].iter().filter_map(|(at, l)| match l {
            Logged::Observed(o) => Some((*at, o)),
            Logged::Sent { .. } => None,
        })
    }
    /// Every datagram `host` sent, with its time and destination.
    pub fn sends(&self, host: HostId) -> impl Iterator<Item = (SimTime, HostId, &Payload)> + '_ {
        self.log[host.index()].iter().filter_map(|(at, l)| match l {
            Logged::Sent { to, payload } => Some((*at, *to, payload)),
            Logged::Observed(_) => None,
        })
    }
    /// Everything `host` sent and observed, in order.
    pub fn log(&self, host: HostId) -> &[(SimTime, Logged)] {
        &self.log[host.index()]
    }
    /// Forgets what `host` did so far.
    pub fn clear_log(&mut self, host: HostId) {
        self.log[host.index()].clear();
    }
    /// The shared directory.
    pub fn dir(&self) -> &MemDir {
        &self.dir
    }
    /// The shared directory, to plant or damage files.
    pub fn dir_mut(&mut self) -> &mut MemDir {
        &mut self.dir
    }

    fn push(&mut self, at: SimTime, event: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    fn cut(&self, a: HostId, b: HostId) -> bool {
        self.isolated.contains(&a)
            || self.isolated.contains(&b)
            || self.sides[a.index()] != self.sides[b.index()]
    }

    fn dispatch(&mut self, now: SimTime, event: Event) {
        match event {
            Event::Input { host, input } => self.feed(now, host, input),
            Event::Timer {
                host,
                timer,
                generation,
            } => {
                if self.timers[host.index()].get(&timer) == Some(&generation) {
                    self.timers[host.index()].remove(&timer);
                    self.feed(now, host, Input::Timer(timer));
                }
            }
            Event::Deliver { from, to, payload } => {
                if !self.cut(from, to) {
                    self.feed(now, to, Input::Message { from, payload });
                }
            }
        }
    }

    fn feed(&mut self, now: SimTime, host: HostId, input: Input) {
        let i = host.index();
        let Some(node) = self.nodes[i].as_mut() else {
            return;
        };
        node.handle_input(now, input, &mut self.rngs[i]);
        while let Some(output) = self.nodes[i].as_mut().and_then(Node::poll_output) {
            self.carry_out(now, host, output);
        }
    }

    fn carry_out(&mut self, now: SimTime, host: HostId, output: Output) {
        let i = host.index();
        match output {
            Output::Send { to, payload } => {
                assert_ne!(to, host, "a node sends to itself");
                self.log[i].push((
                    now,
                    Logged::Sent {
                        to,
                        payload: payload.clone(),
                    },
                ));
                if to.index() < self.nodes.len() && !self.cut(host, to) {
                    let jitter = match self.jitter {
                        0 => 0,
                        j => self.jitter_rng.next_u64() % j,
                    };
                    let at = now + self.latency + SimDuration::from_nanos(jitter);
                    self.push(
                        at,
                        Event::Deliver {
                            from: host,
                            to,
                            payload,
                        },
                    );
                }
            }
            Output::SetTimer { timer, at } => {
                self.seq += 1;
                let generation = self.seq;
                self.timers[i].insert(timer, generation);
                self.push(
                    at.max(now),
                    Event::Timer {
                        host,
                        timer,
                        generation,
                    },
                );
            }
            Output::CancelTimer(timer) => {
                self.timers[i].remove(&timer);
            }
            Output::File(op) => self.file(now, host, *op),
            Output::Record(o) => self.log[i].push((now, Logged::Observed(*o))),
        }
    }

    fn file(&mut self, now: SimTime, host: HostId, op: FileOp) {
        let done = now + self.file_cost;
        if let FileOp::Watch { .. } = &op {
            self.watchers.insert(host);
        }
        let (result, changed) = self.dir.apply(op);
        self.push(
            done,
            Event::Input {
                host,
                input: Input::File(Box::new(result)),
            },
        );
        if let Some(path) = changed {
            for watcher in self.watchers.clone() {
                let input = Input::FileChanged { path: path.clone() };
                self.push(
                    done,
                    Event::Input {
                        host: watcher,
                        input,
                    },
                );
            }
        }
    }
}

/// An in-memory shared directory: every operation takes effect at once
/// (writes are whole, as if atomic; listings see every file). Its
/// modification times are a counter that every write and `put` advances
/// (never `recent`), so a stat tells any two writes apart unless a test
/// says otherwise ([`MemDir::put_same_time`]).
#[derive(Default)]
pub struct MemDir {
    files: BTreeMap<String, Vec<u8>>,
    rewrites: BTreeMap<String, Rewrite>,
    modified: BTreeMap<String, u64>,
    clock: u64,
    /// The names' history, as the simulator keeps it (begun at the first
    /// listing), unless `plain_listings`.
    journal: Option<ListingJournal>,
    /// Listings without history, as a real directory's are: each a full
    /// pass for its reader.
    plain_listings: bool,
}

impl MemDir {
    /// The files, by path.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }
    /// The file at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Vec<u8>> {
        self.files.get(path)
    }
    /// Creates or replaces the file at `path`.
    pub fn put(&mut self, path: &str, bytes: Vec<u8>) {
        self.touch(path);
        self.set(path, bytes);
    }
    /// Listings without shared history (`true`), as a real directory's
    /// are, or from a journal as the simulator's are (the default).
    pub fn set_plain_listings(&mut self, plain: bool) {
        self.plain_listings = plain;
    }
    fn set(&mut self, path: &str, bytes: Vec<u8>) {
        if self.files.insert(path.to_string(), bytes).is_none()
            && let Some(journal) = &mut self.journal
        {
            journal.add(path.into());
        }
    }
    fn take(&mut self, path: &str) -> Option<Vec<u8>> {
        let bytes = self.files.remove(path)?;
        if let Some(journal) = &mut self.journal {
            journal.remove(path.into());
        }
        Some(bytes)
    }
    fn listing(&mut self) -> Listing {
        if self.plain_listings {
            return self.files.keys().map(|n| n.as_str().into()).collect();
        }
        let files = &self.files;
        self.journal
            .get_or_insert_with(|| {
                ListingJournal::new(files.keys().map(|n| n.as_str().into()).collect())
            })
            .listing()
    }
    /// Replaces the file at `path` keeping its modification time: a
    /// rewrite within the filesystem's timestamp granularity, which a
    /// cache of sizes and times cannot see when the size is the same.
    pub fn put_same_time(&mut self, path: &str, bytes: Vec<u8>) {
        self.set(path, bytes);
    }
    fn touch(&mut self, path: &str) {
        self.clock += 1;
        self.modified.insert(path.to_string(), self.clock);
    }
    /// The next write of `path` stores `rewrite(bytes)` instead of `bytes`
    /// (a writer that writes a bad file in the first place).
    pub fn damage_next_write(&mut self, path: &str, rewrite: Rewrite) {
        self.rewrites.insert(path.to_string(), rewrite);
    }

    /// Applies `op` to the directory at once; its result and the path it changed.
    pub fn apply(&mut self, op: FileOp) -> (FileResult, Option<String>) {
        match op {
            FileOp::Write { path, bytes, .. } => {
                let bytes = match self.rewrites.remove(&path) {
                    Some(mut rewrite) => rewrite(&bytes),
                    None => bytes,
                };
                self.touch(&path);
                self.set(&path, bytes);
                let result = FileResult::Written {
                    path: path.clone(),
                    result: Ok(()),
                };
                (result, Some(path))
            }
            FileOp::Read { path } => {
                let result = self.files.get(&path).cloned().ok_or(FsError::NotFound);
                (FileResult::Read { path, result }, None)
            }
            FileOp::List { dir } => {
                let result = Ok(self.listing());
                (FileResult::Listed { dir, result }, None)
            }
            FileOp::Rename { from, to } => {
                let result = match self.take(&from) {
                    Some(bytes) => {
                        // A rename keeps the file's modification time.
                        let modified = self.modified.remove(&from).unwrap_or_default();
                        self.modified.insert(to.clone(), modified);
                        self.set(&to, bytes);
                        Ok(())
                    }
                    None => Err(FsError::NotFound),
                };
                let changed = result.is_ok().then(|| to.clone());
                (FileResult::Renamed { from, to, result }, changed)
            }
            FileOp::Delete { path } => {
                self.modified.remove(&path);
                let result = self.take(&path).map(drop).ok_or(FsError::NotFound);
                let changed = result.is_ok().then(|| path.clone());
                (FileResult::Deleted { path, result }, changed)
            }
            FileOp::Stat { path } => {
                let result = match self.files.get(&path) {
                    Some(bytes) => Ok(FileMeta {
                        size: bytes.len() as u64,
                        modified_ns: self.modified.get(&path).copied().unwrap_or_default(),
                        recent: false,
                    }),
                    None => Err(FsError::NotFound),
                };
                (FileResult::Stat { path, result }, None)
            }
            FileOp::Watch { dir } => (FileResult::Watching { dir }, None),
        }
    }
}

/// Host `i`'s id.
fn host(i: usize) -> HostId {
    HostId(u32::try_from(i).expect("a test network has fewer than 2^32 hosts"))
}
