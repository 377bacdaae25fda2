//! Wallet registration end to end: miners and registrars as `HostNode`s
//! driven by a tiny in-test driver (an event queue, an in-memory shared
//! directory, a network with fixed latency), plus property tests of the
//! file validation and of datagram handling.

use std::collections::BTreeMap;

use node_logic::HostId;
use node_logic::host_node::{HostConfig, HostNode};
use node_logic::identity::Identity;
use node_logic::io::{
    FileOp, FileResult, FsError, Input, Node, Observation, Output, RejectReason, TimerId, WriteMode,
};
use node_logic::peers::PeerConfig;
use node_logic::registration::file::{
    REGISTRATION_DOMAIN, Registration, encode, file_name, validate,
};
use node_logic::registration::{
    DamageMode, MinerConfig, RegistrarConfig, RegistrationEvent, RegistrationMessage,
    RegistrationRole, Strategy, ValidationErrorKind, WalletSource, damage, wallet_address,
};
use node_logic::time::{SimDuration, SimTime};
use node_logic::wire::{self, ProtocolTag};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::Value;

const MS: u64 = 1_000_000;
const S: u64 = 1_000 * MS;

fn identity(host: u32) -> Identity {
    Identity::from_secret([host as u8 + 1; 32])
}

// ---------------------------------------------------------------------------
// A small driver: one event queue, an in-memory directory, fixed costs.

enum Event {
    Input(u32, Input),
    Timer(u32, TimerId, u64),
}

struct World {
    hosts: Vec<HostNode>,
    rngs: Vec<ChaCha8Rng>,
    fs: BTreeMap<String, Vec<u8>>,
    queue: BTreeMap<(SimTime, u64), Event>,
    seq: u64,
    /// (host, timer) → generation of the pending timer.
    timers: BTreeMap<(u32, TimerId), u64>,
    watchers: Vec<u32>,
    log: Vec<(SimTime, u32, Output)>,
    /// Hook: damage the next write of this path (a miner writing a bad file).
    damage_next_write: BTreeMap<String, DamageMode>,
    fault_rng: ChaCha8Rng,
}

const FILE_COST: SimDuration = SimDuration::from_millis(2);
const LATENCY: SimDuration = SimDuration::from_millis(10);

impl World {
    fn new(configs: Vec<HostConfig>) -> Self {
        let n = configs.len() as u64;
        World {
            hosts: configs.into_iter().map(HostNode::new).collect(),
            rngs: (0..n).map(ChaCha8Rng::seed_from_u64).collect(),
            fs: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            timers: BTreeMap::new(),
            watchers: Vec::new(),
            log: Vec::new(),
            damage_next_write: BTreeMap::new(),
            fault_rng: ChaCha8Rng::seed_from_u64(99),
        }
    }

