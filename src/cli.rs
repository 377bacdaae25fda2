//! Command-line interface definitions.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

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
    /// Run scenario files (seeds x parameter grid) and write their results.
    Run(RunArgs),
    /// Run scenario files and check their targets (exit 1 on a miss).
    Check(CheckArgs),
    /// Check scenario files without running them.
    Validate(ScenarioArgs),
    /// Join the result folders of sweep shards into one.
    Merge(MergeArgs),
    /// Write a scenario as the configuration of another simulator.
    Export(ExportArgs),
    /// Run one host of a scenario as a real process (UDP, real clock, real
    /// shared directory): what `sim launch` and Shadow start.
    Node(NodeArgs),
    /// Run every host of a scenario as local processes on loopback and
    /// collect their results like `sim run`.
    Launch(LaunchArgs),
    /// Turn the per-host records of a real run into `sim run`'s results.
    Collect(CollectArgs),
    /// Damage a miner's registration file in a shared directory, as a
    /// scenario's `corrupt` fault does (the helper Shadow exports start).
    Corrupt(CorruptArgs),
    /// Run random fault schedules drawn from the seed (within the file's
    /// `[explore]` bounds) with every checker on; write each failing run
    /// as a standalone scenario file.
    Explore(ExploreArgs),
    /// Reduce a failing scenario file to a minimal one that still fails
    /// the same way (same checker), by delta debugging its schedule.
    Shrink(ShrinkArgs),
}

/// `sim explore FILE --runs N`.
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// The scenario file; its `[explore]` table (optional) bounds what is
    /// drawn, its own `[[faults]]` are replaced by each run's schedule.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Override any key, `explore.*` too (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<Override>,
    /// The master seed every run's schedule derives from (default: the
    /// file's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// How many schedules: runs 0 to N-1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub runs: u64,
    /// Runs in parallel (default: all cores); the results do not depend on it.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Make only the runs whose id modulo N is I.
    #[arg(long, value_name = "I/N", conflicts_with = "run")]
    pub shard: Option<Shard>,
    /// Make only these runs (e.g. `17` or `0..3,7`).
    #[arg(long = "run", value_name = "IDS")]
    pub run: Vec<RunIds>,
    /// Where failing runs' scenario files go:
    /// `<DIR>/<scenario>/run-<id>.toml`.
    #[arg(long, default_value = "out/explore", value_name = "DIR")]
    pub out: PathBuf,
    /// No progress bar and no header; the summary and failures only.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `sim shrink FILE`.
#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// A scenario file whose run fails (as `sim explore` writes them).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the minimal scenario (default: `<FILE>.min.toml`
    /// beside it: `run-17.toml` gives `run-17.min.toml`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The most runs to make (each tries one change).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub max_runs: usize,
    /// Print only the result, not each step.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `sim node --scenario F --host NAME`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The scenario file.
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// Override any key, as for `sim run` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<Override>,
    /// Use this seed instead of the scenario's (identities derive from it:
    /// every process of a run must use the same one).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The host to run (its name in the scenario).
    #[arg(long, value_name = "NAME")]
    pub host: String,
    /// The shared directory of the registration files.
    #[arg(long, default_value = "shared", value_name = "DIR")]
    pub shared_dir: PathBuf,
    /// Where to listen (default: every interface on --port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Listen on this inherited, already bound UDP socket instead (what
    /// `sim launch` passes, so that datagrams sent to the host while it is
    /// down wait in the socket for its restart).
    #[arg(long, value_name = "FD", conflicts_with = "listen")]
    pub socket_fd: Option<i32>,
    /// The port hosts listen on, for names resolved through DNS.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// The address of a host, instead of resolving its name (repeatable).
    #[arg(long = "peer", value_name = "NAME=ADDR")]
    pub peers: Vec<PeerAddr>,
    /// This process is the host's restart after a crash.
    #[arg(long)]
    pub restarted: bool,
    /// The scenario time at which this process starts (default: the host's
    /// start time in the scenario; required with --restarted).
    #[arg(long, value_name = "DURATION")]
    pub start_at: Option<sim_core::units::SimDuration>,
    /// Real seconds per scenario second (0.1 runs ten times faster).
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub time_scale: f64,
    /// The wall-clock instant of scenario time 0, in ns since the Unix
    /// epoch: local processes given the same one share one timeline
    /// (`sim launch` sets it). Without it the clock reads --start-at when
    /// the process starts (exact under Shadow).
    #[arg(long, value_name = "NS")]
    pub epoch_unix_ns: Option<u64>,
    /// Where to write `<host>.events.jsonl`, `<host>.observations.csv` and
    /// `<host>.summary.json`.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,
    /// How much of the scenario's network the process reproduces in its
    /// own send path: `emulate` (latency, jitter, loss, bandwidth: `sim
    /// launch` on loopback), `jitter` (only jitter: under Shadow, whose
    /// graph has the rest) or `faults` (nothing: a real network). The
    /// scenario's network faults apply in every case.
    #[arg(long, value_enum, default_value_t = crate::real::netpath::PathModel::Faults)]
    pub path: crate::real::netpath::PathModel,
}

