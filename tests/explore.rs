//! `sim explore` and `sim shrink` through the binary: the same schedules
//! whatever `--jobs` and `--shard`, every written failure reproduced by
//! `sim run`, shrinking deterministic and never to a passing scenario,
//! bad `[explore]` bounds refused with located errors, and the kept
//! regression scenarios behaving as recorded.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

mod common;

use common::{sim, snapshot};

const UNSAFE: &str = "docs/explore/unsafe-quorum.toml";

fn temp(name: &str) -> PathBuf {
    common::temp("explore", name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `sim explore UNSAFE --runs 12 --out out` plus `extra`: (exit code,
/// stdout, the files written).
fn explore(out: &Path, extra: &[&str]) -> (Option<i32>, String, BTreeMap<String, Vec<u8>>) {
    let _ = fs::remove_dir_all(out);
    let mut args = vec![
        "explore",
        UNSAFE,
        "--runs",
        "12",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = sim(&args);
    (o.status.code(), text(&o.stdout), snapshot(out))
}

/// The failure lines of explore's summary (one per failing run).
fn failure_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("  run "))
        .map(str::to_string)
        .collect()
}

#[test]
fn schedules_and_failures_are_the_same_whatever_jobs_and_shards() {
    let out = temp("jobs");
    let (code, stdout, one) = explore(&out, &["--jobs", "1"]);
    assert_eq!(code, Some(4), "{stdout}");
    assert!(!one.is_empty(), "the unsafe quorum is found: {stdout}");
    let (code2, stdout2, two) = explore(&out, &["--jobs", "2"]);
    assert_eq!(
        (code2, failure_lines(&stdout2)),
        (code, failure_lines(&stdout))
    );
    assert_eq!(two, one, "the same files, byte for byte");
    let mut shards = BTreeMap::new();
    let mut lines = Vec::new();
    for shard in ["0/2", "1/2"] {
        let (_, stdout, files) = explore(&out, &["--shard", shard]);
        shards.extend(files);
        lines.extend(failure_lines(&stdout));
    }
    lines.sort_by_key(|l| {
        l.split_whitespace()
            .nth(1)
            .and_then(|id| id.parse::<u64>().ok())
    });
    assert_eq!(
        shards, one,
        "the shards write the files of the whole exploration"
    );
    assert_eq!(lines, failure_lines(&stdout));
    // One run alone is the run it was in the whole exploration.
    let (name, bytes) = one.iter().next().unwrap();
    let id = name
        .trim_start_matches("unsafe-quorum/run-")
        .trim_end_matches(".toml");
    let (_, _, alone) = explore(&out, &["--run", id]);
    assert_eq!(alone.get(name), Some(bytes));
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn every_written_failure_reproduces_under_sim_run() {
    let out = temp("reproduce");
    let (_, stdout, files) = explore(&out, &[]);
    assert!(!files.is_empty(), "{stdout}");
    for (name, bytes) in &files {
        let written = text(bytes);
        let expected = written
            .lines()
            .find_map(|l| l.strip_prefix("# It fails: safety (agreement) at "))
            .unwrap_or_else(|| panic!("{name}: no failure in the header:\n{written}"));
        let file = out.join(name);
        let o = sim(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.join("runs").to_str().unwrap(),
            "--quiet",
            "--no-trace",
            "--no-plots",
        ]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{name}: {err}");
        assert!(
            err.contains(&format!("safety violation (agreement) at {expected}")),
            "{name}: {err}"
        );
    }
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn shrink_is_deterministic_and_keeps_the_failure() {
    let out = temp("shrink");
    let (_, stdout, files) = explore(&out, &[]);
    let name = files
        .keys()
        .next()
        .unwrap_or_else(|| panic!("no failure: {stdout}"));
    let failing = out.join(name);
    let min = out.join("min.toml");
    let shrink = || {
        let o = sim(&[
            "shrink",
            failing.to_str().unwrap(),
            "--out",
            min.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        (text(&o.stdout), fs::read(&min).unwrap())
    };
    let (steps, first) = shrink();
    let (steps_again, second) = shrink();
    assert_eq!(
        (&steps, &first),
        (&steps_again, &second),
        "same input, same steps and output"
    );
    assert!(steps.contains("step 1: "), "{steps}");
    let minimal = text(&first);
    let faults = minimal.matches("[[faults]]").count();
    assert!(faults <= 3, "at most 3 faults left:\n{minimal}");
    let original = text(&fs::read(&failing).unwrap())
        .matches("[[faults]]")
        .count();
    assert!(faults <= original);
    let o = sim(&[
        "run",
        min.to_str().unwrap(),
        "--out",
        out.join("runs").to_str().unwrap(),
        "--quiet",
        "--no-trace",
        "--no-plots",
    ]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "the minimal file still fails: {}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("safety violation (agreement)"));
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn shrink_refuses_a_scenario_that_passes() {
    let out = temp("passes");
    let min = out.join("min.toml");
    let o = sim(&[
        "shrink",
        "scenarios/consensus-basic.toml",
        "--out",
        min.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("does not fail"),
        "{}",
        text(&o.stderr)
    );
    assert!(!min.exists());
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_explore_bounds_are_refused_with_located_errors() {
    let dir = temp("bounds");
    let base = "duration = \"2 min\"\n[[hosts]]\nname = \"validator\"\ncount = 4\nrole = \"validator\"\n[consensus]\n[explore]\n";
    let cases: &[(&str, &[&str])] = &[
        (
            "faulty_validators = 2\n",
            &[
                ":8:21",
                "explore.faulty_validators",
                "f = 1",
                "unsafe_faulty_validators = true",
            ],
        ),
        (
            "faulty_validators = 1\nunsafe_faulty_validators = true\n",
            &["explore.unsafe_faulty_validators", "does nothing"],
        ),
        (
            "kinds = [\"partitoin\"]\n",
            &[
                ":8:",
                "unknown fault kind `partitoin`",
                "did you mean `partition`",
            ],
        ),
        ("kinds = [\"corrupt\"]\n", &["cannot be drawn", "miners"]),
        (
            "window = [\"0 s\", \"3 min\"]\n",
            &["explore.window", "the run lasts 2 min"],
        ),
        (
            "min_faults = 5\nmax_faults = 2\n",
            &["explore.min_faults", "above `max_faults`"],
        ),
        ("loss = [0.5, 0.1]\n", &["explore.loss", "down to"]),
        ("loss = [0.1]\n", &["explore.loss", "[lowest, highest]"]),
        (
            "kinds = [\"crash\"]\nloss = [0.0, 0.1]\n",
            &["explore.loss", "none are drawn", "add `link`"],
        ),
        (
            "max_fault = 3\n",
            &["unknown key `max_fault`", "did you mean `max_faults`"],
        ),
    ];
    for (i, (table, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad-{i}.toml"));
        fs::write(&file, format!("{base}{table}")).unwrap();
        let o = sim(&[
            "explore",
            file.to_str().unwrap(),
            "--runs",
            "1",
            "--out",
            dir.join("o").to_str().unwrap(),
        ]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{table}: {err}");
        assert!(
            err.contains(&format!("bad-{i}.toml:")),
            "{table}: located: {err}"
        );
        for needle in *expected {
            assert!(err.contains(needle), "{table}: `{needle}` in {err}");
        }
    }
    // A `--set` value is located at the override.
    let file = dir.join("bad-0.toml");
    let o = sim(&[
        "explore",
        file.to_str().unwrap(),
        "--runs",
        "1",
        "--set",
        "explore.max_faults=0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--set explore.max_faults=0"),
        "{}",
        text(&o.stderr)
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// The kept regression scenarios (docs/explore.md): a file whose header
/// says `# It fails: <kind> (<checker>)` must still fail that way (a
/// checker's regression); one whose header says `# Fixed:` must pass.
#[test]
fn kept_regression_scenarios_behave_as_recorded() {
    let out = temp("regressions");
    let mut seen = 0;
    for entry in fs::read_dir("tests/regressions").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        seen += 1;
        let header = fs::read_to_string(&path).unwrap();
        let o = sim(&[
            "run",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--no-trace",
            "--no-plots",
        ]);
        let err = text(&o.stderr);
        let fails = header.lines().find_map(|l| l.strip_prefix("# It fails: "));
        match fails.and_then(|f| f.split(" at ").next()) {
            Some(what) => {
                // `safety (agreement)`: sim run says `safety violation (agreement)`
                // (a registration invariant is a safety or liveness violation).
                let checker = what.split_once(' ').map_or(what, |(_, c)| c);
                assert!(
                    err.contains(&format!("violation {checker}")),
                    "{}: {err}",
                    path.display()
                );
            }
            None => {
                assert!(
                    header.contains("# Fixed:"),
                    "{}: say `# It fails:` or `# Fixed:`",
                    path.display()
                );
                assert_eq!(o.status.code(), Some(0), "{}: {err}", path.display());
            }
        }
    }
    assert!(seen > 0, "tests/regressions holds the kept scenarios");
    fs::remove_dir_all(&out).unwrap();
}
