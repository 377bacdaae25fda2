//! What a result folder records about what made it: the resolved scenario
//! (which makes the same run again, from anywhere), the command line,
//! `--set` values, version and build, input hashes; and that aggregates
//! only ever count the runs of the current sweep.

mod common;

use std::fs;
use std::path::Path;

use common::{sim, temp};
use serde_json::Value;

fn json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn trace_hash(run_dir: &Path) -> String {
    json(&run_dir.join("summary.json"))["run.trace_hash"]
        .as_str()
        .unwrap()
        .to_string()
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn every_folder_records_what_made_it_and_its_scenario_makes_the_run_again() {
    let dir = temp("provenance", "rerun");
    let out = dir.join("out");
    let o = sim(&[
        "run",
        "scenarios/heartbeat-regions.toml",
        "--seeds",
        "3..4",
        "--sweep",
        "peers.heartbeat=5s,10s",
        "--set",
        "peers.stale_after=40 s",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let folder = out.join("heartbeat-regions");
    let run = folder.join("peers.heartbeat=10s/seed-4");
    let record = json(&run.join("run.json"));
    assert_eq!(record["format"], 2);
    assert_eq!(record["set"][0], "peers.stale_after=40 s");
    assert_eq!(record["params"][0][1], "10s");
    assert_eq!(record["seed"], 4);
    assert!(record["sim_build"].as_str().unwrap().len() > 3);
    assert_eq!(record["input_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(record["resolved"]["path"], "scenario.toml");
    assert_eq!(
        record["resolved"]["sha256"],
        sha256(&run.join("scenario.toml"))
    );
    assert_eq!(
        record["resolved"]["copies"][0][1], "inputs/three-regions.gml",
        "{record}"
    );
    assert_eq!(
        sha256(&run.join("inputs/three-regions.gml")),
        record["inputs"][0]["sha256"]
    );
    let command = record["command"].as_str().unwrap();
    assert!(command.contains("--seed 4") && command.contains("--set peers.heartbeat=10s"));
    let text = fs::read_to_string(run.join("scenario.toml")).unwrap();
    assert!(text.contains("seed = 4\n") && text.contains("heartbeat = \"10s\""));
    assert!(text.contains("stale_after = \"40 s\"") && text.contains("graph = \"inputs/"));

    // The sweep folder keeps the scenario with --set applied and the grid.
    let sweep = json(&folder.join("sweep.json"));
    assert_eq!(sweep["format"], 2);
    assert_eq!(
        sweep["sweep"]["files"][0]["resolved"]["path"],
        "scenario.toml"
    );
    assert_eq!(
        sweep["sweep"]["files"][0]["resolved"]["sha256"],
        sha256(&folder.join("scenario.toml"))
    );
    assert!(folder.join("inputs/three-regions.gml").is_file());

    // Moved anywhere, the run folder's scenario makes the same run.
    let moved = dir.join("elsewhere/copy");
    fs::create_dir_all(moved.join("inputs")).unwrap();
    for file in ["scenario.toml", "inputs/three-regions.gml"] {
        fs::copy(run.join(file), moved.join(file)).unwrap();
    }
    let again = dir.join("again");
    let scenario = moved.join("scenario.toml");
    let o = sim(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        trace_hash(&again.join("heartbeat-regions/seed-4")),
        trace_hash(&run)
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_legacy_registry_is_copied_and_its_resolved_scenario_reproduces_the_run() {
    let dir = temp("provenance", "legacy");
    let out = dir.join("out");
    let args = [
        "--set",
        "duration=90s",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    let mut run = vec!["run", "scenarios/registration-legacy.toml"];
    run.extend_from_slice(&args);
    assert_eq!(sim(&run).status.code(), Some(0));
    let folder = out.join("registration-legacy/seed-5");
    assert!(folder.join("inputs/agent_registry.json").is_file());
    let scenario = folder.join("scenario.toml");
    let again = dir.join("again");
    let o = sim(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        trace_hash(&again.join("registration-legacy/seed-5")),
        trace_hash(&folder)
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn runs_of_an_earlier_sweep_in_the_same_folder_are_never_aggregated() {
    let dir = temp("provenance", "stale");
    let out = dir.join("out");
    let sweep = |recover: &str| {
        let set = format!("registration.recover={recover}");
        let o = sim(&[
            "run",
            "scenarios/registration-backoff.toml",
            "--seeds",
            "1..2",
            "--set",
            &set,
            "--set",
            "duration=60s",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    sweep("true");
    sweep("false");
    let runs = fs::read_to_string(out.join("registration-backoff/runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 3, "{runs}");
    let record = json(&out.join("registration-backoff/sweep.json"));
    assert_eq!(record["sweep"]["set"][0], "registration.recover=false");
    let scenario = fs::read_to_string(out.join("registration-backoff/scenario.toml")).unwrap();
    assert!(scenario.contains("recover = false"), "{scenario}");
    fs::remove_dir_all(&dir).unwrap();
}
