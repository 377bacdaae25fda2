//! `sim collect DIR --out OUT`: the per-host records of a real run (a
//! `sim launch` folder, or Shadow's `shadow.data/hosts/*/`) turned into the
//! result folder `sim run` writes, with the same files and metric names.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use reports::{Metric, ResultDir};
use sim::runner::RunOptions;

use crate::cli::{CollectArgs, ScenarioArgs};
use crate::exit::Exit;
use crate::jobs::single;
use crate::real::assemble::Assembler;
use crate::real::host_log::{self, HostRecord, LOG_SUFFIX};
use sim::results::{Finished, PlotOptions, Reports};
use sim_core::units::SimDuration;

/// What a real run's summary says instead of a trace hash.
pub const NO_TRACE_HASH: &str = "none (real processes)";

/// `sim collect DIR --out OUT`.
pub fn collect(args: &CollectArgs) -> Exit {
    let scenario_file = match &args.scenario {
        Some(path) => path.clone(),
        None => match find_scenario(&args.dir) {
            Some(path) => path,
            None => {
                eprintln!(
                    "error: no scenario.toml in {} or a folder above it: give the scenario with --scenario FILE",
                    args.dir.display()
                );
                return Exit::InvalidInput;
            }
        },
    };
    match collect_into(
        &args.dir,
        &scenario_file,
        &args.overrides,
        &args.out,
        args.no_plots,
        &[],
    ) {
        Ok(text) => {
            print!("{text}");
            Exit::Ok
        }
        Err((exit, message)) => {
            eprintln!("error: {message}");
            exit
        }
    }
}

/// Collects the records under `dir` of a run of `scenario_file` (with
/// `overrides`) into a result folder under `out`; returns the digest.
pub fn collect_into(
    dir: &Path,
    scenario_file: &Path,
    overrides: &[sim_core::scenario::Override],
    out: &Path,
    no_plots: bool,
    extra: &[(String, Metric)],
) -> Result<String, (Exit, String)> {
    let files = record_files(dir).map_err(|e| {
        (
            Exit::InvalidInput,
            format!("cannot read {}: {e}", dir.display()),
        )
    })?;
    if files.is_empty() {
        return Err((
            Exit::InvalidInput,
            format!(
                "no per-host records (*{LOG_SUFFIX}) under {}: point at a `sim launch` folder or Shadow's shadow.data",
                dir.display()
            ),
        ));
    }
    let names: Vec<String> = files
        .iter()
        .map(|file| {
            file.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(LOG_SUFFIX))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let seed = run_seed(&files, &names)?;
    let args = ScenarioArgs {
        files: vec![scenario_file.to_path_buf()],
        overrides: overrides.to_vec(),
        seed: Some(seed),
    };
    let job = single(&args, "collect").ok_or((
        Exit::InvalidInput,
        format!(
            "{}: the scenario cannot be used (see above)",
            scenario_file.display()
        ),
    ))?;
    let scenario = &job.scenario;
    let mut assembler = Assembler::new(scenario);
    let mut recorded = std::collections::BTreeSet::new();
    for (file, name) in files.iter().zip(&names) {
        let Some(host) = scenario.hosts.iter().find(|h| &h.name == name) else {
            return Err((
                Exit::InvalidInput,
                format!(
                    "records of host `{name}` ({}), which scenario `{}` does not have: was the run made from another scenario?",
                    file.display(),
                    scenario.name
                ),
            ));
        };
        recorded.insert(host.id);
        host_log::for_each(file, false, |record| assembler.add(host.id, record))
            .map_err(|e| (Exit::InvalidInput, e.to_string()))?;
    }
    let run = assembler.finish();
    let options = RunOptions {
        signature_cache: false,
        ..RunOptions::default()
    };
    let plans = scenario.protocols.plans(scenario, &options).map_err(|e| {
        (
            Exit::InvalidInput,
            format!("{}: {e}", scenario_file.display()),
        )
    })?;
    let checkers = scenario.protocols.checkers(&plans, scenario);
    let safety_violated = sim::results::safety_violated(checkers, &run.log);
    let finished = Finished {
        scenario,
        log: &run.log,
        plans: &plans,
        trace_hash: NO_TRACE_HASH,
        end: run.end,
        safety_violated,
        counters: run.counters.clone(),
    };
    let mut reports = Reports::of(&finished, &[]);
    let summary = &mut reports.summary;
    summary.set("run.mode", Metric::Text("real".into()));
    summary.set("real.hosts_recorded", Metric::Count(recorded.len() as u64));
    let skipped = sim::faults::skipped_in_real_runs(scenario);
    summary.set("real.faults_skipped", Metric::Count(skipped.len() as u64));
    let dropped: u64 = run.dropped.values().sum();
    summary.set("real.path_dropped", Metric::Count(dropped));
    for (reason, n) in &run.dropped {
        summary.set(&format!("real.path_dropped.{reason}"), Metric::Count(*n));
    }
    summary.set("real.send_errors", Metric::Count(run.send_errors));
    let (late, late_total) = run.late_inputs;
    summary.set("real.late_inputs", Metric::Count(late));
    let mean = match late {
        0 => Metric::Null,
        n => Metric::Real(late_total.as_secs_f64() / n as f64),
    };
    summary.set("real.late_input_mean_s", mean);
    summary.set(
        "real.received_beyond_sent",
        Metric::Count(run.received_beyond_sent),
    );
    summary.set(
        "real.processes_interrupted",
        Metric::Count(run.interrupted as u64),
    );
    let rejected: u64 = run.rejected.values().sum();
    summary.set("real.datagrams_rejected", Metric::Count(rejected));
    for (reason, n) in &run.rejected {
        summary.set(&format!("real.rejected.{reason}"), Metric::Count(*n));
    }
    let refused: u64 = run.fs_refused.values().sum();
    summary.set("real.files_refused", Metric::Count(refused));
    for (reason, n) in &run.fs_refused {
        summary.set(&format!("real.files_refused.{reason}"), Metric::Count(*n));
    }
    for (name, value) in extra {
        summary.set(name, value.clone());
    }
    let result = ResultDir::create(out, &scenario.name, None, scenario.seed)
        .map_err(|e| (Exit::OutputFailed, e.to_string()))?;
    let written = reports
        .write(
            result,
            &finished,
            PlotOptions {
                plots: !no_plots,
                log_cdf: false,
            },
        )
        .map_err(|e| (Exit::OutputFailed, e.to_string()))?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{}: collected {} hosts' records of a real run (seed {})",
        scenario.name,
        recorded.len(),
        scenario.seed
    );
    let total = run.log.net_total();
    let _ = writeln!(
        text,
        "  network: {} messages sent, {} delivered, {} lost, {} rejected by the frame check",
        total.messages_sent, total.messages_received, total.messages_dropped, rejected
    );
    for line in sim::protocols::digests(&reports.summary) {
        let _ = writeln!(text, "  {line}");
    }
    crate::execute::target_lines(&mut text, scenario, &reports.summary);
    for f in &skipped {
        let _ = writeln!(
            text,
            "  warning: fault {} ({} at {}, line {}) was not reproduced by the real processes: {}",
            f.index,
            f.kind,
            f.at.since_start(),
            f.line,
            f.why
        );
    }
    if refused > 0 {
        let _ = writeln!(
            text,
            "  warning: {refused} files in the shared directory were refused (symbolic links, FIFOs, devices, oversize, planted temporaries): see real.files_refused.*"
        );
    }
    if run.received_beyond_sent > 0 {
        let _ = writeln!(
            text,
            "  warning: {} datagrams were accepted beyond what their senders sent (replays to a restarted host): not counted as delivered",
            run.received_beyond_sent
        );
    }
    if run.interrupted > 0 {
        let _ = writeln!(
            text,
            "  warning: {} processes ended early (signal or failure): their hosts' results stop there",
            run.interrupted
        );
    }
    if let Some(warning) = late_warning(run.late_inputs.0, run.late_inputs.1) {
        let _ = writeln!(text, "  {warning}");
    }
    let _ = writeln!(text, "  results: {}", written.display());
    Ok(text)
}

