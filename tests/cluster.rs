//! The cluster scripts end to end: `scripts/slurm-submit.sh`,
//! `scripts/slurm-array.sh` and `scripts/gnu-parallel.sh` driven with the
//! stand-ins in `tests/stand-ins/` for `sbatch` (jobs run at once, with the
//! environment Slurm sets, from a spool copy of the script, refusing a log
//! folder that does not exist, honouring afterok) and GNU `parallel`.
//! Every study is a fresh folder outside the repository holding a copy of
//! the scenario, as a user's would; the scripts are called by absolute path.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::snapshot;

/// The sweep every test runs: 2 grid points x 3 seeds = 6 runs.
const SWEEP: &[&str] = &[
    "scenarios/heartbeat-regions.toml",
    "--seeds",
    "1..3",
    "--sweep",
    "peers.heartbeat=5s,10s",
    "--no-plots",
];

/// The command `sim merge` prints for the sweep (as the shards recorded it).
const SWEEP_COMMAND: &str = "sim run scenarios/heartbeat-regions.toml --seeds 1..3 --sweep peers.heartbeat=5s,10s --no-plots";

/// A user's study folder: the submit folder of every job.
struct Study {
    dir: PathBuf,
}

impl Study {
    fn new(name: &str) -> Study {
        let dir = common::temp("cluster", name);
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        fs::create_dir_all(dir.join("scenarios/topologies")).unwrap();
        for file in [
            "heartbeat-regions.toml",
            "consensus-basic.toml",
            "topologies/three-regions.gml",
        ] {
            fs::copy(
                repo.join("scenarios").join(file),
                dir.join("scenarios").join(file),
            )
            .unwrap();
        }
        Study { dir }
    }

