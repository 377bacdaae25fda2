//! One run: prepare, simulate, write the result folder, and say what
//! happened. Nothing is printed here: the report carries the text, so runs
//! made in parallel print in run order whatever the job count.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use reports::trace_csv::TraceCsv;
use reports::{ResultDir, Summary};
use sim::runner;
use sim_core::checkers::ViolationKind;
use sim_core::engine::EngineError;
use sim_core::trace::{NoTrace, TraceSink};
use sim_core::units::SimDuration;

use crate::exit::Exit;
use crate::jobs::Job;
use crate::progress::{Interrupt, Stopwatch, Watch};
use crate::provenance::RESOLVED;
use crate::record::{Options, Outcome, RUN_RECORD, RunRecord};
use sim::results::{Finished, PlotOptions, Reports};

/// How runs are made and what they write.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Root of the result folders.
    pub out: PathBuf,
    /// Trace, plots, signature cache.
    pub options: Options,
    /// Leave the digest out of the report (errors are always kept).
    pub quiet: bool,
    /// Ctrl-C: runs stop without a result, and none starts.
    pub interrupt: Interrupt,
    /// The run has a core to itself beside its own thread (the only run of
    /// a `sim run` on a machine with two or more cores): it signs load
    /// transactions ahead there ([`runner::RunOptions::spare_core`]).
    pub spare_core: bool,
}

/// What a run does with its memory when it is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Teardown {
    /// Frees it: a run that shares its process with others.
    Free,
    /// Leaves it to the process's exit: the only run of a `sim run` or
    /// `sim check`, whose process ends right after it. Freeing every
    /// host's state one allocation at a time takes 2-3 s at 100,000 hosts
    /// and changes nothing (compilers skip it at exit for the same reason).
    AtExit,
}

/// What one run did.
#[derive(Debug)]
pub struct Report {
    /// How it ended.
    pub exit: Exit,
    /// Its digest, for stdout.
    pub stdout: String,
    /// Its errors, for stderr.
    pub stderr: String,
    /// Its metrics, when it got that far.
    pub summary: Option<Summary>,
}

impl Report {
    fn failed(exit: Exit, stderr: String) -> Self {
        Report {
            exit,
            stdout: String::new(),
            stderr,
            summary: None,
        }
    }
}

/// How the simulation of a run ended.
enum Simulated {
    /// It ran to its end, or stopped at an engine failure or violation.
    Done(Option<EngineError>),
    /// A Ctrl-C stopped it: no result.
    Interrupted,
}

/// Runs `sim` to its end in 200 steps, telling `watch` after each and
/// stopping early when `interrupt` asks.
fn simulate(
    sim: &mut sim_core::engine::Simulation<node_logic::HostNode>,
    trace: Option<&mut TraceCsv>,
    duration: SimDuration,
    watch: &dyn Watch,
    interrupt: &Interrupt,
) -> Simulated {
    let mut no_trace = NoTrace;
    let sink: &mut dyn TraceSink = match trace {
        Some(t) => t,
        None => &mut no_trace,
    };
    let duration_ms = duration.as_nanos() / 1_000_000;
    let step = SimDuration::from_nanos((duration.as_nanos() / 200).max(1));
    let mut outcome = Ok(());
    while outcome.is_ok() && !sim.is_finished() {
        if interrupt.asked() {
            return Simulated::Interrupted;
        }
        let next = sim.now() + step;
        outcome = sim.run_until(next, sink);
        let sim_ms = sim.now().as_nanos() / 1_000_000;
        watch.update(sim_ms, duration_ms, sim.log().events);
    }
    Simulated::Done(outcome.and_then(|()| sim.run(sink)).err())
}

/// A run ready to simulate: the simulation, its plans, its staging
/// folder and its trace writer (with `--trace`).
struct Started {
    sim: sim_core::engine::Simulation<node_logic::HostNode>,
    plans: std::rc::Rc<sim::protocols::Plans>,
    result: ResultDir,
    trace: Option<TraceCsv>,
}