/// The port `sim node` listens on by default.
pub const DEFAULT_PORT: u16 = 7345;

/// One `--peer NAME=ADDR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    /// The host's name.
    pub name: String,
    /// Its address.
    pub addr: std::net::SocketAddr,
}

impl FromStr for PeerAddr {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        use std::net::ToSocketAddrs;
        let (name, addr) = text.split_once('=').ok_or_else(|| {
            format!("`{text}` is not a peer: write NAME=ADDR, e.g. miner-1=127.0.0.1:7345")
        })?;
        let addr = addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                format!("`{addr}` in `{text}` is not an address: write IP:PORT or NAME:PORT")
            })?;
        Ok(PeerAddr {
            name: name.trim().to_string(),
            addr,
        })
    }
}

/// `sim launch FILE`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// The scenario file, overrides and seed.
    #[command(flatten)]
    pub scenarios: ScenarioArgs,
    /// Real seconds per scenario second (0.1: a 300 s scenario takes 30 s).
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub time_scale: f64,
    /// Root folder of results, as for `sim run`; the processes' own files go
    /// into `<out>/<scenario>/seed-<n>.launch/`.
    #[arg(long, default_value = "out/launch", value_name = "DIR")]
    pub out: PathBuf,
    /// The `sim` executable to start (default: this one).
    #[arg(long, value_name = "PATH")]
    pub sim_path: Option<PathBuf>,
    /// Refuse scenarios with more hosts than this (one process each).
    #[arg(long, default_value_t = crate::launch_cmd::DEFAULT_MAX_PROCESSES, value_name = "N")]
    pub max_processes: usize,
    /// Do not write SVG plots.
    #[arg(long)]
    pub no_plots: bool,
}

/// `sim collect DIR --out DIR`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// A folder holding the per-host records (`*.events.jsonl`), searched
    /// recursively: a `sim launch` folder or Shadow's `shadow.data/hosts`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The scenario (default: `scenario.toml` in DIR or a folder above it).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Override any key, as the run did (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<Override>,
    /// Root folder of results, as for `sim run`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Do not write SVG plots.
    #[arg(long)]
    pub no_plots: bool,
}

