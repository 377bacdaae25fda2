//! The fuzz targets' inputs on the stable toolchain: every seed
//! (`fuzz/seeds/<target>/`) and every input a fuzzer once failed on
//! (`fuzz/regressions/<target>/`) goes through the target's own check
//! (`fuzz/src/checks.rs`, shared with the cargo-fuzz crate), so `cargo
//! test` keeps each fixed finding fixed without nightly.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::fs;
use std::path::{Path, PathBuf};

/// The files under `fuzz/<kind>/<target>/`, sorted (none when absent).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `check` on every seed and regression of `target`; there are seeds.
fn replay(target: &str, check: fn(&[u8])) {
    let seeds = inputs("seeds", target);
    assert!(
        !seeds.is_empty(),
        "no seeds for {target}: run the fuzz_seeds example"
    );
    for path in seeds.iter().chain(&inputs("regressions", target)) {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
    }
}

#[test]
fn scenario_inputs_replay() {
    replay("scenario", checks::scenario);
}

#[test]
fn gml_inputs_replay() {
    replay("gml", checks::gml);
}

#[test]
fn registration_file_inputs_replay() {
    replay("registration_file", checks::registration_file);
}

#[test]
fn legacy_registry_inputs_replay() {
    replay("legacy_registry", checks::legacy_registry);
}

#[test]
fn consensus_message_inputs_replay() {
    replay("consensus_message", checks::consensus_message);
}

#[test]
fn peer_message_inputs_replay() {
    replay("peer_message", checks::peer_message);
}

#[test]
fn registration_message_inputs_replay() {
    replay("registration_message", checks::registration_message);
}

#[test]
fn gossip_message_inputs_replay() {
    replay("gossip_message", checks::gossip_message);
}

#[test]
fn fragment_inputs_replay() {
    replay("fragment", checks::fragment);
}

#[test]
fn frame_inputs_replay() {
    replay("frame", checks::frame);
}

/// The frame seeds hold frames that open, so the target's re-seal check
/// runs from the first input on.
#[test]
fn frame_seeds_include_frames_that_open() {
    use node_logic::frame;
    let keys: Vec<_> = (0..checks::FRAME_KNOWN)
        .map(|i| checks::frame_identity(node_logic::HostId(i)).public_key())
        .collect();
    let opened = inputs("seeds", "frame")
        .iter()
        .map(|path| fs::read(path).unwrap())
        .filter(|bytes| {
            let len = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
            let datagram = &bytes[2..2 + len];
            frame::open(datagram, checks::FRAME_ME, |h| keys.get(h.index()).copied()).is_ok()
        })
        .count();
    assert!(opened >= 10, "{opened}");
}
