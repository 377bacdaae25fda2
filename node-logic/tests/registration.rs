//! Wallet registration end to end: miners and registrars as `HostNode`s
//! driven by a tiny in-test driver (an event queue, an in-memory shared
//! directory, a network with fixed latency), plus property tests of the
//! file validation and of datagram handling.

use node_logic::HostId;
use node_logic::identity::Identity;
use node_logic::io::{FileOp, FileResult, Input, Node, Output, RejectReason, WriteMode};
use node_logic::protocols::peers::PeerConfig;
use node_logic::protocols::peers::PeerTimer;
use node_logic::protocols::registration::RegistrationTimer;
use node_logic::protocols::registration::file::{
    REGISTRATION_DOMAIN, Registration, encode, file_name, validate,
};
use node_logic::protocols::registration::{
    DamageMode, MinerConfig, RegistrarConfig, RegistrationEvent, RegistrationMessage,
    RegistrationRole, Strategy, ValidationErrorKind, WalletSource, damage, wallet_address,
};
use node_logic::protocols::{HostConfig, HostNode, Observation, ProtocolTag, TimerId};
use node_logic::testkit::{self, TestNet};
use node_logic::time::{SimDuration, SimTime};
use node_logic::wire;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::Value;

const MS: u64 = 1_000_000;
const S: u64 = 1_000 * MS;

fn identity(host: u32) -> Identity {
    Identity::from_secret([host as u8 + 1; 32])
}

// ---------------------------------------------------------------------------
// The shared test driver (`node_logic::testkit`), plus what these tests ask.

const FILE_COST: SimDuration = SimDuration::from_millis(2);

fn world(configs: Vec<HostConfig>) -> TestNet {
    let net = TestNet::of(configs, 0);
    assert_eq!(net.file_cost, FILE_COST);
    net
}

fn events(w: &TestNet, host: u32) -> Vec<(SimTime, RegistrationEvent)> {
    w.observations(HostId(host))
        .filter_map(|(at, o)| match o {
            Observation::Registration(e) => Some((at, e.clone())),
            _ => None,
        })
        .collect()
}

fn sends(w: &TestNet, host: u32) -> Vec<(SimTime, HostId, Vec<u8>)> {
    w.sends(HostId(host))
        .map(|(at, to, payload)| (at, to, payload.to_vec()))
        .collect()
}

/// The next write of `path` lands damaged by `mode` (a miner writing a bad
/// file in the first place).
fn damage_next_write(w: &mut TestNet, path: &str, mode: DamageMode) {
    let agent = path
        .trim_end_matches(".bak")
        .trim_end_matches("_miner_info.json")
        .to_string();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    w.dir_mut().damage_next_write(
        path,
        Box::new(move |bytes| damage(mode, bytes, &agent, &mut rng)),
    );
}

fn file(w: &TestNet, path: &str) -> Vec<u8> {
    w.dir().get(path).cloned().expect("the file exists")
}

fn miner_config(host: u32, registrars: &[u32]) -> HostConfig {
    HostConfig::new(HostId(host), identity(host)).with_registration(RegistrationRole::Miner(
        MinerConfig {
            agent_id: format!("miner-{host}"),
            write_mode: WriteMode::Atomic,
            registrars: registrars.iter().map(|&r| HostId(r)).collect(),
            retry_initial: SimDuration::from_secs(1),
            retry_max: SimDuration::from_secs(8),
            ask_registry: false,
            verifier: None,
        },
    ))
}

