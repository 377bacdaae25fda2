//! Sweeps, shards, `sim merge` and `sim check` through the binary.

use std::fs;
use std::path::{Path, PathBuf};

mod common;

use common::{sim, snapshot};

fn temp(name: &str) -> PathBuf {
    common::temp("sweep", name)
}

const SWEEP: &[&str] = &[
    "run",
    "scenarios/heartbeat-regions.toml",
    "--seeds",
    "1..3",
    "--sweep",
    "peers.heartbeat=5s,10s",
    "--quiet",
];

fn sweep(out: &Path, extra: &[&str]) {
    let mut args: Vec<&str> = SWEEP.to_vec();
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let o = sim(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_sweep_gives_the_same_bytes_on_one_or_two_threads_and_as_merged_shards() {
    let (one, two) = (temp("jobs1"), temp("jobs2"));
    sweep(&one, &["--jobs", "1"]);
    sweep(&two, &["--jobs", "2"]);
    let reference = snapshot(&one);
    assert_eq!(reference, snapshot(&two));
    // 2 parameter values x 3 seeds, plus the two aggregates.
    assert_eq!(
        reference
            .keys()
            .filter(|k| k.ends_with("summary.json"))
            .count(),
        6
    );
    assert!(reference.contains_key("heartbeat-regions/runs.csv"));
    // The sweep's figures: mean and 95 % band over seeds, titled with the
    // scenario and seeds, the grid point's faults shaded.
    let figure = String::from_utf8(reference["heartbeat-regions/peers_flaps.svg"].clone()).unwrap();
    for text in [
        ">Peer flaps<",
        ">heartbeat-regions \u{b7} seeds 1..3<",
        "class=\"band\"",
        "class=\"shade\"",
        ">partition #0<",
        ">heartbeat=5s<",
    ] {
        assert!(figure.contains(text), "missing {text}");
    }
    let by_param =
        String::from_utf8(reference["heartbeat-regions/sweep_peers.flaps.svg"].clone()).unwrap();
    assert!(
        by_param.contains(">Peer-down events by heartbeat<") && by_param.contains("class=\"band\"")
    );
    assert!(reference.contains_key("heartbeat-regions/index.html"));
    assert!(reference.contains_key("heartbeat-regions/peers.heartbeat=10s/seed-2/summary.json"));

    let shards: Vec<PathBuf> = (0..3).map(|i| temp(&format!("shard{i}"))).collect();
    for (i, shard) in shards.iter().enumerate() {
        sweep(shard, &["--shard", &format!("{i}/3")]);
    }
    let merged = temp("merged").join("all");
    let mut args = vec!["merge"];
    let names: Vec<String> = shards.iter().map(|s| s.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    args.extend(["--out", merged.to_str().unwrap()]);
    let o = sim(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        snapshot(&merged),
        reference,
        "merged shards equal the unsharded sweep"
    );

    let runs = String::from_utf8(reference["heartbeat-regions/runs.csv"].clone()).unwrap();
    assert_eq!(runs.lines().count(), 7, "header + 6 runs");
    assert!(
        runs.lines()
            .next()
            .unwrap()
            .starts_with("group,seed,param.peers.heartbeat_s,")
    );
    for dir in [one, two].into_iter().chain(shards) {
        fs::remove_dir_all(dir).unwrap();
    }
    fs::remove_dir_all(merged.parent().unwrap()).unwrap();
}

#[test]
fn stats_agree_with_the_runs_they_summarize() {
    let out = temp("stats");
    sweep(&out, &[]);
    let runs = fs::read_to_string(out.join("heartbeat-regions/runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "network.messages_sent")
        .unwrap();
    let values: Vec<f64> = runs
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("peers.heartbeat=5s,"))
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert_eq!(values.len(), 3);
    let mean = values.iter().sum::<f64>() / 3.0;
    let sd = (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let half = 4.303 * sd / 3.0f64.sqrt(); // t(2) = 4.303
    let stats = fs::read_to_string(out.join("heartbeat-regions/stats.csv")).unwrap();
    let row: Vec<f64> = stats
        .lines()
        .find(|l| l.starts_with("peers.heartbeat=5s,5,network.messages_sent,"))
        .unwrap()
        .split(',')
        .skip(3)
        .map(|x| x.parse().unwrap())
        .collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(row[0], 3.0);
    // Statistics keep 12 significant digits (reports::STAT_DIGITS).
    assert!((row[1] - mean).abs() <= 1e-11 * mean.abs());
    assert_eq!(
        (row[2], row[3], row[4], row[5]),
        (sorted[1], sorted[2], sorted[0], sorted[2])
    );
    assert!((row[6] - (mean - half)).abs() < 1e-6 && (row[7] - (mean + half)).abs() < 1e-6);
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn check_exit_codes_misses_and_baselines() {
    let out = temp("check");
    let o = |args: &[&str]| {
        let mut all = vec![
            "check",
            "scenarios/consensus-basic.toml",
            "--seeds",
            "1..2",
            "--out",
        ];
        let dir = out.join("runs").display().to_string();
        all.push(&dir);
        all.extend_from_slice(args);
        let o = sim(&all);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = o(&[]);
    assert_eq!(code, Some(0), "{stdout}");

    // A miss names metric, target, measured value, seed and the command.
    let (code, stdout, _) = o(&["--set", "consensus.block_interval=6 s"]);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("MISS consensus.blocks_finalized >= 50: measured 49 (seed 1"),
        "{stdout}"
    );
    assert!(stdout.contains("reproduce: sim run scenarios/consensus-basic.toml --seed 1 --set 'consensus.block_interval=6 s'"), "{stdout}");

    // Baselines: update, then an unchanged run passes and a changed one is flagged.
    let baseline = out.join("baseline").display().to_string();
    let (code, _, _) = o(&["--update-baseline", &baseline]);
    assert_eq!(code, Some(0));
    assert!(
        out.join("baseline/consensus-basic/seed-2/summary.json")
            .is_file()
    );
    let (code, stdout, _) = o(&["--baseline", &baseline]);
    assert_eq!(code, Some(0), "{stdout}");
    let (code, stdout, _) = o(&[
        "--baseline",
        &baseline,
        "--set",
        "network.latency=60 ms",
        "--tolerance",
        "5%",
    ]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("baseline") && stdout.contains("beyond 5.0%"),
        "{stdout}"
    );

    // Invalid input and a missing baseline are input errors.
    let (code, _, stderr) = o(&["--set", "consensus.view_timeout=ten"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, _, stderr) = o(&["--baseline", "/nonexistent/baseline"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--update-baseline"), "{stderr}");
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_selection_flags_are_input_errors() {
    for args in [
        &["run", "scenarios/consensus-basic.toml", "--seeds", "5..1"][..],
        &["run", "scenarios/consensus-basic.toml", "--shard", "3/3"],
        &[
            "run",
            "scenarios/consensus-basic.toml",
            "--sweep",
            "consensus.view_timeout",
        ],
        &[
            "check",
            "scenarios/consensus-basic.toml",
            "--tolerance",
            "lots",
        ],
        &[
            "run",
            "scenarios/consensus-basic.toml",
            "--sweep",
            "consensus.nonsense=1,2",
        ],
        &[
            "run",
            "scenarios/consensus-basic.toml",
            "--seed",
            "1",
            "--seeds",
            "1..2",
        ],
    ] {
        let o = sim(args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn targets_over_seeds_and_per_metric_tolerances() {
    let dir = temp("over-seeds");
    let base = fs::read_to_string("scenarios/consensus-basic.toml").unwrap();
    let body = base.split("[targets]").next().unwrap().to_string();
    let file = dir.join("s.toml");
    fs::write(
        &file,
        format!(
            "{body}[targets]\n\"consensus.blocks_finalized\" = {{ min = \">= 59\" }}\n\"network.bytes_sent\" = {{ mean = \"< 1\" }}\n\
             [tolerances]\n\"consensus.first_block_s\" = \"50%\"\n"
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["check", file.to_str().unwrap(), "--seeds", "1..2"];
        let out = dir.join("runs").display().to_string();
        args.extend(["--out", &out]);
        let owned: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.extend(owned.iter().map(String::as_str));
        let o = sim(&args);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        !stdout.contains("blocks_finalized"),
        "the min over seeds holds: {stdout}"
    );
    assert!(
        stdout.contains("MISS mean of network.bytes_sent over seeds 1..2 < 1: measured"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reproduce: sim check") && stdout.contains("--seeds 1..2"),
        "{stdout}"
    );

    // Baseline with a per-metric tolerance: first_block_s moves ~20 %,
    // allowed by its 50 % tolerance; blocks_finalized (-17 %) is not.
    let baseline = dir.join("baseline").display().to_string();
    run(&["--update-baseline", &baseline]);
    let (_, stdout, _) = run(&[
        "--baseline",
        &baseline,
        "--set",
        "consensus.block_interval=6 s",
    ]);
    assert!(
        stdout.contains("MISS consensus.blocks_finalized: baseline 59"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("consensus.first_block_s: baseline"),
        "{stdout}"
    );

    for (table, needle) in [
        (
            "[targets]\n\"consensus.view_changes\" = { p99 = \"< 1\" }\n",
            "unknown statistic `p99`",
        ),
        (
            "[tolerances]\n\"consensus.nope\" = \"5%\"\n",
            "unknown metric `consensus.nope` in [tolerances]",
        ),
        (
            "[tolerances]\n\"consensus.view_changes\" = \"lots\"\n",
            "is not a tolerance",
        ),
    ] {
        fs::write(&file, format!("{body}{table}")).unwrap();
        let o = sim(&["validate", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(needle),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn runs_are_addressable_by_id_and_parts_add_up_in_one_folder() {
    let out = temp("ids");
    let mut list = SWEEP.to_vec();
    list.push("--list");
    let o = sim(&list);
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(listed.lines().count(), 6, "{listed}");
    assert!(
        listed.starts_with("0\theartbeat-regions/peers.heartbeat=5s/seed-1\n"),
        "{listed}"
    );
    assert!(listed.ends_with("5\theartbeat-regions/peers.heartbeat=10s/seed-3\n"));
    let mut count = SWEEP.to_vec();
    count.extend(["--count", "--shard", "1/4"]);
    assert_eq!(String::from_utf8_lossy(&sim(&count).stdout), "2\n");

    // Runs 1 and 4 only: the record says which part and what is missing.
    sweep(&out, &["--run", "1,4"]);
    let scenario = out.join("heartbeat-regions");
    let record = fs::read_to_string(scenario.join("sweep.json")).unwrap();
    assert!(record.contains("\"part\": \"runs 1,4\""), "{record}");
    assert!(record.contains("\"present\": \"1,4\""), "{record}");
    assert!(!scenario.join("peers.heartbeat=5s/seed-1").exists());
    // The rest into the same folder: the parts add up to the whole sweep,
    // the same bytes as one run of it.
    sweep(&out, &["--run", "0,2..3", "--run", "5"]);
    let whole = temp("ids-whole");
    sweep(&whole, &[]);
    assert_eq!(snapshot(&out), snapshot(&whole));
    let mut bad = SWEEP.to_vec();
    bad.extend(["--run", "6"]);
    let o = sim(&bad);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("this sweep has 6 runs (ids 0..5)"),
        "{}",
        text(&o)
    );
    fs::remove_dir_all(&out).unwrap();
    fs::remove_dir_all(&whole).unwrap();
}

#[test]
fn two_processes_writing_one_shard_folder_both_succeed() {
    let (shared, alone) = (temp("concurrent"), temp("concurrent-alone"));
    let mut args: Vec<&str> = SWEEP.to_vec();
    args.extend([
        "--shard",
        "0/2",
        "--jobs",
        "1",
        "--out",
        shared.to_str().unwrap(),
    ]);
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    sweep(&alone, &["--shard", "0/2"]);
    assert_eq!(
        snapshot(&shared),
        snapshot(&alone),
        "no temporary left, nothing lost"
    );
    fs::remove_dir_all(&shared).unwrap();
    fs::remove_dir_all(&alone).unwrap();
}

#[test]
fn a_failed_merge_leaves_nothing_behind() {
    let root = temp("failed-merge");
    let (a, b) = (root.join("a"), root.join("b"));
    sweep(&a, &[]);
    sweep(&b, &[]);
    // The same run, different bytes in the two folders.
    let file = b.join("heartbeat-regions/peers.heartbeat=10s/seed-3/network.csv");
    fs::write(&file, "tampered\n").unwrap();
    let merged = root.join("merged");
    let o = sim(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    assert!(text(&o).contains("differ"), "{}", text(&o));
    let names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "only a and b: {names:?}");
    // Into a folder that is not empty: refused before anything is written.
    let o = sim(&["merge", a.to_str().unwrap(), "--out", b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn list_values_files_and_zipped_keys_make_the_grid_and_errors_name_their_flag() {
    let out = temp("lists");
    let values = out.join("crashes.txt");
    fs::write(
        &values,
        "# who crashes\n[\"validator-1\"]\n\n[\"validator-1\", \"validator-2\"]\n",
    )
    .unwrap();
    let o = sim(&[
        "run",
        "scenarios/consensus-leader-crash.toml",
        "--set",
        "duration=100s",
        "--sweep-file",
        &format!("faults.0.crash={}", values.display()),
        "--zip",
        "faults.0.restart=60s,90s",
        "--zip",
        "consensus.view_timeout=[\"5 s\", \"10 s\"]",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let folder = out.join("consensus-leader-crash");
    let mut groups: Vec<String> = fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("faults.") && folder.join(n).is_dir())
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            "faults.0.crash=validator-1+faults.0.restart=60s+consensus.view_timeout=5_s",
            "faults.0.crash=validator-1+faults.0.restart=90s+consensus.view_timeout=10_s",
            "faults.0.crash=validator-1_validator-2+faults.0.restart=60s+consensus.view_timeout=5_s",
            "faults.0.crash=validator-1_validator-2+faults.0.restart=90s+consensus.view_timeout=10_s",
        ]
    );
    let scenario =
        fs::read_to_string(folder.join(&groups[3]).join("seed-3/scenario.toml")).unwrap();
    assert!(
        scenario.contains("crash = [\"validator-1\", \"validator-2\"]"),
        "{scenario}"
    );
    assert!(scenario.contains("restart = \"90s\"") && scenario.contains("view_timeout = \"10 s\""));
    let record = fs::read_to_string(folder.join("sweep.json")).unwrap();
    assert!(record.contains("\"zip\": ["), "{record}");
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    let command = record["sweep"]["command"].as_str().unwrap();
    assert!(
        command.ends_with(
            "--sweep 'faults.0.crash=[[\"validator-1\"], [\"validator-1\", \"validator-2\"]]' \
             --zip faults.0.restart=60s,90s --zip 'consensus.view_timeout=5 s,10 s'"
        ),
        "{command}"
    );
    // Errors name the flag the bad value came with.
    let bad = |args: &[&str]| {
        let mut all = vec![
            "run",
            "scenarios/consensus-leader-crash.toml",
            "--out",
            out.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let o = sim(&all);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        text(&o)
    };
    let e = bad(&["--sweep", "consensus.view_timeout=10,5s"]);
    assert!(e.contains("--> --sweep consensus.view_timeout=10"), "{e}");
    assert!(
        e.contains("help: write `--sweep 'consensus.view_timeout=10 s'`"),
        "{e}"
    );
    let e = bad(&[
        "--zip",
        "consensus.view_timeout=5s,x",
        "--zip",
        "consensus.block_interval=1s,2s",
    ]);
    assert!(e.contains("--> --zip consensus.view_timeout=x"), "{e}");
    let e = bad(&["--zip", "a=1,2", "--zip", "b=1"]);
    assert!(e.contains("--zip a has 2 values but --zip b has 1"), "{e}");
    let e = bad(&["--sweep", "a=[1,"]);
    assert!(
        e.contains("'--sweep <KEY=V1,V2,...>'") && e.contains("not a TOML or JSON array"),
        "{e}"
    );
    let e = bad(&["--set", "duration=600"]);
    assert!(e.contains("help: write `--set 'duration=600 s'`"), "{e}");
    fs::remove_dir_all(&out).unwrap();
}

/// The sweep's top folder holds every per-run table once, with `seed` and
/// the swept parameters as typed columns that a plain CSV reader reads as
/// numbers (no units in the values, no path parsing).
#[test]
fn tidy_tables_carry_seed_and_typed_parameters() {
    let out = temp("tidy");
    sweep(&out, &[]);
    let folder = out.join("heartbeat-regions");
    let read = |name: &str| {
        let mut reader = csv::Reader::from_path(folder.join(name)).unwrap();
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        (header, rows)
    };
    let numeric = |header: &[String], rows: &[Vec<String>], column: &str| -> Vec<f64> {
        let at = header
            .iter()
            .position(|h| h == column)
            .unwrap_or_else(|| panic!("no {column} in {header:?}"));
        rows.iter()
            .map(|r| {
                r[at]
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("{column}: {:?} is not a number", r[at]))
            })
            .collect()
    };
    let (header, rows) = read("network.csv");
    assert_eq!(&header[..3], ["seed", "param.peers.heartbeat_s", "host"]);
    // 2 grid points x 3 seeds x 9 hosts, every cell of the keys numeric.
    assert_eq!(rows.len(), 2 * 3 * 9);
    let heartbeat = numeric(&header, &rows, "param.peers.heartbeat_s");
    assert!(heartbeat.iter().all(|h| *h == 5.0 || *h == 10.0));
    let seeds = numeric(&header, &rows, "seed");
    assert!(seeds.iter().all(|s| (1.0..=3.0).contains(s)));
    numeric(&header, &rows, "messages_sent");
    for table in [
        "observations.csv",
        "peers.csv",
        "faults.csv",
        "lifecycle.csv",
    ] {
        let (header, _) = read(table);
        assert_eq!(&header[..2], ["seed", "param.peers.heartbeat_s"], "{table}");
    }
    assert!(!folder.join("trace.csv").exists());
    let (header, rows) = read("runs.csv");
    assert!(
        header.contains(&"param.peers.heartbeat_s".to_string()),
        "{header:?}"
    );
    numeric(&header, &rows, "param.peers.heartbeat_s");
    numeric(&header, &rows, "peers.flaps");
    let (header, rows) = read("stats.csv");
    assert_eq!(&header[..3], ["group", "param.peers.heartbeat_s", "metric"]);
    numeric(&header, &rows, "param.peers.heartbeat_s");
    // Floats are written in their shortest form, never with noise digits.
    for name in ["stats.csv", "runs.csv", "peers.csv", "network.csv"] {
        let text = fs::read_to_string(folder.join(name)).unwrap();
        for cell in text.split([',', '\n']) {
            // Last-bit noise looks like 1.4845976250000001 or 68.77599999999998.
            if let Some((_, decimals)) = cell.split_once('.')
                && decimals.chars().all(|c| c.is_ascii_digit())
            {
                let noisy = decimals.contains("9999999")
                    || decimals.trim_end_matches(|c| c != '0').contains("0000000");
                assert!(!noisy, "{name}: {cell}");
            }
        }
    }
    fs::remove_dir_all(&out).unwrap();
}
