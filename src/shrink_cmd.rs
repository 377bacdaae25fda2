//! `sim shrink FILE`: the smallest schedule that still fails the same way
//! (see [`sim::explore::shrink`]), printed step by step and written as a
//! standalone scenario file, which is then run once more from disk to
//! confirm it reproduces the failure.

use std::path::{Path, PathBuf};

use sim::explore::outcome;
use sim::explore::shrink::{Shrinker, inline};

use crate::cli::ShrinkArgs;
use crate::exit::Exit;

/// `sim shrink`: see the module docs.
pub fn shrink(args: &ShrinkArgs) -> Exit {
    let out = args.out.clone().unwrap_or_else(|| default_out(&args.file));
    outcome::quiet_panics();
    let (mut shrinker, start) = match Shrinker::load(&args.file, &out, args.max_runs) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return Exit::InvalidInput;
        }
    };
    println!(
        "shrinking {}: {} faults, {}; it fails: {}",
        args.file.display(),
        start.faults.len(),
        start.duration,
        shrinker.target().headline()
    );
    let quiet = args.quiet;
    let (min, failure) = shrinker.shrink(start.clone(), &mut |line| {
        if !quiet {
            println!("  {line}");
        }
    });
    let header = vec![
        format!(
            "Written by `sim shrink` from {} ({} runs, {} steps).",
            args.file.display(),
            shrinker.runs,
            shrinker.steps
        ),
        format!("It fails: {}", failure.headline()),
        format!("Reproduce: sim run {}", out.display()),
    ];
    let text = shrinker.render(&min, &header);
    if let Err(e) = reports::result_dir::write_atomic(&out, text.as_bytes()) {
        eprintln!("error: {e}");
        return Exit::OutputFailed;
    }
    if let Err(e) = confirm(&out, &failure) {
        eprintln!("error: {}: {e}", out.display());
        return Exit::RunFailed;
    }
    println!(
        "minimal: {} faults (was {}), duration {} (was {}), {} runs",
        min.faults.len(),
        start.faults.len(),
        min.duration,
        start.duration,
        shrinker.runs
    );
    let scenario = shrinker.scenario();
    for (i, fault) in min.faults.iter().enumerate() {
        println!("  fault {}: {}", i + 1, inline(scenario, fault));
    }
    println!("  fails: {}", failure.message);
    println!(
        "written: {}; reproduce with: sim run {}",
        out.display(),
        out.display()
    );
    Exit::Ok
}

/// `run-17.toml` -> `run-17.min.toml`, beside it.
fn default_out(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy());
    file.with_file_name(format!("{stem}.min.toml"))
}

/// Reads the written file as `sim run` does and checks it fails the same way.
fn confirm(out: &Path, failure: &outcome::Failure) -> Result<(), String> {
    let scenario = sim::model::load(out, &[]).map_err(|e| e.to_string())?;
    match outcome::run(&scenario).map_err(|e| e.to_string())? {
        Some(f) if f.same(failure) => Ok(()),
        Some(f) => Err(format!(
            "the written file fails otherwise ({}) — a bug in sim shrink",
            f.headline()
        )),
        None => Err("the written file does not fail — a bug in sim shrink".into()),
    }
}
