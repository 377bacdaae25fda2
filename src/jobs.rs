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

use crate::cli::{Axis, RunIds, ScenarioArgs, Selection};
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
    /// The scenario as this run resolves it (`scenario.toml`); `None`
    /// when the command keeps no result folder (see [`Resolve`]).
    pub resolved: Option<Resolved>,
    /// The result sub-folder of this grid point (`None` without sweeps).
    pub group: Option<String>,
    /// The command that reproduces this run alone.
    pub command: String,
}

/// Whether jobs carry their resolved scenario: the commands that write
/// result folders keep it; the others (`validate`, `node`, `launch`, ...)
/// need not pay for writing it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// Each job gets its resolved scenario.
    Yes,
    /// Jobs carry none.
    No,
}

/// Expands files x grid x seeds into every job of the sweep (ids in order;
/// `--shard` and `--run` are applied by [`select`]), printing every error;
/// `None` if any file is invalid (nothing runs then).
pub fn expand(args: &ScenarioArgs, selection: &Selection, resolve: Resolve) -> Option<Vec<Job>> {
    if args.seed.is_some() && selection.seeds.is_some() {
        eprintln!("error: --seed and --seeds cannot be used together: give one seed or one range");
        return None;
    }
    if let Err(e) = check_axes(selection) {
        eprintln!("error: {e}");
        return None;
    }
    let grid = grid(selection);
    let groups = group_names(&grid);
    let mut jobs = Vec::new();
    let mut failed = false;
    for (file, path) in args.files.iter().enumerate() {
        for (point, group) in grid.iter().zip(&groups) {
            let mut overrides = args.overrides.clone();
            overrides.extend(point.iter().map(|(key, value, flag)| Override {
                key: key.clone(),
                value: value.clone(),
                flag,
            }));
            // A bad file is reported once; the other files are still checked.
            let Some((base, resolved)) = load_point(path, &overrides, resolve) else {
                failed = true;
                break;
            };
            let seeds: Vec<u64> = match (selection.seeds, args.seed) {
                (Some(range), _) => (range.first..=range.last).collect(),
                (None, Some(seed)) => vec![seed],
                (None, None) => vec![base.seed],
            };
            let params: Vec<(String, String)> = point
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect();
            for seed in seeds {
                let mut scenario = base.clone();
                scenario.seed = seed;
                jobs.push(Job {
                    id: jobs.len(),
                    file,
                    path: path.clone(),
                    scenario,
                    params: params.clone(),
                    resolved: resolved.as_ref().map(|r| r.with_seed(seed)),
                    group: group.clone(),
                    command: reproduce(path, seed, &overrides),
                });
            }
        }
    }
    (one_writer_per_folder(&jobs) && !failed).then_some(jobs)
}

/// The scenario file `path` with `overrides`, checked for a run (and
/// resolved, when asked); `None` after printing why not.
fn load_point(
    path: &std::path::Path,
    overrides: &[Override],
    resolve: Resolve,
) -> Option<(Scenario, Option<Resolved>)> {
    let loaded = scenario::load(path, overrides).and_then(|base: Scenario| {
        let resolved = match resolve {
            Resolve::Yes => Some(Resolved::of(path, overrides, &base.name, Some(base.seed))?),
            Resolve::No => None,
        };
        Ok((base, resolved))
    });
    let (base, resolved) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return None;
        }
    };
    if let Err(e) = runner::validate(&base) {
        eprintln!("error: {}: {e}", path.display());
        return None;
    }
    Some((base, resolved))
}

/// Whether no two jobs of different files write one result folder (they
/// would replace each other's results); prints each clash.
fn one_writer_per_folder(jobs: &[Job]) -> bool {
    let mut writers: BTreeMap<(String, Option<String>, u64), &PathBuf> = BTreeMap::new();
    let mut ok = true;
    for job in jobs {
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
            ok = false;
        }
    }
    ok
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