/// Prepares `job`'s simulation and its result folder; the report of why
/// not, if it cannot.
fn start(job: &Job, opts: &ExecOptions) -> Result<Started, Report> {
    let (path, scenario) = (&job.path, &job.scenario);
    let options = runner::RunOptions {
        signature_cache: opts.options.signature_cache,
        parallel_keys: true,
        spare_core: opts.spare_core,
        ..runner::RunOptions::default()
    };
    let runner::Prepared { sim, plans } = runner::prepare_with(scenario, options).map_err(|e| {
        Report::failed(
            Exit::InvalidInput,
            format!("error: {}: {e}\n", path.display()),
        )
    })?;
    let output =
        |e: reports::ReportError| Report::failed(Exit::OutputFailed, format!("error: {e}\n"));
    let result = ResultDir::create(
        &opts.out,
        &scenario.name,
        job.group.as_deref(),
        scenario.seed,
    )
    .map_err(output)?;
    let trace = match opts.options.trace {
        false => None,
        true => {
            let names: Vec<String> = scenario.hosts.iter().map(|h| h.name.clone()).collect();
            Some(TraceCsv::create(&result.file("trace.csv"), names).map_err(output)?)
        }
    };
    Ok(Started {
        sim,
        plans,
        result,
        trace,
    })
}

/// What a checker violation prints, and the exit code of how the run ended.
fn ending(failure: Option<EngineError>, job: &Job, dir: &Path) -> (Exit, String) {
    let mut stderr = String::new();
    let exit = match failure {
        Some(EngineError::Violation(v)) => {
            let _ = writeln!(stderr, "error: {}: {v}", job.path.display());
            let _ = writeln!(
                stderr,
                "  seed {}; reproduce with: {}",
                job.scenario.seed, job.command
            );
            let _ = writeln!(
                stderr,
                "  (results up to the violation are in {})",
                dir.display()
            );
            match v.kind {
                ViolationKind::Safety => Exit::SafetyViolation,
                ViolationKind::Liveness => Exit::LivenessViolation,
            }
        }
        Some(_) => Exit::RunFailed,
        None => Exit::Ok,
    };
    (exit, stderr)
}

/// The `--set` values and the grid point, named under every plot's title.
fn changed(record: &RunRecord, job: &Job) -> Vec<(String, String)> {
    let mut changed: Vec<(String, String)> = record
        .set
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    changed.extend(job.params.iter().cloned());
    changed
}

/// Makes one run and writes `record` (with the run's outcome) as its
/// `run.json`, telling `watch` how it goes. A Ctrl-C (`opts.interrupt`)
/// stops it without a result.
pub fn execute(
    job: &Job,
    record: &RunRecord,
    opts: &ExecOptions,
    teardown: Teardown,
    watch: &dyn Watch,
) -> Report {
    if opts.interrupt.asked() {
        return Report::failed(Exit::Interrupted, String::new());
    }
    let (path, scenario) = (&job.path, &job.scenario);
    let Started {
        mut sim,
        plans,
        result,
        mut trace,
    } = match start(job, opts) {
        Ok(started) => started,
        Err(report) => return report,
    };
    let clock = Stopwatch::start();
    let failure = match simulate(
        &mut sim,
        trace.as_mut(),
        scenario.duration,
        watch,
        &opts.interrupt,
    ) {
        Simulated::Done(failure) => failure,
        Simulated::Interrupted => {
            drop(trace);
            result.abandon();
            return Report::failed(Exit::Interrupted, String::new());
        }
    };
    let wall_s = clock.seconds();
    if let Some(e @ (EngineError::QueueFull { .. } | EngineError::Stalled { .. })) = &failure {
        // Nothing a checker could explain: report and stop without results.
        let text = format!("error: {}: {e} (seed {})\n", path.display(), scenario.seed);
        return Report::failed(Exit::RunFailed, text);
    }

    let trace_hash = sim.trace_hash();
    let end = sim.now();
    // Counters of the hosts still up at the end, summed.
    let mut counters = sim::protocols::ProtocolCounters::new();
    for host in &scenario.hosts {
        if let Some(node) = sim.node(host.id) {
            sim::protocols::node_counters(node, &mut counters);
        }
    }
    let log = match teardown {
        Teardown::Free => sim.into_log(),
        Teardown::AtExit => sim.into_log_leaving_memory(),
    };
    let finished = Finished {
        scenario,
        log: &log,
        plans: &plans,
        trace_hash: &trace_hash,
        end,
        safety_violated: matches!(
            &failure,
            Some(EngineError::Violation(v)) if v.kind == ViolationKind::Safety
        ),
        counters,
    };
    watch.writing();
    let reports =
        Reports::of(&finished, &job.params).caption_with(&finished, &changed(record, job));
    let record = RunRecord {
        outcome: outcome(failure.as_ref()),
        ..record.clone()
    };
    let written = (|| -> Result<PathBuf, reports::ReportError> {
        if let Some(t) = trace {
            t.finish()?;
        }
        record.write(&result.file(RUN_RECORD))?;
        if let Some(resolved) = &job.resolved {
            resolved.write_into(&result.file(""), RESOLVED)?;
        }
        let plots = PlotOptions {
            plots: opts.options.plots,
            log_cdf: opts.options.log_cdf,
        };
        reports.write(result, &finished, plots)
    })();
    let summary = reports.summary.clone();
    let dir = match written {
        Ok(dir) => dir,
        Err(e) => return Report::failed(Exit::OutputFailed, format!("error: {e}\n")),
    };

    let mut stdout = String::new();
    if !opts.quiet {
        let facts = RunFacts {
            wall_s,
            trace_hash: &trace_hash,
            dir: &dir,
            set: &record.set,
        };
        digest(&mut stdout, job, &summary, &log, &facts);
    }
    let (exit, stderr) = ending(failure, job, &dir);
    if teardown == Teardown::AtExit {
        std::mem::forget(reports);
        std::mem::forget(log);
        std::mem::forget(plans);
    }
    Report {
        exit,
        stdout,
        stderr,
        summary: Some(summary),
    }
}

