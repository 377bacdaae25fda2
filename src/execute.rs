//! One run: prepare, simulate, write the result folder, and say what
//! happened. Nothing is printed here: the report carries the text, so runs
//! made in parallel print in run order whatever the job count.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use reports::trace_csv::TraceCsv;
use reports::{ResultDir, Summary};
use sim_core::checkers::ViolationKind;
use sim_core::engine::EngineError;
use sim_core::runner;
use sim_core::trace::{NoTrace, TraceSink};
use sim_core::units::SimDuration;

use crate::exit::Exit;
use crate::jobs::Job;
use crate::progress::Progress;
use crate::record::{Outcome, RUN_RECORD, RunRecord};
use crate::results::{Finished, Reports};

/// How runs are made and what they write.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Root of the result folders.
    pub out: PathBuf,
    /// Skip trace.csv.
    pub no_trace: bool,
    /// Skip the SVG plots.
    pub no_plots: bool,
    /// Verify every signature copy (measuring the cache).
    pub no_signature_cache: bool,
    /// Leave the digest out of the report (errors are always kept).
    pub quiet: bool,
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

/// Makes one run and writes `record` (with the run's outcome) as its
/// `run.json`; `show_progress` draws a progress bar for it (single runs).
pub fn execute(job: &Job, record: &RunRecord, opts: &ExecOptions, show_progress: bool) -> Report {
    let (path, scenario) = (&job.path, &job.scenario);
    let options = runner::RunOptions {
        signature_cache: !opts.no_signature_cache,
    };
    let runner::Prepared {
        mut sim,
        plan,
        consensus,
    } = match runner::prepare_with(scenario, options) {
        Ok(prepared) => prepared,
        Err(e) => {
            return Report::failed(
                Exit::InvalidInput,
                format!("error: {}: {e}\n", path.display()),
            );
        }
    };
    let result = match ResultDir::create(
        &opts.out,
        &scenario.name,
        job.group.as_deref(),
        scenario.seed,
    ) {
        Ok(r) => r,
        Err(e) => return Report::failed(Exit::OutputFailed, format!("error: {e}\n")),
    };
    let mut trace = if opts.no_trace {
        None
    } else {
        let names: Vec<String> = scenario.hosts.iter().map(|h| h.name.clone()).collect();
        match TraceCsv::create(&result.file("trace.csv"), names) {
            Ok(t) => Some(t),
            Err(e) => return Report::failed(Exit::OutputFailed, format!("error: {e}\n")),
        }
    };

    let duration_ms = scenario.duration.as_nanos() / 1_000_000;
    let progress = Progress::new(&scenario.name, duration_ms, !show_progress || opts.quiet);
    let step = SimDuration::from_nanos((scenario.duration.as_nanos() / 200).max(1));
    let failure: Option<EngineError>;
    {
        let mut no_trace = NoTrace;
        let sink: &mut dyn TraceSink = match trace.as_mut() {
            Some(t) => t,
            None => &mut no_trace,
        };
        let mut outcome = Ok(());
        while outcome.is_ok() && !sim.is_finished() {
            let next = sim.now() + step;
            outcome = sim.run_until(next, sink);
            progress.update(sim.now().as_nanos() / 1_000_000, sim.log().events);
        }
        failure = outcome.and_then(|()| sim.run(sink)).err();
    }
    let wall_s = progress.finish();
    if let Some(e @ (EngineError::QueueFull { .. } | EngineError::Stalled { .. })) = &failure {
        // Nothing a checker could explain: report and stop without results.
        let text = format!("error: {}: {e} (seed {})\n", path.display(), scenario.seed);
        return Report::failed(Exit::RunFailed, text);
    }

    let trace_hash = sim.trace_hash();
    let end = sim.now();
    // Signature verifications the validators asked for (live ones).
    let signature_requests: u64 = consensus.as_ref().map_or(0, |c| {
        c.validators
            .iter()
            .filter_map(|v| sim.node(*v)?.validator().map(|val| val.verifications()))
            .sum()
    });
    let log = sim.into_log();
    let finished = Finished {
        scenario,
        log: &log,
        plan: plan.as_ref(),
        consensus: consensus.as_ref(),
        trace_hash: &trace_hash,
        end,
        safety_violated: matches!(
            &failure,
            Some(EngineError::Violation(v)) if v.kind == ViolationKind::Safety
        ),
        signature_requests,
    };
    let reports = Reports::of(&finished, &job.params);
    let record = RunRecord {
        outcome: outcome(failure.as_ref()),
        ..record.clone()
    };
    let written = (|| -> Result<PathBuf, reports::ReportError> {
        if let Some(t) = trace {
            t.finish()?;
        }
        record.write(&result.file(RUN_RECORD))?;
        reports.write(result, &finished, opts.no_plots)
    })();
    let summary = reports.summary;
    let dir = match written {
        Ok(dir) => dir,
        Err(e) => return Report::failed(Exit::OutputFailed, format!("error: {e}\n")),
    };

    let mut stdout = String::new();
    if !opts.quiet {
        digest(&mut stdout, job, &summary, &log, wall_s, &trace_hash, &dir);
    }
    let mut stderr = String::new();
    let exit = match failure {
        Some(EngineError::Violation(v)) => {
            let _ = writeln!(stderr, "error: {}: {v}", path.display());
            let _ = writeln!(
                stderr,
                "  seed {}; reproduce with: {}",
                scenario.seed, job.command
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

fn digest(
    out: &mut String,
    job: &Job,
    summary: &Summary,
    log: &sim_core::record::RunLog,
    wall_s: f64,
    trace_hash: &str,
    dir: &Path,
) {
    let scenario = &job.scenario;
    let _ = writeln!(out, "{} ({})", scenario.name, job.path.display());
    if !scenario.description.is_empty() {
        let _ = writeln!(out, "  {}", scenario.description);
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
    for line in [registration_line(summary), consensus_line(summary)]
        .into_iter()
        .flatten()
    {
        let _ = writeln!(out, "  {line}");
    }
    target_lines(out, scenario, summary);
    let _ = writeln!(out, "  results: {}", dir.display());
}

/// The digest's verdict on each of the scenario's targets, if it has any.
pub(crate) fn target_lines(
    out: &mut String,
    scenario: &sim_core::scenario::Scenario,
    summary: &Summary,
) {
    let verdicts = reports::targets::verdicts(scenario, summary);
    if !verdicts.is_empty() {
        let held = verdicts.iter().filter(|v| v.holds).count();
        let _ = writeln!(out, "  targets: {held} of {} hold", verdicts.len());
        for v in &verdicts {
            let _ = writeln!(out, "    {}", v.line());
        }
    }
}

/// The registration digest line, when the run has registration.
pub(crate) fn registration_line(summary: &Summary) -> Option<String> {
    let get = |name: &str| summary.get(name).and_then(|m| m.as_f64());
    let registered = get("registration.registered")?;
    let expected = get("registration.expected")?;
    let mut line = format!("registration: {registered}/{expected} registered");
    if let Some(p95) = get("registration.p95_s") {
        line.push_str(&format!(", p95 {p95:.3} s"));
    }
    if let Some(ready) = get("registration.ready_s") {
        line.push_str(&format!(", ready at {ready:.1} s"));
    }
    if let (Some(detected), Some(accepted)) = (
        get("registration.corrupt_detected"),
        get("registration.corrupt_accepted"),
    ) {
        line.push_str(&format!(
            ", {detected} damaged reads, {accepted} wrongly accepted"
        ));
    }
    Some(line)
}

/// The consensus digest line, when the run has consensus.
pub(crate) fn consensus_line(summary: &Summary) -> Option<String> {
    let get = |name: &str| summary.get(name).and_then(|m| m.as_f64());
    let blocks = get("consensus.blocks_finalized")?;
    let mut line = format!("consensus: {blocks} blocks finalized");
    if let Some(first) = get("consensus.first_block_s") {
        line.push_str(&format!(", first at {first:.3} s"));
    }
    if let Some(p95) = get("consensus.finality_p95_s") {
        line.push_str(&format!(", finality p95 {p95:.3} s"));
    }
    for (name, what) in [
        ("consensus.view_changes", "view changes"),
        ("consensus.equivocations", "equivocations seen"),
        ("consensus.safety_violations", "safety violations"),
    ] {
        if let Some(n) = get(name) {
            line.push_str(&format!(", {n} {what}"));
        }
    }
    if let (Some(checks), true) = (get("consensus.signature_checks"), blocks > 0.0) {
        line.push_str(&format!(
            ", {:.0} signature checks per block",
            checks / blocks
        ));
    }
    Some(line)
}