fn registrar_config(host: u32, miners: &[u32], strategy: Strategy, recover: bool) -> HostConfig {
    HostConfig::new(HostId(host), identity(host)).with_registration(RegistrationRole::Registrar(
        RegistrarConfig {
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
            settle: SimDuration::from_millis(100),
            announce: false,
            parallel_reads: 1,
            shared_validation: None,
            verifier: None,
            skip_unchanged: false,
            shard: None,
        },
    ))
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
    let mut w = world(vec![
        registrar_config(0, &[1, 2, 3], backoff(), true),
        miner_config(1, &[0]),
        miner_config(2, &[0]),
        miner_config(3, &[0]),
    ]);
    w.start_all(t(0));
    w.run_until(t(60 * S));
    let registrar = w.node(HostId(0)).registrar().unwrap();
    assert!(registrar.is_ready());
    assert_eq!(registrar.accepted_count(), 3);
    for m in 1..=3u32 {
        let miner = w.node(HostId(m)).miner().unwrap();
        assert_eq!(miner.attempts(), 1);
        let wallet = wallet_address(&identity(m).public_key());
        assert_eq!(
            registrar
                .acceptance(&format!("miner-{m}"))
                .map(|a| a.wallet.clone()),
            Some(wallet)
        );
        assert!(
            w.dir()
                .get(&format!("miner-{m}_miner_info.json.bak"))
                .is_some()
        );
    }
    assert!(w.node(HostId(0)).miner().is_none() && w.node(HostId(1)).registrar().is_none());
    let ready: Vec<_> = events(&w, 0)
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
        let mut w = world(vec![
            registrar_config(0, &[1, 2], backoff(), true),
            miner_config(1, &[0]),
            miner_config(2, &[0]),
        ]);
        damage_next_write(&mut w, "miner-1_miner_info.json", DamageMode::BadSignature);
        damage_next_write(&mut w, "miner-1_miner_info.json.bak", DamageMode::Truncate);
        w.start(HostId(0), t(0));
        w.start(HostId(1), t(3 * S));
        w.start(HostId(2), t(4 * S));
        w.run_until(t(120 * S));
        let logs: Vec<_> = w.hosts().map(|h| w.log(h).to_vec()).collect();
        (logs, w.dir().files().clone())
    };
    let (log, fs) = run();
    let entries: usize = log.iter().map(Vec::len).sum();
    assert!(entries >= 10, "{entries} entries");
    assert_eq!((log, fs), run());
}

#[test]
fn damaged_file_without_backup_is_repaired_by_re_registration() {
    let mut w = world(vec![
        registrar_config(0, &[1, 2], backoff(), true),
        miner_config(1, &[0]),
        miner_config(2, &[0]),
    ]);
    // Miner 2's first write lands damaged; its backup (written after) is
    // fine, so remove it too before the registrar looks.
    damage_next_write(&mut w, "miner-2_miner_info.json", DamageMode::MissingField);
    damage_next_write(&mut w, "miner-2_miner_info.json.bak", DamageMode::Garbage);
    w.start_all(t(0));
    w.run_until(t(60 * S));

    let seen: Vec<RegistrationEvent> = events(&w, 0).into_iter().map(|(_, e)| e).collect();
    assert!(seen.contains(&RegistrationEvent::Invalid {
        agent: "miner-2".into(),
        error: ValidationErrorKind::MissingField
    }));
    assert!(
        seen.iter().any(
            |e| matches!(e, RegistrationEvent::Quarantined { agent, .. } if agent == "miner-2")
        )
    );
    assert!(seen.contains(&RegistrationEvent::ReRegistrationRequested {
        agent: "miner-2".into()
    }));
    // The request went to miner 2's host.
    let sends = sends(&w, 0);
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
    assert_eq!(w.node(HostId(2)).miner().unwrap().attempts(), 2);
    let miner_events: Vec<RegistrationEvent> = events(&w, 2).into_iter().map(|(_, e)| e).collect();
    assert!(miner_events.contains(&RegistrationEvent::FileWritten {
        agent: "miner-2".into(),
        attempt: 2
    }));
    let registrar = w.node(HostId(0)).registrar().unwrap();
    assert!(registrar.is_ready());
    let accepted = registrar.acceptance("miner-2").unwrap();
    assert_eq!(accepted.source, WalletSource::File);
    assert_eq!(accepted.public_key, Some(identity(2).public_key()));
    // The damaged bytes are kept under the quarantine name.
    let quarantined: Vec<&String> = w
        .dir()
        .files()
        .keys()
        .filter(|k| k.contains(".corrupted."))
        .collect();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(
        validate("miner-2", &file(&w, quarantined[0])).err(),
        Some(ValidationErrorKind::MissingField)
    );
}