/// `sim corrupt --shared-dir D --agent NAME --mode MODE`.
#[derive(Debug, Args)]
pub struct CorruptArgs {
    /// The shared directory.
    #[arg(long, value_name = "DIR")]
    pub shared_dir: PathBuf,
    /// The miner whose registration file to damage.
    #[arg(long, value_name = "NAME")]
    pub agent: String,
    /// How: empty, truncate, garbage, invalid-json, missing-field,
    /// bad-signature or legacy.
    #[arg(long, value_name = "MODE")]
    pub mode: String,
    /// The fault's index in the scenario (for the record and the damage
    /// randomness).
    #[arg(long, default_value_t = 0)]
    pub fault: usize,
    /// The file's number among the fault's targets, in the simulator's
    /// order (with `--fault`, it picks the damage randomness).
    #[arg(long, default_value_t = 0)]
    pub target: usize,
    /// The run's seed (the damage randomness derives from it).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The scenario time of the fault (for the record).
    #[arg(long, value_name = "DURATION")]
    pub at: Option<sim_core::units::SimDuration>,
    /// How long to wait for the file to exist (scenario time; the simulator
    /// damages a file that is not written yet once it is).
    #[arg(long, default_value = "60 s", value_name = "DURATION")]
    pub wait: sim_core::units::SimDuration,
    /// Real seconds per scenario second.
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub time_scale: f64,
    /// Where to append the damage record (`<agent>.events.jsonl`).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,
}

/// What `sim export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Shadow 3.x: shadow.yaml and network.gml.
    Shadow,
}

/// `sim export shadow FILE --out DIR`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The format to write.
    #[arg(value_enum)]
    pub format: ExportFormat,
    /// The scenario file, overrides and seed.
    #[command(flatten)]
    pub scenarios: ScenarioArgs,
    /// The folder to write (must be new or empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The `sim` executable the Shadow processes run.
    #[arg(long, default_value = "sim", value_name = "PATH")]
    pub sim_path: String,
    /// The shared directory of the registration files, as the processes
    /// see it (relative to a Shadow host's working directory,
    /// `shadow.data/hosts/<host>/`; the default is inside Shadow's data
    /// folder, so every Shadow run starts with a fresh one).
    #[arg(long, default_value = "../../shared", value_name = "PATH")]
    pub shared_dir: String,
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

/// Which runs to make of each file: seeds, a parameter grid, a shard.
#[derive(Debug, Default, Args)]
pub struct Selection {
    /// Run every seed of an inclusive range, e.g. `--seeds 1..20` (instead
    /// of `--seed`).
    #[arg(long, value_name = "A..B")]
    pub seeds: Option<SeedRange>,
    /// Sweep a key over values (repeatable; the runs are the grid of all
    /// sweeps, the first varying slowest), e.g. `--sweep
    /// registration.strategy=poll,backoff,watch`; values that hold commas
    /// (lists) as a TOML or JSON array: `--sweep
    /// 'faults.0.crash=[["validator-0"], ["validator-0", "validator-1"]]'`.
    #[arg(long = "sweep", value_name = "KEY=V1,V2,...", value_parser = Sweep::parse_sweep)]
    pub sweeps: Vec<Sweep>,
    /// Sweep a key over the values in a file, one per line as `--set`
    /// takes it (blank lines and lines starting with `#` are skipped); an
    /// axis of the grid like `--sweep`.
    #[arg(long = "sweep-file", value_name = "KEY=FILE", value_parser = Sweep::parse_file)]
    pub sweep_files: Vec<Sweep>,
    /// Sweep keys together instead of over their grid (repeatable): every
    /// `--zip` gives the same number of values, and the i-th run of the
    /// zipped axis takes the i-th value of each, e.g. `--zip
    /// consensus.block_interval=2s,5s --zip consensus.view_timeout=4s,10s`.
    /// The zipped axis sits in the grid where the first `--zip` is.
    #[arg(long = "zip", value_name = "KEY=V1,V2,...", value_parser = Sweep::parse_zip)]
    pub zips: Vec<Sweep>,
    /// The grid's axes in command-line order (from `--sweep`,
    /// `--sweep-file` and `--zip`; see [`Selection::order_axes`]).
    #[arg(skip)]
    pub axes: Vec<Axis>,
    /// Runs at once (default: every core; at least 1). Results do not
    /// depend on it.
    #[arg(long, value_name = "N", value_parser = jobs_count)]
    pub jobs: Option<usize>,
    /// Make only shard I of N of the runs (0-based), for batch schedulers;
    /// `sim merge` joins the shards.
    #[arg(long, value_name = "I/N", conflicts_with = "runs")]
    pub shard: Option<Shard>,
    /// Make only these runs of the sweep (ids as `--list` prints them):
    /// `K`, `A..B` (inclusive) or a comma list of both (repeatable).
    #[arg(long = "run", value_name = "IDS")]
    pub runs: Vec<RunIds>,
}

