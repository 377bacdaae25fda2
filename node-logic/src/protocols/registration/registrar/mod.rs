//! The registrar side: wait for the miners' registration files, validate
//! them, repair damaged ones, and stop waiting when enough are accepted or
//! the timeout passes.
//!
//! # Calling contract
//!
//! Feed [`Registrar::handle_start`] once, then every timer of
//! [`TimerId::Registration(RegistrationTimer::Check)`], [`TimerId::Registration(RegistrationTimer::Timeout)`] and
//! [`TimerId::Registration(RegistrationTimer::Progress)`] to [`Registrar::handle_timer`], every
//! file result to [`Registrar::handle_file`] and every change notification
//! to [`Registrar::handle_file_changed`]; drain the [`Outbox`] after each.
//! [`Registrar::poll_timeout`] says when the next check is due. Timers and
//! results the registrar is not waiting for are no-ops.
//!
//! # Checks
//!
//! A *check* lists the shared directory, then reads — at most
//! `config.parallel_reads` file operations in flight (1: one file at a
//! time, the next read issued when the previous result arrives), counting
//! the steps of recoveries, a listing always alone — every
//! `<agent>_miner_info.json` whose agent is not yet accepted, then the
//! legacy registry if one is configured, not yet merged, and listed (or
//! not a direct child of the shared directory). Other names (backups,
//! `*.tmp.*`, `*.corrupted.*`) are ignored.
//!
//! A file that validates, and whose wallet no *other* accepted agent has,
//! is accepted (`Accepted { source: File }`); otherwise `Invalid { agent,
//! error }` is recorded (`Missing` when a listed file is gone by the time
//! it is read). With `recover = false` that is all: the file is looked at
//! again next check. With `recover = true` and a damage kind, the file is
//! renamed to `<file>.corrupted.<now in ns>` (`Quarantined`), then the
//! backup `<file>.bak` is read: if it validates (for this agent, with no
//! duplicate wallet) it is accepted (`Accepted { source: Backup }`) and
//! written back as the main file (`RestoredFromBackup` when that write
//! completes); otherwise the miner is sent a `ReRegister` datagram
//! (`ReRegistrationRequested`). Invalid backups are not recorded as
//! `Invalid` (the damage was already counted once).
//!
//! **Torn reads:** with in-place writes (`config.write_mode`), a read may
//! catch a file while its writer is still filling it. A damaged read is
//! then only a suspect: nothing is recorded or repaired, its bytes (their
//! SHA-256) are remembered and a check is brought forward to
//! `config.settle` later. Only when a read at least `settle` after the
//! first finds the same bytes does the damage count (`Invalid`, then
//! quarantine); a file that changed in between is a new suspect, and a
//! valid one is accepted. With atomic writes a reader never sees a file
//! half written, so a damaged read is damage at once.
//!
//! **Unfinished recoveries:** a recovery is a sequence of steps (rename,
//! read the backup, restore or ask), and a registrar may crash between
//! any two. Every step leaves the directory in a state any registrar
//! recognizes: a quarantined `<file>.corrupted.<t>` of an agent not
//! accepted and no `<file>` means the recovery is not finished (no
//! restore, no rewrite yet). When a listing shows it so at least
//! `config.settle` after one first did (so a recovery in progress is left
//! to its registrar), the registrar finishes it: it reads the backup and
//! restores it or asks the miner, as above. A restarted registrar or
//! another one thus completes what a crashed one began, at its next check;
//! a torn or missing restore is seen as damage or as an unfinished
//! recovery again.
//!
//! **Re-registration rounds:** a miner is asked at most once per round. A
//! round lasts [`REASK_AFTER_CHECKS`] completed checks after the one in
//! which the miner was asked; if the miner is still not accepted when the
//! round ends, it is asked again (at the end of that check, even if its
//! file is absent because it was quarantined). Agents not in
//! `config.miners` cannot be asked: nothing is sent and nothing more than
//! the `Invalid`/`Quarantined` records is recorded.
//!
//! **Shared validation:** with `config.shared_validation`, validating a
//! file content (agent and bytes) another registrar sharing the cache
//! already validated takes its answer instead of verifying the signature
//! again (see [`crate::protocols::registration::shared`]).
//!
//! **Unchanged files:** with `config.skip_unchanged`, a miner file this
//! registrar read and could not accept (and did not quarantine) is
//! stat'ed before its next read, and not read again while the stat shows
//! the size and modification time of the stat taken before that read
//! (`Unchanged { agent }` is recorded instead; the earlier outcome
//! stands). A stat that finds no file counts as a read that found none
//! (`Missing`). See [`unchanged`] for when a stat is trusted.
//!
//! **Sharded registrars:** with `config.shard`, the registrar reads only
//! the files of the agents its shard owns
//! ([`ShardConfig::owner_of`](crate::protocols::registration::config::ShardConfig::owner_of)), and for each such miner it accepts from a
//! file or backup it sends the other registrars a `Validated` datagram
//! with the file's bytes. A `Validated` result from one of
//! `shard.peers` is validated like a read (pinned keys, duplicate
//! wallets) and accepted with `source: Shard`; from another host, or
//! invalid, it is rejected (`MessageRejected`). Once
//! `shard.takeover_after` has passed since its start, the registrar
//! reads every file still missing itself, whoever owns it: a crashed
//! owner's shard is taken over, and what it accepts it sends on too.
//!
//! **Hierarchical registrars** use the same machinery: a regional
//! registrar owns its region's miners ([`Ownership::Listed`]), sends what
//! it accepts to the top-level registrar only (`shard.send_to`) and never
//! takes over; the top owns its own region, takes results from the
//! regional registrars only, sends nothing on, and reads every file still
//! missing once `takeover_after` has passed (a crashed regional
//! registrar's region is taken over).
//!
//! [`Ownership::Listed`]: crate::protocols::registration::config::Ownership::Listed
//!
//! **Pinned keys:** with `config.miner_keys`, a file for a known agent that
//! is validly signed by a different key is refused as `BadSignature` (an
//! impersonation, not a re-keying).
//!
//! **Unknown agents:** when `config.miners` is not empty, a valid file of
//! an agent not in it is refused once (`Invalid { UnknownAgent }`, not
//! damage, not quarantined) and not read again: self-made identities cannot
//! stand in for the expected miners.
//!
//! **Legacy registry:** every entry not yet accepted is accepted with
//! `source: Legacy` and no key, unless another agent already has its
//! wallet (`Invalid { agent, DuplicateWallet }`). Files are read before the
//! registry in a check, so a valid signed file wins. A missing registry
//! records nothing and is tried again next check; an unparsable one
//! records `Invalid { agent: "agent_registry", error }` and is tried again
//! too. Once parsed it is merged and never read again.
//!
//! # Scheduling
//!
//! After a check: if at least `expected` agents are accepted the registrar
//! is **ready** (`Ready { timed_out: false, .. }`), cancels its timers and
//! does nothing more. Otherwise the next check is set by strategy:
//! - `Poll`: `now + interval`.
//! - `Backoff`: `now + current + jitter`, jitter uniform in `0..=jitter`
//!   from the injected RNG. `current` is `initial` after the first check
//!   and after any check in whose interval something new was accepted;
//!   otherwise the previous `current * multiplier`; always capped at `max`.
//! - `Watch`: `now + safety_poll`; in addition each change notification of
//!   a relevant file (a miner file of an agent not accepted, the unmerged
//!   legacy registry) queues a read of just that file: at once when the
//!   registrar has room for another operation, otherwise after the work
//!   in progress (repeated notifications coalesce; more than
//!   [`MAX_PENDING_CHANGES`] distinct ones turn into one full check).
//!   Readiness is also tested after such reads.
//!
//! Check intervals shorter than [`MIN_CHECK_INTERVAL`] are raised to it.
//! `RegistrationTimeout` while not ready records `Ready { timed_out: true,
//! missing }` and stops. `RegistrationProgress` records `Progress` every
//! `progress_interval` until ready (a zero interval disables it).
//! `missing` is always the known miners (`config.miners`) not accepted,
//! sorted — empty when every known miner is in.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use foldhash::fast::FixedState;