#[test]
fn damaged_file_with_a_valid_backup_is_restored() {
    let mut w = world(vec![
        registrar_config(0, &[1], backoff(), true),
        miner_config(1, &[0]),
    ]);
    // Damage the file after both writes landed but before the first check
    // that could accept it: the registrar's first listing is at 0 + cost,
    // so start the registrar late instead.
    w.start(HostId(1), t(0));
    w.run_until(t(S));
    let good = file(&w, "miner-1_miner_info.json");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    w.dir_mut().put(
        "miner-1_miner_info.json",
        damage(DamageMode::Legacy, &good, "miner-1", &mut rng),
    );
    w.start(HostId(0), t(2 * S));
    w.run_until(t(10 * S));
    let seen: Vec<RegistrationEvent> = events(&w, 0).into_iter().map(|(_, e)| e).collect();
    assert!(seen.contains(&RegistrationEvent::Invalid {
        agent: "miner-1".into(),
        error: ValidationErrorKind::LegacyFormat
    }));
    assert!(seen.contains(&RegistrationEvent::RestoredFromBackup {
        agent: "miner-1".into()
    }));
    assert_eq!(file(&w, "miner-1_miner_info.json"), good);
    assert!(sends(&w, 0).is_empty());
    assert_eq!(
        w.node(HostId(0))
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
    let mut w = world(vec![
        registrar_config(0, &[1, 2], strategy, true),
        miner_config(1, &[0]),
        miner_config(2, &[0]),
    ]);
    // The registrar starts first; the miners come up later, one by one.
    w.start(HostId(0), t(0));
    w.start(HostId(1), t(5 * S));
    w.start(HostId(2), t(7 * S));
    w.run_until(t(30 * S));
    let accepted: Vec<SimTime> = events(&w, 0)
        .into_iter()
        .filter(|(_, e)| matches!(e, RegistrationEvent::Accepted { .. }))
        .map(|(at, _)| at)
        .collect();
    assert_eq!(accepted.len(), 2);
    // Within a few file-operation costs of each write, not at a poll.
    assert!(accepted[0] < t(5 * S + 20 * MS), "{accepted:?}");
    assert!(accepted[1] < t(7 * S + 20 * MS), "{accepted:?}");
    assert!(w.node(HostId(0)).registrar().unwrap().is_ready());
}

#[test]
fn restarted_miner_repairs_its_damaged_file() {
    let mut w = world(vec![miner_config(0, &[])]);
    let good = encode(&Registration::signed(&identity(0), "miner-0", t(0)));
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    w.dir_mut().put(
        &file_name("miner-0"),
        damage(DamageMode::Truncate, &good, "miner-0", &mut rng),
    );
    w.schedule(HostId(0), t(S), Input::Start { restarted: true });
    w.run_until(t(2 * S));
    let written = validate("miner-0", &file(&w, "miner-0_miner_info.json")).unwrap();
    assert_eq!(
        written.registered_at(),
        t(S) + FILE_COST,
        "written when the read showed the damage"
    );
    assert_eq!(
        file(&w, "miner-0_miner_info.json.bak"),
        file(&w, "miner-0_miner_info.json")
    );
}

// ---------------------------------------------------------------------------
// Datagrams.

fn host_with(role: Option<RegistrationRole>, peers: bool) -> HostNode {
    let mut config = HostConfig::new(HostId(5), identity(5));
    if peers {
        let members = vec![HostId(5), HostId(6)];
        config = config.with_peers(PeerConfig::new(
            HostId(5),
            members.clone(),
            members,
            SimDuration::from_secs(5),
            SimDuration::from_secs(30),
        ));
    }
    if let Some(role) = role {
        config = config.with_registration(role);
    }
    HostNode::new(config)
}

fn deliver(node: &mut HostNode, from: u32, payload: Vec<u8>, rng: &mut ChaCha8Rng) -> Vec<Output> {
    let input = Input::Message {
        from: HostId(from),
        payload: payload.into(),
    };
    testkit::drive(node, t(S), input, rng)
}

fn rejected(from: u32, reason: RejectReason) -> Vec<Output> {
    vec![Output::Record(Box::new(Observation::MessageRejected {
        from: HostId(from),
        reason,
    }))]
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
            ask_registry: false,
            verifier: None,
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
        ask_registry: false,
        verifier: None,
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
            &outputs[0],
            Output::Record(observation)
                if matches!(**observation, Observation::MessageRejected { .. })
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
        ask_registry: false,
        verifier: None,
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
            timer: TimerId::Peers(PeerTimer::Heartbeat),
            ..
        }
    )));
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::File(op) if matches!(**op, FileOp::Write { .. })))
    );
    // A heartbeat goes to the peers, a rewrite timer nowhere (none pending).
    node.handle_input(
        t(S),
        Input::Timer(TimerId::Registration(RegistrationTimer::MinerRewrite)),
        &mut rng,
    );
    node.handle_input(
        t(S),
        Input::Timer(TimerId::Registration(RegistrationTimer::Check)),
        &mut rng,
    );
    assert!(node.poll_output().is_none());
    node.handle_input(
        t(5 * S),
        Input::Timer(TimerId::Peers(PeerTimer::Heartbeat)),
        &mut rng,
    );
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

