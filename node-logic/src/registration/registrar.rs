//! The registrar side: wait for the miners' registration files, validate
//! them, repair damaged ones, and stop waiting when enough are accepted or
//! the timeout passes.
//!
//! # Calling contract
//!
//! Feed [`Registrar::handle_start`] once, then every timer of
//! [`TimerId::RegistrationCheck`], [`TimerId::RegistrationTimeout`] and
//! [`TimerId::RegistrationProgress`] to [`Registrar::handle_timer`], every
//! file result to [`Registrar::handle_file`] and every change notification
//! to [`Registrar::handle_file_changed`]; drain the [`Outbox`] after each.
//! [`Registrar::poll_timeout`] says when the next check is due. Timers and
//! results the registrar is not waiting for are no-ops.
//!
//! # Checks
//!
//! A *check* lists the shared directory, then reads — one file at a time,
//! the next read issued when the previous result arrives — every
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
//! **Re-registration rounds:** a miner is asked at most once per round. A
//! round lasts [`REASK_AFTER_CHECKS`] completed checks after the one in
//! which the miner was asked; if the miner is still not accepted when the
//! round ends, it is asked again (at the end of that check, even if its
//! file is absent because it was quarantined). Agents not in
//! `config.miners` cannot be asked: nothing is sent and nothing more than
//! the `Invalid`/`Quarantined` records is recorded.
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
//!   registrar is idle, otherwise after the work in progress (reads never
//!   run in parallel; repeated notifications coalesce; more than
//!   [`MAX_PENDING_CHANGES`] distinct ones turn into one full check).
//!   Readiness is also tested after such reads.
//!
//! Check intervals shorter than [`MIN_CHECK_INTERVAL`] are raised to it.
//! `RegistrationTimeout` while not ready records `Ready { timed_out: true,
//! missing }` and stops. `RegistrationProgress` records `Progress` every
//! `progress_interval` until ready (a zero interval disables it).
//! `missing` is always the known miners (`config.miners`) not accepted,
//! sorted — empty when every known miner is in.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::RngExt;
use rand_core::Rng;

use crate::HostId;
use crate::identity::PublicKey;
use crate::io::{FileOp, FileResult, FsError, Observation, TimerId};
use crate::outbox::Outbox;
use crate::registration::config::{RegistrarConfig, Strategy};
use crate::registration::file::{
    ValidRegistration, agent_of_file, backup_name, file_name, parse_legacy_registry, validate,
};
use crate::registration::message::RegistrationMessage;
use crate::registration::observe::{RegistrationEvent, ValidationErrorKind, WalletSource};
use crate::time::{SimDuration, SimTime};

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

/// One registrar's state machine. See the module docs for its behaviour
/// and calling contract.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    miners: BTreeMap<String, HostId>,
    /// Pinned keys of known miners.
    keys: BTreeMap<String, PublicKey>,
    phase: Phase,
    timeout_at: SimTime,
    progress_at: Option<SimTime>,
    next_check: Option<SimTime>,
    /// The backoff strategy's current interval (`None` before the first check).
    backoff: Option<SimDuration>,
    accepted: BTreeMap<String, Acceptance>,
    /// Agents refused as unknown: their files are not read again.
    refused: BTreeSet<String>,
    /// Wallet → the agent that has it.
    wallets: BTreeMap<String, String>,
    legacy_merged: bool,
    in_flight: Option<InFlight>,
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

/// The one file operation in flight.
#[derive(Clone, Debug)]
enum InFlight {
    List,
    Read { agent: String },
    Legacy { path: String },
    Quarantine { agent: String, to: String },
    ReadBackup { agent: String },
    Restore { agent: String },
}

impl Registrar {
    /// A registrar configured by `config`.
    pub fn new(config: RegistrarConfig) -> Self {
        let miners = config.miners.iter().cloned().collect();
        let keys = config.miner_keys.iter().cloned().collect();
        Registrar {
            config,
            miners,
            keys,
            phase: Phase::NotStarted,
            timeout_at: SimTime::NEVER,
            progress_at: None,
            next_check: None,
            backoff: None,
            accepted: BTreeMap::new(),
            refused: BTreeSet::new(),
            wallets: BTreeMap::new(),
            legacy_merged: false,
            in_flight: None,
            queue: WorkQueue::default(),
            full_check: false,
            check_wanted: false,
            changed: BTreeSet::new(),
            accepted_since_check: false,
            checks_completed: 0,
            asked: BTreeMap::new(),
        }
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
        self.timeout_at = now + self.config.timeout;
        out.set_timer(TimerId::RegistrationTimeout, self.timeout_at);
        if !self.config.progress_interval.is_zero() {
            let at = now + self.config.progress_interval;
            self.progress_at = Some(at);
            out.set_timer(TimerId::RegistrationProgress, at);
        }
        if matches!(self.config.strategy, Strategy::Watch { .. }) {
            out.file(FileOp::Watch { dir: String::new() });
        }
        self.start_check(out);
        self.advance(now, rng, out);
    }

