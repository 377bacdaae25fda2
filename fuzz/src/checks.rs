//! What each fuzz target checks, one function per target. Every function
//! takes the raw input, must never panic on it, and asserts the properties
//! the parser promises (a located error, a faithful round trip, ...): a
//! failed assertion is a finding like a panic.
//!
//! This file is compiled twice: by the cargo-fuzz crate (`fuzz/`, nightly)
//! and by the workspace's `tests/fuzz_corpus.rs` (stable), which replays
//! the seed corpora and every kept crash input through these functions.

use node_logic::fragment::{
    Fragment, PARTIAL_PER_SENDER, PIECE_DATA, REASSEMBLY_BYTES, Reassembler, split,
};
use node_logic::frame::{self, ReplayWindow};
use node_logic::identity::{Identity, PublicKey};
use node_logic::protocols::consensus::ConsensusMessage;
use node_logic::protocols::gossip::{decode_rumor, encode_rumor};
use node_logic::protocols::peers::PeerMessage;
use node_logic::protocols::registration::file;
use node_logic::protocols::registration::message::RegistrationMessage;
use node_logic::wire;
use node_logic::{HostId, ProtocolTag};
use sim::model::parse_bytes;
use sim::protocols::registration::legacy::parse_legacy_located;
use sim_core::network::gml::{GmlGraph, parse_gml_bytes, write_gml};
use sim_core::scenario::{Origin, Override, ScenarioError};

/// The agent id registration-file inputs are validated for (the seeds are
/// files of this agent).
pub const AGENT: &str = "miner-0";

/// The host frame inputs are addressed to.
pub const FRAME_ME: HostId = HostId(1);

/// How many hosts have frame keys (`0..FRAME_KNOWN`).
pub const FRAME_KNOWN: u32 = 4;

/// The identity of host `host` in the frame target (and its seeds).
pub fn frame_identity(host: HostId) -> Identity {
    let mut secret = [0x5a; 32];
    secret[..4].copy_from_slice(&host.0.to_le_bytes());
    Identity::from_secret(secret)
}

/// Scenario text, then optionally a NUL byte and `--set` arguments, one
/// per line. Loading never panics; an error renders rustc style and points
/// into the text (a line that exists) or at one of the `--set` arguments.
pub fn scenario(data: &[u8]) {
    let (text, sets) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let overrides: Vec<Override> = sets
        .split(|&b| b == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .filter_map(|line| line.parse().ok())
        .take(8)
        .collect();
    if let Err(err) = parse_bytes(text, None, &overrides) {
        check_scenario_error(&err, text, &overrides);
    }
}

fn check_scenario_error(err: &ScenarioError, text: &[u8], overrides: &[Override]) {
    let shown = err.to_string();
    assert!(shown.starts_with("error: "), "{shown}");
    match err.origin() {
        Origin::File { line, column, .. } => {
            let lines = text.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!(*line >= 1 && *line as usize <= lines, "{shown}");
            assert!(*column >= 1, "{shown}");
        }
        Origin::Override { argument, .. } => {
            let known = overrides
                .iter()
                .any(|o| argument.starts_with(o.key.as_str()) || argument.contains(&o.value));
            assert!(known, "{shown}");
        }
        Origin::WholeFile { .. } => {}
    }
}

/// GML bytes. A graph that parses is written back by `write_gml` and reads
/// back the same; an error has a line within the file and a column.
pub fn gml(data: &[u8]) {
    match parse_gml_bytes(data) {
        Ok(graph) => {
            let text = write_gml(&graph);
            let again = parse_gml_bytes(text.as_bytes())
                .unwrap_or_else(|e| panic!("written graph does not parse: {e}\n{text}"));
            assert_eq!(without_lines(again), without_lines(graph), "{text}");
        }
        Err(err) => {
            let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!(err.line >= 1 && err.line as usize <= lines, "{err}");
            assert!(err.column >= 1, "{err}");
        }
    }
}

fn without_lines(mut graph: GmlGraph) -> GmlGraph {
    graph.nodes.iter_mut().for_each(|n| n.line = 0);
    graph.edges.iter_mut().for_each(|e| e.line = 0);
    graph
}

/// A registration file of [`AGENT`]. An accepted file names that agent and
/// its record re-encodes to a file that is accepted with the same record.
pub fn registration_file(data: &[u8]) {
    if let Ok(valid) = file::validate(AGENT, data) {
        assert_eq!(valid.agent_id(), AGENT);
        let again = file::validate(AGENT, &file::encode(valid.record()))
            .expect("a re-encoded valid record is valid");
        assert_eq!(again.record(), valid.record());
    }
}

/// A legacy `agent_registry.json`. Accepted entries re-encode to a file
/// with the same entries; a refused file gets a line and column inside it.
pub fn legacy_registry(data: &[u8]) {
    match file::parse_legacy_registry(data) {
        Ok(entries) => {
            let again = file::parse_legacy_registry(&file::encode_legacy_registry(&entries));
            assert_eq!(again, Ok(entries));
            assert!(parse_legacy_located(data).is_ok());
        }
        Err(kind) => {
            let located = parse_legacy_located(data).expect_err("refused by node-logic");
            assert_eq!(located.kind, kind, "{located}");
            let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!(
                located.line >= 1 && located.line as usize <= lines,
                "{located}"
            );
            assert!(located.column >= 1, "{located}");
        }
    }
}

/// A consensus datagram: a decoded message re-encodes to one that decodes
/// to the same message.
pub fn consensus_message(data: &[u8]) {
    let Ok((ProtocolTag::Consensus, body)) = wire::open(data) else {
        return;
    };
    if let Ok(message) = ConsensusMessage::decode(body) {
        let bytes = message.encode();
        let (_, body) = wire::open(&bytes).expect("an encoded message has a header");
        assert_eq!(ConsensusMessage::decode(body).as_ref(), Ok(&message));
    }
}

/// A peer-registry datagram: a decoded message re-encodes to one that
/// decodes to the same message.
pub fn peer_message(data: &[u8]) {
    let Ok((ProtocolTag::Peers, body)) = wire::open(data) else {
        return;
    };
    if let Ok(message) = PeerMessage::decode(body) {
        let bytes = message.encode();
        let (_, body) = wire::open(&bytes).expect("an encoded message has a header");
        assert_eq!(PeerMessage::decode(body).as_ref(), Ok(&message));
    }
}

/// A registration datagram: the encoding is canonical (agents sorted and
/// distinct), so a decoded message re-encodes to the same bytes.
pub fn registration_message(data: &[u8]) {
    let Ok((ProtocolTag::Registration, body)) = wire::open(data) else {
        return;
    };
    if let Ok(message) = RegistrationMessage::decode(body) {
        assert_eq!(message.encode(), data);
    }
}

/// A gossip datagram: a decoded rumor re-encodes (with a zeroed body of
/// the same size) to one that decodes the same.
pub fn gossip_message(data: &[u8]) {
    let Ok((ProtocolTag::Gossip, body)) = wire::open(data) else {
        return;
    };
    if let Ok((id, hops, size)) = decode_rumor(body) {
        let bytes = encode_rumor(id, hops, size);
        assert_eq!(bytes.len(), data.len());
        let (_, body) = wire::open(&bytes).expect("an encoded rumor has a header");
        assert_eq!(decode_rumor(body), Ok((id, hops, size)));
    }
}

/// A datagram at [`FRAME_ME`] (its length as a little-endian `u16`, then
/// its bytes), then a stream of `(epoch, seq)` stamps for the replay window. `open` accepts only what
/// a known host sealed for this host; the window accepts each `(epoch,
/// seq)` at most once and never one from an older epoch.
pub fn frame(data: &[u8]) {
    // Deriving a key costs about as much as a verification: once per process.
    static KEYS: std::sync::OnceLock<Vec<PublicKey>> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        (0..FRAME_KNOWN)
            .map(|i| frame_identity(HostId(i)).public_key())
            .collect()
    });
    let len = match data {
        [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
        _ => 0,
    };
    let rest = data.get(2..).unwrap_or_default();
    let (datagram, pairs) = rest.split_at(len.min(rest.len()));
    if let Ok(opened) = frame::open(datagram, FRAME_ME, |h| keys.get(h.index()).copied()) {
        let resealed = frame::seal(
            &frame_identity(opened.from),
            opened.from,
            FRAME_ME,
            opened.stamp,
            opened.payload,
        )
        .expect("an opened payload fits a frame");
        assert_eq!(resealed, datagram, "ed25519 signatures are deterministic");
    }
    replay_window(pairs);
}

