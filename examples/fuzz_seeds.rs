//! Writes the fuzz targets' seed corpora into `fuzz/seeds/<target>/` from
//! the bundled files and from messages of real simulated runs:
//!
//! ```sh
//! cargo run --example fuzz_seeds    # from the repository root
//! ```
//!
//! Scenarios (`scenarios/`, `tests/scenarios/`, some with `--set`
//! arguments), GML graphs (`scenarios/topologies/`, built-in topologies
//! written as GML), legacy registries (`scenarios/registries/`),
//! registration files (signed, legacy, and every damage mode), the
//! datagrams of every protocol delivered in `consensus-leader-crash`,
//! `heartbeat-partition`, `network-bring-up` and `gossip-rumor` (plus
//! registration messages built here), and transport frames around some of
//! them. The
//! output is the same on every run (seeded, sorted).

#[path = "../fuzz/src/checks.rs"]
#[allow(dead_code)]
mod checks;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use node_logic::frame::{Stamp, seal};
use node_logic::protocols::registration::damage::{DamageMode, damage};
use node_logic::protocols::registration::file::{self, Registration};
use node_logic::protocols::registration::message::{MAX_ANNOUNCED_AGENTS, RegistrationMessage};
use node_logic::{HostId, ProtocolTag};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sim::model::load;
use sim::runner::prepare;
use sim_core::network::topology::{Link, Topology};
use sim_core::network::write_gml;
use sim_core::trace::{TraceEvent, TraceKind, TraceSink};
use sim_core::units::{Probability, SimDuration, SimTime};

/// Distinct datagrams kept per protocol and first body byte (message kind).
const PER_KIND: usize = 6;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let seeds = root.join("fuzz/seeds");
    let mut out = Seeds::default();
    scenarios(&root, &mut out);
    graphs(&root, &mut out);
    registries(&root, &mut out);
    registration_files(&mut out);
    registration_messages(&mut out);
    messages(&root, &mut out);
    for (target, files) in &out.0 {
        let dir = seeds.join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("the seeds folder can be made");
        for (name, bytes) in files {
            fs::write(dir.join(name), bytes).expect("a seed can be written");
        }
        println!("{target}: {} seeds", files.len());
    }
}

/// Seed files by target, then by file name.
#[derive(Default)]
struct Seeds(BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>);

impl Seeds {
    fn add(&mut self, target: &'static str, name: impl Into<String>, bytes: Vec<u8>) {
        self.0.entry(target).or_default().insert(name.into(), bytes);
    }
}

/// The files in `dir` ending in `ext`, sorted, recursively.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("x")
        .to_string()
}

fn scenarios(root: &Path, out: &mut Seeds) {
    let sets = b"\0duration=2 min\nhosts.0.count=3\nnetwork.loss=0.5\n";
    for dir in ["scenarios", "tests/scenarios"] {
        for path in files(&root.join(dir), "toml") {
            let bytes = fs::read(&path).expect("a bundled scenario is readable");
            out.add("scenario", format!("{}.toml", stem(&path)), bytes.clone());
            out.add(
                "scenario",
                format!("{}-set.toml", stem(&path)),
                [&bytes[..], sets].concat(),
            );
        }
    }
}

fn graphs(root: &Path, out: &mut Seeds) {
    for path in files(&root.join("scenarios/topologies"), "gml") {
        let bytes = fs::read(&path).expect("a bundled graph is readable");
        out.add("gml", format!("{}.gml", stem(&path)), bytes);
    }
    let link = Link {
        latency: SimDuration::from_millis(20),
        jitter: SimDuration::from_millis(3),
        loss: Probability::new(0.01).expect("0.01 is a probability"),
    };
    let shapes = [
        ("ring", Topology::ring(5, link)),
        ("star", Topology::star(4, link)),
        ("mesh", Topology::mesh(link)),
    ];
    for (name, topology) in shapes {
        out.add(
            "gml",
            format!("{name}.gml"),
            write_gml(&topology.to_gml()).into_bytes(),
        );
    }
}

fn registries(root: &Path, out: &mut Seeds) {
    for path in files(&root.join("scenarios/registries"), "json") {
        let bytes = fs::read(&path).expect("a bundled registry is readable");
        out.add("legacy_registry", format!("{}.json", stem(&path)), bytes);
    }
    let entries = vec![("legacy-a".to_string(), "0x01".to_string())];
    out.add(
        "legacy_registry",
        "one.json",
        file::encode_legacy_registry(&entries),
    );
}

