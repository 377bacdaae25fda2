//! The miner side: write a signed registration file, keep a backup, and
//! write it again when a registrar asks (with a backoff of its own).
//!
//! # Behaviour
//!
//! - **First start:** write `<agent>_miner_info.json` (with the configured
//!   [`WriteMode`](crate::io::WriteMode)); when that write completes, record
//!   [`RegistrationEvent::FileWritten`] and write the same bytes to
//!   `<agent>_miner_info.json.bak`.
//! - **Restart after a crash:** read the file; if it is missing, does not
//!   validate, or is not signed with this miner's key, write it (and the
//!   backup) again.
//! - **Re-registration:** a [`RegistrationMessage::ReRegister`] for this
//!   agent from one of `config.registrars` asks for a rewrite (from any
//!   other host it is rejected as `NotAMember`; for another agent as
//!   `Misdirected`). The rewrite happens at `last_write + delay` (at once if
//!   that is past), with a [`TimerId::Registration(RegistrationTimer::MinerRewrite)`] timer otherwise. Each
//!   accepted request doubles `delay`, from `retry_initial` up to
//!   `retry_max`; it is never reset during the miner's life (a restart
//!   starts afresh). Requests that arrive while a rewrite is pending
//!   collapse into it.
//!
//! File operations run one at a time (read, main write, backup write), like
//! a real process's loop; a rewrite that falls due meanwhile waits for the
//! current operation to finish. Every write is a fresh record signed at the
//! write's `now`. `attempt` numbers count writes since this incarnation
//! started (a restarted miner counts from 1 again).
//!
//! Registry announcements: the first one from a configured registrar
//! starts the host's registry-driven validator (`Local::RegistryAnnounced`).
//! A restarted host's validator starts over without a set, so a miner with
//! `ask_registry` asks its registrars for the registry again at once and
//! every `REGISTRY_ASK_INTERVAL` until one answers (a registrar that has
//! announced sends the very registry it announced).

use crate::HostId;
use crate::codec::Reader;
use crate::identity::Identity;
use crate::io::{FileOp, FileResult, RejectReason};
use crate::outbox::Outbox;
use crate::protocols::consensus::verify::configured;
use crate::protocols::registration::RegistrationTimer;
use crate::protocols::registration::config::{MinerConfig, REGISTRY_ASK_INTERVAL};
use crate::protocols::registration::file::{
    Registration, backup_name, encode, file_name, validate_with,
};
use crate::protocols::registration::message::RegistrationMessage;
use crate::protocols::registration::observe::RegistrationEvent;
use crate::protocols::{Local, Observation, TimerId};
use crate::time::{SimDuration, SimTime};

/// One miner's registration state machine. Drive it through
/// [`crate::host_node::HostNode`] or directly with its `handle_*` methods,
/// draining the [`Outbox`] after each.
#[derive(Debug)]
pub struct Miner {
    config: MinerConfig,
    identity: Identity,
    started: bool,
    busy: Busy,
    /// Main-file writes started (the `attempt` of the latest).
    attempts: u32,
    /// When the latest main-file write started.
    last_write: Option<SimTime>,
    /// The current re-registration backoff delay.
    retry_delay: SimDuration,
    rewrite: Rewrite,
    /// Whether a registry was ever announced (later ones are ignored).
    registry_seen: bool,
}

/// The file operation in flight.
#[derive(Debug)]
enum Busy {
    Idle,
    /// Reading its own file after a restart.
    Checking,
    WritingMain {
        attempt: u32,
        bytes: Vec<u8>,
    },
    WritingBackup,
}

/// A rewrite not yet started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rewrite {
    None,
    /// As soon as no file operation is in flight.
    Due,
    /// When the [`TimerId::Registration(RegistrationTimer::MinerRewrite)`] timer fires at this time.
    At(SimTime),
}

impl Miner {
    /// A miner configured by `config`, signing with `identity` (the host's).
    pub fn new(config: MinerConfig, identity: Identity) -> Self {
        let retry_delay = config.retry_initial.min(config.retry_max);
        Miner {
            config,
            identity,
            started: false,
            busy: Busy::Idle,
            attempts: 0,
            last_write: None,
            retry_delay,
            rewrite: Rewrite::None,
            registry_seen: false,
        }
    }

    /// The host boots (`restarted` after a crash). A second start is a no-op.
    pub fn handle_start(&mut self, now: SimTime, restarted: bool, out: &mut Outbox) {
        if self.started {
            return;
        }
        self.started = true;
        if restarted {
            self.busy = Busy::Checking;
            out.file(FileOp::Read {
                path: file_name(&self.config.agent_id),
            });
            if self.config.ask_registry {
                self.ask_registry(now, out);
            }
        } else {
            self.start_write(now, out);
        }
    }