use rand::RngExt;
use rand_core::Rng;
use sha2::{Digest, Sha256};

use crate::HostId;
use crate::identity::PublicKey;
use crate::io::{FileMeta, FileOp, FileResult, FsError, ListedName, Listing, Payload, WriteMode};
use crate::outbox::Outbox;
use crate::protocols::consensus::verify::configured;
use crate::protocols::registration::RegistrationTimer;
use crate::protocols::registration::config::{RegistrarConfig, Strategy};
use crate::protocols::registration::file::{
    ValidRegistration, agent_of_file, agent_of_quarantined, backup_name, file_name,
    parse_legacy_registry, quarantine_name, validate_with,
};
use crate::protocols::registration::message::RegistrationMessage;
use crate::protocols::registration::observe::{
    RegistrationEvent, ValidationErrorKind, WalletSource,
};
use crate::protocols::{Observation, TimerId};
use crate::time::{SimDuration, SimTime};

mod listed;
mod unchanged;

use listed::ListedFiles;
use unchanged::UnchangedFiles;

/// Completed checks after the one in which a miner was asked to register
/// again before it may be asked again.
pub const REASK_AFTER_CHECKS: u64 = 2;
/// Distinct change notifications remembered while busy; beyond this the
/// registrar forgets them and runs one full check instead.
pub const MAX_PENDING_CHANGES: usize = 1024;
/// The shortest interval between checks, whatever the configuration says.
pub const MIN_CHECK_INTERVAL: SimDuration = SimDuration::from_millis(1);
/// The agent named in `Invalid` records about the legacy registry itself.
pub const LEGACY_REGISTRY_AGENT: &str = "agent_registry";

/// What a registrar holds for one accepted miner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The wallet accepted.
    pub wallet: String,
    /// The key that signed it (`None` for legacy entries).
    pub public_key: Option<PublicKey>,
    /// Where it came from.
    pub source: WalletSource,
    /// When it was accepted.
    pub at: SimTime,
}

/// A table by agent id that is looked up per listed name and per read
/// (hundreds of thousands of times a check at 100,000 miners): hashed
/// with a fixed seed, and never iterated except through a sort, so its
/// order reaches no output.
type AgentTable<V> = HashMap<String, V, FixedState>;

