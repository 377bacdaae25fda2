//! `sim check`: run scenarios and hold them to their targets (on every
//! seed of a sweep) and, with `--baseline`, to a committed set of summaries.

use std::fs;
use std::path::{Path, PathBuf};

use reports::Summary;

use crate::cli::CheckArgs;
use crate::execute::ExecOptions;
use crate::exit::Exit;
use crate::jobs::Job;
use crate::record::Options;
use crate::run_cmd::{report_folders, run_all};
use crate::sweep::Planned;

/// Metrics that identify a run rather than measure it: never compared
/// with a baseline.
const IDENTITY: &[&str] = &["run.seed", "run.trace_hash", "run.scenario", "run.hosts"];

/// `sim check`: 0 when every target (and baseline comparison) holds, 1 when
/// any is missed, 2 on invalid input; a checker violation or engine failure
/// during a run returns that run's code (4, 5, 6).
pub fn check(args: &CheckArgs) -> Exit {
    let options = Options::of(&args.output);
    let plan = match Planned::new(&args.scenarios, &args.selection, options) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    if let Err(code) = crate::memory::check(&plan, args.selection.jobs, args.max_memory) {
        return code;
    }
    let jobs: Vec<&Job> = plan.selected.iter().map(|id| &plan.jobs[*id]).collect();
    let opts = ExecOptions {
        out: args.out.clone(),
        options,
        quiet: true,
        interrupt: crate::progress::Interrupt::install(),
        spare_core: false,
    };
    if let Err(code) = plan.update_folders(&args.out, true) {
        return code;
    }
    let reports = run_all(&plan, &plan.selected, &opts, args.selection.jobs, true);
    let mut exit = Exit::Ok;
    let (mut checked, mut missed) = (0usize, 0usize);
    for (job, report) in jobs.iter().copied().zip(&reports) {
        eprint!("{}", report.stderr);
        exit = exit.worst(report.exit);
        let Some(summary) = &report.summary else {
            continue;
        };
        for verdict in reports::targets::verdicts(&job.scenario, summary) {
            checked += 1;
            if !verdict.holds {
                missed += 1;
                let t = verdict.target;
                let measured = verdict.measured_text();
                println!(
                    "MISS {} {} {}: measured {} (seed {}, target at {}:{})",
                    t.metric,
                    t.op.as_str(),
                    t.value,
                    measured,
                    job.scenario.seed,
                    job.path.display(),
                    t.location.line
                );
                println!("  reproduce: {}", job.command);
            }
        }
        if let Some(dir) = &args.baseline {
            match compare(dir, job, summary, args.tolerance.0) {
                Ok(misses) => {
                    checked += 1;
                    for line in &misses {
                        println!("MISS {line}");
                        println!("  reproduce: {}", job.command);
                    }
                    missed += usize::from(!misses.is_empty());
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    exit = exit.worst(Exit::InvalidInput);
                }
            }
        }
        if let Some(dir) = &args.update_baseline
            && let Err(e) = write_baseline(dir, job, summary)
        {
            eprintln!("error: {e}");
            exit = exit.worst(Exit::OutputFailed);
        }
    }
    // Targets over seeds: one verdict per scenario file and grid point.
    let mut points: Vec<(&Job, Vec<&Summary>, Vec<u64>)> = Vec::new();
    for (job, report) in jobs.iter().copied().zip(&reports) {
        let Some(summary) = &report.summary else {
            continue;
        };
        match points
            .iter_mut()
            .find(|(j, _, _)| j.path == job.path && j.group == job.group)
        {
            Some((_, summaries, seeds)) => {
                summaries.push(summary);
                seeds.push(job.scenario.seed);
            }
            None => points.push((job, vec![summary], vec![job.scenario.seed])),
        }
    }
    for (job, summaries, seeds) in &points {
        for verdict in reports::targets::seed_verdicts(&job.scenario, summaries) {
            checked += 1;
            if !verdict.holds {
                missed += 1;
                let t = verdict.target;
                let measured = match (verdict.measured, verdict.never) {
                    (Some(m), _) => m.to_string(),
                    (None, true) => "null in some run (it never happened there)".to_string(),
                    (None, false) => "not produced by every run".to_string(),
                };
                let statistic = t.over_seeds.map_or("", |s| s.as_str());
                let (first, last) = (
                    seeds.iter().min().unwrap_or(&0),
                    seeds.iter().max().unwrap_or(&0),
                );
                println!(
                    "MISS {statistic} of {} over seeds {first}..{last} {} {}: measured {measured} (target at {}:{})",
                    t.metric,
                    t.op.as_str(),
                    t.value,
                    job.path.display(),
                    t.location.line
                );
                let command = job.command.replacen("sim run", "sim check", 1).replacen(
                    &format!("--seed {}", job.scenario.seed),
                    &format!("--seeds {first}..{last}"),
                    1,
                );
                println!("  reproduce: {command}");
            }
        }
    }
    match plan.update_folders(&args.out, true) {
        Ok(states) => report_folders(&states, true),
        Err(code) => exit = exit.worst(code),
    }
    if exit == Exit::Interrupted {
        crate::run_cmd::say_interrupted(&reports, &args.out);
        return exit;
    }
    if missed > 0 {
        exit = exit.worst(Exit::TargetMissed);
    }
    if !args.quiet || missed > 0 {
        println!("{} runs, {checked} checks, {missed} missed", jobs.len());
    }
    if let Some(dir) = &args.update_baseline
        && exit <= Exit::TargetMissed
    {
        println!("baseline written to {}", dir.display());
    }
    exit
}