    /// A file operation completed; results this miner did not ask for are
    /// ignored.
    pub fn handle_file(&mut self, now: SimTime, result: &FileResult, out: &mut Outbox) {
        let main = file_name(&self.config.agent_id);
        match (&self.busy, result) {
            (Busy::Checking, FileResult::Read { path, result }) if *path == main => {
                let mine = result.as_ref().ok().and_then(|bytes| {
                    validate_with(
                        &self.config.agent_id,
                        bytes,
                        configured(&self.config.verifier),
                    )
                    .ok()
                    .filter(|v| v.public_key() == self.identity.public_key())
                });
                self.busy = Busy::Idle;
                if mine.is_none() {
                    self.rewrite = Rewrite::Due;
                }
            }
            (Busy::WritingMain { attempt, bytes }, FileResult::Written { path, result })
                if *path == main =>
            {
                if result.is_ok() {
                    out.record(Observation::Registration(RegistrationEvent::FileWritten {
                        agent: self.config.agent_id.clone(),
                        attempt: *attempt,
                    }));
                    out.file(FileOp::Write {
                        path: backup_name(&self.config.agent_id),
                        bytes: bytes.clone(),
                        mode: self.config.write_mode,
                    });
                    self.busy = Busy::WritingBackup;
                } else {
                    // The write failed: try again, paced like a request.
                    self.busy = Busy::Idle;
                    self.schedule_rewrite(now, out);
                }
            }
            (Busy::WritingBackup, FileResult::Written { path, .. })
                if *path == backup_name(&self.config.agent_id) =>
            {
                self.busy = Busy::Idle;
            }
            _ => return,
        }
        self.pump(now, out);
    }

    /// A registration datagram arrived from `from` (header already
    /// checked); `body` is its undecoded body.
    pub fn handle_message(
        &mut self,
        now: SimTime,
        from: HostId,
        body: Reader<'_>,
        out: &mut Outbox,
    ) {
        if !self.config.registrars.contains(&from) {
            return reject(from, RejectReason::NotAMember, out);
        }
        let agent = match RegistrationMessage::decode(body) {
            Ok(RegistrationMessage::ReRegister { agent }) => agent,
            Ok(RegistrationMessage::Registry { agents }) => {
                // The first announcement only: every part of the host
                // sees one validator set.
                if !self.registry_seen {
                    self.registry_seen = true;
                    out.cancel_timer(TimerId::Registration(RegistrationTimer::MinerAskRegistry));
                    out.local(Local::RegistryAnnounced { agents });
                }
                return;
            }
            Ok(RegistrationMessage::RegistryRequest | RegistrationMessage::Validated { .. }) => {
                return reject(from, RejectReason::NotAMember, out);
            }
            Err(_) => return reject(from, RejectReason::Malformed, out),
        };
        if agent != self.config.agent_id {
            return reject(from, RejectReason::Misdirected, out);
        }
        if self.started {
            self.schedule_rewrite(now, out);
        }
    }

    /// The [`TimerId::Registration(RegistrationTimer::MinerRewrite)`] timer fired; a no-op unless a rewrite
    /// is waiting for it.
    pub fn handle_rewrite_timer(&mut self, now: SimTime, out: &mut Outbox) {
        if let Rewrite::At(at) = self.rewrite
            && now >= at
        {
            self.rewrite = Rewrite::Due;
            self.pump(now, out);
        }
    }

    /// The [`TimerId::Registration(RegistrationTimer::MinerAskRegistry)`]
    /// timer fired: ask again unless a registry arrived.
    pub fn handle_ask_timer(&mut self, now: SimTime, out: &mut Outbox) {
        if self.config.ask_registry && !self.registry_seen {
            self.ask_registry(now, out);
        }
    }

    /// Asks every registrar for the registry (a restarted host's validator
    /// lost its set) and asks again after [`REGISTRY_ASK_INTERVAL`].
    fn ask_registry(&mut self, now: SimTime, out: &mut Outbox) {
        let request = RegistrationMessage::RegistryRequest.encode();
        out.broadcast(self.config.registrars.iter().copied(), request);
        let timer = TimerId::Registration(RegistrationTimer::MinerAskRegistry);
        out.set_timer(timer, now + REGISTRY_ASK_INTERVAL);
    }

    /// This miner's agent id.
    pub fn agent_id(&self) -> &str {
        &self.config.agent_id
    }