fn registration_files(out: &mut Seeds) {
    let me = checks::frame_identity(HostId(7));
    let record = Registration::signed(&me, checks::AGENT, SimTime::from_nanos(1_500_000_000));
    let bytes = file::encode(&record);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for mode in DamageMode::ALL {
        let damaged = damage(mode, &bytes, checks::AGENT, &mut rng);
        out.add(
            "registration_file",
            format!("{}.json", mode.as_str()),
            damaged,
        );
    }
    out.add("registration_file", "valid.json", bytes);
    out.add(
        "registration_file",
        "legacy.json",
        file::encode_legacy_file(checks::AGENT, "0x01"),
    );
}

/// Registration datagrams of both kinds, including the largest registry.
fn registration_messages(out: &mut Seeds) {
    let agents = |n: usize| (0..n).map(|i| format!("miner-{i:03}")).collect();
    let messages = [
        RegistrationMessage::ReRegister {
            agent: checks::AGENT.to_string(),
        },
        RegistrationMessage::Registry { agents: agents(1) },
        RegistrationMessage::Registry { agents: agents(40) },
        RegistrationMessage::Registry {
            agents: agents(MAX_ANNOUNCED_AGENTS),
        },
    ];
    for (i, message) in messages.iter().enumerate() {
        out.add(
            "registration_message",
            format!("built-{i}"),
            message.encode(),
        );
    }
}

/// Keeps the first [`PER_KIND`] distinct datagrams of each kind delivered
/// in a run.
#[derive(Default)]
struct Capture(BTreeMap<(u8, u8), Vec<Vec<u8>>>);

impl TraceSink for Capture {
    fn record(&mut self, event: &TraceEvent<'_>) {
        if let TraceKind::Deliver { payload, .. } = event.kind
            && payload.len() >= 3
        {
            let kept = self.0.entry((payload[1], payload[2])).or_default();
            if kept.len() < PER_KIND && !kept.iter().any(|p| p == payload) {
                kept.push(payload.to_vec());
            }
        }
    }
}

fn messages(root: &Path, out: &mut Seeds) {
    let mut capture = Capture::default();
    for name in [
        "consensus-leader-crash",
        "heartbeat-partition",
        "network-bring-up",
        "gossip-rumor",
    ] {
        let path = root.join(format!("scenarios/{name}.toml"));
        let scenario = load(&path, &[]).expect("a bundled scenario loads");
        let mut prepared = prepare(&scenario).expect("a bundled scenario runs");
        prepared
            .sim
            .run(&mut capture)
            .expect("a bundled scenario runs");
    }
    for ((tag, kind), payloads) in &capture.0 {
        let target = match *tag {
            t if t == ProtocolTag::Consensus as u8 => "consensus_message",
            t if t == ProtocolTag::Peers as u8 => "peer_message",
            t if t == ProtocolTag::Registration as u8 => "registration_message",
            t if t == ProtocolTag::Gossip as u8 => "gossip_message",
            _ => "frame",
        };
        for (i, payload) in payloads.iter().enumerate() {
            let name = format!("tag{tag}-kind{kind}-{i}");
            if target != "frame" {
                out.add(target, name.clone(), payload.clone());
            }
            if i < 2 {
                out.add("frame", name, framed(payload, *kind));
            }
        }
    }
}

/// `payload` sealed by a known host for the frame target, followed by a few
/// replay-window stamps.
fn framed(payload: &[u8], salt: u8) -> Vec<u8> {
    let from = HostId(u32::from(salt) % checks::FRAME_KNOWN);
    let stamp = Stamp {
        epoch: 1_700_000_000_000_000_000,
        seq: u64::from(salt),
        due_ns: u64::from(salt) * 1_000_000,
    };
    let datagram = seal(
        &checks::frame_identity(from),
        from,
        checks::FRAME_ME,
        stamp,
        payload,
    )
    .expect("a delivered payload fits a frame");
    let len = u16::try_from(datagram.len()).expect("a delivered payload is under 64 KiB");
    let stamps = [0, 1, 0, 0, 2, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0];
    [&len.to_le_bytes()[..], &datagram, &stamps].concat()
}