// ---------------------------------------------------------------------------
// Crash-safe recovery: a registrar killed between the steps of a recovery.

/// What finishes a recovery a killed registrar left half done.
#[derive(Clone, Copy, Debug)]
enum Finisher {
    /// The same registrar, restarted (it remembers nothing).
    Restarted,
    /// Another registrar that starts after the kill.
    Another,
}

/// Miner 1's file is damaged before any registrar looks (and its backup
/// too unless `backup_valid`); miner 2's is fine. Registrar 0 starts at
/// 2 s and is killed at `kill` (none: it runs to the end); registrar 3
/// exists only for [`Finisher::Another`] and starts 1 s after the kill.
fn recovery_world(backup_valid: bool, kill: Option<(SimTime, Finisher)>) -> TestNet {
    recovery_world_listed(backup_valid, kill, false)
}

/// [`recovery_world`], its directory's listings plain (`plain_listings`:
/// a full pass each, as a real directory's) or from its journal.
fn recovery_world_listed(
    backup_valid: bool,
    kill: Option<(SimTime, Finisher)>,
    plain_listings: bool,
) -> TestNet {
    let registrar = |host| registrar_config(host, &[1, 2], backoff(), true);
    let mut w = world(vec![
        registrar(0),
        miner_config(1, &[0, 3]),
        miner_config(2, &[0, 3]),
        registrar(3),
    ]);
    w.dir_mut().set_plain_listings(plain_listings);
    w.start(HostId(1), t(0));
    w.start(HostId(2), t(0));
    w.run_until(t(S));
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for path in ["miner-1_miner_info.json", "miner-1_miner_info.json.bak"] {
        if path.ends_with(".bak") && backup_valid {
            continue;
        }
        let good = file(&w, path);
        w.dir_mut().put(
            path,
            damage(DamageMode::Garbage, &good, "miner-1", &mut rng),
        );
    }
    w.start(HostId(0), t(2 * S));
    let Some((at, finisher)) = kill else {
        w.run_until(t(120 * S));
        return w;
    };
    w.run_until(at);
    w.crash(HostId(0));
    let later = at + SimDuration::from_secs(1);
    w.run_until(later);
    match finisher {
        Finisher::Restarted => w.restart(HostId(0)),
        Finisher::Another => w.start(HostId(3), later),
    }
    w.run_until(t(120 * S));
    w
}