    /// Main-file writes started in this incarnation.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the miner next wants to be woken: a pending rewrite's time.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        match self.rewrite {
            Rewrite::At(at) => Some(at),
            Rewrite::None | Rewrite::Due => None,
        }
    }

    /// The delay the next re-registration request will be paced with.
    pub fn retry_delay(&self) -> SimDuration {
        self.retry_delay
    }

    /// Asks for a rewrite paced by the backoff; collapses into a pending one.
    fn schedule_rewrite(&mut self, now: SimTime, out: &mut Outbox) {
        if self.rewrite != Rewrite::None {
            return;
        }
        let due = self.last_write.map_or(now, |last| last + self.retry_delay);
        self.retry_delay = self
            .retry_delay
            .saturating_mul(2)
            .min(self.config.retry_max);
        if due <= now {
            self.rewrite = Rewrite::Due;
            self.pump(now, out);
        } else {
            self.rewrite = Rewrite::At(due);
            out.set_timer(TimerId::Registration(RegistrationTimer::MinerRewrite), due);
        }
    }

    /// Starts a due rewrite if no file operation is in flight.
    fn pump(&mut self, now: SimTime, out: &mut Outbox) {
        if matches!(self.busy, Busy::Idle) && self.rewrite == Rewrite::Due {
            self.rewrite = Rewrite::None;
            self.start_write(now, out);
        }
    }

    fn start_write(&mut self, now: SimTime, out: &mut Outbox) {
        self.attempts = self.attempts.saturating_add(1);
        self.last_write = Some(now);
        let record = Registration::signed(&self.identity, &self.config.agent_id, now);
        if let Some(verifier) = &self.config.verifier {
            record.vouch(&**verifier);
        }
        let bytes = encode(&record);
        out.file(FileOp::Write {
            path: file_name(&self.config.agent_id),
            bytes: bytes.clone(),
            mode: self.config.write_mode,
        });
        self.busy = Busy::WritingMain {
            attempt: self.attempts,
            bytes,
        };
    }
}