/// One swept key's value at a grid point, and the flag it came with.
type Param = (String, String, &'static str);

/// Every point of the grid: the product of the axes, the first varying
/// slowest; a zipped axis contributes one value of each of its keys per
/// point. One empty point without axes.
fn grid(selection: &Selection) -> Vec<Vec<Param>> {
    let mut points: Vec<Vec<Param>> = vec![Vec::new()];
    for axis in &selection.axes {
        let choices: Vec<Vec<Param>> = match axis {
            Axis::One(s) => s
                .values
                .iter()
                .map(|v| vec![(s.key.clone(), v.clone(), s.flag)])
                .collect(),
            Axis::Zip(keys) => (0..keys.first().map_or(0, |k| k.values.len()))
                .map(|i| {
                    keys.iter()
                        .map(|k| (k.key.clone(), k.values[i].clone(), k.flag))
                        .collect()
                })
                .collect(),
        };
        points = points
            .into_iter()
            .flat_map(|point| {
                choices.iter().map(move |choice| {
                    let mut next = point.clone();
                    next.extend(choice.iter().cloned());
                    next
                })
            })
            .collect();
    }
    points
}

/// The axes make a grid: zipped keys have as many values each, and no key
/// is swept twice.
fn check_axes(selection: &Selection) -> Result<(), String> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for axis in &selection.axes {
        let sweeps = match axis {
            Axis::One(s) => std::slice::from_ref(s),
            Axis::Zip(zipped) => zipped.as_slice(),
        };
        if let Axis::Zip(zipped) = axis
            && let Some(first) = zipped.first()
            && let Some(other) = zipped.iter().find(|z| z.values.len() != first.values.len())
        {
            return Err(format!(
                "--zip {} has {} values but --zip {} has {}: zipped keys pair their values by position, so give every --zip as many",
                first.key,
                first.values.len(),
                other.key,
                other.values.len()
            ));
        }
        for s in sweeps {
            if let Some((_, flag)) = keys.iter().find(|(k, _)| *k == s.key) {
                return Err(format!(
                    "{} {} sweeps `{}`, which {flag} already sweeps: give each key one axis (several values in one flag, or --zip to pair keys)",
                    s.flag, s.key, s.key
                ));
            }
            keys.push((&s.key, s.flag));
        }
    }
    Ok(())
}

/// Longest grid-point folder name; longer ones are cut and end with a
/// hash of the whole name, so they stay distinct.
pub const MAX_GROUP_NAME: usize = 120;

/// A folder name for a grid point: `key=value+key=value`, list and table
/// punctuation (`"[]{}`) dropped, anything else but letters, digits and
/// `._=+-` replaced by `_` (one for a run of them); beyond
/// [`MAX_GROUP_NAME`] characters (long list values), the start and `-` and
/// 12 hex digits of the full name's SHA-256. Two points of one grid never
/// share a name: [`expand`] tells them apart the same way.
pub fn group_name(point: &[(String, String)]) -> String {
    let full = point
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("+");
    let mut name = String::new();
    for c in full.chars().filter(|c| !"\"'[]{}".contains(*c)) {
        let c = if c.is_ascii_alphanumeric() || "._=+-".contains(c) {
            c
        } else {
            '_'
        };
        if !(c == '_' && name.ends_with('_')) {
            name.push(c);
        }
    }
    if name.len() <= MAX_GROUP_NAME {
        return name;
    }
    hashed(&name, &full)
}

/// Each point's folder name (`None` for the one point of no sweep), made
/// distinct where two points would get the same one (`[1, 2]` and `1_2`
/// both give `1_2`).
fn group_names(grid: &[Vec<Param>]) -> Vec<Option<String>> {
    let plain: Vec<(String, String)> = grid
        .iter()
        .map(|point| {
            let full: Vec<String> = point.iter().map(|(k, v, _)| format!("{k}={v}")).collect();
            let pairs: Vec<(String, String)> = point
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect();
            (group_name(&pairs), full.join("+"))
        })
        .collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, _) in &plain {
        *count.entry(name.as_str()).or_default() += 1;
    }
    grid.iter()
        .zip(&plain)
        .map(
            |(point, (name, full))| match (point.is_empty(), count[name.as_str()]) {
                (true, _) => None,
                (false, 1) => Some(name.clone()),
                (false, _) => Some(hashed(name, full)),
            },
        )
        .collect()
}

