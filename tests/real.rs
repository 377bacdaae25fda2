//! Real processes: `sim launch` against `sim run`, `sim node` on a real
//! socket (signals, malformed datagrams, bad arguments), `sim collect` and
//! `sim corrupt`. These tests start real processes on loopback with a time
//! scale, so each takes seconds, not minutes.

mod common;

use std::fs;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{sim, temp};
use node_logic::HostId;
use node_logic::frame;
use serde_json::Value;
use sim::runner::identity;
use sim_core::rng::RngStreams;

fn summary(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn metric(summary: &Value, name: &str) -> f64 {
    summary[name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} in {summary}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The documented tolerances (docs/fidelity.md): a real run on loopback
/// against the simulator, network bring-up with registration, a damaged
/// file and consensus among the registered miners.
#[test]
fn launch_matches_the_simulator_within_documented_tolerances() {
    let dir = temp("real", "fidelity");
    let out = dir.to_str().unwrap();
    let set = ["--set", "duration=2 min"];
    let file = "scenarios/network-bring-up.toml";
    let simulated = sim(&[&["run", file, "--no-plots", "--out"], &[out][..], &set].concat());
    assert!(simulated.status.success(), "{}", text(&simulated.stderr));
    let sim_summary = summary(&dir.join("network-bring-up/seed-1/summary.json"));

    let launch_out = dir.join("launch");
    let launched = sim(&[
        &["launch", file, "--time-scale", "0.1", "--no-plots", "--out"],
        &[launch_out.to_str().unwrap()][..],
        &set,
    ]
    .concat());
    let stdout = text(&launched.stdout);
    assert!(
        launched.status.success(),
        "{stdout}{}",
        text(&launched.stderr)
    );
    let result = launch_out.join("network-bring-up/seed-1");
    let real = summary(&result.join("summary.json"));

    // Same layout, same metric names (plus the real run's own).
    for file in [
        "registration.csv",
        "registration_progress.csv",
        "registration_errors.csv",
        "consensus.csv",
        "view_changes.csv",
        "network.csv",
        "faults.csv",
        "lifecycle.csv",
        "observations.csv",
    ] {
        assert!(result.join(file).is_file(), "{file}");
    }
    for (name, _) in sim_summary.as_object().unwrap() {
        assert!(
            real.get(name).is_some(),
            "{name} missing from the real run's summary"
        );
    }
    assert_eq!(real["run.mode"], "real");
    assert_eq!(real["real.processes_interrupted"], 0);
    assert_eq!(real["real.datagrams_rejected"], 0);

    let close = |name: &str, tolerance: f64| {
        let (s, r) = (metric(&sim_summary, name), metric(&real, name));
        assert!(
            (s - r).abs() <= tolerance,
            "{name}: sim run {s}, sim launch {r}, tolerance {tolerance}\n{stdout}"
        );
    };
    close("registration.success_rate", 0.0);
    close("registration.ready_s", 3.0);
    close("consensus.first_block_s", 3.0);
    close("consensus.blocks_finalized", 3.0);
    assert_eq!(metric(&real, "consensus.safety_violations"), 0.0);
    // The corrupt fault damaged a real file, and a registrar caught it.
    assert!(
        metric(&real, "registration.corrupt_detected") >= 1.0,
        "{real}"
    );
    assert_eq!(metric(&real, "registration.corrupt_accepted"), 0.0);
    let faults = fs::read_to_string(result.join("faults.csv")).unwrap();
    assert!(faults.contains(",corrupt,apply,miner-4"), "{faults}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn launch_kills_and_restarts_crashed_hosts_and_applies_network_faults() {
    let dir = temp("real", "crash");
    let simulated = sim(&[
        "run",
        "scenarios/heartbeat-partition.toml",
        "--no-plots",
        "--out",
        dir.join("sim").to_str().unwrap(),
    ]);
    assert!(simulated.status.success(), "{}", text(&simulated.stderr));
    let sim_summary = summary(&dir.join("sim/heartbeat-partition/seed-7/summary.json"));
    let launched = sim(&[
        "launch",
        "scenarios/heartbeat-partition.toml",
        "--time-scale",
        "0.05",
        "--no-plots",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stderr = text(&launched.stderr);
    assert!(launched.status.success(), "{stderr}");
    assert!(!stderr.contains("SKIPPED"), "{stderr}");
    let result = dir.join("heartbeat-partition/seed-7");
    let real = summary(&result.join("summary.json"));
    assert_eq!(metric(&real, "real.faults_skipped"), 0.0);
    // The nodes cut the partition and degraded the link themselves: the
    // drops are the simulator's, within the documented 10 %.
    assert!(metric(&real, "real.path_dropped.partition") > 0.0, "{real}");
    assert!(metric(&real, "real.path_dropped.loss") > 0.0, "{real}");
    for name in ["network.messages_dropped", "network.messages_sent"] {
        let (s, r) = (metric(&sim_summary, name), metric(&real, name));
        assert!(
            (s - r).abs() <= 0.1 * s,
            "{name}: sim run {s}, sim launch {r}"
        );
    }
    assert_eq!(metric(&real, "faults.crashes"), 1.0);
    let lifecycle = fs::read_to_string(result.join("lifecycle.csv")).unwrap();
    // Seconds are written in their shortest form: 150, not 150.000000000.
    assert!(
        lifecycle.lines().any(|l| l == "150,peer-3,crash"),
        "{lifecycle}"
    );
    // The restart is stamped when the new process booted: just after 200 s.
    let restarted = lifecycle.lines().any(|l| {
        l.ends_with(",peer-3,restart")
            && l.split(',')
                .next()
                .unwrap()
                .parse::<f64>()
                .is_ok_and(|t| (200.0..201.0).contains(&t))
    });
    assert!(restarted, "{lifecycle}");
    // The restarted process rejoined: others saw peer-3 up after 200 s.
    let observations = fs::read_to_string(result.join("observations.csv")).unwrap();
    let back = observations.lines().any(|l| {
        let cols: Vec<&str> = l.split(',').collect();
        cols.len() > 3
            && cols[2] == "peer-up"
            && cols[3] == "peer-3"
            && cols[0].parse::<f64>().is_ok_and(|t| t > 200.0)
    });
    assert!(back, "peer-3 seen up again after its restart");
    // A second launch into the same folder replaces the first one's files.
    let work = dir.join("heartbeat-partition/seed-7.launch");
    assert!(work.join("launch.log").is_file() && work.join("scenario.toml").is_file());
    fs::remove_dir_all(&dir).unwrap();
}

/// A datagram sent to a host while it is down and due after its restart
/// reaches the restarted process, as the simulator delivers it: the
/// launcher keeps each host's socket across its processes. Two peers, a
/// 400 ms path; peer-1 is down from 4.9 s to 5.2 s and peer-0 pings it at
/// 5.03 s (its heartbeat), due at 5.43 s: the restarted peer-1 takes the
/// 11-byte ping (and answers with a hello) before anything else reaches it
/// at 6.0 s. A closed socket lost it.
#[test]
fn launch_keeps_a_down_hosts_datagrams_for_its_restart() {
    let dir = temp("real", "restart-window");
    let scenario = dir.join("restart-window.toml");
    fs::write(
        &scenario,
        r#"seed = 3
duration = "8 s"
[network]
topology = "mesh"
latency = "400 ms"
bandwidth = "100 Mbit"
[[hosts]]
name = "peer"
count = 2
role = "peer"
start = "0 s"
[peers]
heartbeat = "1 s"
stale_after = "3 s"
[[faults]]
at = "4.9 s"
crash = "peer-1"
restart = "5.2 s"
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let args = ["--no-plots", "--out", out.to_str().unwrap()];
    let simulated = sim(&[&["run", scenario.to_str().unwrap(), "--trace"], &args[..]].concat());
    assert!(simulated.status.success(), "{}", text(&simulated.stderr));
    let trace = fs::read_to_string(out.join("restart-window/seed-3/trace.csv")).unwrap();
    assert!(
        trace.contains("5.426046984,peer-1,deliver,peer-0,11,"),
        "the simulator delivers the ping after the restart:\n{trace}"
    );
    let launched = sim(&[
        &["launch", scenario.to_str().unwrap(), "--time-scale", "1"],
        &args[..],
    ]
    .concat());
    assert!(launched.status.success(), "{}", text(&launched.stderr));
    let log = out.join("restart-window/seed-3.launch/hosts/peer-1/peer-1.events.jsonl");
    let records: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let restart = records
        .iter()
        .position(|r| r["boot"]["restarted"] == true)
        .expect("peer-1 restarted");
    let ping_taken = records[restart..].iter().any(|r| {
        let c = &r["counters"];
        c["counters"]["bytes_received"] == 11
            && c["counters"]["received_from"]["0"] == 1
            && c["at_ns"].as_u64().is_some_and(|at| at < 6_000_000_000)
    });
    assert!(
        ping_taken,
        "no ping reached the restarted peer-1 before 6 s:\n{records:#?}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// A storage outage: each cut-off node holds its own file operations until
/// the outage ends, so registrations wait for it under `sim launch` as
/// under `sim run` (p95 about 19.6 s against 2.7 s without the outage).
#[test]
fn launch_holds_file_operations_through_a_storage_outage() {
    let dir = temp("real", "outage");
    let set = [
        "--set",
        "hosts.miner.count=10",
        "--set",
        "duration=40 s",
        "--set",
        r#"faults=[{at="0 s", storage_outage="registrar", until="20 s"}]"#,
    ];
    let file = "scenarios/registration-backoff.toml";
    let out = dir.to_str().unwrap();
    let run = |args: &[&str]| {
        let output = sim(&[args, &["--no-plots", "--out", out], &set[..]].concat());
        assert!(output.status.success(), "{}", text(&output.stderr));
        output
    };
    run(&["run", file]);
    let sim_summary = summary(&dir.join("registration-backoff/seed-1/summary.json"));
    let launched = run(&["launch", file, "--time-scale", "0.2"]);
    assert!(!text(&launched.stderr).contains("SKIPPED"));
    let real = summary(&dir.join("registration-backoff/seed-1/summary.json"));
    assert_eq!(metric(&real, "real.faults_skipped"), 0.0);
    assert_eq!(metric(&real, "registration.success_rate"), 1.0);
    let (s, r) = (
        metric(&sim_summary, "registration.p95_s"),
        metric(&real, "registration.p95_s"),
    );
    assert!(s > 15.0, "the outage holds registrations: {s}");
    assert!((s - r).abs() <= 0.1 * s, "p95: sim run {s}, sim launch {r}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn launch_reports_processes_that_fail() {
    let dir = temp("real", "failing");
    let launched = sim(&[
        "launch",
        "scenarios/consensus-basic.toml",
        "--set",
        "duration=2 s",
        "--sim-path",
        "/bin/false",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stderr = text(&launched.stderr);
    assert_eq!(launched.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("error: the process of validator-0 failed"),
        "{stderr}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn launch_refuses_more_processes_than_a_machine_should_run() {
    let r = sim(&[
        "launch",
        "scenarios/registration-scale.toml",
        "--out",
        "unused",
    ]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = text(&r.stderr);
    assert!(
        stderr.contains("10004 hosts would be 10004 processes"),
        "{stderr}"
    );
    assert!(stderr.contains("sim export shadow"), "{stderr}");
}

/// A `sim node` for `host` of consensus-basic on loopback, writing to `out`.
fn start_node(out: &Path, host: &str, listen: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "node",
            "--scenario",
            "scenarios/consensus-basic.toml",
            "--host",
            host,
            "--listen",
            listen,
            "--shared-dir",
        ])
        .arg(out.join("shared"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.is_file() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sim node did not exit within {within:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn node_stops_cleanly_on_sigterm_and_leaves_its_records() {
    let dir = temp("real", "sigterm");
    let mut child = start_node(&dir, "validator-0", "127.0.0.1:0", &[]);
    wait_for(&dir.join("validator-0.events.jsonl"));
    thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child with a valid signal number.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    let s = summary(&dir.join("validator-0.summary.json"));
    assert_eq!(s["ended"], "signal");
    let records = fs::read_to_string(dir.join("validator-0.events.jsonl")).unwrap();
    assert!(records.lines().next().unwrap().contains("\"boot\""));
    assert!(
        records
            .lines()
            .last()
            .unwrap()
            .contains("\"reason\":\"signal\"")
    );
    let rows = fs::read_to_string(dir.join("validator-0.observations.csv")).unwrap();
    assert!(rows.starts_with("time_s,host,observation,peer,detail"));
    fs::remove_dir_all(&dir).unwrap();
}

/// A registrar whose shared directory holds hostile files in place of
/// miners' registration files — a FIFO nobody writes (a blocking open would
/// hang forever), a link to /dev/zero (an endless read) and a link to a
/// file outside — refuses and counts them, follows nothing, and still
/// stops at once on SIGTERM.
#[test]
fn node_refuses_hostile_shared_files_and_still_stops_on_sigterm() {
    let dir = temp("real", "hostile-files");
    let shared = dir.join("shared");
    fs::create_dir_all(&shared).unwrap();
    let outside = dir.join("outside.json");
    fs::write(&outside, b"{}").unwrap();
    let fifo = std::ffi::CString::new(shared.join("miner-0_miner_info.json").to_str().unwrap());
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.unwrap().as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/dev/zero", shared.join("miner-1_miner_info.json")).unwrap();
    std::os::unix::fs::symlink(&outside, shared.join("miner-2_miner_info.json")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["node", "--scenario", "scenarios/registration-backoff.toml"])
        .args([
            "--host",
            "registrar-0",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "1",
        ])
        .args(["--set", "hosts.miner.count=20", "--shared-dir"])
        .arg(&shared)
        .arg("--out")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&dir.join("registrar-0.events.jsonl"));
    thread::sleep(Duration::from_millis(2_500));
    let signalled = Instant::now();
    // SAFETY: kill(2) on our own child with a valid signal number.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "{:?}",
        signalled.elapsed()
    );
    let s = summary(&dir.join("registrar-0.summary.json"));
    assert_eq!(s["ended"], "signal", "{s}");
    let refused = &s["counters"]["fs_refused"];
    assert!(refused["not-a-file"].as_u64().unwrap_or(0) >= 1, "{s}");
    assert!(refused["symlink"].as_u64().unwrap_or(0) >= 2, "{s}");
    assert_eq!(fs::read(&outside).unwrap(), b"{}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn node_drops_and_counts_malformed_datagrams_and_keeps_running() {
    let dir = temp("real", "datagrams");
    // The node's port: held until just before it starts.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = start_node(
        &dir,
        "validator-0",
        &listen,
        &["--set", "duration=4 s", "--time-scale", "1"],
    );
    wait_for(&dir.join("validator-0.events.jsonl"));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let streams = RngStreams::new(1);
    let (me, other) = (HostId(0), HostId(1));
    let sender = identity(&streams, other);
    let stamp = frame::Stamp {
        epoch: 1,
        seq: 0,
        due_ns: 0,
    };
    let valid = frame::seal(&sender, other, me, stamp, b"not a protocol message").unwrap();
    let mut wrong_version = valid.clone();
    wrong_version[4] = 99;
    let mut tampered = valid.clone();
    let last = tampered.len() - 70;
    tampered[last] ^= 1;
    let forged = frame::seal(&identity(&streams, HostId(2)), other, me, stamp, b"x").unwrap();
    let misdirected = frame::seal(&sender, other, HostId(3), stamp, b"x").unwrap();
    let unknown = frame::seal(&sender, HostId(99), me, stamp, b"x").unwrap();
    let cases: Vec<Vec<u8>> = vec![
        vec![0xAB; 200],
        Vec::new(),
        valid[..10].to_vec(),
        valid[..valid.len() - 1].to_vec(),
        wrong_version,
        tampered,
        forged,
        misdirected,
        unknown,
        [valid.clone(), vec![0]].concat(),
        valid,
    ];
    for case in &cases {
        socket.send_to(case, &listen).unwrap();
    }
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let s = summary(&dir.join("validator-0.summary.json"));
    assert_eq!(s["ended"], "duration");
    let rejected = &s["counters"]["rejected"];
    let count = |reason: &str| rejected[reason].as_u64().unwrap_or(0);
    assert_eq!(count("bad-magic"), 1, "{rejected}");
    assert_eq!(count("truncated"), 3, "{rejected}");
    assert_eq!(count("bad-version"), 1, "{rejected}");
    assert_eq!(count("bad-signature"), 2, "{rejected}");
    assert_eq!(count("misdirected"), 1, "{rejected}");
    assert_eq!(count("unknown-sender"), 1, "{rejected}");
    assert_eq!(count("length-mismatch"), 1, "{rejected}");
    // The one valid frame reached the node, whose protocol rejected its
    // payload and said so.
    assert_eq!(s["counters"]["received_from"]["1"], 1, "{s}");
    let rows = fs::read_to_string(dir.join("validator-0.observations.csv")).unwrap();
    assert!(
        rows.contains("message-rejected,validator-1,malformed"),
        "{rows}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Replays over a real socket: a frame sent again, and a frame of the
/// sender's previous process, are dropped and counted as `replayed`; a
/// restarted sender (newer epoch) is accepted at once.
#[test]
fn node_drops_and_counts_replayed_frames() {
    let dir = temp("real", "replays");
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = start_node(
        &dir,
        "validator-0",
        &listen,
        &["--set", "duration=3 s", "--time-scale", "1"],
    );
    wait_for(&dir.join("validator-0.events.jsonl"));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let streams = RngStreams::new(1);
    let (me, other) = (HostId(0), HostId(1));
    let sender = identity(&streams, other);
    let sealed = |epoch, seq| {
        let stamp = frame::Stamp {
            epoch,
            seq,
            due_ns: 0,
        };
        frame::seal(&sender, other, me, stamp, b"not a protocol message").unwrap()
    };
    // (epoch, seq) in sending order; `true` = accepted.
    let sends = [
        ((10, 0), true),
        ((10, 0), false), // replayed
        ((10, 1), true),
        ((10, 0), false), // replayed, out of order
        ((5, 7), false),  // an older process of the sender
        ((20, 0), true),  // the sender restarted
        ((10, 2), false), // its previous process, now older
        ((20, 0), false), // replayed
    ];
    for ((epoch, seq), _) in sends {
        socket.send_to(&sealed(epoch, seq), &listen).unwrap();
        // Loopback keeps order; a pause keeps the receive buffer small.
        thread::sleep(Duration::from_millis(5));
    }
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let s = summary(&dir.join("validator-0.summary.json"));
    let accepted = sends.iter().filter(|(_, ok)| *ok).count() as u64;
    let replayed = sends.len() as u64 - accepted;
    assert_eq!(s["counters"]["received_from"]["1"], accepted, "{s}");
    assert_eq!(s["counters"]["rejected"]["replayed"], replayed, "{s}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn node_refuses_bad_arguments_with_a_clear_error() {
    let cases: [(&[&str], &str); 9] = [
        (
            &["--host", "nobody"],
            "has no host `nobody`: its hosts are validator-0",
        ),
        (
            &["--host", "validator-0", "--time-scale", "0"],
            "--time-scale 0 is out of range",
        ),
        (
            &["--host", "validator-0", "--restarted"],
            "--restarted needs --start-at",
        ),
        (
            &["--host", "validator-0", "--peer", "ghost=127.0.0.1:1"],
            "has no host `ghost`",
        ),
        (
            &["--host", "validator-0", "--peer", "validator-1"],
            "is not a peer: write NAME=ADDR",
        ),
        // Standard input is no socket; 987 is not open; -1 is no descriptor.
        (
            &["--host", "validator-0", "--socket-fd", "0"],
            "--socket-fd 0: not an open UDP socket",
        ),
        (
            &["--host", "validator-0", "--socket-fd", "987"],
            "--socket-fd 987: not an open UDP socket",
        ),
        (
            &["--host", "validator-0", "--socket-fd=-1"],
            "--socket-fd -1: not an open UDP socket",
        ),
        (
            &[
                "--host",
                "validator-0",
                "--socket-fd",
                "3",
                "--listen",
                "127.0.0.1:1",
            ],
            "cannot be used with",
        ),
    ];
    for (args, expected) in cases {
        let out = sim(&[
            &["node", "--scenario", "scenarios/consensus-basic.toml"],
            args,
        ]
        .concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn collect_explains_what_is_wrong_with_its_input() {
    let dir = temp("real", "collect");
    let out = dir.join("out");
    let collect = |what: &Path, extra: &[&str]| {
        let base = [
            "collect",
            what.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        sim(&[&base[..], extra].concat())
    };
    let empty = dir.join("empty");
    fs::create_dir_all(&empty).unwrap();
    let r = collect(&empty, &["--scenario", "scenarios/consensus-basic.toml"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        text(&r.stderr).contains("no per-host records"),
        "{}",
        text(&r.stderr)
    );
    let r = collect(&empty, &[]);
    assert!(
        text(&r.stderr).contains("no scenario.toml in"),
        "{}",
        text(&r.stderr)
    );

    let hosts = dir.join("hosts");
    fs::create_dir_all(&hosts).unwrap();
    let boot = |host: &str, seed: u64| {
        format!(
            "{{\"boot\":{{\"format\":3,\"host\":\"{host}\",\"scenario\":\"consensus-basic\",\"seed\":{seed},\"restarted\":false,\"at_ns\":0,\"time_scale\":1.0}}}}\n"
        )
    };
    fs::write(hosts.join("stranger.events.jsonl"), boot("stranger", 1)).unwrap();
    let r = collect(&hosts, &["--scenario", "scenarios/consensus-basic.toml"]);
    assert!(
        text(&r.stderr).contains("records of host `stranger`"),
        "{}",
        text(&r.stderr)
    );
    fs::remove_file(hosts.join("stranger.events.jsonl")).unwrap();

    fs::write(
        hosts.join("validator-0.events.jsonl"),
        boot("validator-0", 1),
    )
    .unwrap();
    fs::write(
        hosts.join("validator-1.events.jsonl"),
        boot("validator-1", 2),
    )
    .unwrap();
    let r = collect(&hosts, &["--scenario", "scenarios/consensus-basic.toml"]);
    assert!(
        text(&r.stderr).contains("mix runs of different seeds"),
        "{}",
        text(&r.stderr)
    );

    fs::write(
        hosts.join("validator-1.events.jsonl"),
        boot("validator-1", 1) + "{\"nonsense\":1}\n" + &boot("validator-1", 1),
    )
    .unwrap();
    let r = collect(&hosts, &["--scenario", "scenarios/consensus-basic.toml"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        text(&r.stderr).contains("validator-1.events.jsonl:2: not a sim node record"),
        "{}",
        text(&r.stderr)
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_damages_a_real_file_and_records_it() {
    let dir = temp("real", "corrupt");
    let shared = dir.join("shared");
    fs::create_dir_all(&shared).unwrap();
    let file = shared.join("miner-1_miner_info.json");
    fs::write(&file, b"{\"agent_id\":\"miner-1\"}").unwrap();
    let base = [
        "corrupt",
        "--shared-dir",
        shared.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--agent",
    ];
    let r = sim(&[
        &base[..],
        &["miner-1", "--mode", "empty", "--fault", "3", "--at", "12 s"],
    ]
    .concat());
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(fs::read(&file).unwrap(), b"");
    let record = fs::read_to_string(dir.join("miner-1.events.jsonl")).unwrap();
    assert!(
        record.contains("\"damage\":{\"at_ns\":12000000000,\"fault\":3"),
        "{record}"
    );

    let r = sim(&[&base[..], &["miner-1", "--mode", "scramble"]].concat());
    assert_eq!(r.status.code(), Some(2));
    assert!(text(&r.stderr).contains("not a damage mode; use one of empty"));
    let r = sim(&[&base[..], &["../etc/x", "--mode", "empty"]].concat());
    assert_eq!(r.status.code(), Some(2));
    assert!(text(&r.stderr).contains("not an agent id"));
    fs::remove_dir_all(&dir).unwrap();
}