/// The warning a real run gets when its processes handled `late` inputs
/// later than due, `total` late in all: the run left the scenario's
/// timeline there (ARCHITECTURE.md, "Inputs are handled at their due
/// time").
fn late_warning(late: u64, total: SimDuration) -> Option<String> {
    if late == 0 {
        return None;
    }
    let mean_ms = total.as_secs_f64() * 1e3 / late as f64;
    Some(format!(
        "warning: {late} inputs were handled later than due (mean {mean_ms:.1} ms; real.late_inputs): their senders got to them late (busy, or waiting for a core), so the run left the scenario's timeline there; launch at a larger --time-scale for a closer match"
    ))
}

/// Every record file under `dir`, sorted.
fn record_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(LOG_SUFFIX))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `scenario.toml` in `dir` or up to three folders above (a launch folder,
/// an export folder above `shadow.data/hosts`).
fn find_scenario(dir: &Path) -> Option<PathBuf> {
    let mut here = Some(dir);
    for _ in 0..4 {
        let d = here?;
        let candidate = d.join("scenario.toml");
        if candidate.is_file() {
            return Some(candidate);
        }
        here = d.parent();
    }
    None
}

/// The seed every process ran with (they must agree), from the boot
/// records of `files` (of hosts `names`).
fn run_seed(files: &[PathBuf], names: &[String]) -> Result<u64, (Exit, String)> {
    let mut seeds = BTreeMap::new();
    for (file, host) in files.iter().zip(names) {
        host_log::for_each(file, true, |r| {
            if let HostRecord::Boot { seed, .. } = r {
                seeds.entry(seed).or_insert_with(|| host.clone());
            }
        })
        .map_err(|e| (Exit::InvalidInput, e.to_string()))?;
    }
    match seeds.len() {
        1 => Ok(*seeds.keys().next().unwrap_or(&0)),
        0 => Err((
            Exit::InvalidInput,
            "no process boot in the records: nothing ran".into(),
        )),
        _ => Err((
            Exit::InvalidInput,
            format!(
                "the records mix runs of different seeds ({}): collect one run at a time",
                seeds
                    .iter()
                    .map(|(s, h)| format!("{s} from {h}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_with_late_inputs_is_warned_with_their_mean_lateness() {
        assert_eq!(late_warning(0, SimDuration::ZERO), None);
        let warning = late_warning(4, SimDuration::from_millis(10)).unwrap();
        assert!(
            warning.starts_with("warning: 4 inputs were handled later than due (mean 2.5 ms;"),
            "{warning}"
        );
        assert!(warning.contains("--time-scale"), "{warning}");
    }
}