/// What runs write besides their tables, shared by `sim run` and `sim check`.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Also write trace.csv, one row per processed event (large: hundreds
    /// of MB for a big run). Off by default; the trace hash is computed and
    /// printed either way.
    #[arg(long, conflicts_with = "no_trace")]
    pub trace: bool,
    /// Do not write trace.csv. This is the default; the flag is accepted so
    /// that commands written for older versions still run.
    #[arg(long)]
    pub no_trace: bool,
    /// Do not write SVG plots.
    #[arg(long)]
    pub no_plots: bool,
    /// Draw CDF plots over a logarithmic time axis (for long tails).
    #[arg(long, conflicts_with = "no_plots")]
    pub log_cdf: bool,
    /// Verify every copy of every consensus signature instead of each
    /// distinct one once (results are identical; for measuring the cache).
    #[arg(long)]
    pub no_signature_cache: bool,
}

/// `sim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Files, overrides and seed.
    #[command(flatten)]
    pub scenarios: ScenarioArgs,
    /// Seeds, sweeps, jobs and shard.
    #[command(flatten)]
    pub selection: Selection,
    /// Root folder of results: `<out>/<scenario>/[<parameters>/]seed-<n>/`.
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Trace, plots and the signature cache.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print nothing but errors; no progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the id and result folder of every selected run, run nothing.
    #[arg(long, conflicts_with = "count")]
    pub list: bool,
    /// Print how many runs are selected, run nothing.
    #[arg(long)]
    pub count: bool,
    /// Keep the runs whose complete result is already in `--out` with the
    /// same run record (`run.json`); make only the others (resume).
    #[arg(long)]
    pub skip_existing: bool,
    /// Refuse runs whose estimated memory (those running at once together)
    /// exceeds this size, e.g. `16GiB` (default: what the machine has
    /// available; `none`: no check).
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<crate::memory::MaxMemory>,
}

/// `sim check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files, overrides and seed.
    #[command(flatten)]
    pub scenarios: ScenarioArgs,
    /// Seeds, sweeps, jobs and shard.
    #[command(flatten)]
    pub selection: Selection,
    /// Where the checked runs' results go.
    #[arg(long, default_value = "out/check", value_name = "DIR")]
    pub out: PathBuf,
    /// Trace, plots and the signature cache, as for `sim run`.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Also compare every metric with the summaries in this baseline folder.
    #[arg(long, value_name = "DIR", conflicts_with = "update_baseline")]
    pub baseline: Option<PathBuf>,
    /// Largest accepted relative change from the baseline, e.g. `10%`.
    #[arg(long, default_value = "10%", value_name = "PERCENT")]
    pub tolerance: Tolerance,
    /// Write the runs' summaries as the new baseline into this folder.
    #[arg(long, value_name = "DIR")]
    pub update_baseline: Option<PathBuf>,
    /// Print only misses and errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Refuse runs whose estimated memory (those running at once together)
    /// exceeds this size, e.g. `16GiB` (default: what the machine has
    /// available; `none`: no check).
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<crate::memory::MaxMemory>,
}

/// `sim merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Result folders of the shards (each as given to `--out`).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The merged result folder (must be new or empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Merge the runs that are there even if some of the sweep's runs are
    /// missing (the record and `stats.csv` say so); without it an
    /// incomplete sweep is refused with exit code 7.
    #[arg(long)]
    pub allow_partial: bool,
}

/// `--jobs N`: a whole number of at least 1.
fn jobs_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => {
            Err("`0` runs at once would run nothing: give 1 or more (default: every core)".into())
        }
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a number of runs: give 1 or more")),
    }
}