fn reject(from: HostId, reason: RejectReason, out: &mut Outbox) {
    out.record(Observation::MessageRejected { from, reason });
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::io::{FsError, Output, WriteMode};
    use crate::protocols::registration::damage::{DamageMode, damage};
    use crate::protocols::registration::file::validate;
    use crate::wire;

    const REGISTRAR: HostId = HostId(9);

    fn miner() -> Miner {
        Miner::new(
            MinerConfig {
                agent_id: "miner-1".into(),
                write_mode: WriteMode::Atomic,
                registrars: vec![REGISTRAR],
                retry_initial: SimDuration::from_secs(1),
                retry_max: SimDuration::from_secs(4),
                ask_registry: false,
                verifier: None,
            },
            Identity::from_secret([1; 32]),
        )
    }

    fn t(ms: u64) -> SimTime {
        SimTime::from_nanos(ms * 1_000_000)
    }

    fn drain(out: &mut Outbox) -> Vec<Output> {
        std::iter::from_fn(|| out.pop()).collect()
    }

    /// The paths of writes among `outputs`, with their bytes.
    fn writes(outputs: &[Output]) -> Vec<(String, Vec<u8>)> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::File(op) => match &**op {
                    FileOp::Write { path, bytes, .. } => Some((path.clone(), bytes.clone())),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    fn written(path: &str) -> FileResult {
        FileResult::Written {
            path: path.into(),
            result: Ok(()),
        }
    }

    fn re_register(m: &mut Miner, now: SimTime, from: HostId, out: &mut Outbox) {
        let bytes = RegistrationMessage::ReRegister {
            agent: "miner-1".into(),
        }
        .encode();
        let (_, body) = wire::open(&bytes).unwrap();
        m.handle_message(now, from, body, out);
    }

    /// Completes the main and backup writes in flight at `now`.
    fn complete_writes(m: &mut Miner, now: SimTime, out: &mut Outbox) -> Vec<Output> {
        m.handle_file(now, &written("miner-1_miner_info.json"), out);
        m.handle_file(now, &written("miner-1_miner_info.json.bak"), out);
        drain(out)
    }

    #[test]
    fn first_start_writes_the_file_then_the_backup() {
        let mut m = miner();
        let mut out = Outbox::default();
        m.handle_start(t(0), false, &mut out);
        let first = drain(&mut out);
        let w = writes(&first);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].0, "miner-1_miner_info.json");
        let valid = validate("miner-1", &w[0].1).unwrap();
        assert_eq!(valid.registered_at(), t(0));
        assert!(matches!(
            &first[0],
            Output::File(op) if matches!(**op, FileOp::Write { mode: WriteMode::Atomic, .. })
        ));
        // Nothing until the write completes; then the event and the backup.
        m.handle_file(t(20), &written("miner-1_miner_info.json"), &mut out);
        let second = drain(&mut out);
        assert_eq!(
            second[0],
            Output::Record(Box::new(Observation::Registration(
                RegistrationEvent::FileWritten {
                    agent: "miner-1".into(),
                    attempt: 1
                }
            )))
        );
        assert_eq!(
            writes(&second),
            vec![("miner-1_miner_info.json.bak".to_string(), w[0].1.clone())]
        );
        m.handle_file(t(40), &written("miner-1_miner_info.json.bak"), &mut out);
        assert!(drain(&mut out).is_empty());
        assert_eq!(m.attempts(), 1);
    }

    #[test]
    fn restart_with_a_valid_file_leaves_it() {
        let mut m = miner();
        let mut out = Outbox::default();
        m.handle_start(t(0), true, &mut out);
        let outputs = drain(&mut out);
        assert_eq!(
            outputs,
            vec![Output::File(Box::new(FileOp::Read {
                path: "miner-1_miner_info.json".into()
            }))]
        );
        let good = encode(&Registration::signed(
            &Identity::from_secret([1; 32]),
            "miner-1",
            t(0),
        ));
        m.handle_file(
            t(2),
            &FileResult::Read {
                path: "miner-1_miner_info.json".into(),
                result: Ok(good),
            },
            &mut out,
        );
        assert!(drain(&mut out).is_empty());
        assert_eq!(m.attempts(), 0);
    }

    #[test]
    fn restart_with_a_damaged_missing_or_foreign_file_rewrites() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let good = encode(&Registration::signed(
            &Identity::from_secret([1; 32]),
            "miner-1",
            t(0),
        ));
        let foreign = encode(&Registration::signed(
            &Identity::from_secret([2; 32]),
            "miner-1",
            t(0),
        ));
        let mut cases: Vec<Result<Vec<u8>, FsError>> = DamageMode::ALL
            .into_iter()
            .map(|mode| Ok(damage(mode, &good, "miner-1", &mut rng)))
            .collect();
        cases.push(Err(FsError::NotFound));
        cases.push(Ok(foreign));
        for result in cases {
            let mut m = miner();
            let mut out = Outbox::default();
            m.handle_start(t(0), true, &mut out);
            drain(&mut out);
            m.handle_file(
                t(2),
                &FileResult::Read {
                    path: "miner-1_miner_info.json".into(),
                    result,
                },
                &mut out,
            );
            let w = writes(&drain(&mut out));
            assert_eq!(w.len(), 1);
            assert_eq!(w[0].0, "miner-1_miner_info.json");
            assert_eq!(validate("miner-1", &w[0].1).unwrap().registered_at(), t(2));
            let rest = complete_writes(&mut m, t(30), &mut out);
            assert_eq!(writes(&rest)[0].0, "miner-1_miner_info.json.bak");
        }
    }

    #[test]
    fn re_register_from_a_non_registrar_or_for_another_agent_is_rejected() {
        let mut m = miner();
        let mut out = Outbox::default();
        m.handle_start(t(0), false, &mut out);
        complete_writes(&mut m, t(20), &mut out);
        drain(&mut out);
        re_register(&mut m, t(5000), HostId(3), &mut out);
        assert_eq!(
            drain(&mut out),
            vec![Output::Record(Box::new(Observation::MessageRejected {
                from: HostId(3),
                reason: RejectReason::NotAMember
            }))]
        );
        let other = RegistrationMessage::ReRegister {
            agent: "miner-2".into(),
        }
        .encode();
        let (_, body) = wire::open(&other).unwrap();
        m.handle_message(t(5000), REGISTRAR, body, &mut out);
        assert_eq!(
            drain(&mut out),
            vec![Output::Record(Box::new(Observation::MessageRejected {
                from: REGISTRAR,
                reason: RejectReason::Misdirected
            }))]
        );
        let (_, body) = wire::open(&[1, 2, 1, 0xff]).unwrap();
        m.handle_message(t(5000), REGISTRAR, body, &mut out);
        assert_eq!(
            drain(&mut out),
            vec![Output::Record(Box::new(Observation::MessageRejected {
                from: REGISTRAR,
                reason: RejectReason::Malformed
            }))]
        );
        assert_eq!(m.attempts(), 1);
    }

    #[test]
    fn re_register_long_after_the_last_write_rewrites_at_once() {
        let mut m = miner();
        let mut out = Outbox::default();
        m.handle_start(t(0), false, &mut out);
        complete_writes(&mut m, t(20), &mut out);
        re_register(&mut m, t(5000), REGISTRAR, &mut out);
        let w = writes(&drain(&mut out));
        assert_eq!(w.len(), 1);
        assert_eq!(
            validate("miner-1", &w[0].1).unwrap().registered_at(),
            t(5000)
        );
        let rest = complete_writes(&mut m, t(5020), &mut out);
        assert!(
            rest.contains(&Output::Record(Box::new(Observation::Registration(
                RegistrationEvent::FileWritten {
                    agent: "miner-1".into(),
                    attempt: 2
                }
            ))))
        );
        assert_eq!(m.retry_delay(), SimDuration::from_secs(2));
    }

    #[test]
    fn rewrite_backoff_collapses_repeated_requests() {
        let mut m = miner();
        let mut out = Outbox::default();
        m.handle_start(t(0), false, &mut out);
        complete_writes(&mut m, t(20), &mut out);
        // Three requests soon after the first write: one rewrite at 0 + 1 s.
        for at in [100, 200, 300] {
            re_register(&mut m, t(at), REGISTRAR, &mut out);
        }
        let outputs = drain(&mut out);
        assert_eq!(
            outputs,
            vec![Output::SetTimer {
                timer: TimerId::Registration(RegistrationTimer::MinerRewrite),
                at: t(1000)
            }]
        );
        assert_eq!(m.poll_timeout(), Some(t(1000)));
        // A spurious early timer does nothing.
        m.handle_rewrite_timer(t(500), &mut out);
        assert!(drain(&mut out).is_empty());
        m.handle_rewrite_timer(t(1000), &mut out);
        let w = writes(&drain(&mut out));
        assert_eq!(w.len(), 1);
        assert_eq!(
            validate("miner-1", &w[0].1).unwrap().registered_at(),
            t(1000)
        );
        assert_eq!(m.poll_timeout(), None);
        complete_writes(&mut m, t(1020), &mut out);
        // The next request is paced by the doubled delay: 1 s + 2 s.
        re_register(&mut m, t(1100), REGISTRAR, &mut out);
        assert_eq!(m.poll_timeout(), Some(t(3000)));
        m.handle_rewrite_timer(t(3000), &mut out);
        complete_writes(&mut m, t(3020), &mut out);
        // Then 4 s (the cap), and 4 s again.
        re_register(&mut m, t(3100), REGISTRAR, &mut out);
        assert_eq!(m.poll_timeout(), Some(t(7000)));
        m.handle_rewrite_timer(t(7000), &mut out);
        complete_writes(&mut m, t(7020), &mut out);
        re_register(&mut m, t(7100), REGISTRAR, &mut out);
        assert_eq!(m.poll_timeout(), Some(t(11000)));
        assert_eq!(m.attempts(), 4);
    }

    #[test]
    fn a_rewrite_due_during_a_write_waits_for_it() {
        let mut m = Miner::new(
            MinerConfig {
                retry_initial: SimDuration::from_millis(1),
                retry_max: SimDuration::from_millis(1),
                ..miner().config
            },
            Identity::from_secret([1; 32]),
        );
        let mut out = Outbox::default();
        m.handle_start(t(0), false, &mut out);
        drain(&mut out);
        re_register(&mut m, t(5), REGISTRAR, &mut out);
        // Due already, but the first write (and its backup) are in flight.
        assert!(writes(&drain(&mut out)).is_empty());
        m.handle_file(t(20), &written("miner-1_miner_info.json"), &mut out);
        assert_eq!(writes(&drain(&mut out))[0].0, "miner-1_miner_info.json.bak");
        m.handle_file(t(40), &written("miner-1_miner_info.json.bak"), &mut out);
        let w = writes(&drain(&mut out));
        assert_eq!(w[0].0, "miner-1_miner_info.json");
        assert_eq!(m.attempts(), 2);
    }

    #[test]
    fn spurious_inputs_are_no_ops() {
        let mut m = miner();
        let mut out = Outbox::default();
        m.handle_rewrite_timer(t(1), &mut out);
        m.handle_file(t(1), &written("miner-1_miner_info.json"), &mut out);
        m.handle_file(
            t(1),
            &FileResult::Read {
                path: "other".into(),
                result: Ok(vec![]),
            },
            &mut out,
        );
        assert!(drain(&mut out).is_empty());
        m.handle_start(t(2), false, &mut out);
        drain(&mut out);
        m.handle_start(t(3), false, &mut out);
        assert!(drain(&mut out).is_empty());
    }
}