    fn push(&mut self, at: SimTime, event: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    fn start_all(&mut self, at: SimTime) {
        for h in 0..self.hosts.len() as u32 {
            self.push(at, Event::Input(h, Input::Start { restarted: false }));
        }
    }

    /// Runs events up to and including `until`.
    fn run_until(&mut self, until: SimTime) {
        while let Some(entry) = self.queue.first_entry() {
            let (now, _) = *entry.key();
            if now > until {
                break;
            }
            let event = entry.remove();
            let (host, input) = match event {
                Event::Input(h, input) => (h, input),
                Event::Timer(h, timer, generation) => {
                    if self.timers.get(&(h, timer)) != Some(&generation) {
                        continue;
                    }
                    self.timers.remove(&(h, timer));
                    (h, Input::Timer(timer))
                }
            };
            let i = host as usize;
            self.hosts[i].handle_input(now, input, &mut self.rngs[i]);
            while let Some(output) = self.hosts[i].poll_output() {
                self.carry_out(now, host, &output);
                self.log.push((now, host, output));
            }
        }
    }

    fn carry_out(&mut self, now: SimTime, host: u32, output: &Output) {
        match output {
            Output::Send { to, payload } => self.push(
                now + LATENCY,
                Event::Input(
                    to.0,
                    Input::Message {
                        from: HostId(host),
                        payload: payload.clone(),
                    },
                ),
            ),
            Output::SetTimer { timer, at } => {
                self.seq += 1;
                let generation = self.seq;
                self.timers.insert((host, *timer), generation);
                self.push(*at, Event::Timer(host, *timer, generation));
            }
            Output::CancelTimer(timer) => {
                self.timers.remove(&(host, *timer));
            }
            Output::File(op) => {
                let (result, changed) = self.apply(op);
                let done = now + FILE_COST;
                if let Some(result) = result {
                    self.push(done, Event::Input(host, Input::File(Box::new(result))));
                }
                if let Some(path) = changed {
                    for w in self.watchers.clone() {
                        self.push(
                            done,
                            Event::Input(w, Input::FileChanged { path: path.clone() }),
                        );
                    }
                }
                if let FileOp::Watch { .. } = &**op {
                    self.watchers.push(host);
                }
            }
            Output::Record(_) => {}
            _ => {}
        }
    }

    /// Applies `op` at once; returns its result and the path changed.
    fn apply(&mut self, op: &FileOp) -> (Option<FileResult>, Option<String>) {
        match op {
            FileOp::Write { path, bytes, .. } => {
                let bytes = match self.damage_next_write.remove(path) {
                    Some(mode) => {
                        let agent = path.trim_end_matches("_miner_info.json").to_string();
                        damage(mode, bytes, &agent, &mut self.fault_rng)
                    }
                    None => bytes.clone(),
                };
                self.fs.insert(path.clone(), bytes);
                (
                    Some(FileResult::Written {
                        path: path.clone(),
                        result: Ok(()),
                    }),
                    Some(path.clone()),
                )
            }
            FileOp::Read { path } => (
                Some(FileResult::Read {
                    path: path.clone(),
                    result: self.fs.get(path).cloned().ok_or(FsError::NotFound),
                }),
                None,
            ),
            FileOp::List { dir } => (
                Some(FileResult::Listed {
                    dir: dir.clone(),
                    result: Ok(self.fs.keys().cloned().collect()),
                }),
                None,
            ),
            FileOp::Rename { from, to } => {
                let result = match self.fs.remove(from) {
                    Some(bytes) => {
                        self.fs.insert(to.clone(), bytes);
                        Ok(())
                    }
                    None => Err(FsError::NotFound),
                };
                let ok = result.is_ok();
                (
                    Some(FileResult::Renamed {
                        from: from.clone(),
                        to: to.clone(),
                        result,
                    }),
                    ok.then(|| to.clone()),
                )
            }
            FileOp::Watch { dir } => (Some(FileResult::Watching { dir: dir.clone() }), None),
            _ => (None, None),
        }
    }

    fn events(&self, host: u32) -> Vec<(SimTime, RegistrationEvent)> {
        self.log
            .iter()
            .filter(|(_, h, _)| *h == host)
            .filter_map(|(at, _, o)| match o {
                Output::Record(Observation::Registration(e)) => Some((*at, e.clone())),
                _ => None,
            })
            .collect()
    }

    fn sends(&self, host: u32) -> Vec<(SimTime, HostId, Vec<u8>)> {
        self.log
            .iter()
            .filter(|(_, h, _)| *h == host)
            .filter_map(|(at, _, o)| match o {
                Output::Send { to, payload } => Some((*at, *to, payload.clone())),
                _ => None,
            })
            .collect()
    }
}

fn miner_config(host: u32, registrars: &[u32]) -> HostConfig {
    HostConfig {
        id: HostId(host),
        identity: identity(host),
        peers: None,
        registration: Some(RegistrationRole::Miner(MinerConfig {
            agent_id: format!("miner-{host}"),
            write_mode: WriteMode::Atomic,
            registrars: registrars.iter().map(|&r| HostId(r)).collect(),
            retry_initial: SimDuration::from_secs(1),
            retry_max: SimDuration::from_secs(8),
        })),
        consensus: None,
        verifier: None,
        consensus_from_registry: None,
    }
}

fn registrar_config(host: u32, miners: &[u32], strategy: Strategy, recover: bool) -> HostConfig {
    HostConfig {
        id: HostId(host),
        identity: identity(host),
        peers: None,
        registration: Some(RegistrationRole::Registrar(RegistrarConfig {
            strategy,
            timeout: SimDuration::from_secs(300),
            expected: miners.len() as u32,
            miners: miners
                .iter()
                .map(|&m| (format!("miner-{m}"), HostId(m)))
                .collect(),
            recover,
            miner_keys: miners
                .iter()
                .map(|&m| (format!("miner-{m}"), identity(m).public_key()))
                .collect(),
            progress_interval: SimDuration::from_secs(30),
            legacy_registry: None,
            write_mode: WriteMode::Atomic,
            announce: false,
        })),
        consensus: None,
        verifier: None,
        consensus_from_registry: None,
    }
}

fn backoff() -> Strategy {
    Strategy::Backoff {
        initial: SimDuration::from_secs(1),
        multiplier: 1.5,
        max: SimDuration::from_secs(10),
        jitter: SimDuration::from_millis(500),
    }
}

fn t(ns: u64) -> SimTime {
    SimTime::from_nanos(ns)
}

#[test]
fn three_miners_register_with_one_registrar() {
    let mut w = World::new(vec![
        registrar_config(0, &[1, 2, 3], backoff(), true),
        miner_config(1, &[0]),
        miner_config(2, &[0]),
        miner_config(3, &[0]),
    ]);
    w.start_all(t(0));
    w.run_until(t(60 * S));
    let registrar = w.hosts[0].registrar().unwrap();
    assert!(registrar.is_ready());
    assert_eq!(registrar.accepted_count(), 3);
    for m in 1..=3u32 {
        let miner = w.hosts[m as usize].miner().unwrap();
        assert_eq!(miner.attempts(), 1);
        let wallet = wallet_address(&identity(m).public_key());
        assert_eq!(
            registrar
                .acceptance(&format!("miner-{m}"))
                .map(|a| a.wallet.clone()),
            Some(wallet)
        );
        assert!(w.fs.contains_key(&format!("miner-{m}_miner_info.json.bak")));
    }
    assert!(w.hosts[0].miner().is_none() && w.hosts[1].registrar().is_none());
    let ready: Vec<_> = w
        .events(0)
        .into_iter()
        .filter(|(_, e)| matches!(e, RegistrationEvent::Ready { .. }))
        .collect();
    assert_eq!(ready.len(), 1);
    assert!(
        ready[0].0 < t(2 * S),
        "ready soon after the files land: {:?}",
        ready[0].0
    );
}

#[test]
fn same_seeds_same_outputs() {
    let run = || {
        let mut w = World::new(vec![
            registrar_config(0, &[1, 2], backoff(), true),
            miner_config(1, &[0]),
            miner_config(2, &[0]),
        ]);
        w.damage_next_write
            .insert("miner-1_miner_info.json".into(), DamageMode::BadSignature);
        w.damage_next_write
            .insert("miner-1_miner_info.json.bak".into(), DamageMode::Truncate);
        w.push(t(0), Event::Input(0, Input::Start { restarted: false }));
        w.push(t(3 * S), Event::Input(1, Input::Start { restarted: false }));
        w.push(t(4 * S), Event::Input(2, Input::Start { restarted: false }));
        w.run_until(t(120 * S));
        (w.log, w.fs)
    };
    let (log, fs) = run();
    assert!(log.len() > 20);
    assert_eq!((log, fs), run());
}

#[test]
fn damaged_file_without_backup_is_repaired_by_re_registration() {
    let mut w = World::new(vec![
        registrar_config(0, &[1, 2], backoff(), true),
        miner_config(1, &[0]),
        miner_config(2, &[0]),
    ]);
    // Miner 2's first write lands damaged; its backup (written after) is
    // fine, so remove it too before the registrar looks.
    w.damage_next_write
        .insert("miner-2_miner_info.json".into(), DamageMode::MissingField);
    w.damage_next_write
        .insert("miner-2_miner_info.json.bak".into(), DamageMode::Garbage);
    w.start_all(t(0));
    w.run_until(t(60 * S));

    let events: Vec<RegistrationEvent> = w.events(0).into_iter().map(|(_, e)| e).collect();
    assert!(events.contains(&RegistrationEvent::Invalid {
        agent: "miner-2".into(),
        error: ValidationErrorKind::MissingField
    }));
    assert!(
        events.iter().any(
            |e| matches!(e, RegistrationEvent::Quarantined { agent, .. } if agent == "miner-2")
        )
    );
    assert!(
        events.contains(&RegistrationEvent::ReRegistrationRequested {
            agent: "miner-2".into()
        })
    );
    // The request went to miner 2's host.
    let sends = w.sends(0);
    assert_eq!(sends.len(), 1, "asked once");
    assert_eq!(sends[0].1, HostId(2));
    let (tag, body) = wire::open(&sends[0].2).unwrap();
    assert_eq!(tag, ProtocolTag::Registration);
    assert_eq!(
        RegistrationMessage::decode(body).unwrap(),
        RegistrationMessage::ReRegister {
            agent: "miner-2".into()
        }
    );
    // The miner rewrote (paced by its backoff) and the registrar accepted it.
    assert_eq!(w.hosts[2].miner().unwrap().attempts(), 2);
    let miner_events: Vec<RegistrationEvent> = w.events(2).into_iter().map(|(_, e)| e).collect();
    assert!(miner_events.contains(&RegistrationEvent::FileWritten {
        agent: "miner-2".into(),
        attempt: 2
    }));
    let registrar = w.hosts[0].registrar().unwrap();
    assert!(registrar.is_ready());
    let accepted = registrar.acceptance("miner-2").unwrap();
    assert_eq!(accepted.source, WalletSource::File);
    assert_eq!(accepted.public_key, Some(identity(2).public_key()));
    // The damaged bytes are kept under the quarantine name.
    let quarantined: Vec<&String> = w.fs.keys().filter(|k| k.contains(".corrupted.")).collect();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(
        validate("miner-2", &w.fs[quarantined[0]]).err(),
        Some(ValidationErrorKind::MissingField)
    );
}

#[test]
fn damaged_file_with_a_valid_backup_is_restored() {
    let mut w = World::new(vec![
        registrar_config(0, &[1], backoff(), true),
        miner_config(1, &[0]),
    ]);
    w.start_all(t(0));
    // Damage the file after both writes landed but before the first check
    // that could accept it: the registrar's first listing is at 0 + cost,
    // so start the registrar late instead.
    w.queue.retain(|_, e| !matches!(e, Event::Input(0, _)));
    w.run_until(t(S));
    let good = w.fs["miner-1_miner_info.json"].clone();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    w.fs.insert(
        "miner-1_miner_info.json".into(),
        damage(DamageMode::Legacy, &good, "miner-1", &mut rng),
    );
    w.push(t(2 * S), Event::Input(0, Input::Start { restarted: false }));
    w.run_until(t(10 * S));
    let events: Vec<RegistrationEvent> = w.events(0).into_iter().map(|(_, e)| e).collect();
    assert!(events.contains(&RegistrationEvent::Invalid {
        agent: "miner-1".into(),
        error: ValidationErrorKind::LegacyFormat
    }));
    assert!(events.contains(&RegistrationEvent::RestoredFromBackup {
        agent: "miner-1".into()
    }));
    assert_eq!(w.fs["miner-1_miner_info.json"], good);
    assert!(w.sends(0).is_empty());
    assert_eq!(
        w.hosts[0]
            .registrar()
            .unwrap()
            .acceptance("miner-1")
            .unwrap()
            .source,
        WalletSource::Backup
    );
}

#[test]
fn watch_strategy_accepts_files_as_they_land() {
    let strategy = Strategy::Watch {
        safety_poll: SimDuration::from_secs(60),
    };
    let mut w = World::new(vec![
        registrar_config(0, &[1, 2], strategy, true),
        miner_config(1, &[0]),
        miner_config(2, &[0]),
    ]);
    // The registrar starts first; the miners come up later, one by one.
    w.push(t(0), Event::Input(0, Input::Start { restarted: false }));
    w.push(t(5 * S), Event::Input(1, Input::Start { restarted: false }));
    w.push(t(7 * S), Event::Input(2, Input::Start { restarted: false }));
    w.run_until(t(30 * S));
    let accepted: Vec<SimTime> = w
        .events(0)
        .into_iter()
        .filter(|(_, e)| matches!(e, RegistrationEvent::Accepted { .. }))
        .map(|(at, _)| at)
        .collect();
    assert_eq!(accepted.len(), 2);
    // Within a few file-operation costs of each write, not at a poll.
    assert!(accepted[0] < t(5 * S + 20 * MS), "{accepted:?}");
    assert!(accepted[1] < t(7 * S + 20 * MS), "{accepted:?}");
    assert!(w.hosts[0].registrar().unwrap().is_ready());
}

#[test]
fn restarted_miner_repairs_its_damaged_file() {
    let mut w = World::new(vec![miner_config(0, &[])]);
    let good = encode(&Registration::signed(&identity(0), "miner-0", t(0)));
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    w.fs.insert(
        file_name("miner-0"),
        damage(DamageMode::Truncate, &good, "miner-0", &mut rng),
    );
    w.push(t(S), Event::Input(0, Input::Start { restarted: true }));
    w.run_until(t(2 * S));
    let file = validate("miner-0", &w.fs["miner-0_miner_info.json"]).unwrap();
    assert_eq!(
        file.registered_at(),
        t(S) + FILE_COST,
        "written when the read showed the damage"
    );
    assert_eq!(
        w.fs["miner-0_miner_info.json.bak"],
        w.fs["miner-0_miner_info.json"]
    );
}

// ---------------------------------------------------------------------------
// Datagrams.

fn host_with(role: Option<RegistrationRole>, peers: bool) -> HostNode {
    HostNode::new(HostConfig {
        id: HostId(5),
        identity: identity(5),
        peers: peers.then(|| {
            let members = vec![HostId(5), HostId(6)];
            PeerConfig::new(
                HostId(5),
                members.clone(),
                members,
                SimDuration::from_secs(5),
                SimDuration::from_secs(30),
            )
        }),
        registration: role,
        consensus: None,
        verifier: None,
        consensus_from_registry: None,
    })
}

fn deliver(node: &mut HostNode, from: u32, payload: Vec<u8>, rng: &mut ChaCha8Rng) -> Vec<Output> {
    node.handle_input(
        t(S),
        Input::Message {
            from: HostId(from),
            payload,
        },
        rng,
    );
    std::iter::from_fn(|| node.poll_output()).collect()
}

fn rejected(from: u32, reason: RejectReason) -> Vec<Output> {
    vec![Output::Record(Observation::MessageRejected {
        from: HostId(from),
        reason,
    })]
}

#[test]
fn registration_datagrams_are_routed_by_role() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let request = RegistrationMessage::ReRegister {
        agent: "miner-5".into(),
    }
    .encode();
    let miner_role = || {
        Some(RegistrationRole::Miner(MinerConfig {
            agent_id: "miner-5".into(),
            write_mode: WriteMode::InPlace,
            registrars: vec![HostId(0)],
            retry_initial: SimDuration::from_secs(1),
            retry_max: SimDuration::from_secs(8),
        }))
    };
    // A miner obeys its registrar (it wrote at start, long ago: rewrite now).
    let mut miner = host_with(miner_role(), false);
    miner.handle_input(t(0), Input::Start { restarted: false }, &mut rng);
    for path in ["miner-5_miner_info.json", "miner-5_miner_info.json.bak"] {
        let done = FileResult::Written {
            path: path.into(),
            result: Ok(()),
        };
        miner.handle_input(t(20 * MS), Input::File(Box::new(done)), &mut rng);
    }
    while miner.poll_output().is_some() {}
    let outputs = deliver(&mut miner, 0, request.clone(), &mut rng);
    assert!(matches!(
        &outputs[..],
        [Output::File(op)] if matches!(&**op, FileOp::Write { path, mode: WriteMode::InPlace, .. } if path == "miner-5_miner_info.json")
    ));
    // ... and rejects others.
    assert_eq!(
        deliver(&mut miner, 3, request.clone(), &mut rng),
        rejected(3, RejectReason::NotAMember)
    );
    // A registrar and a host without a role refuse registration datagrams.
    let registrar_role = match registrar_config(5, &[1], backoff(), true).registration {
        Some(role) => role,
        None => unreachable!(),
    };
    let mut registrar = host_with(Some(registrar_role), false);
    assert_eq!(
        deliver(&mut registrar, 0, request.clone(), &mut rng),
        rejected(0, RejectReason::NotAMember)
    );
    let mut plain = host_with(None, true);
    assert_eq!(
        deliver(&mut plain, 0, request, &mut rng),
        rejected(0, RejectReason::NotAMember)
    );
}

