//! The records that say what produced a result folder (format in
//! `docs/records.md`):
//!
//! - `run.json` in every run's folder: the scenario file and the other
//!   inputs it read (with SHA-256 hashes), the `--set` values, the grid
//!   point, the seed, the output options, `sim`'s version, the command that
//!   reproduces the run, and how it ended. Written into the staging folder
//!   before the result is moved into place, so a complete result always
//!   has one.
//! - `sweep.json` in every scenario folder: the sweep's definition (files,
//!   hashes, seeds, grid, `--set`, options, version, the run list by id),
//!   which part of it this folder was asked for (all, a shard, run ids),
//!   and which runs are present and missing.
//!
//! Both are pure functions of the command's inputs: nothing of the machine,
//! the clock, `--out`, `--jobs` or `--shard` is in a record of a complete
//! sweep, so merged shards equal the unsharded sweep byte for byte.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sim::Scenario;
use sim_core::scenario::TopologySpec;

use crate::cli::{RunIds, ScenarioArgs, Selection, Shard};
use crate::jobs::{Job, quote};
use crate::provenance::{RESOLVED, Resolved};

/// A run's record, in its result folder.
pub const RUN_RECORD: &str = "run.json";
/// A sweep's record, in each scenario folder it wrote.
pub const SWEEP_RECORD: &str = "sweep.json";
/// This `sim`'s version, as recorded.
pub const SIM_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The source this `sim` was built from (`git <commit>[+modified]`, see
/// `build.rs`), as recorded.
pub const SIM_BUILD: &str = env!("SIM_BUILD");
/// The records' format version.
pub const FORMAT: u32 = 2;

/// The options that change what a run writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// `trace.csv` written (`--trace`).
    pub trace: bool,
    /// SVG plots written (not `--no-plots`).
    pub plots: bool,
    /// CDF plots over a logarithmic time axis (`--log-cdf`).
    pub log_cdf: bool,
    /// The signature cache used (not `--no-signature-cache`; changes
    /// `consensus.signature_checks`).
    pub signature_cache: bool,
}

impl Options {
    /// The options `--trace`, `--no-plots`, `--log-cdf` and
    /// `--no-signature-cache` give.
    pub fn of(args: &crate::cli::OutputArgs) -> Self {
        Options {
            trace: args.trace,
            plots: !args.no_plots,
            log_cdf: args.log_cdf,
            signature_cache: !args.no_signature_cache,
        }
    }

    /// The flags that give these options, e.g. ` --trace --no-plots`.
    fn flags(&self) -> String {
        let mut text = String::new();
        for (given, flag) in [
            (self.trace, " --trace"),
            (!self.plots, " --no-plots"),
            (self.log_cdf, " --log-cdf"),
            (!self.signature_cache, " --no-signature-cache"),
        ] {
            if given {
                text.push_str(flag);
            }
        }
        text
    }
}

/// A file and the SHA-256 of its bytes (lowercase hex).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileHash {
    /// The path as given (or as the scenario resolved it).
    pub path: String,
    /// SHA-256 of its content.
    pub sha256: String,
}

/// One scenario file of a sweep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioFile {
    /// The file, as given on the command line, and its hash.
    #[serde(flatten)]
    pub file: FileHash,
    /// The scenario's name (its result folder).
    pub scenario: String,
    /// Every other file its runs read (GML graph, legacy registry), sorted.
    pub inputs: Vec<FileHash>,
    /// The file with `--set` (and `--seed`) applied, as kept in the
    /// scenario folder (`scenario.toml`), and its hash; the grid and the
    /// seeds are this record's.
    pub resolved: FileHash,
}

/// The resolved scenario of a run, kept in its folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedFile {
    /// Its name in the folder (`scenario.toml`) and its hash.
    #[serde(flatten)]
    pub file: FileHash,
    /// Each input it reads: `[the path the scenario read, its copy in the
    /// folder]`.
    pub copies: Vec<[String; 2]>,
}

/// One key's values on an axis of the grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweptKey {
    /// The key.
    pub key: String,
    /// Its values, in order, each as `--set` takes it.
    pub values: Vec<String>,
}

