//! The `sim` binary end to end: outputs, determinism, exit codes, errors.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{sim, snapshot};

fn temp(name: &str) -> PathBuf {
    common::temp("cli", name)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_scenario(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, body).unwrap();
    path
}

const SMALL: &str = r#"
description = "five peers"
duration = "2 min"
seed = 5
[network]
latency = "20 ms"
jitter = "5 ms"
loss = 0.01
[[hosts]]
name = "peer"
count = 5
role = "peer"
start = { uniform = ["0 s", "5 s"] }
[[faults]]
at = "30 s"
partition = ["peer-0", ["peer-1", "peer-2"]]
until = "70 s"
[[faults]]
at = "40 s"
crash = "peer-4"
restart = "80 s"
"#;

#[test]
fn same_seed_gives_byte_identical_results_and_another_seed_differs() {
    let dir = temp("determinism");
    let file = write_scenario(&dir, "small.toml", SMALL);
    let file = file.to_str().unwrap();
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    for out in [&a, &b] {
        let o = sim(&[
            "run",
            file,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--trace",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let first = snapshot(&a);
    assert_eq!(
        first.keys().cloned().collect::<Vec<_>>(),
        [
            "small/seed-5/faults.csv",
            "small/seed-5/index.html",
            "small/seed-5/lifecycle.csv",
            "small/seed-5/messages_per_host.svg",
            "small/seed-5/network.csv",
            "small/seed-5/observations.csv",
            "small/seed-5/peers.csv",
            "small/seed-5/peers_flaps.svg",
            "small/seed-5/peers_live.svg",
            "small/seed-5/run.json",
            "small/seed-5/scenario.toml",
            "small/seed-5/summary.json",
            "small/seed-5/trace.csv",
        ]
    );
    assert_eq!(first, snapshot(&b), "same scenario, same seed: same bytes");

    let o = sim(&[
        "run",
        file,
        "--out",
        c.to_str().unwrap(),
        "--quiet",
        "--seed",
        "6",
    ]);
    assert!(o.status.success());
    let other = snapshot(&c);
    let summary = |s: &BTreeMap<String, Vec<u8>>, seed: u32| {
        String::from_utf8(s[&format!("small/seed-{seed}/summary.json")].clone()).unwrap()
    };
    assert!(summary(&other, 6).contains("\"run.seed\": 6"));
    let hash = |text: &str| {
        text.lines()
            .find(|l| l.contains("trace_hash"))
            .unwrap()
            .to_string()
    };
    assert_ne!(
        hash(&summary(&first, 5)),
        hash(&summary(&other, 6)),
        "another seed, another run"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_prints_seed_trace_hash_and_metrics_matching_the_summary() {
    let dir = temp("digest");
    let file = write_scenario(&dir, "small.toml", SMALL);
    let o = sim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let summary = fs::read_to_string(dir.join("o/small/seed-5/summary.json")).unwrap();
    let hash_line = summary
        .lines()
        .find(|l| l.contains("run.trace_hash"))
        .unwrap();
    let hash = hash_line.split('"').nth(3).unwrap();
    assert_eq!(hash.len(), 32);
    assert!(text.contains(&format!("seed 5  trace {hash}")), "{text}");
    // The CSV agrees with the summary: per-host sends add up to the total.
    let network = fs::read_to_string(dir.join("o/small/seed-5/network.csv")).unwrap();
    let sent: u64 = network
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(
        summary.contains(&format!("\"network.messages_sent\": {sent}")),
        "{summary}"
    );
    assert!(sent > 0);
    let faults = fs::read_to_string(dir.join("o/small/seed-5/faults.csv")).unwrap();
    assert_eq!(
        faults.lines().count(),
        5,
        "header + apply/heal of two faults:\n{faults}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn overrides_change_the_run() {
    let dir = temp("overrides");
    let file = write_scenario(&dir, "small.toml", SMALL);
    let out = dir.join("o");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let o = sim(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        fs::read_to_string(out.join("small/seed-5/summary.json")).unwrap()
    };
    let base = run(&["--trace"]);
    assert!(
        out.join("small/seed-5/trace.csv").is_file(),
        "--trace writes it"
    );
    let more = run(&["--set", "hosts.peer.count=7"]);
    assert!(more.contains("\"run.hosts\": 7") && base.contains("\"run.hosts\": 5"));
    assert!(
        !out.join("small/seed-5/trace.csv").exists(),
        "no trace by default, and the old result was replaced whole"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_scenario_exits_2_with_file_line_and_key_and_runs_nothing() {
    let dir = temp("invalid");
    let good = write_scenario(&dir, "good.toml", SMALL);
    let bad = write_scenario(
        &dir,
        "bad.toml",
        "duration = \"1 min\"\n[network]\nlateny = \"5 ms\"\n[[hosts]]\nname = \"p\"\nrole = \"peer\"\n",
    );
    let out = dir.join("o");
    let o = sim(&[
        "run",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("bad.toml:3:1"), "{err}");
    assert!(
        err.contains("network.lateny") && err.contains("did you mean `latency`"),
        "{err}"
    );
    assert!(!out.exists(), "nothing ran: every file is checked first");

    let o = sim(&["validate", good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("5 hosts"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_files_that_would_write_one_result_folder_are_refused() {
    let dir = temp("clash");
    fs::create_dir_all(dir.join("x")).unwrap();
    let a = write_scenario(&dir, "small.toml", SMALL);
    let b = write_scenario(&dir.join("x"), "small.toml", SMALL);
    let o = sim(&[
        "run",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("would both write results to small/seed-5"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("o").exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_graph_file_exits_2_naming_the_graph_line() {
    let dir = temp("gml");
    fs::write(
        dir.join("g.gml"),
        "graph [\n  node [ id 0 host_bandwidth_up \"1 Gbit\" host_bandwidth_down \"1 Gbit\" ]\n  edge [ source 0 target 0 latency \"5\" ]\n]\n",
    )
    .unwrap();
    let file = write_scenario(
        &dir,
        "s.toml",
        "duration = \"1 min\"\n[network]\ngraph = \"g.gml\"\n[[hosts]]\nname = \"p\"\nrole = \"peer\"\n",
    );
    let o = sim(&["validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("g.gml:3:"), "{err}");
    assert!(err.contains("\"5 ms\"") || err.contains("unit"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

/// `sim validate` on a scenario whose graph is a FIFO (nobody writes it)
/// or /dev/zero: an input error at the `graph` key, at once; and on a
/// scenario file that is a FIFO itself.
#[test]
fn graphs_that_are_fifos_or_devices_exit_2_without_hanging() {
    let dir = temp("gml-fifo");
    let fifo = dir.join("g.gml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for graph in [fifo.to_str().unwrap(), "/dev/zero"] {
        let file = write_scenario(
            &dir,
            "s.toml",
            &format!(
                "duration = \"1 min\"\n[network]\ngraph = \"{graph}\"\n[[hosts]]\nname = \"p\"\nrole = \"peer\"\n"
            ),
        );
        let o = sim(&["validate", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert!(err.contains("not a regular file"), "{err}");
        assert!(err.contains("s.toml:3:9"), "{err}");
    }
    let o = sim(&["validate", fifo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("a FIFO (named pipe)"), "{}", stderr(&o));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn faults_of_later_protocols_are_refused_not_ignored() {
    let dir = temp("unsupported");
    let file = write_scenario(
        &dir,
        "s.toml",
        "duration = \"1 min\"\n[[hosts]]\nname = \"validator\"\ncount = 4\nrole = \"validator\"\n[consensus]\nvalidators = \"registered\"\n",
    );
    let o = sim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("registered") && stderr(&o).contains("no miners"),
        "{}",
        stderr(&o)
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_foreign_folder_in_the_way_is_never_overwritten() {
    let dir = temp("foreign");
    let file = write_scenario(&dir, "small.toml", SMALL);
    let target = dir.join("o/small/seed-5");
    fs::create_dir_all(&target).unwrap();
    fs::write(target.join("thesis.tex"), "years of work").unwrap();
    let o = sim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("refusing to replace"), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(target.join("thesis.tex")).unwrap(),
        "years of work"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_are_input_errors() {
    let o = sim(&[
        "run",
        "scenarios/heartbeat-partition.toml",
        "--set",
        "no-equals-sign",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = sim(&[
        "run",
        "scenarios/heartbeat-partition.toml",
        "--seed",
        "minus-one",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = sim(&["run", "does/not/exist.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does/not/exist.toml"), "{}", stderr(&o));
}

#[test]
fn a_missing_legacy_registry_is_an_input_error_before_anything_runs() {
    let dir = temp("legacy");
    let file = write_scenario(
        &dir,
        "s.toml",
        "duration = \"1 min\"\n[[hosts]]\nname = \"miner\"\nrole = \"miner\"\n[[hosts]]\nname = \"registrar\"\nrole = \"registrar\"\n\
         [registration]\nlegacy_registry = \"registries/nope.json\"\n",
    );
    let o = sim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nope.json") && stderr(&o).contains("legacy registry"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("o").exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plots_are_written_beside_the_tables_unless_turned_off() {
    let dir = temp("plots");
    let file = write_scenario(&dir, "small.toml", SMALL);
    let out = dir.join("o");
    let o = sim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let svg = fs::read_to_string(out.join("small/seed-5/messages_per_host.svg")).unwrap();
    assert!(
        svg.starts_with("<?xml")
            && svg.contains("<svg")
            && svg.contains("messages sent")
            && svg.trim_end().ends_with("</svg>")
    );
    let o = sim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--no-plots",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!out.join("small/seed-5/messages_per_host.svg").exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_trace_is_written_only_when_asked_and_check_takes_the_output_flags_of_run() {
    let dir = temp("trace-off");
    let file = write_scenario(&dir, "small.toml", SMALL);
    let (file, out) = (file.to_str().unwrap(), dir.join("o"));
    let out = out.to_str().unwrap();
    let o = sim(&["run", file, "--out", out, "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = dir.join("o/small/seed-5");
    assert!(run.join("summary.json").is_file() && !run.join("trace.csv").exists());
    let record = fs::read_to_string(run.join("run.json")).unwrap();
    assert!(record.contains("\"trace\": false"), "{record}");
    // --no-trace is the default, still accepted; with --trace it conflicts.
    let o = sim(&["run", file, "--out", out, "--quiet", "--no-trace"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!run.join("trace.csv").exists());
    let o = sim(&["run", file, "--out", out, "--trace", "--no-trace"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--trace"), "{}", stderr(&o));
    // `sim check` takes the output flags of `sim run`.
    let check_out = dir.join("c");
    let o = sim(&[
        "check",
        file,
        "--out",
        check_out.to_str().unwrap(),
        "--no-trace",
        "--no-plots",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        !check_out
            .join("small/seed-5/messages_per_host.svg")
            .exists()
    );
    // Zero runs at once would run nothing.
    let o = sim(&["run", file, "--out", out, "--seeds", "1..2", "--jobs", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("would run nothing"), "{}", stderr(&o));
    fs::remove_dir_all(&dir).unwrap();
}

/// Ctrl-C stops a sweep cleanly: exit 130, a message saying what is
/// complete and how to go on, no half-written folder, a record that lists
/// exactly the complete runs.
#[test]
fn ctrl_c_stops_a_sweep_without_half_results() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = temp("interrupt");
    let out = dir.join("o");
    let child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "run",
            "scenarios/heartbeat-partition.toml",
            "--seeds",
            "1..400",
            "--jobs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the sweep has begun (its record is written first).
    let record = out.join("heartbeat-partition/sweep.json");
    let start = Instant::now();
    while !record.is_file() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) with the child's pid and SIGINT has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("interrupted: ") && err.contains("--skip-existing"),
        "{err}"
    );
    let folder = out.join("heartbeat-partition");
    let mut complete = 0;
    for entry in fs::read_dir(&folder).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".partial"), "a half result is left: {name}");
        if name.starts_with("seed-") {
            assert!(folder.join(&name).join("summary.json").is_file(), "{name}");
            complete += 1;
        }
    }
    assert!(complete < 400, "the sweep was stopped");
    let record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(record["status"], "incomplete");
    // `present` is written as ids and inclusive ranges: `0..3,7`.
    let present: usize = record["present"]
        .as_str()
        .unwrap()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once("..") {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum();
    assert_eq!(present, complete);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_description_is_marked_as_the_files_when_set_changed_the_scenario() {
    let dir = temp("description");
    let file = write_scenario(&dir, "small.toml", SMALL);
    let out = dir.join("o");
    let o = sim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "hosts.peer.count=7",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("(the file's description; --set changed: hosts.peer.count=7)"),
        "{}",
        stdout(&o)
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn log_cdf_draws_the_registration_cdf_over_a_log_time_axis() {
    let dir = temp("log-cdf");
    let out = dir.join("o");
    let o = sim(&[
        "run",
        "scenarios/registration-backoff.toml",
        "--set",
        "duration=60s",
        "--log-cdf",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = out.join("registration-backoff/seed-1");
    let cdf = fs::read_to_string(run.join("registration_cdf.svg")).unwrap();
    assert!(cdf.contains(">registration time (s, log scale)<"), "{cdf}");
    let record = fs::read_to_string(run.join("run.json")).unwrap();
    assert!(record.contains("\"log_cdf\": true") && record.contains("--log-cdf"));
    // Registration only: nobody sends a message, so no messages plot.
    assert!(!run.join("messages_per_host.svg").exists() || registration_sends(&run));
    fs::remove_dir_all(&dir).unwrap();
}

/// Whether any host of the run sent a message (re-registration requests).
fn registration_sends(run: &Path) -> bool {
    let summary = fs::read_to_string(run.join("summary.json")).unwrap();
    !summary.contains("\"network.messages_sent\": 0,")
}