#[test]
fn malformed_registration_datagrams_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let miner_role = Some(RegistrationRole::Miner(MinerConfig {
        agent_id: "miner-5".into(),
        write_mode: WriteMode::Atomic,
        registrars: vec![HostId(0)],
        retry_initial: SimDuration::from_secs(1),
        retry_max: SimDuration::from_secs(8),
    }));
    let mut miner = host_with(miner_role, true);
    miner.handle_input(t(0), Input::Start { restarted: false }, &mut rng);
    while miner.poll_output().is_some() {}
    let good = RegistrationMessage::ReRegister {
        agent: "miner-5".into(),
    }
    .encode();
    for cut in 0..good.len() {
        let outputs = deliver(&mut miner, 0, good[..cut].to_vec(), &mut rng);
        assert_eq!(outputs, rejected(0, RejectReason::Malformed), "cut {cut}");
    }
    let mut longer = good.clone();
    longer.push(7);
    assert_eq!(
        deliver(&mut miner, 0, longer, &mut rng),
        rejected(0, RejectReason::Malformed)
    );
    for _ in 0..3000 {
        let len = (rng.next_u32() % 100) as usize;
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        if len >= 2 {
            bytes[0] = wire::WIRE_VERSION;
            bytes[1] = ProtocolTag::Registration as u8;
        }
        let from = rng.next_u32() % 2;
        let outputs = deliver(&mut miner, from, bytes, &mut rng);
        // Random bytes are refused (a valid request is astronomically unlikely).
        assert_eq!(outputs.len(), 1);
        assert!(matches!(
            outputs[0],
            Output::Record(Observation::MessageRejected { .. })
        ));
    }
}