/// An axis of the grid: one key (`--sweep`, `--sweep-file`), or keys that
/// move together (`--zip`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SweepAxis {
    /// `{"key": ..., "values": [...]}`.
    One(SweptKey),
    /// `{"zip": [{"key": ..., "values": [...]}, ...]}`.
    Zip {
        /// The zipped keys.
        zip: Vec<SweptKey>,
    },
}

impl SweepAxis {
    /// The axis of the command line's `axis`.
    fn of(axis: &crate::cli::Axis) -> Self {
        let key = |s: &crate::cli::Sweep| SweptKey {
            key: s.key.clone(),
            values: s.values.clone(),
        };
        match axis {
            crate::cli::Axis::One(s) => SweepAxis::One(key(s)),
            crate::cli::Axis::Zip(keys) => SweepAxis::Zip {
                zip: keys.iter().map(key).collect(),
            },
        }
    }
}

/// What a sweep is: the same in every shard of it, so `sim merge` compares
/// these to know the shards belong together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// The `sim` version that made it.
    pub sim_version: String,
    /// The source it was built from.
    pub sim_build: String,
    /// The command that makes the whole sweep (without `--out`, `--jobs`,
    /// `--shard`: they do not change results).
    pub command: String,
    /// The scenario files, in command-line order.
    pub files: Vec<ScenarioFile>,
    /// `A..B`, a single seed, or `scenario` (each file's own seed).
    pub seeds: String,
    /// `--set` values, in order (`key=value`).
    pub set: Vec<String>,
    /// The parameter grid's axes, first varying slowest.
    pub sweeps: Vec<SweepAxis>,
    /// What the runs write.
    #[serde(flatten)]
    pub options: Options,
    /// Every run's result folder (relative to `--out`), by run id.
    pub runs: Vec<String>,
}

/// The part of a sweep a folder was asked to hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Part {
    /// Every run (`all`).
    All,
    /// `--shard I/N` (`shard I/N`).
    Shard(Shard),
    /// `--run IDS` or a union of parts (`runs IDS`).
    Runs(RunIds),
}

impl Part {
    /// The part `selection` asks for.
    pub fn of_selection(selection: &Selection) -> Part {
        match (&selection.shard, selection.runs.is_empty()) {
            (Some(shard), _) => Part::Shard(*shard),
            (None, true) => Part::All,
            (None, false) => Part::Runs(selection.runs.iter().flat_map(RunIds::iter).collect()),
        }
    }

    /// The run ids of this part in a sweep of `total` runs.
    pub fn ids(&self, total: usize) -> RunIds {
        match self {
            Part::All => (0..total).collect(),
            Part::Shard(s) => (0..total).filter(|i| i % s.count == s.index).collect(),
            Part::Runs(ids) => ids.iter().filter(|i| *i < total).collect(),
        }
    }

    /// The simplest name for the ids `ids`: `all`, one of `shards`, or the ids.
    pub fn named(ids: RunIds, total: usize, shards: &[Shard]) -> Part {
        if ids == Part::All.ids(total) {
            return Part::All;
        }
        shards
            .iter()
            .map(|s| Part::Shard(*s))
            .find(|part| part.ids(total) == ids)
            .unwrap_or(Part::Runs(ids))
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::All => write!(f, "all"),
            Part::Shard(shard) => write!(f, "shard {shard}"),
            Part::Runs(ids) => write!(f, "runs {ids}"),
        }
    }
}

impl FromStr for Part {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if text == "all" {
            return Ok(Part::All);
        }
        if let Some(shard) = text.strip_prefix("shard ") {
            return shard.parse().map(Part::Shard);
        }
        match text.strip_prefix("runs ") {
            Some(ids) => ids.parse().map(Part::Runs),
            None => Err(format!("`{text}` is not all, shard I/N or runs IDS")),
        }
    }
}

impl TryFrom<String> for Part {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Part> for String {
    fn from(part: Part) -> String {
        part.to_string()
    }
}

/// Whether every run a folder was asked for is in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every run of the part is present.
    Complete,
    /// Some are missing (listed in `missing`).
    Incomplete,
}

