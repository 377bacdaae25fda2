//! Impossible settings are located errors, not runs that silently do
//! nothing; the default liveness bound follows the network; runs that
//! cannot fit in memory are refused before they start (issue 16, item 4).

use std::fs;
use std::path::Path;

use sim::protocols::consensus::liveness_rule;
use sim::runner::estimate_memory;
use sim_core::scenario::{ErrorKind, ScenarioError};
use sim_core::trace::NoTrace;
use sim_core::units::SimDuration;

mod common;

use common::sim;

fn parse(text: &str) -> Result<sim::Scenario, ScenarioError> {
    sim::model::parse_str(text, None, &[])
}

/// The error of `text`: its kind, line, key path and a message fragment.
#[track_caller]
fn error(text: &str, kind: ErrorKind, line: u32, key: &str, message: &str) -> ScenarioError {
    let err = match parse(text) {
        Ok(_) => panic!("should not load:\n{text}"),
        Err(e) => e,
    };
    let shown = err.to_string();
    assert_eq!(err.kind(), kind, "{shown}");
    assert_eq!(err.line(), Some(line), "{shown}");
    assert_eq!(err.key_path(), Some(key), "{shown}");
    assert!(err.message().contains(message), "{shown}");
    assert!(err.help().is_some(), "{shown}");
    err
}

const VALIDATORS: &str =
    "duration = \"1 min\"\n[[hosts]]\nname = \"v\"\ncount = 4\nrole = \"validator\"\n";

#[test]
fn validator_sets_consensus_cannot_run_with_are_located_errors() {
    let too_many = "duration = \"1 min\"\n[[hosts]]\nname = \"v\"\ncount = 2049\nrole = \"validator\"\n\
                    [consensus]\nvalidators = \"v\"\n";
    error(
        too_many,
        ErrorKind::InvalidValue,
        7,
        "consensus.validators",
        "at most 2048",
    );
    let above = format!("{VALIDATORS}[consensus]\nmin_validators = 5\n");
    error(
        &above,
        ErrorKind::InvalidValue,
        7,
        "consensus.min_validators",
        "at least 5",
    );
    let registered = format!("{VALIDATORS}[consensus]\nvalidators = \"registered\"\n");
    error(
        &registered,
        ErrorKind::InvalidValue,
        7,
        "consensus.validators",
        "no miners",
    );
    // Registered: too few miners, or a registry announced too early.
    let miners = |count: u32, extra: &str| {
        format!(
            "duration = \"1 min\"\n[[hosts]]\nname = \"m\"\ncount = {count}\nrole = \"miner\"\n\
             [[hosts]]\nname = \"r\"\nrole = \"registrar\"\n[registration]\n{extra}\
             [consensus]\nvalidators = \"registered\"\n"
        )
    };
    error(
        &miners(2, ""),
        ErrorKind::InvalidValue,
        11,
        "consensus.validators",
        "2 miners",
    );
    error(
        &miners(10, "expected = 2\n"),
        ErrorKind::InvalidValue,
        12,
        "consensus.validators",
        "`registration.expected` is 2",
    );
    assert!(parse(&miners(10, "expected = 4\n")).is_ok());
}

#[test]
fn settings_that_would_switch_a_protocol_off_are_located_errors() {
    // [peers] without a member (no peer or validator host).
    let peers = "duration = \"1 min\"\n[[hosts]]\nname = \"m\"\nrole = \"miner\"\n[[hosts]]\n\
                 name = \"r\"\nrole = \"registrar\"\n[peers]\nheartbeat = \"2 s\"\n";
    error(
        peers,
        ErrorKind::Conflict,
        8,
        "peers",
        "no host is a member",
    );
    let off = peers.replace("heartbeat = \"2 s\"", "members = []");
    assert!(
        parse(&off).is_ok(),
        "an explicit empty list is an explicit off"
    );
    // A ceiling below the timeout it caps.
    let ceiling =
        format!("{VALIDATORS}[consensus]\nview_timeout = \"10 s\"\nmax_view_timeout = \"5 s\"\n");
    error(
        &ceiling,
        ErrorKind::InvalidValue,
        8,
        "consensus.max_view_timeout",
        "shorter than",
    );
}