#[test]
fn peers_keep_working_next_to_a_registration_role() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let role = Some(RegistrationRole::Miner(MinerConfig {
        agent_id: "miner-5".into(),
        write_mode: WriteMode::Atomic,
        registrars: vec![],
        retry_initial: SimDuration::from_secs(1),
        retry_max: SimDuration::from_secs(8),
    }));
    let mut node = host_with(role, true);
    node.handle_input(t(0), Input::Start { restarted: false }, &mut rng);
    let outputs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Send { to: HostId(6), .. }))
    );
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::SetTimer {
            timer: TimerId::PeerHeartbeat,
            ..
        }
    )));
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::File(op) if matches!(**op, FileOp::Write { .. })))
    );
    // A heartbeat goes to the peers, a rewrite timer nowhere (none pending).
    node.handle_input(t(S), Input::Timer(TimerId::MinerRewrite), &mut rng);
    node.handle_input(t(S), Input::Timer(TimerId::RegistrationCheck), &mut rng);
    assert!(node.poll_output().is_none());
    node.handle_input(t(5 * S), Input::Timer(TimerId::PeerHeartbeat), &mut rng);
    assert!(std::iter::from_fn(|| node.poll_output()).any(|o| matches!(o, Output::Send { .. })));
}

// ---------------------------------------------------------------------------
// Property: validation never accepts altered content.

