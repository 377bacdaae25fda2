//! `sim launch FILE`: every host of a scenario as a local `sim node`
//! process on loopback, with a fresh shared directory. The launcher is the
//! fault injector the simulator's engine is: it starts each host at its
//! start time, kills it (SIGKILL) at a crash fault and starts it again at
//! the restart, and damages registration files at `corrupt` faults. The
//! other kinds (`byzantine`, `clock_skew`, `storage_outage` and the
//! network faults) are applied by the nodes themselves; a kind real runs
//! could not reproduce would be reported as skipped, loudly.
//! At the end it collects the records into `sim run`'s result layout.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use reports::Metric;
use sim::Scenario;

use crate::cli::LaunchArgs;
use crate::exit::Exit;
use crate::jobs::single;
use crate::real::launcher::{Launcher, Outcome};

/// The most hosts `sim launch` starts as processes on one machine unless
/// told otherwise (`--max-processes`): real-process scale is Shadow's job.
pub const DEFAULT_MAX_PROCESSES: usize = 256;

/// `sim launch FILE [--time-scale X] [--out DIR]`.
pub fn launch(args: &LaunchArgs) -> Exit {
    let Some(job) = single(&args.scenarios, "launch") else {
        return Exit::InvalidInput;
    };
    if let Err((exit, message)) = crate::node_cmd::check_time_scale(args.time_scale) {
        eprintln!("error: {message}");
        return exit;
    }
    let hosts = job.scenario.hosts.len();
    if hosts > args.max_processes {
        eprintln!(
            "error: {}: {hosts} hosts would be {hosts} processes on this machine (at most {} with --max-processes): \
             run it at scale under Shadow (`sim export shadow`), or raise --max-processes",
            job.path.display(),
            args.max_processes
        );
        return Exit::InvalidInput;
    }
    match run(args, &job.path, &job.scenario) {
        Ok(exit) => exit,
        Err((exit, message)) => {
            eprintln!("error: {message}");
            exit
        }
    }
}

type Failure = (Exit, String);

fn run(args: &LaunchArgs, path: &Path, scenario: &Scenario) -> Result<Exit, Failure> {
    let sim = match &args.sim_path {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| {
            (
                Exit::RunFailed,
                format!("cannot find this sim executable: {e}"),
            )
        })?,
    };
    let scenario_file = fs::canonicalize(path)
        .map_err(|e| (Exit::InvalidInput, format!("{}: {e}", path.display())))?;
    let work = args
        .out
        .join(&scenario.name)
        .join(format!("seed-{}.launch", scenario.seed));
    prepare_work_dir(&work, scenario, &scenario_file, &args.scenarios.overrides)?;
    // The processes and the collection read the resolved copy: no --set.
    let resolved = work.join(crate::resolved_copy::SCENARIO);
    let skipped = announce_skipped(scenario);

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    println!(
        "sim launch: {} ({} hosts) on loopback, seed {}, {} of scenario time at time scale {} (about {:.1} s)",
        scenario.name,
        scenario.hosts.len(),
        scenario.seed,
        scenario.duration,
        args.time_scale,
        scenario.duration.as_secs_f64() * args.time_scale
    );
    println!("  processes' files: {}", work.display());

    let launcher = Launcher::new(
        sim,
        resolved.clone(),
        Vec::new(),
        scenario,
        work.clone(),
        args.time_scale,
    )
    .map_err(|e| {
        (
            Exit::RunFailed,
            format!("cannot find free loopback ports: {e}"),
        )
    })?;
    let Outcome {
        killed_late,
        failed,
        interrupted,
    } = launcher.run(&stop)?;
    for (host, status) in &failed {
        eprintln!(
            "error: the process of {host} failed ({status}): see {}",
            work.join("hosts")
                .join(host)
                .join(format!("{host}.stderr"))
                .display()
        );
    }
    if interrupted {
        eprintln!("warning: interrupted: collecting what the processes recorded so far");
    }
    if killed_late > 0 {
        eprintln!(
            "warning: {killed_late} processes did not exit by themselves after the scenario ended and were killed"
        );
    }
    let extra = [("real.time_scale".to_string(), Metric::Real(args.time_scale))];
    let text = crate::collect_cmd::collect_into(
        &work.join("hosts"),
        &resolved,
        &[],
        &args.out,
        args.no_plots,
        &extra,
    )
    .map_err(|(exit, message)| {
        if failed.is_empty() {
            (exit, message)
        } else {
            (
                Exit::RunFailed,
                format!("{message} (processes failed, see above)"),
            )
        }
    })?;
    print!("{text}");
    if skipped > 0 {
        eprintln!(
            "warning: {skipped} faults of the scenario were skipped (see above): compare with a `sim run` without them"
        );
    }
    Ok(if interrupted {
        Exit::RunFailed
    } else {
        Exit::Ok
    })
}

