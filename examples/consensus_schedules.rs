//! Runs random consensus fault schedules and checks every one keeps
//! safety and liveness (`sim::protocols::consensus::schedules` says what a
//! schedule is).
//!
//! ```sh
//! cargo run --release --example consensus_schedules -- 0..1000 [--jobs N] [--keep DIR]
//! ```
//!
//! Prints one line per failing schedule (its scenario is written to
//! `DIR/schedule-<i>.toml`, default `out/schedules`, to reproduce with
//! `sim run`), then a summary: safety and liveness failures, and the time
//! from the last heal to the next block against the liveness bound. Exits
//! 1 if any schedule failed. The output is the same for any `--jobs`.

use std::path::PathBuf;
use std::process::ExitCode;

use rayon::prelude::*;
use sim::protocols::consensus::schedules::{Schedule, Verdict};

struct Args {
    range: std::ops::Range<u64>,
    jobs: usize,
    keep: PathBuf,
}

fn args() -> Result<Args, String> {
    let mut range = None;
    let mut jobs = 0;
    let mut keep = PathBuf::from("out/schedules");
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--jobs" => {
                let value = it.next().ok_or("--jobs needs a number")?;
                jobs = value
                    .parse()
                    .map_err(|_| format!("--jobs {value}: not a number"))?;
            }
            "--keep" => keep = PathBuf::from(it.next().ok_or("--keep needs a folder")?),
            spec => {
                let (a, b) = spec
                    .split_once("..")
                    .ok_or(format!("{spec}: expected a range A..B of schedules"))?;
                let a: u64 = a.parse().map_err(|_| format!("{spec}: bad start"))?;
                let b: u64 = b.parse().map_err(|_| format!("{spec}: bad end"))?;
                if a >= b {
                    return Err(format!("{spec}: the range is empty"));
                }
                range = Some(a..b);
            }
        }
    }
    let range = range.ok_or("give a range of schedules, e.g. 0..1000")?;
    Ok(Args { range, jobs, keep })
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs)
        .build();
    let Ok(pool) = pool else {
        eprintln!("error: cannot start the worker threads");
        return ExitCode::from(2);
    };
    let results: Vec<(Schedule, Verdict)> = pool.install(|| {
        args.range
            .clone()
            .into_par_iter()
            .map(|i| {
                let schedule = Schedule::new(i);
                let verdict = schedule.run();
                (schedule, verdict)
            })
            .collect()
    });
    let mut failed = 0;
    let mut recoveries = Vec::new();
    for (schedule, verdict) in &results {
        let what = match verdict {
            Verdict::Held { recovery, bound } => {
                recoveries.push((recovery.as_secs_f64(), bound.as_secs_f64(), schedule.index));
                continue;
            }
            Verdict::Safety(m) => format!("SAFETY {m}"),
            Verdict::Liveness(m) => format!("LIVENESS {m}"),
            Verdict::Error(m) => format!("ERROR {m}"),
        };
        failed += 1;
        let file = args.keep.join(format!("schedule-{}.toml", schedule.index));
        let saved = std::fs::create_dir_all(&args.keep)
            .and_then(|()| std::fs::write(&file, &schedule.text));
        let first_line = what.lines().next().unwrap_or_default();
        match saved {
            Ok(()) => println!(
                "schedule {}: {first_line}\n  reproduce: sim run {}",
                schedule.index,
                file.display()
            ),
            Err(e) => println!(
                "schedule {}: {first_line} (cannot write {}: {e})",
                schedule.index,
                file.display()
            ),
        }
    }
    summary(&results, failed, &mut recoveries);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn summary(results: &[(Schedule, Verdict)], failed: usize, recoveries: &mut [(f64, f64, u64)]) {
    let count = |f: fn(&Verdict) -> bool| results.iter().filter(|(_, v)| f(v)).count();
    println!(
        "{} schedules: {} held, {} safety violations, {} liveness failures, {} errors",
        results.len(),
        results.len() - failed,
        count(|v| matches!(v, Verdict::Safety(_))),
        count(|v| matches!(v, Verdict::Liveness(_))),
        count(|v| matches!(v, Verdict::Error(_))),
    );
    if recoveries.is_empty() {
        return;
    }
    recoveries.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pick = |q: f64| recoveries[((recoveries.len() - 1) as f64 * q).round() as usize].0;
    let worst = recoveries
        .iter()
        .max_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)))
        .copied()
        .unwrap_or_default();
    println!(
        "first block after the last heal: p50 {:.1} s, p95 {:.1} s, max {:.1} s; closest to its bound: schedule {} at {:.1} s of {:.1} s ({:.0} %)",
        pick(0.5),
        pick(0.95),
        pick(1.0),
        worst.2,
        worst.0,
        worst.1,
        100.0 * worst.0 / worst.1
    );
}