/// One random alteration of a valid file's bytes.
fn mutate(bytes: &[u8], record: &Registration, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut json: Value = serde_json::from_slice(bytes).unwrap();
    let object = json.as_object_mut().unwrap();
    let other = Identity::from_secret({
        let mut s = [0u8; 32];
        rng.fill_bytes(&mut s);
        s
    });
    match rng.next_u32() % 12 {
        0 | 1 => {
            let mut out = bytes.to_vec();
            for _ in 0..1 + rng.next_u32() % 3 {
                let bit = (rng.next_u64() % (out.len() as u64 * 8)) as usize;
                out[bit / 8] ^= 1 << (bit % 8);
            }
            return out;
        }
        2 => return bytes[..(rng.next_u64() % bytes.len() as u64) as usize].to_vec(),
        3 => {
            let mut out = bytes.to_vec();
            let at = (rng.next_u64() % (out.len() as u64 + 1)) as usize;
            out.insert(at, rng.next_u32() as u8);
            return out;
        }
        4 => {
            object.insert(
                "wallet_address".into(),
                wallet_address(&other.public_key()).into(),
            );
        }
        5 => {
            object.insert(
                "agent_id".into(),
                format!("miner-{}", rng.next_u32() % 5).into(),
            );
        }
        6 => {
            object.insert(
                "registered_at".into(),
                (rng.next_u64() % 1_000_000_000_000).into(),
            );
        }
        7 => {
            object.insert("public_key".into(), other.public_key().to_hex().into());
            if rng.next_u32().is_multiple_of(2) {
                object.insert(
                    "wallet_address".into(),
                    wallet_address(&other.public_key()).into(),
                );
            }
        }
        8 => {
            let sig = other.sign(REGISTRATION_DOMAIN, &record.signing_bytes());
            object.insert("signature".into(), node_logic::identity::hex(&sig).into());
        }
        9 => {
            // Whitespace only: must decode to the original record.
            return serde_json::to_vec(&json).unwrap();
        }
        10 => {
            // A duplicate key appended after the original ones.
            let mut text = String::from_utf8(bytes.to_vec()).unwrap();
            let close = text.rfind('}').unwrap();
            text.insert_str(close, ", \"registered_at\": 7");
            return text.into_bytes();
        }
        _ => {
            // A whole record by another key, for this agent.
            let forged = Registration::signed(&other, &record.agent_id, record.registered_at);
            let mut forged = forged;
            forged.public_key = record.public_key;
            return encode(&forged);
        }
    }
    serde_json::to_vec_pretty(&json).unwrap()
}