/// When registrar 0 issued each file operation or request of miner 1's
/// recovery, in order: each is the moment an observation is recorded (the
/// result that led to it arrived then), and the first is the damaged
/// read's issue, one file cost before its `Invalid`.
fn recovery_steps(w: &TestNet) -> Vec<SimTime> {
    let mut steps = Vec::new();
    for (at, e) in events(w, 0) {
        let (RegistrationEvent::Invalid { agent, .. }
        | RegistrationEvent::Quarantined { agent, .. }
        | RegistrationEvent::Accepted { agent, .. }
        | RegistrationEvent::RestoredFromBackup { agent }
        | RegistrationEvent::ReRegistrationRequested { agent }) = &e
        else {
            continue;
        };
        if agent != "miner-1" {
            continue;
        }
        if steps.is_empty() {
            steps.push(SimTime::from_nanos(at.as_nanos() - FILE_COST.as_nanos()));
        }
        steps.push(at);
        if matches!(
            e,
            RegistrationEvent::RestoredFromBackup { .. }
                | RegistrationEvent::ReRegistrationRequested { .. }
        ) {
            break;
        }
    }
    steps
}

/// Everything registrars `hosts` of `w` did, and the directory at the end.
fn transcript(w: &TestNet, hosts: &[u32]) -> String {
    let logs: Vec<String> = hosts
        .iter()
        .map(|&h| format!("{:?}", w.log(HostId(h))))
        .collect();
    format!("{logs:?} {:?}", w.dir().files())
}

/// A registrar takes a listing that continues its last one by the
/// changes alone (the simulator's listings); it must do exactly what a
/// full pass over every name does (a real directory's listings): the same
/// operations, messages and observations at the same times, through
/// quarantines, recoveries, registrars killed half way, and miners that
/// land between listings (some damaged, some repaired by re-registration).
#[test]
fn listings_taken_by_their_changes_act_as_full_passes() {
    for backup_valid in [true, false] {
        let steps = recovery_steps(&recovery_world(backup_valid, None));
        let kills = steps
            .iter()
            .flat_map(|&at| [Finisher::Restarted, Finisher::Another].map(|f| Some((at, f))));
        for kill in [None].into_iter().chain(kills) {
            let [journaled, plain] =
                [false, true].map(|plain| recovery_world_listed(backup_valid, kill, plain));
            assert_eq!(
                transcript(&journaled, &[0, 3]),
                transcript(&plain, &[0, 3]),
                "backup valid {backup_valid}, {kill:?}"
            );
        }
    }
    let staggered = |plain: bool, recover: bool| {
        // Miner 13 is known and never starts.
        let miners: Vec<u32> = (1..=13).collect();
        let mut configs = vec![registrar_config(0, &miners, backoff(), recover)];
        configs.extend(miners.iter().map(|&m| miner_config(m, &[0])));
        let mut w = world(configs);
        w.dir_mut().set_plain_listings(plain);
        for m in [3, 7, 8] {
            damage_next_write(
                &mut w,
                &file_name(&format!("miner-{m}")),
                DamageMode::Garbage,
            );
        }
        w.start(HostId(0), t(0));
        for m in 1..=12 {
            w.start(HostId(m), t(u64::from(m) * 700 * MS));
        }
        // A damaged file (read again and again without recovery) leaves
        // the directory for a while; a quarantined file appears that no
        // one finishes recovering (no main file, no backup).
        let gone = file_name("miner-8");
        w.run_until(t(7_800 * MS));
        let bytes = w.dir().get(&gone).cloned();
        w.dir_mut().apply(FileOp::Delete { path: gone.clone() });
        w.dir_mut()
            .put("miner-13_miner_info.json.corrupted.5", b"{}".to_vec());
        w.run_until(t(20 * S));
        if let Some(bytes) = bytes {
            w.dir_mut().put(&gone, bytes);
        }
        w.run_until(t(120 * S));
        transcript(&w, &[0])
    };
    for recover in [true, false] {
        assert_eq!(
            staggered(false, recover),
            staggered(true, recover),
            "recover {recover}"
        );
    }
}