    /// Runs `program` (a script of `scripts/` or a stand-in) in the study
    /// with `args` and `env`, the stand-ins first on PATH and SIM set.
    fn run(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let program = match program.strip_prefix("scripts/") {
            Some(script) => repo.join("scripts").join(script),
            None => repo.join("tests/stand-ins").join(program),
        };
        let path = format!(
            "{}:{}",
            repo.join("tests/stand-ins").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("SIM", env!("CARGO_BIN_EXE_sim"))
            .env("SBATCH_STANDIN_STATE", self.dir.join(".slurm"))
            .envs(env.iter().copied())
            .output()
            .expect("the script runs")
    }

    /// `sim ARGS` in the study.
    fn sim(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("sim runs")
    }

    /// `slurm-submit.sh OPTIONS -- SWEEP EXTRA`.
    fn submit(&self, options: &[&str], extra: &[&str]) -> Output {
        let mut args = options.to_vec();
        args.push("--");
        args.extend_from_slice(SWEEP);
        args.extend_from_slice(extra);
        let o = self.run("scripts/slurm-submit.sh", &args, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        o
    }

    /// `sbatch --array=SPEC slurm-array.sh --shards 4 -- SWEEP EXTRA`.
    fn sbatch_array(&self, spec: &str, extra: &[&str]) -> u32 {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-array.sh");
        let array = format!("--array={spec}");
        let mut args = vec!["--parsable", &array, script.to_str().unwrap()];
        args.extend(["--shards", "4", "--"]);
        args.extend_from_slice(SWEEP);
        args.extend_from_slice(extra);
        let o = self.run("sbatch", &args, &[]);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
    }

    /// The exit codes of job `id`'s tasks (`never` if it never ran).
    fn codes(&self, id: u32) -> String {
        fs::read_to_string(self.dir.join(format!(".slurm/{id}.codes")))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn read(&self, path: &str) -> String {
        fs::read_to_string(self.dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn snapshot(&self, path: &str) -> BTreeMap<String, Vec<u8>> {
        snapshot(&self.dir.join(path))
    }

    /// The unsharded sweep, made in one process into `ref`.
    fn reference(&self) -> BTreeMap<String, Vec<u8>> {
        let mut args = vec!["run"];
        args.extend_from_slice(SWEEP);
        args.extend(["--out", "ref", "--quiet"]);
        let o = self.sim(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        self.snapshot("ref")
    }

    /// `sim merge sweep-shards/0..3 --out OUT EXTRA`.
    fn merge(&self, out: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "merge",
            "sweep-shards/0",
            "sweep-shards/1",
            "sweep-shards/2",
            "sweep-shards/3",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        self.sim(&args)
    }
}

impl Drop for Study {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn zero_and_one_based_arrays_and_environment_settings_merge_to_the_unsharded_sweep() {
    let study = Study::new("arrays");
    let reference = study.reference();

    // The wrapper: log folder made, 4 tasks, then the afterok merge job.
    let o = study.submit(&["--shards", "4"], &[]);
    assert!(
        text(&o).contains("submitted merge job 1002 (afterok:1001)"),
        "{}",
        text(&o)
    );
    assert_eq!(study.codes(1001), "0 0 0 0");
    assert_eq!(study.codes(1002), "0");
    assert_eq!(study.snapshot("sweep"), reference, "merged = unsharded");
    for log in ["1001_0.out", "1001_3.out", "1002-merge.out"] {
        assert!(study.dir.join("sweep-logs").join(log).is_file(), "{log}");
    }

    // 1-based: task 4 makes shard 0.
    let options = [
        "--array",
        "1-4",
        "--shard-dir",
        "one/shards",
        "--merged",
        "one/sweep",
    ];
    study.submit(&[&["--shards", "4"][..], &options].concat(), &[]);
    assert!(
        study
            .read("sweep-logs/1003_4.out")
            .contains("task 4 makes shard 0/4")
    );
    assert_eq!(study.codes(1004), "0");
    assert_eq!(study.snapshot("one/sweep"), reference);

    // sbatch on the array script itself, configured by the environment:
    // its logs go to the submit folder (no folder needed before the start).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-array.sh");
    let env = [
        ("SHARDS", "4"),
        ("SHARD_DIR", "sweep-shards"),
        ("SCENARIO", "scenarios/heartbeat-regions.toml"),
        ("SEEDS", "1..3"),
        ("SWEEPS", "peers.heartbeat=5s,10s"),
        ("SIM_ARGS", "--no-plots"),
    ];
    let o = study.run("sbatch", &["--array=0-3", script.to_str().unwrap()], &env);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "Submitted batch job 1005"
    );
    assert_eq!(study.codes(1005), "0 0 0 0");
    assert!(study.dir.join("sim-sweep-1005_2.out").is_file());
    let o = study.merge("env-sweep", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(study.snapshot("env-sweep"), reference);

    // What the scripts choose cannot be given as part of the sweep.
    let mut args = vec!["--shards", "4", "--"];
    args.extend_from_slice(SWEEP);
    args.extend(["--out", "elsewhere"]);
    let o = study.run("scripts/slurm-submit.sh", &args, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("leave --out out of the sweep's arguments"));

    // More tasks than shards would make a shard twice: refused.
    let id = study.sbatch_array("0-4", &[]);
    assert_eq!(study.codes(id), "2 2 2 2 2");
    let log = study.read(&format!("sim-sweep-{id}_0.out"));
    assert!(log.contains("the array spans 5 task ids (0-4)"), "{log}");
}

#[test]
fn a_missing_shard_is_named_with_the_command_that_makes_it() {
    let study = Study::new("missing");
    let reference = study.reference();
    study.submit(&["--shards", "4", "--array", "0-2"], &[]);
    assert_eq!(
        study.codes(1002),
        "7",
        "the merge job fails: shard 3 is missing"
    );
    let log = study.read("sweep-logs/1002-merge.out");
    assert!(log.contains("1 of 6 runs are missing"), "{log}");
    assert!(log.contains("shard 3/4: not in the given folders"), "{log}");
    let make = format!("make it: {SWEEP_COMMAND} --shard 3/4 --out sweep-shards/3");
    assert!(log.contains(&make), "{log}");
    let left: Vec<_> = fs::read_dir(&study.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("sweep") && !n.starts_with("sweep-"))
        .collect();
    assert!(left.is_empty(), "a failed merge leaves nothing: {left:?}");

    // --allow-partial merges what is there and says so.
    let o = study.merge("partial", &["--allow-partial"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("1 of 6 runs are missing (ids 3)"),
        "{}",
        text(&o)
    );
    let record = study.read("partial/heartbeat-regions/sweep.json");
    assert!(record.contains("\"status\": \"incomplete\""), "{record}");
    assert!(record.contains("\"missing\": \"3\""), "{record}");
    assert!(record.contains("merged with --allow-partial"), "{record}");
    let stats = study.read("partial/heartbeat-regions/stats.csv");
    assert!(
        stats
            .lines()
            .next()
            .unwrap()
            .ends_with(",runs,runs_expected")
    );
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("peers.heartbeat=10s,") && l.ends_with(",2,3")),
        "{stats}"
    );

    // The printed commands, as printed, complete the sweep.
    let sim = env!("CARGO_BIN_EXE_sim");
    let line = |prefix: &str| {
        let found = log.lines().find_map(|l| l.trim().strip_prefix(prefix));
        found
            .unwrap_or_else(|| panic!("{prefix}: {log}"))
            .to_string()
    };
    for command in [line("make it: "), line("then merge again: ")] {
        let command = command.replacen("sim ", &format!("{sim} "), 1);
        let o = Command::new("sh")
            .args(["-c", &command])
            .current_dir(&study.dir)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{command}: {}", text(&o));
    }
    assert_eq!(study.snapshot("sweep"), reference);

    // Re-running one lost shard through Slurm, then the merge job again.
    fs::remove_dir_all(study.dir.join("sweep-shards/1")).unwrap();
    study.submit(&["--shards", "4", "--array", "1", "--merged", "again"], &[]);
    assert_eq!(study.snapshot("again"), reference);
}

#[test]
fn merge_refuses_a_shard_made_with_other_settings() {
    let study = Study::new("settings");
    let first = study.sbatch_array("0-2", &[]);
    let other = study.sbatch_array("3", &["--set", "peers.stale_after=40 s"]);
    assert_eq!(
        (study.codes(first), study.codes(other)),
        ("0 0 0".into(), "0".into())
    );
    let o = study.merge("sweep", &[]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    let err = text(&o);
    assert!(
        // The resolved scenario (in `files`) differs with the --set too.
        err.contains("are not shards of one sweep: they differ in files, set,"),
        "{err}"
    );
    assert!(err.contains("[\"peers.stale_after=40 s\"]"), "{err}");
    assert!(!study.dir.join("sweep").exists());
    // --allow-partial does not mix sweeps either.
    let o = study.merge("sweep", &["--allow-partial"]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
}

#[test]
fn a_partial_shard_resumes_and_stale_runs_are_ignored() {
    let study = Study::new("resume");
    let reference = study.reference();
    // Runs of another sweep (seeds 4..5) already in shard 0's folder.
    let stale = [
        "run",
        "scenarios/heartbeat-regions.toml",
        "--seeds",
        "4..5",
        "--sweep",
        "peers.heartbeat=5s,10s",
        "--no-plots",
        "--out",
        "sweep-shards/0",
        "--quiet",
    ];
    let o = study.sim(&stale);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let id = study.sbatch_array("0-3", &[]);
    assert_eq!(study.codes(id), "0 0 0 0");
    let runs = study.read("sweep-shards/0/heartbeat-regions/runs.csv");
    assert_eq!(
        runs.lines().count(),
        3,
        "header + this shard's 2 runs: {runs}"
    );
    let stray = "sweep-shards/0/heartbeat-regions/peers.heartbeat=5s/seed-5";
    assert!(study.dir.join(stray).is_dir(), "strays stay where they are");

    // Shard 1 interrupted: one run lost, a dead process's staging folder left.
    let shard = study.dir.join("sweep-shards/1/heartbeat-regions");
    let kept = shard.join("peers.heartbeat=5s/seed-2/summary.json");
    let inode = fs::metadata(&kept).unwrap().ino();
    fs::remove_dir_all(shard.join("peers.heartbeat=10s/seed-3")).unwrap();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let leftover = shard
        .join("peers.heartbeat=10s")
        .join(format!(".seed-3.partial.{}-4294967", host.trim()));
    fs::create_dir_all(&leftover).unwrap();
    let rerun = study.sbatch_array("1", &[]);
    assert_eq!(study.codes(rerun), "0");
    let log = study.read(&format!("sim-sweep-{rerun}_1.out"));
    assert!(log.contains("1 of 2 runs already complete"), "{log}");
    assert_eq!(
        fs::metadata(&kept).unwrap().ino(),
        inode,
        "kept, not re-made"
    );
    assert!(
        !leftover.exists(),
        "a dead process's staging folder is removed"
    );

    let o = study.merge("sweep", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        study.snapshot("sweep"),
        reference,
        "stale runs are not merged"
    );
}

#[test]
fn gnu_parallel_merges_and_a_checker_failure_is_reported_by_the_merge() {
    let study = Study::new("parallel");
    let reference = study.reference();
    let mut args = vec!["--shards", "3", "--"];
    args.extend_from_slice(SWEEP);
    let o = study.run("scripts/gnu-parallel.sh", &args, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(study.snapshot("parallel-sweep"), reference);
    let o = study.run("scripts/gnu-parallel.sh", &args, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("parallel-sweep exists"), "{}", text(&o));

    // A liveness bound of 1 ms trips the checker in half of the runs.
    let checker = [
        "scenarios/consensus-basic.toml",
        "--seeds",
        "1..2",
        "--sweep",
        "consensus.liveness_bound=1ms,60s",
        "--no-plots",
    ];
    let mut args = vec![
        "--shards",
        "2",
        "--shard-dir",
        "c/shards",
        "--merged",
        "c/sweep",
        "--",
    ];
    args.extend_from_slice(&checker);
    let o = study.run("scripts/gnu-parallel.sh", &args, &[]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(
        text(&o).contains("stopped at a checker violation"),
        "{}",
        text(&o)
    );
    assert!(
        study
            .dir
            .join("c/sweep/consensus-basic/stats.csv")
            .is_file()
    );

    // Under Slurm the tasks still succeed (results written) so the afterok
    // merge runs, and the merge job's exit and log say it.
    let mut args = vec![
        "--shards",
        "2",
        "--shard-dir",
        "s/shards",
        "--merged",
        "s/sweep",
        "--",
    ];
    args.extend_from_slice(&checker);
    let o = study.run("scripts/slurm-submit.sh", &args, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        (study.codes(1001), study.codes(1002)),
        ("0 0".into(), "5".into())
    );
    let log = study.read("sweep-logs/1002-merge.out");
    assert!(log.contains("stopped at a checker violation"), "{log}");
}