/// `sweep.json`: a sweep's record in one scenario folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepRecord {
    /// Always `sim sweep record`.
    pub record: String,
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// The sweep.
    pub sweep: SweepSpec,
    /// The part of it this folder holds.
    pub part: Part,
    /// Complete or not.
    pub status: Status,
    /// The part's runs in this scenario folder that are present (complete,
    /// with a matching `run.json`); `runs.csv` and `stats.csv` are made of
    /// these and nothing else.
    pub present: RunIds,
    /// The part's runs in this scenario folder that are not.
    pub missing: RunIds,
    /// Anything a reader must know (e.g. a merge made with `--allow-partial`).
    pub note: String,
}

impl SweepRecord {
    /// A record of `part` of `sweep` with these runs present and missing.
    pub fn new(sweep: SweepSpec, part: Part, present: RunIds, missing: RunIds) -> Self {
        SweepRecord {
            record: "sim sweep record".into(),
            format: FORMAT,
            sweep,
            part,
            status: if missing.is_empty() {
                Status::Complete
            } else {
                Status::Incomplete
            },
            present,
            missing,
            note: String::new(),
        }
    }

    /// The record in `scenario_dir`: `Ok(None)` when there is none, an
    /// error when it cannot be read or is not a record of this format.
    pub fn read(scenario_dir: &Path) -> Result<Option<SweepRecord>, String> {
        let path = scenario_dir.join(SWEEP_RECORD);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "{}: not a sweep record of this sim ({SIM_VERSION}): {e}",
                path.display()
            )
        })
    }

    /// Writes it into `scenario_dir` (atomically: a temporary file of this
    /// process, renamed over the old record).
    pub fn write(&self, scenario_dir: &Path) -> Result<(), reports::ReportError> {
        reports::result_dir::write_atomic(&scenario_dir.join(SWEEP_RECORD), &to_json(self))
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// It ran to its end.
    Ok,
    /// A safety checker stopped it (results up to the violation).
    Safety {
        /// What the checker said.
        violation: String,
    },
    /// A liveness checker stopped it.
    Liveness {
        /// What the checker said.
        violation: String,
    },
}

/// `run.json`: what produced one run's results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Always `sim run record`.
    pub record: String,
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// The `sim` version that made it.
    pub sim_version: String,
    /// The source it was built from.
    pub sim_build: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file and its hash.
    pub file: FileHash,
    /// Every other file the run read (GML graph, legacy registry), sorted.
    pub inputs: Vec<FileHash>,
    /// The resolved scenario (`scenario.toml` beside this record).
    pub resolved: ResolvedFile,
    /// One hash of everything the run read: see `provenance::Resolved::input_sha256`.
    pub input_sha256: String,
    /// `--set` values, in order (`key=value`).
    pub set: Vec<String>,
    /// The grid point: swept keys and this run's values, in `--sweep` order.
    pub params: Vec<(String, String)>,
    /// The seed.
    pub seed: u64,
    /// What the run writes.
    #[serde(flatten)]
    pub options: Options,
    /// The command that reproduces this run alone.
    pub command: String,
    /// How it ended.
    pub outcome: Outcome,
}

impl RunRecord {
    /// The record of `job` (outcome `Ok` until the run says otherwise).
    pub fn new(
        job: &Job,
        args: &ScenarioArgs,
        options: Options,
        hashes: &mut Hashes,
    ) -> Result<Self, String> {
        let resolved = job
            .resolved
            .as_ref()
            .ok_or("internal: a run to record has no resolved scenario")?;
        let mut copies = Vec::new();
        let mut input_hashes = Vec::new();
        for (from, copy) in &resolved.copies {
            input_hashes.push((from.clone(), hashes.of(from)?.sha256));
            copies.push([from.display().to_string(), copy.clone()]);
        }
        Ok(RunRecord {
            record: "sim run record".into(),
            format: FORMAT,
            sim_version: SIM_VERSION.into(),
            sim_build: SIM_BUILD.into(),
            scenario: job.scenario.name.clone(),
            file: hashes.of(&job.path)?,
            inputs: inputs_of(&job.scenario)
                .iter()
                .map(|p| hashes.of(p))
                .collect::<Result<_, _>>()?,
            resolved: ResolvedFile {
                file: FileHash {
                    path: RESOLVED.into(),
                    sha256: resolved.sha256(),
                },
                copies,
            },
            input_sha256: resolved.input_sha256(&input_hashes),
            set: overrides(args),
            params: job.params.clone(),
            seed: job.scenario.seed,
            options,
            command: format!("{}{}", job.command, options.flags()),
            outcome: Outcome::Ok,
        })
    }