/// One registrar's state machine. See the module docs for its behaviour
/// and calling contract.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    /// Known miners by agent id, sorted (as a map of `config.miners`
    /// would be: a later duplicate agent replaces an earlier one).
    miner_order: Vec<(String, HostId)>,
    /// The same, for lookups.
    miners: AgentTable<HostId>,
    /// Pinned keys of known miners.
    keys: AgentTable<PublicKey>,
    phase: Phase,
    timeout_at: SimTime,
    progress_at: Option<SimTime>,
    next_check: Option<SimTime>,
    /// The backoff strategy's current interval (`None` before the first check).
    backoff: Option<SimDuration>,
    accepted: AgentTable<Acceptance>,
    /// Agents refused as unknown: their files are not read again.
    refused: BTreeSet<String>,
    /// Wallet → the agent that has it.
    wallets: AgentTable<String>,
    legacy_merged: bool,
    /// File operations in flight, oldest first (at most
    /// `config.parallel_reads`; a listing runs alone).
    in_flight: Vec<InFlight>,
    queue: WorkQueue,
    /// The current round of work began with a listing (a full check).
    full_check: bool,
    /// A check fell due while busy: run one when the current round ends.
    check_wanted: bool,
    /// Files changed while busy, read when the current round ends.
    changed: BTreeSet<Job>,
    accepted_since_check: bool,
    checks_completed: u64,
    /// Agent → the check number (1-based) in which it was last asked.
    asked: BTreeMap<String, u64>,
    /// In-place writes: damaged reads not yet confirmed, by agent: the
    /// SHA-256 of the bytes read and when they were first read.
    suspects: BTreeMap<String, ([u8; 32], SimTime)>,
    /// When the earliest suspect may be confirmed (a check is due then).
    confirm_at: Option<SimTime>,
    /// Quarantined agents without a main file, by when a listing first
    /// showed them so: perhaps another registrar's recovery in progress.
    orphans: BTreeMap<String, SimTime>,
    /// The registry as announced when ready (with `announce`): what a
    /// restarted miner is sent again, unchanged.
    announced: Option<Vec<String>>,
    /// The announcement goes to the host's gossip member, not to each
    /// miner (see [`Registrar::announce_by_gossip`]).
    by_gossip: bool,
    /// The announcement waiting for the host to hand it to gossip.
    for_gossip: Option<Payload>,
    /// With `skip_unchanged`: files read and not accepted, and their stats.
    unchanged: UnchangedFiles,
    /// The shared directory as its last listing showed it.
    listed: ListedFiles,
    /// When it started (sharded registrars take other shards over
    /// `takeover_after` later).
    started_at: SimTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    NotStarted,
    Waiting,
    Ready,
}

/// A file to look at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Job {
    Miner(String),
    Legacy,
    /// A quarantined file without a main file: a recovery some registrar
    /// began and did not finish. Read the backup; restore it or ask.
    Recover(String),
}

/// Files still to look at in the current round, in order, each once.
#[derive(Debug, Default)]
struct WorkQueue {
    order: VecDeque<Job>,
    members: BTreeSet<Job>,
}

impl WorkQueue {
    fn push(&mut self, job: Job) {
        if self.members.insert(job.clone()) {
            self.order.push_back(job);
        }
    }
    fn pop(&mut self) -> Option<Job> {
        let job = self.order.pop_front()?;
        self.members.remove(&job);
        Some(job)
    }
    fn contains(&self, job: &Job) -> bool {
        self.members.contains(job)
    }
    fn clear(&mut self) {
        self.order.clear();
        self.members.clear();
    }
}

/// A file operation in flight.
#[derive(Clone, Debug)]
enum InFlight {
    List,
    /// `before`: the stat taken just before (with `skip_unchanged`).
    Read {
        agent: String,
        before: Option<FileMeta>,
    },
    Stat {
        agent: String,
    },
    Legacy {
        path: String,
    },
    Quarantine {
        agent: String,
        to: String,
    },
    ReadBackup {
        agent: String,
    },
    Restore {
        agent: String,
    },
}

impl InFlight {
    /// Whether `result` is this operation's completion.
    fn awaits(&self, result: &FileResult) -> bool {
        match (self, result) {
            (InFlight::List, FileResult::Listed { dir, .. }) => dir.is_empty(),
            (InFlight::Read { agent, .. }, FileResult::Read { path, .. }) => {
                *path == file_name(agent)
            }
            (InFlight::Stat { agent }, FileResult::Stat { path, .. }) => *path == file_name(agent),
            (InFlight::Legacy { path: expected }, FileResult::Read { path, .. }) => {
                path == expected
            }
            (
                InFlight::Quarantine { agent, to },
                FileResult::Renamed {
                    from, to: renamed, ..
                },
            ) => *from == file_name(agent) && renamed == to,
            (InFlight::ReadBackup { agent }, FileResult::Read { path, .. }) => {
                *path == backup_name(agent)
            }
            (InFlight::Restore { agent }, FileResult::Written { path, .. }) => {
                *path == file_name(agent)
            }
            (
                InFlight::List
                | InFlight::Read { .. }
                | InFlight::Stat { .. }
                | InFlight::Legacy { .. }
                | InFlight::Quarantine { .. }
                | InFlight::ReadBackup { .. }
                | InFlight::Restore { .. },
                _,
            ) => false,
        }
    }
}

impl Registrar {
    /// A registrar configured by `config`.
    pub fn new(config: RegistrarConfig) -> Self {
        let by_agent: BTreeMap<String, HostId> = config.miners.iter().cloned().collect();
        let miner_order: Vec<(String, HostId)> = by_agent.into_iter().collect();
        let miners = miner_order.iter().cloned().collect();
        let keys = config.miner_keys.iter().cloned().collect();
        Registrar {
            config,
            miner_order,
            miners,
            keys,
            phase: Phase::NotStarted,
            timeout_at: SimTime::NEVER,
            progress_at: None,
            next_check: None,
            backoff: None,
            accepted: AgentTable::default(),
            refused: BTreeSet::new(),
            wallets: AgentTable::default(),
            legacy_merged: false,
            in_flight: Vec::new(),
            queue: WorkQueue::default(),
            full_check: false,
            check_wanted: false,
            changed: BTreeSet::new(),
            accepted_since_check: false,
            checks_completed: 0,
            asked: BTreeMap::new(),
            suspects: BTreeMap::new(),
            confirm_at: None,
            orphans: BTreeMap::new(),
            announced: None,
            by_gossip: false,
            for_gossip: None,
            unchanged: UnchangedFiles::default(),
            listed: ListedFiles::default(),
            started_at: SimTime::ZERO,
        }
    }