#[test]
fn validation_never_accepts_altered_content() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut rejected = 0;
    let mut same = 0;
    for case in 0..4000u32 {
        let secret = {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            s
        };
        let id = Identity::from_secret(secret);
        let agent = format!("miner-{}", case % 5);
        let record = Registration::signed(&id, &agent, t(rng.next_u64() % (1 << 50)));
        let bytes = encode(&record);
        let mutated = mutate(&bytes, &record, &mut rng);
        match validate(&agent, &mutated) {
            Ok(valid) => {
                assert_eq!(
                    valid.record(),
                    &record,
                    "case {case}: {}",
                    String::from_utf8_lossy(&mutated)
                );
                same += 1;
            }
            Err(_) => rejected += 1,
        }
    }
    assert!(
        rejected > 3000,
        "the alterations mostly change content: {rejected}"
    );
    assert!(same > 100, "whitespace-only changes are accepted: {same}");
}

#[test]
fn foreign_key_cannot_claim_a_wallet() {
    // A file whose key is the miner's but whose signature is another's is
    // refused whatever the field values.
    let miner = identity(1);
    let thief = identity(2);
    let mut record = Registration::signed(&thief, "miner-1", t(0));
    record.public_key = miner.public_key();
    record.wallet_address = wallet_address(&miner.public_key());
    assert_eq!(
        validate("miner-1", &encode(&record)).err(),
        Some(ValidationErrorKind::BadSignature)
    );
}