/// An inclusive seed range `A..B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// First seed.
    pub first: u64,
    /// Last seed (inclusive).
    pub last: u64,
}

impl FromStr for SeedRange {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (a, b) = text
            .split_once("..")
            .ok_or_else(|| format!("`{text}` is not a seed range: write it as A..B, e.g. 1..20"))?;
        let parse = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{s}` in `{text}` is not a seed (a whole number)"))
        };
        let (first, last) = (parse(a)?, parse(b.trim_start_matches('='))?);
        if first > last {
            return Err(format!(
                "`{text}` is empty: the first seed must not be above the last"
            ));
        }
        if last - first >= 1_000_000 {
            return Err(format!("`{text}` has more than a million seeds"));
        }
        Ok(SeedRange { first, last })
    }
}

/// One axis of values: a `--sweep`, `--sweep-file` or one `--zip`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    /// The key, as `--set` takes it.
    pub key: String,
    /// Its values, in the order given, each as `--set` takes it.
    pub values: Vec<String>,
    /// The flag it came with (named in errors).
    pub flag: &'static str,
}

/// An axis of the parameter grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Axis {
    /// One key over its values.
    One(Sweep),
    /// Keys that move together (`--zip`): point i takes value i of each.
    Zip(Vec<Sweep>),
}

impl Sweep {
    /// `--sweep KEY=V1,V2,...` or `--sweep KEY=[...]`.
    pub fn parse_sweep(text: &str) -> Result<Self, String> {
        Sweep::parse(text, "--sweep")
    }

    /// `--zip KEY=V1,V2,...` or `--zip KEY=[...]`.
    pub fn parse_zip(text: &str) -> Result<Self, String> {
        Sweep::parse(text, "--zip")
    }

    /// `--sweep-file KEY=FILE`: one value per line.
    pub fn parse_file(text: &str) -> Result<Self, String> {
        let (key, path) = split_key_value(
            text,
            "--sweep-file",
            "KEY=FILE, e.g. faults.0.crash=crashes.txt",
        )?;
        let content = std::fs::read_to_string(path.trim()).map_err(|e| {
            format!(
                "cannot read the values of `{key}` from {}: {e}",
                path.trim()
            )
        })?;
        let values: Vec<String> = content
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        if values.is_empty() {
            return Err(format!(
                "{} has no values for `{key}`: write one value per line",
                path.trim()
            ));
        }
        Ok(Sweep {
            key,
            values,
            flag: "--sweep-file",
        })
    }

    fn parse(text: &str, flag: &'static str) -> Result<Self, String> {
        let (key, values) = split_key_value(
            text,
            flag,
            "KEY=V1,V2,... e.g. registration.strategy=poll,backoff, or KEY=[...] for values with commas",
        )?;
        let values = values.trim();
        let values: Vec<String> = match values.starts_with('[') {
            true => array_values(values)
                .map_err(|e| format!("`{values}` is not a TOML or JSON array of values: {e}"))?,
            false => values.split(',').map(|v| v.trim().to_string()).collect(),
        };
        if values.is_empty() || values.iter().any(String::is_empty) {
            return Err(format!("`{text}` has an empty value"));
        }
        Ok(Sweep { key, values, flag })
    }

    /// The values as one `--sweep` argument gives them back: `a,b` when
    /// no value holds a comma or starts like an array, else an array.
    pub fn values_text(&self) -> String {
        let plain = self
            .values
            .iter()
            .all(|v| !v.contains(',') && !v.starts_with('['));
        if plain {
            return self.values.join(",");
        }
        let items: Vec<String> = self.values.iter().map(|v| toml_literal(v)).collect();
        format!("[{}]", items.join(", "))
    }
}

/// `KEY=REST` with a key; the error names `flag` and shows `form`.
fn split_key_value(text: &str, flag: &str, form: &str) -> Result<(String, String), String> {
    let (key, rest) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not a {flag} argument: write {form}"))?;
    if key.trim().is_empty() {
        return Err(format!("`{text}` has no key: write {form}"));
    }
    Ok((key.trim().to_string(), rest.to_string()))
}

/// The elements of a TOML array (or, failing that, a JSON array), each as
/// the text `--set` takes: a string as itself when `--set` would read it
/// as that string, else as TOML.
fn array_values(text: &str) -> Result<Vec<String>, String> {
    let items: Vec<toml::Value> = match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut table) => match table.remove("v") {
            Some(toml::Value::Array(items)) => items,
            _ => return Err("not an array".into()),
        },
        Err(toml_error) => {
            let json: serde_json::Value =
                serde_json::from_str(text).map_err(|_| toml_error.message().to_string())?;
            let serde_json::Value::Array(items) = json else {
                return Err("not an array".into());
            };
            items
                .into_iter()
                .map(json_to_toml)
                .collect::<Result<_, _>>()?
        }
    };
    Ok(items.iter().map(set_text).collect())
}

/// A JSON value as TOML (which has no null).
fn json_to_toml(value: serde_json::Value) -> Result<toml::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => return Err("null is not a value a scenario key takes".into()),
        J::Bool(b) => toml::Value::Boolean(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => toml::Value::String(s),
        J::Array(items) => toml::Value::Array(
            items
                .into_iter()
                .map(json_to_toml)
                .collect::<Result<_, _>>()?,
        ),
        J::Object(map) => {
            let mut table = toml::Table::new();
            for (k, v) in map {
                table.insert(k, json_to_toml(v)?);
            }
            toml::Value::Table(table)
        }
    })
}

/// A value as `--set` takes it.
fn set_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) if reads_as_string(s) => s.clone(),
        other => inline_toml(other),
    }
}

/// Whether `--set` reads `text` as exactly this string (it is no other
/// TOML value and has no surrounding blanks).
fn reads_as_string(text: &str) -> bool {
    !text.is_empty()
        && text.trim() == text
        && toml::from_str::<toml::Table>(&format!("v = {text}")).is_err()
}

/// `text` (a value as `--set` takes it) as a TOML literal.
fn toml_literal(text: &str) -> String {
    match reads_as_string(text) {
        true => inline_toml(&toml::Value::String(text.to_string())),
        false => text.to_string(),
    }
}

/// A TOML value written inline.
fn inline_toml(value: &toml::Value) -> String {
    match value {
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline_toml).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Table(table) => {
            let entries: Vec<String> = table
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{} = {}",
                        inline_toml(&toml::Value::String(k.clone())),
                        inline_toml(v)
                    )
                })
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        other => other.to_string(),
    }
}

impl Selection {
    /// Fills [`Selection::axes`] from `--sweep`, `--sweep-file` and
    /// `--zip` in command-line order (`matches` says where each was given;
    /// without it, in that order of flags). The zipped keys make one axis,
    /// where the first `--zip` is.
    pub fn order_axes(&mut self, matches: Option<&clap::ArgMatches>) {
        let at = |id: &str, n: usize| -> Vec<usize> {
            let given = matches
                .and_then(|m| m.indices_of(id))
                .map(|i| i.collect::<Vec<_>>());
            given
                .filter(|v| v.len() == n)
                .unwrap_or_else(|| (0..n).collect())
        };
        let mut axes: Vec<(usize, Axis)> = Vec::new();
        for (i, s) in at("sweeps", self.sweeps.len())
            .into_iter()
            .zip(&self.sweeps)
        {
            axes.push((i, Axis::One(s.clone())));
        }
        let base = if matches.is_some() {
            0
        } else {
            self.sweeps.len()
        };
        for (i, s) in at("sweep_files", self.sweep_files.len())
            .into_iter()
            .zip(&self.sweep_files)
        {
            axes.push((base + i, Axis::One(s.clone())));
        }
        let zip_at = at("zips", self.zips.len()).into_iter().min();
        if let Some(first) = zip_at {
            let base = if matches.is_some() { 0 } else { axes.len() };
            axes.push((base + first, Axis::Zip(self.zips.clone())));
        }
        axes.sort_by_key(|(i, _)| *i);
        self.axes = axes.into_iter().map(|(_, a)| a).collect();
    }
}

/// `--shard I/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard (0-based).
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a shard: write I/N with 0 <= I < N, e.g. 0/4");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.first, self.last)
    }
}