    /// From now on the registry announcement is not sent to each miner:
    /// it waits in [`Registrar::take_for_gossip`] for the host to spread
    /// it as a gossip rumor (the host does so when its gossip member
    /// carries announcements). Answers to a restarted miner's request
    /// still go straight to it.
    pub fn announce_by_gossip(&mut self) {
        self.by_gossip = true;
    }

    /// The announcement made since the last call, for gossip to spread.
    pub fn take_for_gossip(&mut self) -> Option<Payload> {
        self.for_gossip.take()
    }

    /// The host boots (fresh or restarted: a registrar keeps nothing).
    /// Sets the timeout and progress timers, starts watching with
    /// `Strategy::Watch`, and begins the first check. A second start is a
    /// no-op.
    pub fn handle_start(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        if self.phase != Phase::NotStarted {
            return;
        }
        self.phase = Phase::Waiting;
        self.started_at = now;
        self.timeout_at = now + self.config.timeout;
        out.set_timer(
            TimerId::Registration(RegistrationTimer::Timeout),
            self.timeout_at,
        );
        if !self.config.progress_interval.is_zero() {
            let at = now + self.config.progress_interval;
            self.progress_at = Some(at);
            out.set_timer(TimerId::Registration(RegistrationTimer::Progress), at);
        }
        if matches!(self.config.strategy, Strategy::Watch { .. }) {
            out.file(FileOp::Watch { dir: String::new() });
        }
        self.start_check(out);
        self.advance(now, rng, out);
    }

    /// A registration timer fired. Early (moved or stale) timers and the
    /// miner's are no-ops.
    pub fn handle_timer(&mut self, now: SimTime, timer: RegistrationTimer, out: &mut Outbox) {
        if self.phase != Phase::Waiting {
            return;
        }
        let due = |at: Option<SimTime>| at.is_some_and(|at| now >= at);
        match timer {
            RegistrationTimer::Check => {
                if !due(self.next_check) {
                    return;
                }
                self.next_check = None;
                if !self.in_flight.is_empty() {
                    self.check_wanted = true;
                } else {
                    self.start_check(out);
                }
            }
            RegistrationTimer::Timeout => {
                if due(Some(self.timeout_at)) {
                    self.become_ready(true, out);
                }
            }
            RegistrationTimer::Progress => {
                if !due(self.progress_at) {
                    return;
                }
                out.record(Observation::Registration(RegistrationEvent::Progress {
                    registered: self.accepted_count(),
                    expected: self.config.expected,
                }));
                let at = now + self.config.progress_interval;
                self.progress_at = Some(at);
                out.set_timer(TimerId::Registration(RegistrationTimer::Progress), at);
            }
            RegistrationTimer::MinerRewrite | RegistrationTimer::MinerAskRegistry => {}
        }
    }

    /// A file operation completed; results the registrar is not waiting
    /// for are no-ops.
    pub fn handle_file(
        &mut self,
        now: SimTime,
        result: &FileResult,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        if self.phase != Phase::Waiting {
            return;
        }
        let Some(index) = self.in_flight.iter().position(|op| op.awaits(result)) else {
            // Not a result it waits for: spurious, keep waiting.
            return;
        };
        let in_flight = self.in_flight.remove(index);
        self.on_result(now, in_flight, result, out);
        self.advance(now, rng, out);
    }

    /// The watched directory changed at `path`. Only the `Watch` strategy
    /// reacts; irrelevant paths are ignored.
    pub fn handle_file_changed(
        &mut self,
        now: SimTime,
        path: &str,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        if self.phase != Phase::Waiting || !matches!(self.config.strategy, Strategy::Watch { .. }) {
            return;
        }
        let job = if let Some(agent) = agent_of_file(path) {
            if !self.still_to_read(agent, now) {
                return;
            }
            Job::Miner(agent.to_string())
        } else if !self.legacy_merged && self.config.legacy_registry.as_deref() == Some(path) {
            Job::Legacy
        } else {
            return;
        };
        if self.has_room() {
            self.queue.push(job);
            self.advance(now, rng, out);
        } else if self.check_wanted || self.queue.contains(&job) {
            // Already covered by work that has not looked at it yet.
        } else if self.changed.len() >= MAX_PENDING_CHANGES {
            self.changed.clear();
            self.check_wanted = true;
        } else {
            self.changed.insert(job);
        }
    }

    /// Whether another operation may start now: fewer than
    /// `config.parallel_reads` in flight (at least one) and no listing.
    fn has_room(&self) -> bool {
        let limit = self.config.parallel_reads.max(1) as usize;
        self.in_flight.len() < limit
            && !self.in_flight.iter().any(|op| matches!(op, InFlight::List))
    }

    /// When the registrar next wants to be woken: its next check (`None`
    /// when ready, or while a check is in progress).
    pub fn poll_timeout(&self) -> Option<SimTime> {
        self.next_check
    }

    /// The accepted miners and their wallets, sorted by agent id.
    pub fn accepted(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut accepted: Vec<(&str, &str)> = self
            .accepted
            .iter()
            .map(|(agent, a)| (agent.as_str(), a.wallet.as_str()))
            .collect();
        accepted.sort_unstable();
        accepted.into_iter()
    }

    /// What was accepted for `agent`, if anything.
    pub fn acceptance(&self, agent: &str) -> Option<&Acceptance> {
        self.accepted.get(agent)
    }

    /// How many miners are accepted.
    pub fn accepted_count(&self) -> u32 {
        u32::try_from(self.accepted.len()).unwrap_or(u32::MAX)
    }

