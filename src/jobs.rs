//! The runs a command makes: every file x every point of the parameter
//! grid x every seed, in that order (the first `--sweep` varies slowest).
//! A run's position in that order is its id (`sim run --list`); the order
//! is fixed, so `--shard I/N` (runs whose id modulo N is I) and `--run IDS`
//! select the same runs on every machine.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sim::Scenario;
use sim::runner;
use sim_core::scenario::{self, Override};

use crate::cli::{RunIds, ScenarioArgs, Selection};
use crate::provenance::Resolved;

/// One run to make.
#[derive(Debug)]
pub struct Job {
    /// The run's id: its position in the sweep's run list.
    pub id: usize,
    /// Which of the command's files it runs (index into the file list).
    pub file: usize,
    /// The scenario file.
    pub path: PathBuf,
    /// The scenario with overrides, grid point and seed applied.
    pub scenario: Scenario,
    /// The swept keys and this run's values, in `--sweep` order.
    pub params: Vec<(String, String)>,
    /// The scenario as this run resolves it (`scenario.toml`).
    pub resolved: Resolved,
    /// The result sub-folder of this grid point (`None` without sweeps).
    pub group: Option<String>,
    /// The command that reproduces this run alone.
    pub command: String,
}

/// Expands files x grid x seeds into every job of the sweep (ids in order;
/// `--shard` and `--run` are applied by [`select`]), printing every error;
/// `None` if any file is invalid (nothing runs then).
pub fn expand(args: &ScenarioArgs, selection: &Selection) -> Option<Vec<Job>> {
    if args.seed.is_some() && selection.seeds.is_some() {
        eprintln!("error: --seed and --seeds cannot be used together: give one seed or one range");
        return None;
    }
    let grid = grid(selection);
    let mut jobs = Vec::new();
    let mut failed = false;
    for (file, path) in args.files.iter().enumerate() {
        for point in &grid {
            let mut overrides = args.overrides.clone();
            overrides.extend(point.iter().map(|(key, value)| Override {
                key: key.clone(),
                value: value.clone(),
            }));
            let loaded = scenario::load(path, &overrides).and_then(|base: Scenario| {
                let resolved = Resolved::of(path, &overrides, &base.name, Some(base.seed))?;
                Ok((base, resolved))
            });
            let (base, resolved) = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                    break;
                }
            };
            if let Err(e) = runner::validate(&base) {
                eprintln!("error: {}: {e}", path.display());
                failed = true;
                break;
            }
            let seeds: Vec<u64> = match (selection.seeds, args.seed) {
                (Some(range), _) => (range.first..=range.last).collect(),
                (None, Some(seed)) => vec![seed],
                (None, None) => vec![base.seed],
            };
            let group = (!point.is_empty()).then(|| group_name(point));
            for seed in seeds {
                let mut scenario = base.clone();
                scenario.seed = seed;
                let command = reproduce(path, seed, &overrides);
                jobs.push(Job {
                    id: jobs.len(),
                    file,
                    path: path.clone(),
                    scenario,
                    params: point.clone(),
                    resolved: resolved.with_seed(seed),
                    group: group.clone(),
                    command,
                });
            }
        }
    }
    // Two runs writing one result folder would replace each other's results.
    let mut writers: BTreeMap<(String, Option<String>, u64), &PathBuf> = BTreeMap::new();
    for job in &jobs {
        let key = (
            job.scenario.name.clone(),
            job.group.clone(),
            job.scenario.seed,
        );
        if let Some(first) = writers.insert(key, &job.path)
            && *first != job.path
        {
            eprintln!(
                "error: {} and {} would both write results to {}/seed-{}: give one of them another `name`",
                first.display(),
                job.path.display(),
                job.scenario.name,
                job.scenario.seed
            );
            failed = true;
        }
    }
    if failed {
        return None;
    }
    Some(jobs)
}