/// A fresh folder for the processes' files: `hosts/<host>/`, `shared/`
/// (with the files the protocols place there, e.g. a legacy registry),
/// the resolved scenario (`scenario.toml` and `inputs/`: what the
/// processes read) and `launch.log` (how to collect again). A previous
/// launch folder is replaced; anything else is refused.
fn prepare_work_dir(
    work: &Path,
    scenario: &Scenario,
    file: &Path,
    overrides: &[sim_core::scenario::Override],
) -> Result<(), Failure> {
    let io = |e: std::io::Error| (Exit::OutputFailed, format!("{}: {e}", work.display()));
    if work.exists() {
        if !work.join("launch.log").is_file() {
            return Err((
                Exit::OutputFailed,
                format!(
                    "{} exists and was not made by `sim launch`: move it away or choose another --out",
                    work.display()
                ),
            ));
        }
        fs::remove_dir_all(work).map_err(io)?;
    }
    fs::create_dir_all(work.join("shared")).map_err(io)?;
    for host in &scenario.hosts {
        fs::create_dir_all(work.join("hosts").join(&host.name)).map_err(io)?;
    }
    fs::write(
        work.join("launch.log"),
        format!(
            "sim launch of {} (seed {}) from {}\ncollect again with: sim collect {} --out DIR\n",
            scenario.name,
            scenario.seed,
            file.display(),
            work.display()
        ),
    )
    .map_err(io)?;
    crate::resolved_copy::write(scenario, file, overrides, work)
        .map_err(|e| (Exit::OutputFailed, e))?;
    let options = sim::runner::RunOptions::default();
    let plans = scenario
        .protocols
        .plans(scenario, &options)
        .map_err(|e| (Exit::InvalidInput, e.to_string()))?;
    for (path, bytes) in scenario.protocols.shared_files(&plans) {
        fs::write(work.join("shared").join(path), bytes).map_err(io)?;
    }
    Ok(())
}

/// Prints every fault (and the CPU model) that real processes cannot
/// apply, and registration settings they apply only in part, and returns
/// how many faults and CPU models were skipped.
fn announce_skipped(scenario: &Scenario) -> usize {
    let cpu = scenario.cpu.is_some();
    if cpu {
        eprintln!(
            "warning: SKIPPED [cpu]: real processes spend real CPU time; the scenario's \
             per-operation costs are not applied (compare with a `sim run` without [cpu])"
        );
    }
    let registration = scenario.protocols.registration.as_ref();
    let unshared = registration.is_some_and(|r| r.shared_cache);
    if unshared {
        eprintln!(
            "warning: [registration] shared_cache: real registrars are separate processes; \
             each keeps its own validation cache (no content is shared between them)"
        );
    }
    let serial = registration.is_some_and(|r| r.parallel_reads > 1);
    if serial {
        eprintln!(
            "warning: [registration] parallel_reads: a real process carries out its file \
             operations one after another as they are issued; the limit holds, the overlap does not"
        );
    }
    let skipped = sim::faults::skipped_in_real_runs(scenario);
    for f in &skipped {
        eprintln!(
            "warning: SKIPPED fault {} ({} at {}, line {}): {}",
            f.index,
            f.kind,
            f.at.since_start(),
            f.line,
            f.why
        );
    }
    skipped.len() + usize::from(cpu)
}