/// Where a run's summary lives in a baseline folder.
fn baseline_file(dir: &Path, job: &Job) -> PathBuf {
    let mut path = dir.join(&job.scenario.name);
    if let Some(group) = &job.group {
        path = path.join(group);
    }
    path.join(format!("seed-{}", job.scenario.seed))
        .join("summary.json")
}

/// Compares `summary` with the baseline's: every measured metric of the
/// baseline must be present and within `tolerance` (relative; an exact
/// match for a baseline of zero).
fn compare(
    dir: &Path,
    job: &Job,
    summary: &Summary,
    tolerance: f64,
) -> Result<Vec<String>, String> {
    let path = baseline_file(dir, job);
    let text = fs::read_to_string(&path).map_err(|e| {
        format!(
            "no baseline for {} seed {} at {} ({e}): write one with --update-baseline",
            job.scenario.name,
            job.scenario.seed,
            path.display()
        )
    })?;
    let base: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a summary: {e}", path.display()))?;
    let mut misses = Vec::new();
    for (name, value) in &base {
        if IDENTITY.contains(&name.as_str()) || name.starts_with("param.") {
            continue;
        }
        let now = summary.get(name).and_then(|m| m.as_f64());
        if let (serde_json::Value::Null, Some(new)) = (value, now) {
            misses.push(format!(
                "{name}: null in the baseline (it never happened), now {new} (seed {})",
                job.scenario.seed
            ));
            continue;
        }
        let Some(old) = value.as_f64() else { continue };
        // A scenario's [tolerances] overrides --tolerance for its metric.
        let tolerance = job
            .scenario
            .tolerances
            .iter()
            .find(|(m, _)| m == name)
            .map_or(tolerance, |(_, t)| *t);
        match summary.get(name).and_then(|m| m.as_f64()) {
            None if summary.get(name) == Some(&reports::Metric::Null) => misses.push(format!(
                "{name}: in the baseline ({old}) but null in this run: it never happened (seed {})",
                job.scenario.seed
            )),
            None => misses.push(format!(
                "{name}: in the baseline ({old}) but not produced by this run (seed {})",
                job.scenario.seed
            )),
            Some(new) => {
                let change = if old == 0.0 {
                    if new == 0.0 { 0.0 } else { f64::INFINITY }
                } else {
                    (new - old).abs() / old.abs()
                };
                if change > tolerance {
                    misses.push(format!(
                        "{name}: baseline {old}, now {new} ({:+.1}%, beyond {:.1}%) (seed {})",
                        if old == 0.0 {
                            f64::INFINITY
                        } else {
                            (new - old) / old.abs() * 100.0
                        },
                        tolerance * 100.0,
                        job.scenario.seed
                    ));
                }
            }
        }
    }
    Ok(misses)
}

/// Writes a run's summary as its baseline (temp file + rename).
fn write_baseline(dir: &Path, job: &Job, summary: &Summary) -> Result<(), String> {
    let path = baseline_file(dir, job);
    let parent = path.parent().unwrap_or(dir);
    fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let temp = path.with_extension("json.partial");
    fs::write(&temp, summary.to_json())
        .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    fs::rename(&temp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
