//! `sim run` and `sim validate`, and running a list of jobs on all cores.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::cli::{RunArgs, ScenarioArgs, Selection};
use crate::execute::{ExecOptions, Report, execute};
use crate::exit::Exit;
use crate::jobs::{Job, expand};

/// `sim validate`: parse and check every file, run nothing.
pub fn validate(args: &ScenarioArgs) -> Exit {
    let selection = Selection {
        seeds: None,
        sweeps: Vec::new(),
        jobs: None,
        shard: None,
    };
    let Some(jobs) = expand(args, &selection) else {
        return Exit::InvalidInput;
    };
    for job in &jobs {
        let s = &job.scenario;
        println!(
            "ok: {} ({}: {} hosts in {} groups, {} faults, {} simulated)",
            job.path.display(),
            s.name,
            s.hosts.len(),
            s.groups.len(),
            s.faults.len(),
            s.duration
        );
    }
    Exit::Ok
}

/// `sim run`: check every file first (nothing runs if one is invalid), then
/// make every run (on all cores unless `--jobs`), print their digests in run
/// order, and write sweep aggregates.
pub fn run(args: &RunArgs) -> Exit {
    let Some(jobs) = expand(&args.scenarios, &args.selection) else {
        return Exit::InvalidInput;
    };
    let opts = ExecOptions {
        out: args.out.clone(),
        no_trace: args.no_trace,
        no_plots: args.no_plots,
        no_signature_cache: args.no_signature_cache,
        quiet: args.quiet,
    };
    let reports = run_all(&jobs, &opts, args.selection.jobs, args.quiet);
    let mut exit = Exit::Ok;
    for report in &reports {
        print!("{}", report.stdout);
        eprint!("{}", report.stderr);
        exit = exit.worst(report.exit);
    }
    if let Err(code) = aggregate(&args.out, &jobs, args.quiet) {
        exit = exit.worst(code);
    }
    exit
}

/// Makes every job, in parallel on `jobs` threads (default: all cores), and
/// returns the reports in job order. A single job gets its own progress
/// bar; several share one that counts runs.
pub fn run_all(
    jobs: &[Job],
    opts: &ExecOptions,
    threads: Option<usize>,
    quiet: bool,
) -> Vec<Report> {
    if jobs.len() == 1 {
        return vec![execute(&jobs[0], opts, true)];
    }
    let bar = sweep_bar(jobs.len() as u64, quiet);
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
    let work = || {
        jobs.par_iter()
            .map(|job| {
                let report = execute(job, opts, false);
                bar.inc(1);
                report
            })
            .collect()
    };
    let reports = match pool {
        Ok(pool) => pool.install(work),
        // No thread pool (e.g. the OS refused threads): run them in order.
        Err(_) => jobs.iter().map(|job| execute(job, opts, false)).collect(),
    };
    bar.finish_and_clear();
    reports
}

/// Writes `runs.csv` / `stats.csv` for every scenario folder the jobs wrote
/// into.
pub fn aggregate(out: &Path, jobs: &[Job], quiet: bool) -> Result<(), Exit> {
    let folders: BTreeSet<PathBuf> = jobs.iter().map(|j| out.join(&j.scenario.name)).collect();
    for folder in folders {
        match reports::aggregate::write_aggregates(&folder) {
            Ok(n) if n >= 2 && !quiet => println!(
                "aggregates of {n} runs: {}",
                folder.join("stats.csv").display()
            ),
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {e}");
                return Err(Exit::OutputFailed);
            }
        }
    }
    Ok(())
}

fn sweep_bar(runs: u64, quiet: bool) -> ProgressBar {
    let target = if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(runs), target);
    let style = ProgressStyle::with_template("runs [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}