    /// Whether it stopped waiting (all expected accepted, or timed out).
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Full checks completed so far.
    pub fn checks_completed(&self) -> u64 {
        self.checks_completed
    }

    /// Known miners (`config.miners`) not accepted, sorted.
    pub fn missing(&self) -> Vec<String> {
        self.miner_order
            .iter()
            .map(|(agent, _)| agent)
            .filter(|agent| !self.accepted.contains_key(*agent))
            .cloned()
            .collect()
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    fn start_check(&mut self, out: &mut Outbox) {
        out.file(FileOp::List { dir: String::new() });
        self.in_flight.push(InFlight::List);
        self.full_check = true;
        self.changed.clear();
        // The check reads every suspect again (and re-arms what it cannot
        // confirm yet).
        self.confirm_at = None;
    }

    /// Takes a listing in (see [`ListedFiles`]: it costs what changed
    /// since the last one) and queues, in name order, the miner files still
    /// to read; quarantined files still to recover go to
    /// [`Registrar::queue_unfinished_recoveries`].
    fn queue_listed(&mut self, now: SimTime, listing: &Listing) {
        let recover = self.config.recover;
        // Taken out for the update, which asks the rest of `self`.
        let mut listed = std::mem::take(&mut self.listed);
        listed.update(
            listing,
            self.config.legacy_registry.as_deref(),
            |name| agent_of_file(name).or_else(|| recover.then(|| agent_of_quarantined(name))?),
            |agent| self.is_settled(agent),
        );
        self.listed = listed;
        let mut jobs = Vec::new();
        let mut quarantined = BTreeSet::new();
        let mut settled = Vec::new();
        for name in self.listed.open() {
            let (agent, is_file) = match agent_of_file(name) {
                Some(agent) => (agent, true),
                None => match agent_of_quarantined(name) {
                    Some(agent) => (agent, false),
                    None => continue,
                },
            };
            if self.is_settled(agent) {
                settled.push(ListedName::clone(name));
            } else if !self.reads(agent, now) {
                // Another shard's, until the takeover: still open.
            } else if is_file {
                jobs.push(Job::Miner(agent.to_string()));
            } else if recover {
                quarantined.insert(agent.to_string());
            }
        }
        self.listed.forget(settled);
        for job in jobs {
            self.queue.push(job);
        }
        self.queue_unfinished_recoveries(now, quarantined);
        if let Some(path) = &self.config.legacy_registry
            && !self.legacy_merged
            && (path.contains('/') || self.listed.legacy_present())
        {
            self.queue.push(Job::Legacy);
        }
    }

    /// The completion `result` of `in_flight` (which awaits it).
    fn on_result(
        &mut self,
        now: SimTime,
        in_flight: InFlight,
        result: &FileResult,
        out: &mut Outbox,
    ) {
        match (in_flight, result) {
            (InFlight::List, FileResult::Listed { dir, result }) if dir.is_empty() => {
                if let Ok(listing) = result {
                    self.queue_listed(now, listing);
                }
            }
            (InFlight::Read { agent, before }, FileResult::Read { path, result })
                if *path == file_name(&agent) =>
            {
                self.on_read(now, agent, before, result, out);
            }
            (InFlight::Stat { agent }, FileResult::Stat { path, result })
                if *path == file_name(&agent) =>
            {
                self.on_stat(now, agent, result, out);
            }
            (InFlight::Legacy { path: expected }, FileResult::Read { path, result })
                if *path == expected =>
            {
                self.on_legacy(now, result, out);
            }
            (
                InFlight::Quarantine { agent, to },
                FileResult::Renamed {
                    from,
                    to: renamed,
                    result,
                },
            ) if *from == file_name(&agent) && *renamed == to => {
                if result.is_ok() {
                    record(
                        out,
                        RegistrationEvent::Quarantined {
                            agent: agent.clone(),
                            to,
                        },
                    );
                    out.file(FileOp::Read {
                        path: backup_name(&agent),
                    });
                    self.in_flight.push(InFlight::ReadBackup { agent });
                }
                // A failed rename: another registrar moved it first (and
                // repairs it), or it is gone. Nothing more to do here.
            }
            (InFlight::ReadBackup { agent }, FileResult::Read { path, result })
                if *path == backup_name(&agent) =>
            {
                self.on_backup(now, agent, result, out);
            }
            (InFlight::Restore { agent }, FileResult::Written { path, result })
                if *path == file_name(&agent) =>
            {
                if result.is_ok() {
                    record(out, RegistrationEvent::RestoredFromBackup { agent });
                }
            }
            // `awaits` matched the result to the operation.
            (op, _) => debug_assert!(false, "{op:?} does not await {result:?}"),
        }
    }

    /// Issues the next read, or ends the round of work when none is left.
    fn advance(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        while self.phase == Phase::Waiting && self.has_room() {
            if let Some(job) = self.queue.pop() {
                self.issue(job, out);
                continue;
            }
            if !self.in_flight.is_empty() {
                // The round ends when its last operation completes.
                return;
            }
            let full = std::mem::take(&mut self.full_check);
            if full {
                self.checks_completed += 1;
            }
            if self.accepted.len() >= self.config.expected as usize {
                self.become_ready(false, out);
                return;
            }
            if full {
                self.reask_expired(out);
                self.schedule_next_check(now, rng, out);
            }
            if std::mem::take(&mut self.check_wanted) {
                self.start_check(out);
            } else if !self.changed.is_empty() {
                for job in std::mem::take(&mut self.changed) {
                    self.queue.push(job);
                }
            } else {
                return;
            }
        }
    }

    /// With `recover`: every agent not accepted whose file was quarantined
    /// and that still has no main file (no restore, no rewrite) at a
    /// listing at least `settle` after one first showed it so — a recovery
    /// a registrar began and did not finish, perhaps because it crashed
    /// between the steps (a recovery in progress is left to its registrar
    /// until then). Finish it: read the backup, restore it or ask the
    /// miner (once per round, as always). `quarantined`: the listing's
    /// quarantined agents still to read (from [`Registrar::queue_listed`]).
    fn queue_unfinished_recoveries(&mut self, now: SimTime, quarantined: BTreeSet<String>) {
        if !self.config.recover {
            return;
        }
        if quarantined.is_empty() && self.orphans.is_empty() {
            return;
        }
        // A quarantined agent is not settled, so its main file, if listed,
        // is an open name.
        let mut orphans = quarantined;
        orphans.retain(|agent| !self.listed.holds_open(&file_name(agent)));
        self.orphans
            .retain(|agent, _| orphans.contains(agent.as_str()));
        for agent in orphans {
            match self.orphans.get(&agent) {
                Some(&seen) if now >= seen + self.config.settle => {
                    self.queue.push(Job::Recover(agent));
                }
                Some(_) => {}
                None => {
                    self.orphans.insert(agent, now);
                }
            }
        }
    }

    fn issue(&mut self, job: Job, out: &mut Outbox) {
        match job {
            Job::Recover(agent) => {
                if !self.accepted.contains_key(&agent) {
                    out.file(FileOp::Read {
                        path: backup_name(&agent),
                    });
                    self.in_flight.push(InFlight::ReadBackup { agent });
                }
            }
            Job::Miner(agent) => {
                if self.accepted.contains_key(&agent) {
                    return;
                }
                if self.config.skip_unchanged && self.unchanged.wants_stat(&agent) {
                    out.file(FileOp::Stat {
                        path: file_name(&agent),
                    });
                    self.in_flight.push(InFlight::Stat { agent });
                } else {
                    self.read_miner(agent, None, out);
                }
            }
            Job::Legacy => {
                if let Some(path) = self.config.legacy_registry.clone()
                    && !self.legacy_merged
                {
                    out.file(FileOp::Read { path: path.clone() });
                    self.in_flight.push(InFlight::Legacy { path });
                }
            }
        }
    }

    fn read_miner(&mut self, agent: String, before: Option<FileMeta>, out: &mut Outbox) {
        out.file(FileOp::Read {
            path: file_name(&agent),
        });
        self.in_flight.push(InFlight::Read { agent, before });
    }

    /// A stat of a file read before and not accepted (`skip_unchanged`):
    /// unchanged since, nothing to do; changed, read it; gone or refused,
    /// as a read that failed the same way (`Missing`, `Unreadable`).
    fn on_stat(
        &mut self,
        now: SimTime,
        agent: String,
        result: &Result<FileMeta, FsError>,
        out: &mut Outbox,
    ) {
        match result {
            Ok(meta) if self.unchanged.is_unchanged(&agent, meta) => {
                record(out, RegistrationEvent::Unchanged { agent });
            }
            Ok(meta) => self.read_miner(agent, Some(*meta), out),
            Err(error) => self.on_read(now, agent, None, &Err(error.clone()), out),
        }
    }

    fn on_read(
        &mut self,
        now: SimTime,
        agent: String,
        before: Option<FileMeta>,
        result: &Result<Vec<u8>, FsError>,
        out: &mut Outbox,
    ) {
        let verdict = match result {
            Err(FsError::NotFound) => Err(ValidationErrorKind::Missing),
            Err(_) => Err(ValidationErrorKind::Unreadable),
            Ok(bytes) => self.check_file(&agent, bytes),
        };
        self.unchanged.forget(&agent);
        if let (Err(error), Ok(bytes)) = (verdict.as_ref(), result)
            && error.is_damage()
            && !self.damage_persists(now, &agent, bytes, out)
        {
            return;
        }
        self.suspects.remove(&agent);
        // An outcome that stands until the file changes (not accepted,
        // not quarantined): remember the file to skip it while unchanged.
        if let (true, Err(error), Ok(bytes)) = (self.config.skip_unchanged, &verdict, result)
            && !(self.config.recover && error.is_damage())
        {
            self.unchanged.remember(&agent, before, bytes.len());
        }
        match verdict {
            Ok(valid) => {
                let key = valid.public_key();
                if let Ok(bytes) = result {
                    self.share(&agent, bytes, out);
                }
                self.accept(
                    now,
                    agent,
                    valid.wallet_address().to_string(),
                    Some(key),
                    WalletSource::File,
                    out,
                );
            }
            Err(error) => {
                record(
                    out,
                    RegistrationEvent::Invalid {
                        agent: agent.clone(),
                        error,
                    },
                );
                if error == ValidationErrorKind::UnknownAgent {
                    self.refused.insert(agent.clone());
                }
                if self.config.recover && error.is_damage() {
                    let from = file_name(&agent);
                    let to = quarantine_name(&agent, now.as_nanos());
                    out.file(FileOp::Rename {
                        from,
                        to: to.clone(),
                    });
                    self.in_flight.push(InFlight::Quarantine { agent, to });
                }
            }
        }
    }

    /// Whether damaged `bytes` read from `agent`'s file are damage. With
    /// atomic writes, always. With in-place writes only once the same
    /// bytes were read at least `settle` apart: until then they may be a
    /// write in progress, so nothing is recorded or repaired; they are
    /// remembered and a check is brought forward to read them again.
    fn damage_persists(
        &mut self,
        now: SimTime,
        agent: &str,
        bytes: &[u8],
        out: &mut Outbox,
    ) -> bool {
        if self.config.write_mode == WriteMode::Atomic {
            return true;
        }
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let since = match self.suspects.get(agent) {
            Some(&(seen, since)) if seen == digest => since,
            Some(_) | None => {
                self.suspects.insert(agent.to_string(), (digest, now));
                now
            }
        };
        let due = since + self.config.settle;
        if now >= due && since < now {
            return true;
        }
        self.confirm_at = Some(self.confirm_at.map_or(due, |c| c.min(due)));
        if self.next_check.is_none_or(|c| due < c) {
            let at = due.max(now + MIN_CHECK_INTERVAL);
            self.next_check = Some(at);
            out.set_timer(TimerId::Registration(RegistrationTimer::Check), at);
        }
        false
    }

    fn on_backup(
        &mut self,
        now: SimTime,
        agent: String,
        result: &Result<Vec<u8>, FsError>,
        out: &mut Outbox,
    ) {
        let backup = result
            .as_ref()
            .ok()
            .and_then(|bytes| Some((self.check_file(&agent, bytes).ok()?, bytes)));
        match backup {
            Some((valid, bytes)) => {
                let key = valid.public_key();
                let wallet = valid.wallet_address().to_string();
                self.share(&agent, bytes, out);
                self.accept(
                    now,
                    agent.clone(),
                    wallet,
                    Some(key),
                    WalletSource::Backup,
                    out,
                );
                out.file(FileOp::Write {
                    path: file_name(&agent),
                    bytes: bytes.clone(),
                    mode: self.config.write_mode,
                });
                self.in_flight.push(InFlight::Restore { agent });
            }
            None => self.request_reregistration(&agent, out),
        }
    }

    fn on_legacy(&mut self, now: SimTime, result: &Result<Vec<u8>, FsError>, out: &mut Outbox) {
        let parsed = match result {
            Err(FsError::NotFound) => return,
            Err(_) => Err(ValidationErrorKind::Unreadable),
            Ok(bytes) => parse_legacy_registry(bytes),
        };
        let entries = match parsed {
            Ok(entries) => entries,
            Err(error) => {
                return record(
                    out,
                    RegistrationEvent::Invalid {
                        agent: LEGACY_REGISTRY_AGENT.to_string(),
                        error,
                    },
                );
            }
        };
        self.legacy_merged = true;
        for (agent, wallet) in entries {
            if self.accepted.contains_key(&agent) {
                continue;
            }
            if self.wallets.contains_key(&wallet) {
                record(
                    out,
                    RegistrationEvent::Invalid {
                        agent,
                        error: ValidationErrorKind::DuplicateWallet,
                    },
                );
                continue;
            }
            self.accept(now, agent, wallet, None, WalletSource::Legacy, out);
        }
    }

    /// Validation plus the cross-miner duplicate-wallet check.
    fn check_file(
        &self,
        agent: &str,
        bytes: &[u8],
    ) -> Result<ValidRegistration, ValidationErrorKind> {
        let verifier = configured(&self.config.verifier);
        let valid = match &self.config.shared_validation {
            Some(cache) => cache.validate(agent, bytes, verifier)?,
            None => validate_with(agent, bytes, verifier)?,
        };
        if !self.miners.is_empty() && !self.miners.contains_key(agent) {
            return Err(ValidationErrorKind::UnknownAgent);
        }
        if let Some(pinned) = self.keys.get(agent)
            && *pinned != valid.public_key()
        {
            return Err(ValidationErrorKind::BadSignature);
        }
        match self.wallets.get(valid.wallet_address()) {
            Some(owner) if owner != agent => Err(ValidationErrorKind::DuplicateWallet),
            _ => Ok(valid),
        }
    }

    fn accept(
        &mut self,
        now: SimTime,
        agent: String,
        wallet: String,
        public_key: Option<PublicKey>,
        source: WalletSource,
        out: &mut Outbox,
    ) {
        if self.accepted.contains_key(&agent) {
            return;
        }
        self.asked.remove(&agent);
        self.accepted_since_check = true;
        self.wallets.insert(wallet.clone(), agent.clone());
        self.accepted.insert(
            agent.clone(),
            Acceptance {
                wallet: wallet.clone(),
                public_key,
                source,
                at: now,
            },
        );
        record(
            out,
            RegistrationEvent::Accepted {
                agent,
                wallet,
                public_key,
                source,
            },
        );
    }

    /// Asks the miner to write its file again, at most once per round.
    fn request_reregistration(&mut self, agent: &str, out: &mut Outbox) {
        let Some(&host) = self.miners.get(agent) else {
            return;
        };
        if let Some(&asked_in) = self.asked.get(agent)
            && self.checks_completed < asked_in + REASK_AFTER_CHECKS
        {
            return;
        }
        self.asked
            .insert(agent.to_string(), self.checks_completed + 1);
        out.send(
            host,
            RegistrationMessage::ReRegister {
                agent: agent.to_string(),
            }
            .encode(),
        );
        record(
            out,
            RegistrationEvent::ReRegistrationRequested {
                agent: agent.to_string(),
            },
        );
    }

    /// At the end of a check: ask again every miner whose round is over.
    fn reask_expired(&mut self, out: &mut Outbox) {
        let expired: Vec<String> = self
            .asked
            .iter()
            .filter(|&(_, &asked_in)| self.checks_completed >= asked_in + REASK_AFTER_CHECKS)
            .map(|(agent, _)| agent.clone())
            .collect();
        for agent in expired {
            self.request_reregistration(&agent, out);
        }
    }

    fn schedule_next_check(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        let delay = match self.config.strategy {
            Strategy::Poll { interval } => interval,
            Strategy::Backoff {
                initial,
                multiplier,
                max,
                jitter,
            } => {
                let interval = match self.backoff {
                    Some(previous) if !self.accepted_since_check => previous.mul_f64(multiplier),
                    _ => initial,
                }
                .min(max);
                self.backoff = Some(interval);
                let extra = if jitter.is_zero() {
                    0
                } else {
                    rng.random_range(0..=jitter.as_nanos())
                };
                interval + SimDuration::from_nanos(extra)
            }
            Strategy::Watch { safety_poll } => safety_poll,
        };
        self.accepted_since_check = false;
        let mut at = now + delay.max(MIN_CHECK_INTERVAL);
        if let Some(confirm) = self.confirm_at {
            at = at.min(confirm.max(now + MIN_CHECK_INTERVAL));
        }
        self.next_check = Some(at);
        out.set_timer(TimerId::Registration(RegistrationTimer::Check), at);
    }

    fn become_ready(&mut self, timed_out: bool, out: &mut Outbox) {
        self.phase = Phase::Ready;
        if self.config.announce {
            let mut agents: Vec<String> = self.accepted.keys().cloned().collect();
            agents.sort_unstable();
            let datagram = RegistrationMessage::Registry {
                agents: agents.clone(),
            }
            .encode();
            if self.by_gossip {
                self.for_gossip = Some(datagram.into());
            } else {
                out.broadcast(self.miner_order.iter().map(|&(_, host)| host), datagram);
            }
            self.announced = Some(agents);
        }
        record(
            out,
            RegistrationEvent::Ready {
                registered: self.accepted_count(),
                expected: self.config.expected,
                timed_out,
                missing: self.missing(),
            },
        );
        for timer in [
            TimerId::Registration(RegistrationTimer::Check),
            TimerId::Registration(RegistrationTimer::Timeout),
            TimerId::Registration(RegistrationTimer::Progress),
        ] {
            out.cancel_timer(timer);
        }
        self.next_check = None;
        self.progress_at = None;
        self.in_flight.clear();
        self.queue.clear();
        self.changed.clear();
        self.check_wanted = false;
        self.asked.clear();
    }
}

impl Registrar {
    /// Whether `agent`'s file is still for it to read at `now`: neither
    /// accepted nor refused, and [`Registrar::reads`] it.
    fn still_to_read(&self, agent: &str, now: SimTime) -> bool {
        !self.is_settled(agent) && self.reads(agent, now)
    }