    /// A registration timer fired. Early, unexpected or foreign timers are
    /// no-ops.
    pub fn handle_timer(&mut self, now: SimTime, timer: TimerId, out: &mut Outbox) {
        if self.phase != Phase::Waiting {
            return;
        }
        let due = |at: Option<SimTime>| at.is_some_and(|at| now >= at);
        match timer {
            TimerId::RegistrationCheck if due(self.next_check) => {
                self.next_check = None;
                if self.in_flight.is_some() {
                    self.check_wanted = true;
                } else {
                    self.start_check(out);
                }
            }
            TimerId::RegistrationTimeout if due(Some(self.timeout_at)) => {
                self.become_ready(true, out);
            }
            TimerId::RegistrationProgress if due(self.progress_at) => {
                out.record(Observation::Registration(RegistrationEvent::Progress {
                    registered: self.accepted_count(),
                    expected: self.config.expected,
                }));
                let at = now + self.config.progress_interval;
                self.progress_at = Some(at);
                out.set_timer(TimerId::RegistrationProgress, at);
            }
            // Early (moved or stale) or another protocol's.
            _ => {}
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
        let Some(in_flight) = self.in_flight.take() else {
            return;
        };
        match (in_flight, result) {
            (InFlight::List, FileResult::Listed { dir, result }) if dir.is_empty() => {
                if let Ok(names) = result {
                    self.queue_listed(names);
                }
            }
            (InFlight::Read { agent }, FileResult::Read { path, result })
                if *path == file_name(&agent) =>
            {
                self.on_read(now, agent, result, out);
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
                    self.in_flight = Some(InFlight::ReadBackup { agent });
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
            (other, _) => {
                // Not the result it waits for: spurious, keep waiting.
                self.in_flight = Some(other);
                return;
            }
        }
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
            if self.accepted.contains_key(agent) || self.refused.contains(agent) {
                return;
            }
            Job::Miner(agent.to_string())
        } else if !self.legacy_merged && self.config.legacy_registry.as_deref() == Some(path) {
            Job::Legacy
        } else {
            return;
        };
        if self.in_flight.is_none() {
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

    /// When the registrar next wants to be woken: its next check (`None`
    /// when ready, or while a check is in progress).
    pub fn poll_timeout(&self) -> Option<SimTime> {
        self.next_check
    }

    /// The accepted miners and their wallets, by agent id.
    pub fn accepted(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.accepted
            .iter()
            .map(|(agent, a)| (agent.as_str(), a.wallet.as_str()))
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
        self.miners
            .keys()
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
        self.in_flight = Some(InFlight::List);
        self.full_check = true;
        self.changed.clear();
    }

    fn queue_listed(&mut self, names: &[String]) {
        for name in names {
            if let Some(agent) = agent_of_file(name)
                && !self.accepted.contains_key(agent)
                && !self.refused.contains(agent)
            {
                self.queue.push(Job::Miner(agent.to_string()));
            }
        }
        if let Some(path) = &self.config.legacy_registry
            && !self.legacy_merged
            && (path.contains('/') || names.contains(path))
        {
            self.queue.push(Job::Legacy);
        }
    }

    /// Issues the next read, or ends the round of work when none is left.
    fn advance(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        while self.phase == Phase::Waiting && self.in_flight.is_none() {
            if let Some(job) = self.queue.pop() {
                self.issue(job, out);
                continue;
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

    fn issue(&mut self, job: Job, out: &mut Outbox) {
        match job {
            Job::Miner(agent) => {
                if !self.accepted.contains_key(&agent) {
                    out.file(FileOp::Read {
                        path: file_name(&agent),
                    });
                    self.in_flight = Some(InFlight::Read { agent });
                }
            }
            Job::Legacy => {
                if let Some(path) = self.config.legacy_registry.clone()
                    && !self.legacy_merged
                {
                    out.file(FileOp::Read { path: path.clone() });
                    self.in_flight = Some(InFlight::Legacy { path });
                }
            }
        }
    }

    fn on_read(
        &mut self,
        now: SimTime,
        agent: String,
        result: &Result<Vec<u8>, FsError>,
        out: &mut Outbox,
    ) {
        let verdict = match result {
            Err(FsError::NotFound) => Err(ValidationErrorKind::Missing),
            Err(_) => Err(ValidationErrorKind::Unreadable),
            Ok(bytes) => self.check_file(&agent, bytes),
        };
        match verdict {
            Ok(valid) => {
                let key = valid.public_key();
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
                    let to = format!("{from}.corrupted.{}", now.as_nanos());
                    out.file(FileOp::Rename {
                        from,
                        to: to.clone(),
                    });
                    self.in_flight = Some(InFlight::Quarantine { agent, to });
                }
            }
        }
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
                self.in_flight = Some(InFlight::Restore { agent });
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
        let valid = validate(agent, bytes)?;
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
        let at = now + delay.max(MIN_CHECK_INTERVAL);
        self.next_check = Some(at);
        out.set_timer(TimerId::RegistrationCheck, at);
    }

    fn become_ready(&mut self, timed_out: bool, out: &mut Outbox) {
        self.phase = Phase::Ready;
        if self.config.announce {
            let agents: Vec<String> = self.accepted.keys().cloned().collect();
            let datagram = RegistrationMessage::Registry { agents }.encode();
            for host in self.miners.values() {
                out.send(*host, datagram.clone());
            }
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
            TimerId::RegistrationCheck,
            TimerId::RegistrationTimeout,
            TimerId::RegistrationProgress,
        ] {
            out.cancel_timer(timer);
        }
        self.next_check = None;
        self.progress_at = None;
        self.in_flight = None;
        self.queue.clear();
        self.changed.clear();
        self.check_wanted = false;
        self.asked.clear();
    }
}

fn record(out: &mut Outbox, event: RegistrationEvent) {
    out.record(Observation::Registration(event));
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::identity::Identity;
    use crate::io::{Output, WriteMode};
    use crate::registration::damage::{DamageMode, damage};
    use crate::registration::file::{Registration, encode, encode_legacy_registry, wallet_address};
    use crate::wire;

    const S: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    fn t(ns: u64) -> SimTime {
        SimTime::from_nanos(ns)
    }

    fn backoff(jitter_ms: u64) -> Strategy {
        Strategy::Backoff {
            initial: SimDuration::from_secs(1),
            multiplier: 1.5,
            max: SimDuration::from_secs(10),
            jitter: SimDuration::from_millis(jitter_ms),
        }
    }

    fn config(strategy: Strategy, expected: u32, recover: bool) -> RegistrarConfig {
        RegistrarConfig {
            strategy,
            timeout: SimDuration::from_secs(300),
            expected,
            miners: (0..expected)
                .map(|i| (format!("miner-{i}"), HostId(100 + i)))
                .collect(),
            recover,
            miner_keys: Vec::new(),
            progress_interval: SimDuration::ZERO,
            legacy_registry: None,
            write_mode: WriteMode::Atomic,
            announce: false,
        }
    }

    fn identity(i: u8) -> Identity {
        Identity::from_secret([i + 1; 32])
    }

    /// The valid file miner `i` writes at `at`.
    fn valid(i: u8, at: SimTime) -> Vec<u8> {
        encode(&Registration::signed(
            &identity(i),
            &format!("miner-{i}"),
            at,
        ))
    }

    /// A registrar plus an in-memory directory that completes every file
    /// operation at once (a test driver).
    struct Harness {
        reg: Registrar,
        out: Outbox,
        rng: ChaCha8Rng,
        fs: BTreeMap<String, Vec<u8>>,
    }

    impl Harness {
        fn new(config: RegistrarConfig) -> Self {
            Harness {
                reg: Registrar::new(config),
                out: Outbox::default(),
                rng: ChaCha8Rng::seed_from_u64(7),
                fs: BTreeMap::new(),
            }
        }

        fn put(&mut self, path: &str, bytes: Vec<u8>) {
            self.fs.insert(path.to_string(), bytes);
        }

        /// Drains outputs, carrying out file operations at `now` (one at a
        /// time, in order) and feeding their results back; returns every
        /// output seen.
        fn settle(&mut self, now: SimTime) -> Vec<Output> {
            let mut seen = Vec::new();
            while let Some(output) = self.out.pop() {
                if let Output::File(op) = &output {
                    let result = self.apply(op);
                    seen.push(output);
                    if let Some(result) = result {
                        self.reg
                            .handle_file(now, &result, &mut self.rng, &mut self.out);
                    }
                } else {
                    seen.push(output);
                }
            }
            seen
        }

        fn apply(&mut self, op: &FileOp) -> Option<FileResult> {
            Some(match op {
                FileOp::Write { path, bytes, .. } => {
                    self.fs.insert(path.clone(), bytes.clone());
                    FileResult::Written {
                        path: path.clone(),
                        result: Ok(()),
                    }
                }
                FileOp::Read { path } => FileResult::Read {
                    path: path.clone(),
                    result: self.fs.get(path).cloned().ok_or(FsError::NotFound),
                },
                FileOp::List { dir } => FileResult::Listed {
                    dir: dir.clone(),
                    result: Ok(self.fs.keys().cloned().collect()),
                },
                FileOp::Rename { from, to } => {
                    let result = match self.fs.remove(from) {
                        Some(bytes) => {
                            self.fs.insert(to.clone(), bytes);
                            Ok(())
                        }
                        None => Err(FsError::NotFound),
                    };
                    FileResult::Renamed {
                        from: from.clone(),
                        to: to.clone(),
                        result,
                    }
                }
                FileOp::Watch { dir } => FileResult::Watching { dir: dir.clone() },
                FileOp::Delete { .. } => return None,
            })
        }

        fn start(&mut self, now: SimTime) -> Vec<Output> {
            self.reg.handle_start(now, &mut self.rng, &mut self.out);
            self.settle(now)
        }

        fn timer(&mut self, now: SimTime, timer: TimerId) -> Vec<Output> {
            self.reg.handle_timer(now, timer, &mut self.out);
            self.settle(now)
        }

        /// Fires the check timer at its time; returns the outputs and that time.
        fn next_check(&mut self) -> (SimTime, Vec<Output>) {
            let at = self.reg.poll_timeout().expect("a check is scheduled");
            (at, self.timer(at, TimerId::RegistrationCheck))
        }

        fn changed(&mut self, now: SimTime, path: &str) -> Vec<Output> {
            self.reg
                .handle_file_changed(now, path, &mut self.rng, &mut self.out);
            self.settle(now)
        }
    }

    fn events(outputs: &[Output]) -> Vec<RegistrationEvent> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Record(Observation::Registration(e)) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    fn ops(outputs: &[Output]) -> Vec<FileOp> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::File(op) => Some((**op).clone()),
                _ => None,
            })
            .collect()
    }

    fn sends(outputs: &[Output]) -> Vec<(HostId, RegistrationMessage)> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Send { to, payload } => {
                    let (_, body) = wire::open(payload).ok()?;
                    Some((*to, RegistrationMessage::decode(body).ok()?))
                }
                _ => None,
            })
            .collect()
    }

    fn invalid(agent: &str, error: ValidationErrorKind) -> RegistrationEvent {
        RegistrationEvent::Invalid {
            agent: agent.into(),
            error,
        }
    }

    fn listed(names: &[&str]) -> FileResult {
        FileResult::Listed {
            dir: String::new(),
            result: Ok(names.iter().map(|n| n.to_string()).collect()),
        }
    }

    /// Walks the backoff schedule of a registrar that never sees a file,
    /// feeding each check its (empty) listing and nothing else.
    fn walk_backoff(jitter_ms: u64, seed: u64) -> Vec<(SimDuration, SimDuration)> {
        let mut reg = Registrar::new(config(backoff(jitter_ms), 1, true));
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Outbox::default();
        let mut now = t(3 * S);
        reg.handle_start(now, &mut rng, &mut out);
        let expected_s = [
            1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10.0, 10.0, 10.0, 10.0,
        ];
        let mut gaps = Vec::new();
        for expected in expected_s {
            assert_eq!(
                reg.poll_timeout(),
                None,
                "no check scheduled while one runs"
            );
            reg.handle_file(now, &listed(&[]), &mut rng, &mut out);
            let next = reg.poll_timeout().expect("next check scheduled");
            gaps.push((
                next - now,
                SimDuration::from_nanos((expected * S as f64) as u64),
            ));
            now = next;
            reg.handle_timer(now, TimerId::RegistrationCheck, &mut out);
            let last_list = std::iter::from_fn(|| out.pop()).last();
            assert_eq!(
                last_list,
                Some(Output::File(Box::new(FileOp::List { dir: String::new() })))
            );
        }
        gaps
    }

    #[test]
    fn backoff_schedule_with_jitter() {
        let jitter = SimDuration::from_millis(500);
        let mut any_jitter = false;
        for seed in 0..20 {
            for (gap, expected) in walk_backoff(500, seed) {
                assert!(
                    gap >= expected && gap <= expected + jitter,
                    "{gap} vs {expected}"
                );
                assert!(gap <= SimDuration::from_secs(10) + jitter, "cap");
                any_jitter |= gap > expected;
            }
        }
        assert!(any_jitter, "jitter is drawn");
    }

    #[test]
    fn backoff_schedule_without_jitter_is_exact() {
        for (gap, expected) in walk_backoff(0, 1) {
            assert_eq!(gap, expected);
        }
    }

    #[test]
    fn backoff_resets_after_a_check_that_accepted_something() {
        let mut h = Harness::new(config(backoff(0), 2, true));
        h.start(t(0));
        let mut gaps = Vec::new();
        let mut now = t(0);
        for round in 0..6 {
            if round == 3 {
                h.put("miner-0_miner_info.json", valid(0, now));
            }
            let next = h.reg.poll_timeout().unwrap();
            gaps.push((next - now).as_nanos());
            now = next;
            h.next_check();
        }
        // 1, 1.5, 2.25, 3.375 s; the check after that accepts: 1 s, 1.5 again.
        assert_eq!(
            gaps,
            vec![S, 3 * S / 2, 9 * S / 4, 27 * S / 8, S, 3 * S / 2]
        );
    }

    #[test]
    fn poll_checks_at_exact_intervals() {
        let mut h = Harness::new(config(
            Strategy::Poll {
                interval: SimDuration::from_secs(10),
            },
            1,
            true,
        ));
        h.start(t(2 * S));
        let mut now = t(2 * S);
        for _ in 0..5 {
            let (at, outputs) = h.next_check();
            assert_eq!(at - now, SimDuration::from_secs(10));
            assert_eq!(ops(&outputs), vec![FileOp::List { dir: String::new() }]);
            now = at;
        }
        assert_eq!(h.reg.checks_completed(), 6);
    }

    #[test]
    fn start_sets_timers_and_lists_at_once() {
        let mut cfg = config(
            Strategy::Watch {
                safety_poll: SimDuration::from_secs(30),
            },
            1,
            true,
        );
        cfg.progress_interval = SimDuration::from_secs(30);
        let mut reg = Registrar::new(cfg);
        let mut out = Outbox::default();
        reg.handle_start(t(S), &mut ChaCha8Rng::seed_from_u64(1), &mut out);
        let outputs: Vec<Output> = std::iter::from_fn(|| out.pop()).collect();
        assert_eq!(
            outputs,
            vec![
                Output::SetTimer {
                    timer: TimerId::RegistrationTimeout,
                    at: t(301 * S)
                },
                Output::SetTimer {
                    timer: TimerId::RegistrationProgress,
                    at: t(31 * S)
                },
                Output::File(Box::new(FileOp::Watch { dir: String::new() })),
                Output::File(Box::new(FileOp::List { dir: String::new() })),
            ]
        );
    }

    #[test]
    fn reads_one_file_at_a_time_and_ignores_other_names() {
        let mut reg = Registrar::new(config(backoff(0), 3, false));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut out = Outbox::default();
        reg.handle_start(t(0), &mut rng, &mut out);
        while out.pop().is_some() {}
        reg.handle_file(
            t(0),
            &listed(&[
                "miner-0_miner_info.json",
                "miner-0_miner_info.json.bak",
                "miner-1_miner_info.json",
                "miner-1_miner_info.json.tmp.4",
                "miner-2_miner_info.json.corrupted.5",
                "notes.txt",
            ]),
            &mut rng,
            &mut out,
        );
        let read = |agent: &str| {
            Output::File(Box::new(FileOp::Read {
                path: file_name(agent),
            }))
        };
        assert_eq!(
            std::iter::from_fn(|| out.pop()).collect::<Vec<_>>(),
            vec![read("miner-0")]
        );
        let result = |i: u8| FileResult::Read {
            path: file_name(&format!("miner-{i}")),
            result: Ok(valid(i, t(0))),
        };
        reg.handle_file(t(MS), &result(0), &mut rng, &mut out);
        let outputs: Vec<Output> = std::iter::from_fn(|| out.pop()).collect();
        assert_eq!(outputs.len(), 2);
        assert!(matches!(
            &outputs[0],
            Output::Record(Observation::Registration(RegistrationEvent::Accepted { agent, source: WalletSource::File, .. })) if agent == "miner-0"
        ));
        assert_eq!(outputs[1], read("miner-1"));
        reg.handle_file(t(2 * MS), &result(1), &mut rng, &mut out);
        let outputs: Vec<Output> = std::iter::from_fn(|| out.pop()).collect();
        // The check is over: two accepted, one expected missing; next check set.
        assert!(matches!(
            outputs.last(),
            Some(Output::SetTimer {
                timer: TimerId::RegistrationCheck,
                ..
            })
        ));
        assert_eq!(
            reg.accepted().collect::<Vec<_>>(),
            vec![
                (
                    "miner-0",
                    wallet_address(&identity(0).public_key()).as_str()
                ),
                (
                    "miner-1",
                    wallet_address(&identity(1).public_key()).as_str()
                ),
            ]
        );
        assert_eq!(reg.missing(), vec!["miner-2".to_string()]);
    }

    #[test]
    fn every_error_kind_is_recorded_and_duplicate_wallets_refused() {
        let mut h = Harness::new(config(backoff(0), 9, false));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let at = t(0);
        let base = valid(0, at);
        h.put("miner-0_miner_info.json", valid(0, at));
        for (i, mode) in DamageMode::ALL.into_iter().enumerate() {
            let agent = format!("miner-{}", i + 1);
            let good = valid(i as u8 + 1, at);
            h.put(&file_name(&agent), damage(mode, &good, &agent, &mut rng));
        }
        // miner-8 reuses miner-0's key: a duplicate wallet.
        h.put(
            "miner-8_miner_info.json",
            encode(&Registration::signed(&identity(0), "miner-8", at)),
        );
        // A file holding another agent's record.
        h.put("miner-9_miner_info.json", base);
        let outputs = h.start(at);
        let got = events(&outputs);
        let want = [
            ("miner-1", ValidationErrorKind::Empty),
            ("miner-2", ValidationErrorKind::InvalidJson),
            ("miner-3", ValidationErrorKind::InvalidJson),
            ("miner-4", ValidationErrorKind::InvalidJson),
            ("miner-5", ValidationErrorKind::MissingField),
            ("miner-6", ValidationErrorKind::BadSignature),
            ("miner-7", ValidationErrorKind::LegacyFormat),
            ("miner-8", ValidationErrorKind::DuplicateWallet),
            ("miner-9", ValidationErrorKind::AgentIdMismatch),
        ];
        for (agent, kind) in want {
            assert!(
                got.contains(&invalid(agent, kind)),
                "{agent} {kind:?}: {got:?}"
            );
        }
        assert_eq!(h.reg.accepted_count(), 1);
    }

    #[test]
    fn unreadable_files_are_recorded_and_quarantined() {
        let mut reg = Registrar::new(config(backoff(0), 1, true));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut out = Outbox::default();
        reg.handle_start(t(0), &mut rng, &mut out);
        reg.handle_file(
            t(0),
            &listed(&["miner-0_miner_info.json"]),
            &mut rng,
            &mut out,
        );
        while out.pop().is_some() {}
        let failed = FileResult::Read {
            path: "miner-0_miner_info.json".into(),
            result: Err(FsError::Io("EIO".into())),
        };
        reg.handle_file(t(MS), &failed, &mut rng, &mut out);
        let outputs: Vec<Output> = std::iter::from_fn(|| out.pop()).collect();
        assert_eq!(
            events(&outputs),
            vec![invalid("miner-0", ValidationErrorKind::Unreadable)]
        );
        assert!(matches!(&ops(&outputs)[..], [FileOp::Rename { .. }]));
    }

    #[test]
    fn recover_false_only_records() {
        let mut h = Harness::new(config(backoff(0), 1, false));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let damaged = damage(DamageMode::Garbage, &valid(0, t(0)), "miner-0", &mut rng);
        h.put("miner-0_miner_info.json", damaged.clone());
        h.put("miner-0_miner_info.json.bak", valid(0, t(0)));
        for _ in 0..3 {
            let outputs = if h.reg.poll_timeout().is_none() {
                h.start(t(0))
            } else {
                h.next_check().1
            };
            assert_eq!(
                events(&outputs),
                vec![invalid("miner-0", ValidationErrorKind::InvalidJson)]
            );
            assert!(
                ops(&outputs)
                    .iter()
                    .all(|op| matches!(op, FileOp::List { .. } | FileOp::Read { .. }))
            );
            assert!(sends(&outputs).is_empty());
        }
        assert_eq!(h.fs.get("miner-0_miner_info.json"), Some(&damaged));
        assert_eq!(h.reg.accepted_count(), 0);
    }

    #[test]
    fn quarantine_keeps_the_bytes_and_restores_a_valid_backup() {
        let mut h = Harness::new(config(backoff(0), 1, true));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let good = valid(0, t(0));
        let damaged = damage(DamageMode::Truncate, &good, "miner-0", &mut rng);
        h.put("miner-0_miner_info.json", damaged.clone());
        h.put("miner-0_miner_info.json.bak", good.clone());
        let now = t(1_500 * MS);
        let outputs = h.start(now);
        let quarantined = "miner-0_miner_info.json.corrupted.1500000000".to_string();
        let file_ops = ops(&outputs);
        assert!(file_ops.contains(&FileOp::Rename {
            from: "miner-0_miner_info.json".into(),
            to: quarantined.clone()
        }));
        assert!(file_ops.contains(&FileOp::Read {
            path: "miner-0_miner_info.json.bak".into()
        }));
        assert!(file_ops.contains(&FileOp::Write {
            path: "miner-0_miner_info.json".into(),
            bytes: good.clone(),
            mode: WriteMode::Atomic
        }));
        assert_eq!(h.fs.get(&quarantined), Some(&damaged));
        assert_eq!(h.fs.get("miner-0_miner_info.json"), Some(&good));
        let got = events(&outputs);
        assert_eq!(
            got,
            vec![
                invalid("miner-0", ValidationErrorKind::InvalidJson),
                RegistrationEvent::Quarantined {
                    agent: "miner-0".into(),
                    to: quarantined
                },
                RegistrationEvent::Accepted {
                    agent: "miner-0".into(),
                    wallet: wallet_address(&identity(0).public_key()),
                    public_key: Some(identity(0).public_key()),
                    source: WalletSource::Backup
                },
                RegistrationEvent::RestoredFromBackup {
                    agent: "miner-0".into()
                },
                RegistrationEvent::Ready {
                    registered: 1,
                    expected: 1,
                    timed_out: false,
                    missing: vec![]
                },
            ]
        );
        assert!(h.reg.is_ready());
        assert!(sends(&outputs).is_empty());
    }

    #[test]
    fn without_a_valid_backup_the_miner_is_asked_once_per_round() {
        let mut h = Harness::new(config(backoff(0), 1, true));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let good = valid(0, t(0));
        h.put(
            "miner-0_miner_info.json",
            damage(DamageMode::BadSignature, &good, "miner-0", &mut rng),
        );
        h.put(
            "miner-0_miner_info.json.bak",
            damage(DamageMode::Empty, &good, "miner-0", &mut rng),
        );
        let outputs = h.start(t(0));
        let asked = (
            HostId(100),
            RegistrationMessage::ReRegister {
                agent: "miner-0".into(),
            },
        );
        assert_eq!(sends(&outputs), vec![asked.clone()]);
        let got = events(&outputs);
        assert_eq!(
            got[0],
            invalid("miner-0", ValidationErrorKind::BadSignature)
        );
        assert!(matches!(got[1], RegistrationEvent::Quarantined { .. }));
        assert_eq!(
            got[2],
            RegistrationEvent::ReRegistrationRequested {
                agent: "miner-0".into()
            }
        );
        assert!(!h.fs.contains_key("miner-0_miner_info.json"));
        // The miner stays silent: two more checks ask nothing, the third asks again.
        let mut asks = Vec::new();
        for _ in 0..6 {
            asks.push(sends(&h.next_check().1).len());
        }
        assert_eq!(asks, vec![0, 1, 0, 0, 1, 0]);
        // The miner writes a valid file: accepted at the next check.
        h.put("miner-0_miner_info.json", valid(0, t(40 * S)));
        let (_, outputs) = h.next_check();
        assert!(events(&outputs).iter().any(|e| matches!(
            e,
            RegistrationEvent::Accepted {
                source: WalletSource::File,
                ..
            }
        )));
        assert!(h.reg.is_ready());
    }

    #[test]
    fn a_damaged_file_seen_again_within_the_round_is_not_asked_again() {
        let mut h = Harness::new(config(backoff(0), 1, true));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let good = valid(0, t(0));
        h.put(
            "miner-0_miner_info.json",
            damage(DamageMode::Garbage, &good, "miner-0", &mut rng),
        );
        assert_eq!(sends(&h.start(t(0))).len(), 1);
        // The miner writes a damaged file again at once: quarantined, not asked.
        h.put(
            "miner-0_miner_info.json",
            damage(DamageMode::Empty, &good, "miner-0", &mut rng),
        );
        let outputs = h.next_check().1;
        assert!(events(&outputs).contains(&invalid("miner-0", ValidationErrorKind::Empty)));
        assert!(sends(&outputs).is_empty());
    }

    #[test]
    fn unknown_agents_are_quarantined_but_cannot_be_asked() {
        let mut h = Harness::new(config(backoff(0), 1, true));
        h.put("stranger_miner_info.json", b"{".to_vec());
        let outputs = h.start(t(0));
        assert!(sends(&outputs).is_empty());
        let got = events(&outputs);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(matches!(got[1], RegistrationEvent::Quarantined { .. }));
    }

    #[test]
    fn a_validly_signed_file_in_another_miners_name_is_refused_when_keys_are_pinned() {
        let mut cfg = config(backoff(0), 1, true);
        cfg.miner_keys = vec![("miner-0".into(), identity(0).public_key())];
        let mut h = Harness::new(cfg);
        // Self-consistent (agent id, wallet of the signing key, signature),
        // but signed by miner-5's key in miner-0's name.
        let impostor = encode(&Registration::signed(&identity(5), "miner-0", t(0)));
        assert!(
            validate("miner-0", &impostor).is_ok(),
            "self-certifying checks alone pass it"
        );
        h.put("miner-0_miner_info.json", impostor);
        let got = events(&h.start(t(0)));
        assert!(
            got.contains(&invalid("miner-0", ValidationErrorKind::BadSignature)),
            "{got:?}"
        );
        assert_eq!(h.reg.accepted_count(), 0);
    }

    #[test]
    fn valid_files_of_unknown_agents_are_refused_once_and_not_reread() {
        // Expects miner-0 and miner-1; miner-7 signs a perfectly valid file.
        let mut h = Harness::new(config(backoff(0), 2, true));
        h.put("miner-7_miner_info.json", valid(7, t(0)));
        h.put("miner-0_miner_info.json", valid(0, t(0)));
        let outputs = h.start(t(0));
        let got = events(&outputs);
        assert!(
            got.contains(&invalid("miner-7", ValidationErrorKind::UnknownAgent)),
            "{got:?}"
        );
        assert!(
            !got.iter()
                .any(|e| matches!(e, RegistrationEvent::Quarantined { .. })),
            "not damage"
        );
        assert_eq!(h.reg.accepted_count(), 1, "only the expected miner-0");
        assert!(sends(&outputs).is_empty());
        // The next check does not read it again.
        let later = h.timer(t(2_000), TimerId::RegistrationCheck);
        assert!(
            !later
                .iter()
                .any(|o| matches!(o, Output::File(op) if matches!(op.as_ref(), FileOp::Read { path } if path.starts_with("miner-7")))),
            "{later:?}"
        );
    }

    #[test]
    fn legacy_registry_merge() {
        let mut cfg = config(backoff(0), 4, true);
        cfg.legacy_registry = Some("agent_registry.json".into());
        let mut h = Harness::new(cfg);
        let w0 = wallet_address(&identity(0).public_key());
        h.put("miner-0_miner_info.json", valid(0, t(0)));
        h.put(
            "agent_registry.json",
            encode_legacy_registry(&[
                // The signed file wins for miner-0.
                ("miner-0".into(), "0xlegacy0".into()),
                ("miner-1".into(), "0xlegacy1".into()),
                // miner-0's wallet for another agent: refused.
                ("miner-2".into(), w0.clone()),
                ("miner-3".into(), "0xlegacy3".into()),
            ]),
        );
        let outputs = h.start(t(0));
        let got = events(&outputs);
        assert!(got.contains(&invalid("miner-2", ValidationErrorKind::DuplicateWallet)));
        let accepted: Vec<(String, String)> = h
            .reg
            .accepted()
            .map(|(a, w)| (a.to_string(), w.to_string()))
            .collect();
        assert_eq!(
            accepted,
            vec![
                ("miner-0".into(), w0),
                ("miner-1".into(), "0xlegacy1".into()),
                ("miner-3".into(), "0xlegacy3".into()),
            ]
        );
        let legacy = h.reg.acceptance("miner-1").unwrap();
        assert_eq!(
            (legacy.source, legacy.public_key),
            (WalletSource::Legacy, None)
        );
        assert_eq!(
            h.reg.acceptance("miner-0").unwrap().source,
            WalletSource::File
        );
        // Merged once: later checks do not read it again.
        let (_, outputs) = h.next_check();
        assert!(!ops(&outputs).contains(&FileOp::Read {
            path: "agent_registry.json".into()
        }));
    }

    #[test]
    fn legacy_registry_missing_or_broken_is_retried() {
        let mut cfg = config(backoff(0), 1, true);
        cfg.legacy_registry = Some("agent_registry.json".into());
        let mut h = Harness::new(cfg);
        // Missing: nothing read, nothing recorded.
        let outputs = h.start(t(0));
        assert!(events(&outputs).is_empty());
        assert_eq!(ops(&outputs), vec![FileOp::List { dir: String::new() }]);
        h.put("agent_registry.json", b"{\"agents\": [".to_vec());
        let (_, outputs) = h.next_check();
        assert_eq!(
            events(&outputs),
            vec![invalid(
                LEGACY_REGISTRY_AGENT,
                ValidationErrorKind::InvalidJson
            )]
        );
        assert!(
            ops(&outputs)
                .iter()
                .all(|op| !matches!(op, FileOp::Rename { .. }))
        );
        h.put(
            "agent_registry.json",
            encode_legacy_registry(&[("miner-0".into(), "0xabc".into())]),
        );
        let (_, outputs) = h.next_check();
        assert!(h.reg.is_ready(), "{:?}", events(&outputs));
    }

    #[test]
    fn timeout_reports_the_sorted_missing_miners() {
        let mut cfg = config(backoff(0), 3, true);
        cfg.miners = vec![
            ("miner-2".into(), HostId(2)),
            ("miner-0".into(), HostId(0)),
            ("miner-1".into(), HostId(1)),
        ];
        cfg.timeout = SimDuration::from_secs(20);
        let mut h = Harness::new(cfg);
        h.put("miner-1_miner_info.json", valid(1, t(0)));
        h.start(t(0));
        // Early (spurious) timeout: nothing.
        assert!(h.timer(t(19 * S), TimerId::RegistrationTimeout).is_empty());
        let outputs = h.timer(t(20 * S), TimerId::RegistrationTimeout);
        assert_eq!(
            events(&outputs),
            vec![RegistrationEvent::Ready {
                registered: 1,
                expected: 3,
                timed_out: true,
                missing: vec!["miner-0".into(), "miner-2".into()]
            }]
        );
        assert!(outputs.contains(&Output::CancelTimer(TimerId::RegistrationCheck)));
        assert!(h.reg.is_ready());
        assert_eq!(h.reg.poll_timeout(), None);
        // Stopped: later timers and files change nothing.
        h.put("miner-0_miner_info.json", valid(0, t(0)));
        assert!(h.timer(t(21 * S), TimerId::RegistrationCheck).is_empty());
        assert!(h.timer(t(30 * S), TimerId::RegistrationTimeout).is_empty());
        assert!(h.changed(t(30 * S), "miner-0_miner_info.json").is_empty());
    }

    #[test]
    fn progress_is_recorded_at_the_interval_until_ready() {
        let mut cfg = config(
            Strategy::Poll {
                interval: SimDuration::from_secs(100),
            },
            2,
            true,
        );
        cfg.progress_interval = SimDuration::from_secs(30);
        let mut h = Harness::new(cfg);
        h.put("miner-0_miner_info.json", valid(0, t(0)));
        h.start(t(0));
        for k in 1..=3u64 {
            let outputs = h.timer(t(30 * k * S), TimerId::RegistrationProgress);
            assert_eq!(
                outputs,
                vec![
                    Output::Record(Observation::Registration(RegistrationEvent::Progress {
                        registered: 1,
                        expected: 2
                    })),
                    Output::SetTimer {
                        timer: TimerId::RegistrationProgress,
                        at: t(30 * (k + 1) * S)
                    }
                ]
            );
        }
        h.put("miner-1_miner_info.json", valid(1, t(0)));
        let (_, outputs) = h.next_check();
        assert!(outputs.contains(&Output::CancelTimer(TimerId::RegistrationProgress)));
        assert!(
            h.timer(t(120 * S), TimerId::RegistrationProgress)
                .is_empty()
        );
    }

    #[test]
    fn watch_reads_changed_files_and_coalesces_while_busy() {
        let mut h = Harness::new(config(
            Strategy::Watch {
                safety_poll: SimDuration::from_secs(60),
            },
            2,
            true,
        ));
        let outputs = h.start(t(0));
        assert!(ops(&outputs).contains(&FileOp::Watch { dir: String::new() }));
        assert_eq!(h.reg.poll_timeout(), Some(t(60 * S)));
        // Irrelevant names are ignored.
        for path in [
            "miner-0_miner_info.json.tmp.3",
            "miner-0_miner_info.json.bak",
            "x.corrupted.1",
            "other.json",
        ] {
            assert!(h.changed(t(S), path).is_empty(), "{path}");
        }
        // Idle: the changed file is read at once.
        h.put("miner-0_miner_info.json", valid(0, t(S)));
        let outputs = h.changed(t(S), "miner-0_miner_info.json");
        assert_eq!(
            ops(&outputs),
            vec![FileOp::Read {
                path: "miner-0_miner_info.json".into()
            }]
        );
        assert_eq!(h.reg.accepted_count(), 1);
        // An accepted agent's changes are ignored.
        assert!(h.changed(t(2 * S), "miner-0_miner_info.json").is_empty());
        // Busy (a check's listing in flight, completed by hand): notifications
        // for miner-1 are remembered once and read after the check.
        let now = t(60 * S);
        h.reg
            .handle_timer(now, TimerId::RegistrationCheck, &mut h.out);
        assert_eq!(
            std::iter::from_fn(|| h.out.pop()).collect::<Vec<_>>(),
            vec![Output::File(Box::new(FileOp::List { dir: String::new() }))]
        );
        for _ in 0..3 {
            h.reg
                .handle_file_changed(now, "miner-1_miner_info.json", &mut h.rng, &mut h.out);
            assert!(h.out.is_empty(), "no parallel read");
        }
        h.put("miner-1_miner_info.json", valid(1, now));
        // The listing was taken before miner-1's file appeared.
        h.reg.handle_file(
            now,
            &listed(&["miner-0_miner_info.json"]),
            &mut h.rng,
            &mut h.out,
        );
        let outputs = h.settle(now);
        let reads: Vec<FileOp> = ops(&outputs)
            .into_iter()
            .filter(|op| matches!(op, FileOp::Read { .. }))
            .collect();
        assert_eq!(
            reads,
            vec![FileOp::Read {
                path: "miner-1_miner_info.json".into()
            }]
        );
        assert!(h.reg.is_ready());
    }

    #[test]
    fn too_many_pending_changes_become_one_check() {
        let mut h = Harness::new(config(
            Strategy::Watch {
                safety_poll: SimDuration::from_secs(60),
            },
            5000,
            true,
        ));
        h.reg.handle_start(t(0), &mut h.rng, &mut h.out);
        while h.out.pop().is_some() {}
        for i in 0..=MAX_PENDING_CHANGES {
            h.reg
                .handle_file_changed(t(0), &file_name(&format!("m{i}")), &mut h.rng, &mut h.out);
        }
        assert!(h.out.is_empty());
        h.reg
            .handle_file(t(MS), &listed(&[]), &mut h.rng, &mut h.out);
        let outputs: Vec<Output> = std::iter::from_fn(|| h.out.pop()).collect();
        assert_eq!(
            ops(&outputs),
            vec![FileOp::List { dir: String::new() }],
            "one full check instead of 1025 reads"
        );
    }

    #[test]
    fn a_check_due_while_busy_runs_after_the_current_work() {
        let mut h = Harness::new(config(
            Strategy::Watch {
                safety_poll: SimDuration::from_secs(1),
            },
            1,
            true,
        ));
        h.start(t(0));
        // A change read is in flight when the safety poll falls due.
        h.reg
            .handle_file_changed(t(S - 1), "miner-0_miner_info.json", &mut h.rng, &mut h.out);
        assert_eq!(std::iter::from_fn(|| h.out.pop()).count(), 1);
        h.reg
            .handle_timer(t(S), TimerId::RegistrationCheck, &mut h.out);
        assert!(h.out.is_empty(), "no listing in parallel with the read");
        h.reg.handle_file(
            t(S),
            &FileResult::Read {
                path: "miner-0_miner_info.json".into(),
                result: Err(FsError::NotFound),
            },
            &mut h.rng,
            &mut h.out,
        );
        let outputs: Vec<Output> = std::iter::from_fn(|| h.out.pop()).collect();
        assert_eq!(
            events(&outputs),
            vec![invalid("miner-0", ValidationErrorKind::Missing)]
        );
        assert_eq!(ops(&outputs), vec![FileOp::List { dir: String::new() }]);
    }

    #[test]
    fn spurious_timers_and_results_are_no_ops() {
        let mut h = Harness::new(config(backoff(0), 1, true));
        // Before start.
        assert!(h.timer(t(0), TimerId::RegistrationCheck).is_empty());
        h.reg
            .handle_file(t(0), &listed(&[]), &mut h.rng, &mut h.out);
        assert!(h.out.is_empty());
        h.reg.handle_start(t(0), &mut h.rng, &mut h.out);
        while h.out.pop().is_some() {}
        // While the listing is in flight: a check timer, a foreign result.
        h.reg
            .handle_timer(t(1), TimerId::RegistrationCheck, &mut h.out);
        h.reg
            .handle_timer(t(1), TimerId::RegistrationProgress, &mut h.out);
        h.reg.handle_timer(t(1), TimerId::MinerRewrite, &mut h.out);
        for result in [
            FileResult::Read {
                path: "miner-0_miner_info.json".into(),
                result: Ok(vec![]),
            },
            FileResult::Listed {
                dir: "sub".into(),
                result: Ok(vec![]),
            },
            FileResult::Watching { dir: String::new() },
        ] {
            h.reg.handle_file(t(1), &result, &mut h.rng, &mut h.out);
        }
        assert!(h.out.is_empty());
        // The real listing still completes the check.
        h.reg
            .handle_file(t(2), &listed(&[]), &mut h.rng, &mut h.out);
        assert_eq!(h.reg.poll_timeout(), Some(t(2 + S)));
        while h.out.pop().is_some() {}
        // An early check timer does nothing.
        assert!(h.timer(t(S), TimerId::RegistrationCheck).is_empty());
        // A second start does nothing.
        h.reg.handle_start(t(5), &mut h.rng, &mut h.out);
        assert!(h.out.is_empty());
    }

    #[test]
    fn expected_zero_is_ready_after_the_first_check() {
        let mut h = Harness::new(config(backoff(0), 0, true));
        let outputs = h.start(t(0));
        assert!(h.reg.is_ready());
        assert!(events(&outputs).contains(&RegistrationEvent::Ready {
            registered: 0,
            expected: 0,
            timed_out: false,
            missing: vec![]
        }));
    }
}