/// The jobs `--shard` or `--run` select (every job without either); an
/// error names a `--run` id the sweep does not have.
pub fn select<'a>(jobs: &'a [Job], selection: &Selection) -> Result<Vec<&'a Job>, String> {
    if let Some(shard) = selection.shard {
        return Ok(jobs
            .iter()
            .filter(|j| j.id % shard.count == shard.index)
            .collect());
    }
    if selection.runs.is_empty() {
        return Ok(jobs.iter().collect());
    }
    let wanted: RunIds = selection.runs.iter().flat_map(RunIds::iter).collect();
    if let Some(bad) = wanted.iter().find(|id| *id >= jobs.len()) {
        return Err(format!(
            "--run {bad}: this sweep has {} runs (ids 0..{}); `--list` prints them",
            jobs.len(),
            jobs.len().saturating_sub(1)
        ));
    }
    Ok(wanted.iter().map(|id| &jobs[id]).collect())
}

impl Job {
    /// The run's result folder relative to `--out`:
    /// `<scenario>[/<group>]/seed-<n>`.
    pub fn folder(&self) -> String {
        match &self.group {
            Some(group) => format!("{}/{group}/seed-{}", self.scenario.name, self.scenario.seed),
            None => format!("{}/seed-{}", self.scenario.name, self.scenario.seed),
        }
    }
}

/// Every combination of the sweeps' values (one empty point without sweeps).
fn grid(selection: &Selection) -> Vec<Vec<(String, String)>> {
    let mut points: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for sweep in &selection.sweeps {
        points = points
            .into_iter()
            .flat_map(|point| {
                sweep.values.iter().map(move |value| {
                    let mut next = point.clone();
                    next.push((sweep.key.clone(), value.clone()));
                    next
                })
            })
            .collect();
    }
    points
}

/// A folder name for a grid point: `key=value+key=value`, with anything but
/// letters, digits and `._=+-` replaced by `_`.
pub fn group_name(point: &[(String, String)]) -> String {
    point
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("+")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `sim run FILE --seed N --set k=v ...`, quoted for a POSIX shell.
fn reproduce(path: &std::path::Path, seed: u64, overrides: &[Override]) -> String {
    let mut parts = vec![
        "sim".to_string(),
        "run".to_string(),
        quote(&path.display().to_string()),
    ];
    parts.push(format!("--seed {seed}"));
    for o in overrides {
        parts.push(format!(
            "--set {}",
            quote(&format!("{}={}", o.key, o.value))
        ));
    }
    parts.join(" ")
}

/// `text` quoted for a POSIX shell when it needs it.
pub fn quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/=+:,".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The one run of a single scenario file (for commands that take exactly
/// one: `export`, `node`, `launch`, `collect`), printing every error;
/// `None` when the file is invalid or more than one was given.
pub fn single(args: &ScenarioArgs, command: &str) -> Option<Job> {
    let selection = Selection {
        seeds: None,
        sweeps: Vec::new(),
        jobs: None,
        shard: None,
        runs: Vec::new(),
    };
    let mut jobs = expand(args, &selection)?;
    if jobs.len() != 1 {
        eprintln!("error: `sim {command}` takes one scenario file");
        return None;
    }
    jobs.pop()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Sweep;

    #[test]
    fn grid_is_the_product_first_sweep_slowest() {
        let selection = Selection {
            seeds: None,
            sweeps: vec![
                Sweep {
                    key: "a".into(),
                    values: vec!["1".into(), "2".into()],
                },
                Sweep {
                    key: "b".into(),
                    values: vec!["x".into(), "y".into(), "z".into()],
                },
            ],
            jobs: None,
            shard: None,
            runs: Vec::new(),
        };
        let points: Vec<String> = grid(&selection).iter().map(|p| group_name(p)).collect();
        assert_eq!(
            points,
            [
                "a=1+b=x", "a=1+b=y", "a=1+b=z", "a=2+b=x", "a=2+b=y", "a=2+b=z"
            ]
        );
    }

    #[test]
    fn folder_names_and_commands_are_safe() {
        assert_eq!(
            group_name(&[("net.latency".into(), "20 ms".into())]),
            "net.latency=20_ms"
        );
        let o = vec![Override {
            key: "network.latency".into(),
            value: "20 ms".into(),
        }];
        assert_eq!(
            reproduce(std::path::Path::new("s.toml"), 3, &o),
            "sim run s.toml --seed 3 --set 'network.latency=20 ms'"
        );
    }
}
