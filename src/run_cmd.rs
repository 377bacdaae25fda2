//! `sim run` and `sim validate`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use node_logic::HostId;
use reports::consensus::ConsensusReport;
use reports::peers::PeersReport;
use reports::registration::RegistrationReport;
use reports::summary::RunFacts;
use reports::trace_csv::TraceCsv;
use reports::{Metric, ResultDir, Summary, tables};
use sim_core::checkers::ViolationKind;
use sim_core::engine::EngineError;
use sim_core::runner;
use sim_core::scenario::{self, Scenario};
use sim_core::trace::{NoTrace, TraceSink};
use sim_core::units::SimDuration;

use crate::cli::{RunArgs, ScenarioArgs};
use crate::exit::Exit;
use crate::progress::Progress;

/// `sim validate`: parse and check every file, run nothing.
pub fn validate(args: &ScenarioArgs) -> Exit {
    match load_all(args) {
        Some(scenarios) => {
            for (path, s) in &scenarios {
                println!(
                    "ok: {} ({}: {} hosts in {} groups, {} faults, {} simulated)",
                    path.display(),
                    s.name,
                    s.hosts.len(),
                    s.groups.len(),
                    s.faults.len(),
                    s.duration
                );
            }
            Exit::Ok
        }
        None => Exit::InvalidInput,
    }
}

/// `sim run`: check every file first (nothing runs if one is invalid), then
/// run each and write its results.
pub fn run(args: &RunArgs) -> Exit {
    let Some(scenarios) = load_all(&args.scenarios) else {
        return Exit::InvalidInput;
    };
    for (path, scenario) in &scenarios {
        let exit = run_one(path, scenario, args);
        if exit != Exit::Ok {
            return exit;
        }
    }
    Exit::Ok
}