#[test]
fn durations_of_centuries_are_refused() {
    let long = VALIDATORS.replace("\"1 min\"", "\"876000 h\"");
    let err = error(&long, ErrorKind::InvalidValue, 1, "duration", "36500 days");
    assert!(err.message().contains("at most 365 days"), "{err}");
    assert!(parse(&VALIDATORS.replace("\"1 min\"", "\"8760 h\"")).is_ok());
}

#[test]
fn the_default_liveness_bound_follows_the_network() {
    let with = |network: &str| {
        let text = format!("{VALIDATORS}[network]\n{network}\n[consensus]\n")
            .replace("\"1 min\"", "\"3 h\"");
        liveness_rule(&parse(&text).unwrap()).unwrap().bound
    };
    let s = SimDuration::from_secs;
    // A fast network: 3 views of 5 s + 40 s (n = 4 allows one crashed leader).
    assert_eq!(with("latency = \"20 ms\""), s(135));
    // Jitter counts: 4 x (10 s + 10 s) = 80 s timeouts.
    assert_eq!(
        with("latency = \"10 s\"\njitter = \"10 s\""),
        s(3 * 85 + 3 * 5 + 10 + 20 + 40)
    );
    // A 5 min link: 20 min timeouts after the climb from 10 s.
    let slow = with("latency = \"5 min\"");
    assert_eq!(slow, s(3 * 1205 + 7 * 5 + 1270));
    // ... and the protocol meets it: no liveness failure by construction.
    let text = format!("{VALIDATORS}[network]\nlatency = \"5 min\"\n[consensus]\n")
        .replace("\"1 min\"", "\"90 min\"");
    let scenario = parse(&text).unwrap();
    let mut prepared = sim::runner::prepare(&scenario).unwrap();
    prepared.sim.run(&mut NoTrace).expect("no violation");
}

#[test]
fn memory_estimates_track_what_runs_take() {
    let bundled = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name);
        sim::model::load(&path, &[]).unwrap()
    };
    let mib = |bytes: u64| bytes >> 20;
    // Measured peaks (BENCHMARKS.md): 85 MiB and 176 MiB.
    let scale = estimate_memory(&bundled("registration-scale.toml")).unwrap();
    assert!((85..=170).contains(&mib(scale.total())), "{scale:?}");
    let consensus = estimate_memory(&bundled("consensus-100.toml")).unwrap();
    assert!(
        (176..=300).contains(&mib(consensus.total())),
        "{consensus:?}"
    );
    assert_eq!(
        consensus.parts.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["engine", "consensus"]
    );
    // 100 miners and 200,000 registrars: about 20 GiB, mostly registration.
    let huge = parse(
        "duration = \"5 min\"\n[[hosts]]\nname = \"m\"\ncount = 100\nrole = \"miner\"\n\
         [[hosts]]\nname = \"r\"\ncount = 200000\nrole = \"registrar\"\n",
    )
    .unwrap();
    let huge = estimate_memory(&huge).unwrap();
    assert!(
        (18 << 10..=24 << 10).contains(&mib(huge.total())),
        "{huge:?}"
    );
}

#[test]
fn runs_that_cannot_fit_are_refused_before_they_start() {
    let out = common::temp("validation", "memory");
    let out_s = out.to_str().unwrap();
    let scenario = "scenarios/consensus-basic.toml";
    for command in ["run", "check"] {
        let o = sim(&[
            command,
            scenario,
            "--out",
            out_s,
            "--quiet",
            "--max-memory",
            "1 MiB",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{command}: {err}");
        assert!(
            err.contains("a run needs about")
                && err.contains("more than the limit of 1.0 MiB (--max-memory)"),
            "{command}: {err}"
        );
        assert!(err.contains("engine") && err.contains("consensus"), "{err}");
        assert!(!out.join("consensus-basic").exists(), "nothing ran");
    }
    // Several at once need several times as much.
    let o = sim(&[
        "run",
        "scenarios/consensus-100.toml",
        "--seeds",
        "1..4",
        "--jobs",
        "2",
        "--out",
        out_s,
        "--quiet",
        "--max-memory",
        "250 MiB",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("2 runs at once") && err.contains("--jobs 1"),
        "{err}"
    );
    // Within the limit, or with the check off, it runs.
    for limit in ["1 GiB", "none"] {
        let o = sim(&[
            "run",
            scenario,
            "--out",
            out_s,
            "--quiet",
            "--max-memory",
            limit,
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = sim(&["run", scenario, "--out", out_s, "--max-memory", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    fs::remove_dir_all(&out).unwrap();
}