/// A set of run ids (positions in a sweep's run list), written `3`, `3..7`
/// (inclusive) or a comma list of both, e.g. `0..3,7,9..11`; displayed in
/// the same compact form (empty for no runs).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunIds(BTreeSet<usize>);

/// At most this many ids in one `--run` argument or record.
const MAX_RUN_IDS: usize = 100_000_000;

impl RunIds {
    /// Whether `id` is in the set.
    pub fn contains(&self, id: usize) -> bool {
        self.0.contains(&id)
    }

    /// Adds `id`.
    pub fn insert(&mut self, id: usize) {
        self.0.insert(id);
    }

    /// The ids, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().copied()
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds every id of `other`.
    pub fn extend_from(&mut self, other: &RunIds) {
        self.0.extend(other.iter());
    }
}

impl FromIterator<usize> for RunIds {
    fn from_iter<I: IntoIterator<Item = usize>>(ids: I) -> Self {
        RunIds(ids.into_iter().collect())
    }
}

impl FromStr for RunIds {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let mut ids = BTreeSet::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let number = |s: &str| {
                s.trim().parse::<usize>().map_err(|_| {
                    format!("`{s}` in `{text}` is not a run id: write K, A..B or a comma list, e.g. 0..3,7")
                })
            };
            let (first, last) = match part.split_once("..") {
                Some((a, b)) => (number(a)?, number(b.trim_start_matches('='))?),
                None => (number(part)?, number(part)?),
            };
            if first > last {
                return Err(format!(
                    "`{part}` in `{text}` is empty: write the smaller id first"
                ));
            }
            if last - first >= MAX_RUN_IDS || ids.len() + (last - first) >= MAX_RUN_IDS {
                return Err(format!("`{text}` has more than {MAX_RUN_IDS} run ids"));
            }
            ids.extend(first..=last);
        }
        Ok(RunIds(ids))
    }
}