#[test]
fn a_registrar_killed_at_every_step_of_a_recovery_still_registers_every_miner() {
    for backup_valid in [true, false] {
        let steps = recovery_steps(&recovery_world(backup_valid, None));
        // Read, quarantine, read the backup, then restore (read, rename,
        // read, write, written) or ask the miner (read, rename, read, ask).
        let expected = if backup_valid { 5 } else { 4 };
        assert_eq!(
            steps.len(),
            expected,
            "backup valid: {backup_valid}: {steps:?}"
        );
        for (k, &at) in steps.iter().enumerate() {
            for finisher in [Finisher::Restarted, Finisher::Another] {
                let w = recovery_world(backup_valid, Some((at, finisher)));
                let (survivor, miners) = match finisher {
                    Finisher::Restarted => (0, &[1u32, 2][..]),
                    Finisher::Another => (3, &[1u32, 2][..]),
                };
                let registrar = w.node(HostId(survivor)).registrar().unwrap();
                let case =
                    format!("backup valid {backup_valid}, killed after step {k}, {finisher:?}");
                assert!(registrar.is_ready(), "{case}");
                assert!(
                    registrar.missing().is_empty(),
                    "{case}: {:?}",
                    registrar.missing()
                );
                for &m in miners {
                    let wallet = wallet_address(&identity(m).public_key());
                    let agent = format!("miner-{m}");
                    assert_eq!(
                        registrar.acceptance(&agent).map(|a| a.wallet.clone()),
                        Some(wallet),
                        "{case}"
                    );
                    // The main file is whole again (restored or rewritten).
                    assert!(
                        validate(&agent, &file(&w, &file_name(&agent))).is_ok(),
                        "{case}"
                    );
                }
            }
        }
    }
}

/// With the registry announced (`announce`), a restarted miner that needs
/// it (`ask_registry`) asks its registrar and gets the very announcement
/// again; a host that is not a miner of the registrar is refused.
#[test]
fn a_restarted_miner_asks_for_the_registry_and_gets_the_same_one() {
    let announcing = |host, miners: &[u32]| {
        let mut c = registrar_config(host, miners, backoff(), true);
        if let Some(RegistrationRole::Registrar(r)) = c.registration.as_mut() {
            r.announce = true;
        }
        c
    };
    let asking = |host| {
        let mut c = miner_config(host, &[0]);
        if let Some(RegistrationRole::Miner(m)) = c.registration.as_mut() {
            m.ask_registry = true;
        }
        c
    };
    let mut w = world(vec![announcing(0, &[1, 2]), asking(1), asking(2)]);
    w.start_all(t(0));
    w.run_until(t(30 * S));
    let registry = |w: &TestNet| -> Vec<(SimTime, HostId, Vec<u8>)> {
        sends(w, 0)
            .into_iter()
            .filter(|(_, _, p)| matches!(decode(p), Some(RegistrationMessage::Registry { .. })))
            .collect()
    };
    let first = registry(&w);
    assert_eq!(first.len(), 2, "announced once to each miner");
    assert!(!asks(&w, 1), "no request before a restart");
    w.crash(HostId(1));
    w.run_until(t(40 * S));
    w.restart(HostId(1));
    w.run_until(t(60 * S));
    assert!(asks(&w, 1), "the restarted miner asks");
    let again = registry(&w);
    assert_eq!(again.len(), 3, "answered once: the miner stops asking");
    assert_eq!((again[2].1, &again[2].2), (HostId(1), &first[0].2));
    // Asking is not enough to be answered: only the registrar's miners are.
    let request = RegistrationMessage::RegistryRequest.encode();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let role = announcing(5, &[1]).registration;
    let mut registrar = host_with(role, false);
    assert_eq!(
        deliver(&mut registrar, 7, request, &mut rng),
        rejected(7, RejectReason::NotAMember)
    );
}

fn decode(payload: &[u8]) -> Option<RegistrationMessage> {
    let (_, body) = node_logic::wire::open(payload).ok()?;
    RegistrationMessage::decode(body).ok()
}

/// Whether `host` sent a registry request.
fn asks(w: &TestNet, host: u32) -> bool {
    sends(w, host)
        .iter()
        .any(|(_, _, p)| decode(p) == Some(RegistrationMessage::RegistryRequest))
}