/// The outcome a run's record states.
fn outcome(failure: Option<&EngineError>) -> Outcome {
    match failure {
        Some(EngineError::Violation(v)) => match v.kind {
            ViolationKind::Safety => Outcome::Safety {
                violation: v.to_string(),
            },
            ViolationKind::Liveness => Outcome::Liveness {
                violation: v.to_string(),
            },
        },
        // Engine failures return before results are written.
        Some(_) | None => Outcome::Ok,
    }
}

/// What the digest says besides the metrics.
struct RunFacts<'a> {
    wall_s: f64,
    trace_hash: &'a str,
    dir: &'a Path,
    /// The `--set` values (the description is the file's, before them).
    set: &'a [String],
}

fn digest(
    out: &mut String,
    job: &Job,
    summary: &Summary,
    log: &sim_core::record::RunLog,
    facts: &RunFacts<'_>,
) {
    let (wall_s, trace_hash, dir) = (facts.wall_s, facts.trace_hash, facts.dir);
    let scenario = &job.scenario;
    let _ = writeln!(out, "{} ({})", scenario.name, job.path.display());
    if !scenario.description.is_empty() {
        let _ = writeln!(out, "  {}", scenario.description);
        if !facts.set.is_empty() {
            // The description was written for the file, not for the overrides.
            let _ = writeln!(
                out,
                "  (the file's description; --set changed: {})",
                facts.set.join(", ")
            );
        }
    }
    if !job.params.is_empty() {
        let params: Vec<String> = job.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "  parameters: {}", params.join(", "));
    }
    let total = log.net_total();
    let _ = writeln!(out, "  seed {}  trace {}", scenario.seed, trace_hash);
    let _ = writeln!(
        out,
        "  {} hosts, {} simulated, {} events in {:.2} s wall ({:.0} events/s)",
        scenario.hosts.len(),
        scenario.duration,
        log.events,
        wall_s,
        log.events as f64 / wall_s.max(1e-9)
    );
    let _ = writeln!(
        out,
        "  network: {} messages sent, {} delivered, {} dropped, {} bytes",
        total.messages_sent, total.messages_received, total.messages_dropped, total.bytes_sent
    );
    for line in sim::protocols::digests(summary) {
        let _ = writeln!(out, "  {line}");
    }
    target_lines(out, scenario, summary);
    let _ = writeln!(out, "  results: {}", dir.display());
}

/// The digest's verdict on each of the scenario's targets, if it has any.
pub(crate) fn target_lines(out: &mut String, scenario: &sim::Scenario, summary: &Summary) {
    let verdicts = reports::targets::verdicts(scenario, summary);
    if !verdicts.is_empty() {
        let held = verdicts.iter().filter(|v| v.holds).count();
        let _ = writeln!(out, "  targets: {held} of {} hold", verdicts.len());
        for v in &verdicts {
            let _ = writeln!(out, "    {}", v.line());
        }
    }
}