impl TryFrom<String> for RunIds {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<RunIds> for String {
    fn from(ids: RunIds) -> String {
        ids.to_string()
    }
}

impl fmt::Display for RunIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids = self.0.iter().copied().peekable();
        let mut first = true;
        while let Some(start) = ids.next() {
            let mut end = start;
            while ids.peek() == Some(&(end + 1)) {
                end += 1;
                ids.next();
            }
            let sep = if first { "" } else { "," };
            first = false;
            match end - start {
                0 => write!(f, "{sep}{start}")?,
                1 => write!(f, "{sep}{start},{end}")?,
                _ => write!(f, "{sep}{start}..{end}")?,
            }
        }
        Ok(())
    }
}

/// A relative tolerance such as `10%`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance(pub f64);

impl FromStr for Tolerance {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let number = text.trim().trim_end_matches('%');
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a tolerance: write a percentage, e.g. 10%"))?;
        if !(0.0..=1000.0).contains(&value) {
            return Err(format!("`{text}` is out of range (0% to 1000%)"));
        }
        Ok(Tolerance(value / 100.0))
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0 * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_parse_and_print_compactly() {
        let ids: RunIds = "7, 0..3,9,10,12..=13".parse().unwrap();
        assert_eq!(ids.to_string(), "0..3,7,9,10,12,13");
        assert_eq!(ids.len(), 9);
        assert_eq!("".parse::<RunIds>().unwrap().to_string(), "");
        for bad in ["x", "3..1", "1..", "-1"] {
            assert!(bad.parse::<RunIds>().is_err(), "{bad}");
        }
        let round: RunIds = ids.to_string().parse().unwrap();
        assert_eq!(round, ids);
    }
}
