//! Command-line interface definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sim_core::scenario::Override;

/// Deterministic discrete-event simulator for Shadow-style network studies.
#[derive(Debug, Parser)]
#[command(name = "sim", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenario files and write their results.
    Run(RunArgs),
    /// Check scenario files without running them.
    Validate(ScenarioArgs),
}

/// Scenario files and overrides, shared by every subcommand.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario files (TOML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Override any key, e.g. `--set registration.strategy=poll` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<Override>,
    /// Use this seed instead of the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `sim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Files, overrides and seed.
    #[command(flatten)]
    pub scenarios: ScenarioArgs,
    /// Root folder of results: `<out>/<scenario>/seed-<n>/`.
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Do not write trace.csv (the trace hash is still computed and printed).
    #[arg(long)]
    pub no_trace: bool,
    /// Verify every copy of every consensus signature instead of each
    /// distinct one once (results are identical; for measuring the cache).
    #[arg(long)]
    pub no_signature_cache: bool,
    /// Print nothing but errors; no progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}