/// Feeds `(epoch: u8, seq: u16)` triples of bytes to a [`ReplayWindow`]
/// and holds it to its contract against a set of everything accepted.
fn replay_window(bytes: &[u8]) {
    let mut window = ReplayWindow::default();
    let mut accepted = std::collections::BTreeSet::new();
    let mut newest_epoch = 0u64;
    for chunk in bytes.chunks_exact(3) {
        let epoch = u64::from(chunk[0] % 4);
        let seq = u64::from(u16::from_le_bytes([chunk[1], chunk[2]]));
        let stamp = frame::Stamp {
            epoch,
            seq,
            due_ns: 0,
        };
        let fresh = window.check(stamp).is_ok();
        if fresh {
            assert!(accepted.insert((epoch, seq)), "{stamp:?} accepted twice");
            assert!(epoch >= newest_epoch, "{stamp:?} from an older epoch");
            newest_epoch = epoch;
        } else {
            let seen = accepted.contains(&(epoch, seq));
            let behind = epoch < newest_epoch || window.is_behind(stamp);
            assert!(seen || behind, "{stamp:?} refused but new");
        }
    }
}

/// `fragment`: the input is a stream of `[from: u8][length: u16][bytes]`
/// records, each offered to one [`Reassembler`] as a piece from one of 8
/// senders (its claimed sender replaced): never a panic, a piece that
/// decodes re-encodes to its bytes, and the reassembler stays within its
/// bounds. Then the input, repeated past one piece, split and reassembled
/// last piece first, comes back whole.
pub fn fragment(data: &[u8]) {
    let mut reassembler = Reassembler::default();
    let mut rest = data;
    while let [from, a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*a, *b])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        if let Ok(f) = Fragment::decode(bytes) {
            assert_eq!(f.encode(), bytes, "canonical encoding");
            let from = HostId(u32::from(*from % 8));
            let _ = reassembler.accept(&Fragment { from, ..f });
        }
        assert!(reassembler.held_bytes() <= REASSEMBLY_BYTES);
        assert!(reassembler.pending() <= 8 * PARTIAL_PER_SENDER);
    }
    if data.is_empty() {
        return;
    }
    let message: Vec<u8> = data
        .iter()
        .copied()
        .cycle()
        .take(PIECE_DATA + data.len())
        .collect();
    let pieces = split(HostId(9), 2, 3, &message).expect("below the frame limit");
    let mut whole = Reassembler::default();
    let mut out = None;
    for piece in pieces.iter().rev() {
        let f = Fragment::decode(piece).expect("split makes valid fragments");
        out = whole.accept(&f).expect("each piece once");
    }
    assert_eq!(out, Some(message), "reassembled whole");
}
