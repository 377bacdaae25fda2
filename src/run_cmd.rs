//! `sim run` and `sim validate`, and running a list of jobs on all cores.

use rayon::prelude::*;

use crate::cli::{RunArgs, ScenarioArgs, Selection};
use crate::execute::{ExecOptions, Report, Teardown, execute};
use crate::exit::Exit;
use crate::jobs::{Resolve, expand};
use crate::progress::{Interrupt, Progress, SweepProgress, Watch};
use crate::record::{Options, Outcome};
use crate::sweep::{FolderState, Planned};

/// `sim validate`: parse and check every file, run nothing.
pub fn validate(args: &ScenarioArgs) -> Exit {
    let Some(jobs) = expand(args, &Selection::default(), Resolve::No) else {
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
/// make every selected run (on all cores unless `--jobs`; with
/// `--skip-existing` only those not already complete in `--out`), print
/// their digests in run order, and write each scenario folder's sweep
/// record and aggregates (before the runs too, so a killed sweep leaves a
/// record of what it was doing). `--list` / `--count` run nothing.
pub fn run(args: &RunArgs) -> Exit {
    let options = Options::of(&args.output);
    let plan = match Planned::new(&args.scenarios, &args.selection, options) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    if args.list || args.count {
        list(&plan, args.count);
        return Exit::Ok;
    }
    if let Err(code) = crate::memory::check(&plan, args.selection.jobs, args.max_memory) {
        return code;
    }
    let opts = ExecOptions {
        out: args.out.clone(),
        options,
        quiet: args.quiet,
        interrupt: Interrupt::install(),
        spare_core: false,
    };
    if let Err(code) = plan.update_folders(&args.out, args.quiet) {
        return code;
    }
    let (to_run, mut exit) = skip_existing(&plan, args);
    let reports = run_all(&plan, &to_run, &opts, args.selection.jobs, args.quiet);
    for report in &reports {
        print!("{}", report.stdout);
        eprint!("{}", report.stderr);
        exit = exit.worst(report.exit);
    }
    match plan.update_folders(&args.out, true) {
        Ok(states) => report_folders(&states, args.quiet),
        Err(code) => exit = exit.worst(code),
    }
    if exit == Exit::Interrupted {
        say_interrupted(&reports, &args.out);
    }
    exit
}

/// What a Ctrl-C left: how many runs are complete, and how to go on.
pub fn say_interrupted(reports: &[Report], out: &std::path::Path) {
    let stopped = reports
        .iter()
        .filter(|r| r.exit == Exit::Interrupted)
        .count();
    let made = reports.len() - stopped;
    eprintln!(
        "interrupted: {made} of {} runs were made and are complete in {}; the {stopped} others left no result (no half-written folder). The same command with --skip-existing makes only those.",
        reports.len(),
        out.display()
    );
}

/// `--list`: `<id>\t<result folder>` per selected run; `--count`: how many.
fn list(plan: &Planned, count_only: bool) {
    if count_only {
        println!("{}", plan.selected.len());
        return;
    }
    for id in &plan.selected {
        println!("{id}\t{}", plan.jobs[*id].folder());
    }
}

/// The selected runs still to make: all of them, or with `--skip-existing`
/// those without a complete result of the same record in `--out`. A kept
/// run that a checker stopped still counts in the exit code, as when it ran.
fn skip_existing(plan: &Planned, args: &RunArgs) -> (Vec<usize>, Exit) {
    if !args.skip_existing {
        return (plan.selected.clone(), Exit::Ok);
    }
    let (mut to_run, mut exit, mut kept) = (Vec::new(), Exit::Ok, 0usize);
    for &id in &plan.selected {
        let Some(found) = plan.done(&args.out, id) else {
            to_run.push(id);
            continue;
        };
        kept += 1;
        let (code, violation) = match &found.outcome {
            Outcome::Ok => continue,
            Outcome::Safety { violation } => (Exit::SafetyViolation, violation),
            Outcome::Liveness { violation } => (Exit::LivenessViolation, violation),
        };
        exit = exit.worst(code);
        eprintln!(
            "error: run {id} ({}, kept from an earlier invocation): {violation}\n  reproduce with: {}",
            plan.jobs[id].folder(),
            found.command
        );
    }
    if !args.quiet {
        println!(
            "--skip-existing: {kept} of {} runs already complete in {}, {} to make",
            plan.selected.len(),
            args.out.display(),
            to_run.len()
        );
    }
    (to_run, exit)
}

/// Makes the runs `ids` of `plan`, in parallel on `threads` threads
/// (default: all cores), and returns the reports in the order of `ids`. A
/// single run gets its own progress bar; several share one, drawn from the
/// start (see `progress`). A single run leaves its memory to the process's
/// exit ([`Teardown::AtExit`]): call this once per process.
pub fn run_all(
    plan: &Planned,
    ids: &[usize],
    opts: &ExecOptions,
    threads: Option<usize>,
    quiet: bool,
) -> Vec<Report> {
    let one = |id: usize, teardown: Teardown, watch: &dyn Watch| {
        execute(&plan.jobs[id], &plan.records[id], opts, teardown, watch)
    };
    if let [id] = ids {
        // The run stays on this thread; planning derives keys on the
        // global pool (`runner::keypairs`), which `--jobs` sizes. Built
        // once per process: a later call keeps the first size.
        if let Some(threads) = threads {
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(threads.max(1))
                .build_global();
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let opts = ExecOptions {
            spare_core: threads.unwrap_or(cores).min(cores) > 1,
            ..opts.clone()
        };
        let job = &plan.jobs[*id];
        let duration_ms = job.scenario.duration.as_nanos() / 1_000_000;
        let bar = Progress::new(&job.scenario.name, duration_ms, quiet || opts.quiet);
        // The process ends after its only run (`sim run` and `sim check`
        // call this once).
        let report = execute(
            &plan.jobs[*id],
            &plan.records[*id],
            &opts,
            Teardown::AtExit,
            &bar,
        );
        bar.finish();
        return vec![report];
    }
    in_parallel(ids, threads, quiet, |id, watch| {
        one(*id, Teardown::Free, watch)
    })
}

/// `work` on every id, on `threads` threads (default: all cores), under
/// one sweep progress bar (`work` gets its run's slot to report into); the
/// results in the order of `ids` whatever the thread count. `sim run`,
/// `sim check` and `sim explore` share it.
pub fn in_parallel<I: Sync, T: Send>(
    ids: &[I],
    threads: Option<usize>,
    quiet: bool,
    work: impl Fn(&I, &dyn Watch) -> T + Sync,
) -> Vec<T> {
    let bar = SweepProgress::new(ids.len(), quiet);
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
    let each = |(slot, id): (usize, &I)| {
        let result = work(id, &bar.slot(slot));
        bar.finished(slot);
        result
    };
    let results = match pool {
        Ok(pool) => pool.install(|| ids.par_iter().enumerate().map(each).collect()),
        // No thread pool (e.g. the OS refused threads): run them in order.
        Err(_) => ids.iter().enumerate().map(each).collect(),
    };
    bar.finish();
    results
}

/// Says where the aggregates are and which runs a folder still lacks.
pub fn report_folders(states: &[FolderState], quiet: bool) {
    for state in states {
        if state.present >= 2 && !quiet {
            println!(
                "aggregates of {} runs: {}",
                state.present,
                state.dir.join("stats.csv").display()
            );
        }
        if !state.missing.is_empty() {
            eprintln!(
                "note: {}: {} runs of this sweep have no result there (ids {}); `--skip-existing` makes only those",
                state.dir.display(),
                state.missing.len(),
                state.missing
            );
        }
    }
}