    /// Whether `other` records the same run (everything but the outcome).
    pub fn same_run(&self, other: &RunRecord) -> bool {
        RunRecord {
            outcome: Outcome::Ok,
            ..self.clone()
        } == RunRecord {
            outcome: Outcome::Ok,
            ..other.clone()
        }
    }

    /// The record in a run folder, if it has a readable one.
    pub fn read(run_dir: &Path) -> Option<RunRecord> {
        let text = fs::read_to_string(run_dir.join(RUN_RECORD)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes it to `path`.
    pub fn write(&self, path: &Path) -> Result<(), reports::ReportError> {
        fs::write(path, to_json(self)).map_err(|source| reports::ReportError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Pretty JSON with a final newline (field order is the structs' order).
fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail (string keys only).
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// SHA-256 of input files, each read once per command.
#[derive(Debug, Default)]
pub struct Hashes(BTreeMap<PathBuf, String>);

impl Hashes {
    /// `path` and the hash of its content; an error says which file
    /// could not be read.
    pub fn of(&mut self, path: &Path) -> Result<FileHash, String> {
        if !self.0.contains_key(path) {
            let bytes =
                fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let hex = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            self.0.insert(path.to_path_buf(), hex);
        }
        Ok(FileHash {
            path: path.display().to_string(),
            sha256: self.0[path].clone(),
        })
    }
}

/// The files a scenario reads besides itself: its GML graph and the
/// protocols' inputs (a legacy registry).
fn inputs_of(scenario: &Scenario) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let TopologySpec::Gml { path } = &scenario.network.topology {
        paths.push(path.clone());
    }
    paths.extend(scenario.protocols.input_files().into_iter().map(|(_, p)| p));
    paths.sort();
    paths
}

/// `--set` values as `key=value`.
fn overrides(args: &ScenarioArgs) -> Vec<String> {
    args.overrides
        .iter()
        .map(|o| format!("{}={}", o.key, o.value))
        .collect()
}

impl SweepSpec {
    /// The definition of the sweep `jobs` (every run of it, in id order)
    /// made by `args` and `selection`; `resolved` is each file's resolved
    /// scenario with its file name in the scenario folder.
    pub fn new(
        args: &ScenarioArgs,
        selection: &Selection,
        jobs: &[Job],
        options: Options,
        hashes: &mut Hashes,
        resolved: &[(String, Resolved)],
    ) -> Result<Self, String> {
        let mut files = Vec::new();
        for (index, path) in args.files.iter().enumerate() {
            let mut inputs: Vec<FileHash> = Vec::new();
            let mut name = String::new();
            for job in jobs.iter().filter(|j| j.file == index) {
                name.clone_from(&job.scenario.name);
                for input in inputs_of(&job.scenario) {
                    inputs.push(hashes.of(&input)?);
                }
            }
            inputs.sort();
            inputs.dedup();
            let (file_name, text) = &resolved[index];
            files.push(ScenarioFile {
                file: hashes.of(path)?,
                scenario: name,
                inputs,
                resolved: FileHash {
                    path: file_name.clone(),
                    sha256: text.sha256(),
                },
            });
        }
        Ok(SweepSpec {
            sim_version: SIM_VERSION.into(),
            sim_build: SIM_BUILD.into(),
            command: sweep_command(args, selection, options),
            files,
            seeds: seeds_text(args, selection),
            set: overrides(args),
            sweeps: selection.axes.iter().map(SweepAxis::of).collect(),
            options,
            runs: jobs.iter().map(Job::folder).collect(),
        })
    }

    /// What the aggregates of scenario folder `name` say about the sweep
    /// (with each grid point's faults, `shades`).
    pub fn info(
        &self,
        name: &str,
        shades: std::collections::BTreeMap<String, Vec<reports::plots::svg::Shade>>,
    ) -> reports::aggregate::SweepInfo {
        let seeds = match self.seeds.as_str() {
            "scenario" => "the scenario's seed".to_string(),
            range if range.contains("..") => format!("seeds {range}"),
            one => format!("seed {one}"),
        };
        let params = self
            .sweeps
            .iter()
            .flat_map(|axis| match axis {
                SweepAxis::One(k) => vec![k.key.clone()],
                SweepAxis::Zip { zip } => zip.iter().map(|k| k.key.clone()).collect(),
            })
            .collect();
        reports::aggregate::SweepInfo {
            scenario: name.to_string(),
            seeds,
            params,
            set: self
                .set
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect(),
            plots: self.options.plots,
            log_cdf: self.options.log_cdf,
            shades,
        }
    }

    /// The ids of the runs whose results go into scenario folder `name`.
    pub fn ids_in(&self, name: &str) -> RunIds {
        let prefix = format!("{name}/");
        (0..self.runs.len())
            .filter(|i| self.runs[*i].starts_with(&prefix))
            .collect()
    }

    /// The names of the fields (as in the JSON record) in which `other`
    /// differs from this sweep.
    pub fn differences(&self, other: &SweepSpec) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let (a, b) = (&self.options, &other.options);
        let checks: [(&'static str, bool); 12] = [
            ("sim_version", self.sim_version == other.sim_version),
            ("sim_build", self.sim_build == other.sim_build),
            ("files", self.files == other.files),
            ("seeds", self.seeds == other.seeds),
            ("set", self.set == other.set),
            ("sweeps", self.sweeps == other.sweeps),
            ("trace", a.trace == b.trace),
            ("plots", a.plots == b.plots),
            ("log_cdf", a.log_cdf == b.log_cdf),
            ("signature_cache", a.signature_cache == b.signature_cache),
            ("runs", self.runs == other.runs),
            ("command", self.command == other.command),
        ];
        for (name, same) in checks {
            if !same {
                fields.push(name);
            }
        }
        fields
    }
}

/// The seeds as recorded: `A..B`, `N`, or `scenario`.
fn seeds_text(args: &ScenarioArgs, selection: &Selection) -> String {
    match (selection.seeds, args.seed) {
        (Some(range), _) => range.to_string(),
        (None, Some(seed)) => seed.to_string(),
        (None, None) => "scenario".into(),
    }
}

/// `sim run FILE... [--seed N | --seeds A..B] [--set K=V]... [--sweep
/// K=V1,V2]... [--trace] [--no-plots] [--log-cdf] [--no-signature-cache]`,
/// quoted for a POSIX shell.
fn sweep_command(args: &ScenarioArgs, selection: &Selection, options: Options) -> String {
    let mut parts = vec!["sim".to_string(), "run".to_string()];
    parts.extend(args.files.iter().map(|f| quote(&f.display().to_string())));
    match (selection.seeds, args.seed) {
        (Some(range), _) => parts.push(format!("--seeds {range}")),
        (None, Some(seed)) => parts.push(format!("--seed {seed}")),
        (None, None) => {}
    }
    for o in overrides(args) {
        parts.push(format!("--set {}", quote(&o)));
    }
    // Values from a --sweep-file are written out as a --sweep.
    for axis in &selection.axes {
        let (flag, keys) = match axis {
            crate::cli::Axis::One(s) => ("--sweep", std::slice::from_ref(s)),
            crate::cli::Axis::Zip(keys) => ("--zip", keys.as_slice()),
        };
        for s in keys {
            let text = format!("{}={}", s.key, s.values_text());
            parts.push(format!("{flag} {}", quote(&text)));
        }
    }
    format!("{}{}", parts.join(" "), options.flags())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_name_themselves_simply() {
        let shards = [Shard { index: 1, count: 3 }];
        assert_eq!(Part::named((0..7).collect(), 7, &shards), Part::All);
        assert_eq!(
            Part::named([1, 4].into_iter().collect(), 7, &shards),
            Part::Shard(shards[0])
        );
        let odd = Part::named([1, 2].into_iter().collect(), 7, &shards);
        assert_eq!(odd.to_string(), "runs 1,2");
        for part in [Part::All, Part::Shard(shards[0]), odd] {
            assert_eq!(part.to_string().parse::<Part>().unwrap(), part);
        }
        assert!("some".parse::<Part>().is_err());
    }
}
