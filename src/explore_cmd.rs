//! `sim explore FILE --runs N`: random fault schedules with every checker
//! on. Run ids, `--shard`, `--run` and `--jobs` work as for `sim run`
//! (the same parallel runner); each run's schedule derives from (master
//! seed, run id) only, so the failures found, and the files written for
//! them, are the same for any `--jobs` and any sharding.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sim::explore::outcome::{self, Failure, FailureKind};
use sim::explore::{Explored, Explorer};
use sim::runner;
use sim_core::checkers::ViolationKind;

use crate::cli::{ExploreArgs, RunIds};
use crate::exit::Exit;
use crate::run_cmd::in_parallel;

/// `sim explore`: see the module docs.
pub fn explore(args: &ExploreArgs) -> Exit {
    let explorer = match Explorer::load(&args.file, &args.overrides, args.seed) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return Exit::InvalidInput;
        }
    };
    if let Err(e) = runner::validate(&explorer.scenario) {
        eprintln!("error: {}: {e}", args.file.display());
        return Exit::InvalidInput;
    }
    let ids = match selected(args) {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::InvalidInput;
        }
    };
    let dir = args.out.join(&explorer.scenario.name);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return Exit::OutputFailed;
    }
    if !args.quiet {
        println!("{}", header(&explorer, ids.len(), args.runs));
    }
    outcome::quiet_panics();
    let results = in_parallel(&ids, args.jobs, args.quiet, |id, _| {
        explorer.explore(*id, &run_file(&dir, *id))
    });
    drop(std::panic::take_hook());
    report(&explorer, &dir, &results)
}

/// The runs `--shard` / `--run` select of `0..runs`, ascending.
fn selected(args: &ExploreArgs) -> Result<Vec<u64>, String> {
    if let Some(shard) = args.shard {
        let count = shard.count as u64;
        return Ok((0..args.runs)
            .filter(|id| id % count == shard.index as u64)
            .collect());
    }
    if args.run.is_empty() {
        return Ok((0..args.runs).collect());
    }
    let wanted: RunIds = args.run.iter().flat_map(RunIds::iter).collect();
    if let Some(bad) = wanted.iter().find(|id| *id as u64 >= args.runs) {
        return Err(format!(
            "--run {bad}: this exploration has {} runs (ids 0..{})",
            args.runs,
            args.runs - 1
        ));
    }
    Ok(wanted.iter().map(|id| id as u64).collect())
}

/// Where run `id`'s scenario is written if it fails.
fn run_file(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("run-{id}.toml"))
}

fn header(explorer: &Explorer, selected: usize, runs: u64) -> String {
    let b = &explorer.bounds;
    format!(
        "exploring {} ({}): {selected} of {runs} runs, master seed {}; {} to {} faults from {} starting in {}..{}",
        explorer.scenario.name,
        explorer.file.display(),
        explorer.master,
        b.min_faults,
        b.max_faults,
        b.kinds.join(", "),
        b.window.0.since_start(),
        b.window.1.since_start(),
    )
}

/// Prints the summary and every failure in run order; the exit code of
/// the worst failure.
fn report(explorer: &Explorer, dir: &Path, results: &[Result<Explored, String>]) -> Exit {
    let mut exit = Exit::Ok;
    let mut by_kind: BTreeMap<FailureKind, usize> = BTreeMap::new();
    let mut drawn: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lines = String::new();
    for result in results {
        let run = match result {
            Ok(run) => run,
            Err(e) => {
                let _ = writeln!(lines, "  error: {e}");
                exit = exit.worst(Exit::RunFailed);
                continue;
            }
        };
        for (_, fault) in &run.schedule.faults {
            *drawn.entry(fault.key()).or_default() += 1;
        }
        let Some(failure) = &run.failure else {
            continue;
        };
        *by_kind.entry(failure.kind).or_default() += 1;
        exit = exit.worst(code(failure));
        let file = run_file(dir, run.schedule.index);
        let _ = writeln!(
            lines,
            "  run {} (seed {}, {} faults): {} -> {}",
            run.schedule.index,
            run.schedule.seed,
            run.schedule.faults.len(),
            failure.headline(),
            file.display()
        );
        let first = failure.message.lines().next().unwrap_or_default();
        let _ = writeln!(lines, "      {first}");
    }
    let failed: usize = by_kind.values().sum();
    let counts: Vec<String> = FailureKind::ALL
        .iter()
        .map(|k| format!("{} {}", k.as_str(), by_kind.get(k).copied().unwrap_or(0)))
        .collect();
    let faults: Vec<String> = drawn.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "explored {}: {} runs, {failed} failed ({})",
        explorer.scenario.name,
        results.len(),
        counts.join(", ")
    );
    println!("  faults drawn: {}", faults.join(", "));
    print!("{lines}");
    if failed > 0 {
        println!("  reproduce one with `sim run <file>`, reduce it with `sim shrink <file>`");
    }
    exit
}

/// The exit code `sim run` gives the failing file.
fn code(failure: &Failure) -> Exit {
    match (failure.kind, failure.violation) {
        (_, Some(ViolationKind::Safety)) => Exit::SafetyViolation,
        (_, Some(ViolationKind::Liveness)) => Exit::LivenessViolation,
        (FailureKind::Stall | FailureKind::Panic, None)
        | (FailureKind::Safety | FailureKind::Liveness | FailureKind::Registration, None) => {
            Exit::RunFailed
        }
    }
}