/// `name` cut to fit [`MAX_GROUP_NAME`] with `-` and a hash of `full`.
fn hashed(name: &str, full: &str) -> String {
    use sha2::Digest as _;
    let hash = crate::provenance::hex(&sha2::Sha256::digest(full.as_bytes()));
    let keep = name.len().min(MAX_GROUP_NAME - 13);
    format!("{}-{}", &name[..keep], &hash[..12])
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
    let mut jobs = expand(args, &Selection::default(), Resolve::No)?;
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

    fn sweep(key: &str, values: &[&str], flag: &'static str) -> Sweep {
        Sweep {
            key: key.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            flag,
        }
    }

    fn names(selection: &Selection) -> Vec<String> {
        grid(selection)
            .iter()
            .map(|p| {
                let p: Vec<(String, String)> =
                    p.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
                group_name(&p)
            })
            .collect()
    }

    #[test]
    fn grid_is_the_product_first_sweep_slowest() {
        let mut selection = Selection {
            sweeps: vec![
                sweep("a", &["1", "2"], "--sweep"),
                sweep("b", &["x", "y", "z"], "--sweep"),
            ],
            ..Selection::default()
        };
        selection.order_axes(None);
        assert_eq!(
            names(&selection),
            [
                "a=1+b=x", "a=1+b=y", "a=1+b=z", "a=2+b=x", "a=2+b=y", "a=2+b=z"
            ]
        );
    }

    #[test]
    fn zipped_keys_move_together_and_must_pair_up() {
        let mut selection = Selection {
            sweeps: vec![sweep("a", &["1", "2"], "--sweep")],
            zips: vec![
                sweep("b", &["x", "y"], "--zip"),
                sweep("c", &["[1, 2]", "[3]"], "--zip"),
            ],
            ..Selection::default()
        };
        selection.order_axes(None);
        assert!(check_axes(&selection).is_ok());
        assert_eq!(
            names(&selection),
            [
                "a=1+b=x+c=1_2",
                "a=1+b=y+c=3",
                "a=2+b=x+c=1_2",
                "a=2+b=y+c=3"
            ]
        );
        // `[1, 2]` and `1_2` would share a folder: each gets a hash suffix.
        let collide = [
            vec![("c".to_string(), "[1, 2]".to_string(), "--sweep")],
            vec![("c".to_string(), "1_2".to_string(), "--sweep")],
        ];
        let groups = group_names(&collide);
        assert!(groups[0].as_ref().unwrap().starts_with("c=1_2-") && groups[0] != groups[1]);
        selection.zips[1].values.pop();
        selection.order_axes(None);
        let err = check_axes(&selection).unwrap_err();
        assert!(
            err.contains("--zip b has 2 values but --zip c has 1"),
            "{err}"
        );
        let twice = Selection {
            sweeps: vec![sweep("a", &["1"], "--sweep")],
            sweep_files: vec![sweep("a", &["2"], "--sweep-file")],
            ..Selection::default()
        };
        let mut twice = twice;
        twice.order_axes(None);
        let err = check_axes(&twice).unwrap_err();
        assert!(
            err.starts_with("--sweep-file a sweeps `a`, which --sweep already sweeps"),
            "{err}"
        );
    }

    #[test]
    fn folder_names_and_commands_are_safe() {
        assert_eq!(
            group_name(&[("net.latency".into(), "20 ms".into())]),
            "net.latency=20_ms"
        );
        let long: Vec<String> = (0..40).map(|i| format!("\"validator-{i}\"")).collect();
        let a = group_name(&[("faults.0.crash".into(), format!("[{}]", long.join(", ")))]);
        let b = group_name(&[(
            "faults.0.crash".into(),
            format!("[{}]", long[1..].join(", ")),
        )]);
        assert_eq!(a.len(), MAX_GROUP_NAME);
        assert_ne!(a, b, "cut names stay distinct");
        let o = vec![Override::set("network.latency", "20 ms")];
        assert_eq!(
            reproduce(std::path::Path::new("s.toml"), 3, &o),
            "sim run s.toml --seed 3 --set 'network.latency=20 ms'"
        );
    }
}