/// Loads every file, printing every error; `None` if any failed.
fn load_all(args: &ScenarioArgs) -> Option<Vec<(PathBuf, Scenario)>> {
    let mut loaded = Vec::new();
    let mut failed = false;
    for path in &args.files {
        match scenario::load(path, &args.overrides) {
            Ok(mut s) => {
                if let Some(seed) = args.seed {
                    s.seed = seed;
                }
                // Also checks graph files and the legacy registry.
                match runner::validate(&s) {
                    Ok(_) => loaded.push((path.clone(), s)),
                    Err(e) => {
                        eprintln!("error: {}: {e}", path.display());
                        failed = true;
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    // Two runs writing one result folder would replace each other's results.
    let mut writers: BTreeMap<(&str, u64), &Path> = BTreeMap::new();
    for (path, s) in &loaded {
        if let Some(first) = writers.insert((s.name.as_str(), s.seed), path) {
            eprintln!(
                "error: {} and {} would both write results to {}/seed-{}: give one of them another `name`",
                first.display(),
                path.display(),
                s.name,
                s.seed
            );
            failed = true;
        }
    }
    (!failed).then_some(loaded)
}

fn run_one(path: &Path, scenario: &Scenario, args: &RunArgs) -> Exit {
    let options = runner::RunOptions {
        signature_cache: !args.no_signature_cache,
    };
    let runner::Prepared {
        mut sim,
        plan,
        consensus,
    } = match runner::prepare_with(scenario, options) {
        Ok(prepared) => prepared,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return Exit::InvalidInput;
        }
    };
    let result = match ResultDir::create(&args.out, &scenario.name, scenario.seed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::OutputFailed;
        }
    };
    let names: Vec<String> = scenario.hosts.iter().map(|h| h.name.clone()).collect();
    let mut trace = if args.no_trace {
        None
    } else {
        match TraceCsv::create(&result.file("trace.csv"), names) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::OutputFailed;
            }
        }
    };

    if !args.quiet {
        println!("{} ({})", scenario.name, path.display());
        if !scenario.description.is_empty() {
            println!("  {}", scenario.description);
        }
    }
    let duration_ms = scenario.duration.as_nanos() / 1_000_000;
    let progress = Progress::new(&scenario.name, duration_ms, args.quiet);
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
    if let Some(EngineError::QueueFull { .. } | EngineError::Stalled { .. }) = &failure {
        // Nothing a checker could explain: report and stop without results.
        eprintln!(
            "error: {}: {} (seed {})",
            path.display(),
            failure
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            scenario.seed
        );
        return Exit::RunFailed;
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
    let mut summary = Summary::from_run(RunFacts {
        scenario,
        log: &log,
        trace_hash: &trace_hash,
        end,
    });
    let registration = plan.as_ref().map(|p| RegistrationReport::new(p, &log, end));
    let peers = PeersReport::new(scenario, &log);
    if let Some(report) = &peers {
        report.add_metrics(&mut summary);
    }
    if let Some(report) = &registration {
        report.add_metrics(&mut summary, &log);
    }
    let consensus_report = consensus.as_ref().map(|c| {
        let honest: BTreeSet<HostId> = c
            .validators
            .iter()
            .copied()
            .filter(|v| !c.dishonest.contains(v))
            .collect();
        let safety =
            matches!(&failure, Some(EngineError::Violation(v)) if v.kind == ViolationKind::Safety);
        let report = ConsensusReport::new(&log, &honest, u64::from(safety));
        report.add_metrics(&mut summary);
        summary.set(
            "consensus.signature_requests",
            Metric::Count(signature_requests),
        );
        let checks = c
            .cache
            .as_ref()
            .map_or(signature_requests, |cache| cache.checks());
        summary.set("consensus.signature_checks", Metric::Count(checks));
        report
    });
    let written = (|| -> Result<PathBuf, reports::ReportError> {
        if let Some(t) = trace {
            t.finish()?;
        }
        summary.write(&result.file("summary.json"))?;
        tables::write_network(&result.file("network.csv"), scenario, &log)?;
        tables::write_faults(&result.file("faults.csv"), scenario, &log)?;
        tables::write_lifecycle(&result.file("lifecycle.csv"), scenario, &log)?;
        tables::write_observations(&result.file("observations.csv"), scenario, &log)?;
        if let Some(report) = &peers {
            report.write(&result.file("peers.csv"), scenario)?;
        }
        if let Some(report) = &consensus_report {
            report.write_heights(&result.file("consensus.csv"), scenario)?;
            report.write_view_changes(&result.file("view_changes.csv"), scenario)?;
            report.write_evidence(&result.file("byzantine_evidence.csv"), scenario)?;
        }
        if let Some(report) = &registration {
            report.write_registration(&result.file("registration.csv"), scenario)?;
            report.write_progress(&result.file("registration_progress.csv"), scenario)?;
            report.write_errors(&result.file("registration_errors.csv"), scenario)?;
        }
        result.commit()
    })();
    let dir = match written {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::OutputFailed;
        }
    };
    if !args.quiet {
        let total = log.net_total();
        println!("  seed {}  trace {}", scenario.seed, trace_hash);
        println!(
            "  {} hosts, {} simulated, {} events in {:.2} s wall ({:.0} events/s)",
            scenario.hosts.len(),
            scenario.duration,
            log.events,
            wall_s,
            log.events as f64 / wall_s.max(1e-9)
        );
        println!(
            "  network: {} messages sent, {} delivered, {} dropped, {} bytes",
            total.messages_sent, total.messages_received, total.messages_dropped, total.bytes_sent
        );
        if let Some(report) = summary_line(&summary) {
            println!("  {report}");
        }
        if let Some(report) = consensus_line(&summary) {
            println!("  {report}");
        }
        let verdicts = reports::targets::verdicts(scenario, &summary);
        if !verdicts.is_empty() {
            let held = verdicts.iter().filter(|v| v.holds).count();
            println!("  targets: {held} of {} hold", verdicts.len());
            for v in &verdicts {
                println!("    {}", v.line());
            }
        }
        println!("  results: {}", dir.display());
    }
    match failure {
        Some(EngineError::Violation(v)) => {
            eprintln!("error: {}: {v}", path.display());
            eprintln!(
                "  seed {}; reproduce with: sim run {} --seed {}",
                scenario.seed,
                path.display(),
                scenario.seed
            );
            eprintln!("  (results up to the violation are in {})", dir.display());
            match v.kind {
                ViolationKind::Safety => Exit::SafetyViolation,
                ViolationKind::Liveness => Exit::LivenessViolation,
            }
        }
        Some(_) => Exit::RunFailed,
        None => Exit::Ok,
    }
}

/// The registration digest line, when the run has registration.
fn summary_line(summary: &Summary) -> Option<String> {
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
fn consensus_line(summary: &Summary) -> Option<String> {
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