    /// Whether `agent` is accepted or refused (for good: neither is ever
    /// undone).
    fn is_settled(&self, agent: &str) -> bool {
        self.accepted.contains_key(agent) || self.refused.contains(agent)
    }

    /// Whether it reads `agent`'s file at `now`: always unless sharded;
    /// sharded, when its shard owns the agent or once `takeover_after`
    /// has passed since its start.
    fn reads(&self, agent: &str, now: SimTime) -> bool {
        match &self.config.shard {
            None => true,
            Some(shard) => shard.owns.owns(agent) || now >= self.started_at + shard.takeover_after,
        }
    }

    /// Sharded or hierarchical: send the miner file it accepted on
    /// (`shard.send_to`).
    fn share(&self, agent: &str, file: &[u8], out: &mut Outbox) {
        if let Some(shard) = &self.config.shard
            && !self.accepted.contains_key(agent)
        {
            let datagram = RegistrationMessage::Validated {
                agent: agent.to_string(),
                file: file.to_vec(),
            }
            .encode();
            out.broadcast(shard.send_to.iter().copied(), datagram);
        }
    }

    /// Another registrar's `Validated` result: from one of its shard
    /// peers and valid here too, accepted (`source: Shard`), and
    /// readiness tested; otherwise rejected. Ignored once ready or when
    /// the agent is already accepted.
    pub fn handle_validated(
        &mut self,
        now: SimTime,
        from: HostId,
        agent: &str,
        file: &[u8],
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        let peer = self
            .config
            .shard
            .as_ref()
            .is_some_and(|s| s.peers.contains(&from));
        if !peer {
            return out.record(Observation::MessageRejected {
                from,
                reason: crate::io::RejectReason::NotAMember,
            });
        }
        if self.phase != Phase::Waiting || self.accepted.contains_key(agent) {
            return;
        }
        match self.check_file(agent, file) {
            Ok(valid) => {
                let key = valid.public_key();
                let wallet = valid.wallet_address().to_string();
                self.unchanged.forget(agent);
                self.accept(
                    now,
                    agent.to_string(),
                    wallet,
                    Some(key),
                    WalletSource::Shard,
                    out,
                );
                self.advance(now, rng, out);
            }
            Err(_) => out.record(Observation::MessageRejected {
                from,
                reason: crate::io::RejectReason::BadSignature,
            }),
        }
    }

    /// A restarted miner asks for the registry again (its validator lost
    /// the set): a registrar that announced sends it the very registry it
    /// announced. Before then there is nothing to send (the announcement
    /// will reach the miner when it is made); a host that is not one of
    /// its miners, or a request when nothing is announced, is refused.
    pub fn handle_registry_request(&self, from: HostId, out: &mut Outbox) {
        if !self.config.announce || !self.miner_order.iter().any(|&(_, h)| h == from) {
            return out.record(Observation::MessageRejected {
                from,
                reason: crate::io::RejectReason::NotAMember,
            });
        }
        if let Some(agents) = &self.announced {
            let agents = agents.clone();
            out.send(from, RegistrationMessage::Registry { agents }.encode());
        }
    }
}

fn record(out: &mut Outbox, event: RegistrationEvent) {
    out.record(Observation::Registration(event));
}

#[cfg(test)]
mod tests;
