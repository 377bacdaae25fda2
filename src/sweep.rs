//! A sweep as `sim run` and `sim check` make it: every run of it with its
//! record, the selected part, which runs are already done in `--out`, and
//! each scenario folder's `sweep.json`, `runs.csv` and `stats.csv`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reports::aggregate::{RunRef, write_aggregates};

use crate::cli::{RunIds, ScenarioArgs, Selection, Shard};
use crate::exit::Exit;
use crate::jobs::{Job, Resolve, expand, select};
use crate::provenance::{RESOLVED, Resolved};
use crate::record::{Hashes, Options, Part, RunRecord, SweepRecord, SweepSpec};

/// A sweep ready to run.
#[derive(Debug)]
pub struct Planned {
    /// Every run of the sweep, by id.
    pub jobs: Vec<Job>,
    /// Every run's record, by id.
    pub records: Vec<RunRecord>,
    /// The sweep's definition.
    pub spec: SweepSpec,
    /// The ids `--shard` / `--run` select, ascending.
    pub selected: Vec<usize>,
    /// The part of the sweep they are.
    pub part: Part,
    /// Each file's resolved scenario (`--set` applied), with its name in
    /// the scenario folder.
    pub resolved: Vec<(String, Resolved)>,
}

/// What one scenario folder holds after [`Planned::update_folders`].
#[derive(Debug)]
pub struct FolderState {
    /// The folder.
    pub dir: std::path::PathBuf,
    /// Runs aggregated (present).
    pub present: usize,
    /// Runs of the part not there.
    pub missing: RunIds,
}

impl Planned {
    /// Expands and checks the command's files, hashes its inputs and
    /// applies the selection, printing every error (exit 2).
    pub fn new(args: &ScenarioArgs, selection: &Selection, options: Options) -> Result<Self, Exit> {
        let jobs = expand(args, selection, Resolve::Yes).ok_or(Exit::InvalidInput)?;
        let mut hashes = Hashes::default();
        let built = resolved_files(args, &jobs).and_then(|resolved| {
            let spec = SweepSpec::new(args, selection, &jobs, options, &mut hashes, &resolved)?;
            let records = jobs
                .iter()
                .map(|job| RunRecord::new(job, args, options, &mut hashes))
                .collect::<Result<Vec<_>, _>>()?;
            let selected = select(&jobs, selection)?.iter().map(|j| j.id).collect();
            Ok((spec, records, selected, resolved))
        });
        match built {
            Ok((spec, records, selected, resolved)) => Ok(Planned {
                jobs,
                records,
                spec,
                selected,
                part: Part::of_selection(selection),
                resolved,
            }),
            Err(e) => {
                eprintln!("error: {e}");
                Err(Exit::InvalidInput)
            }
        }
    }

    /// The record of run `id`'s complete result in `out`, if it is there
    /// and records this very run (its outcome may differ from `Ok`).
    pub fn done(&self, out: &Path, id: usize) -> Option<RunRecord> {
        let dir = out.join(self.jobs[id].folder());
        if !dir.join("summary.json").is_file() {
            return None;
        }
        RunRecord::read(&dir).filter(|found| found.same_run(&self.records[id]))
    }

    /// Writes the record and aggregates of every scenario folder the
    /// selected runs go into, from what is in `out` now; prints a note
    /// when a folder held the record of another sweep (unless `quiet`).
    /// A command that makes a single run is no sweep: it writes neither
    /// (its run's `run.json` is its record).
    pub fn update_folders(&self, out: &Path, quiet: bool) -> Result<Vec<FolderState>, Exit> {
        if self.jobs.len() < 2 {
            return Ok(Vec::new());
        }
        let names: BTreeSet<&str> = self
            .selected
            .iter()
            .map(|id| self.jobs[*id].scenario.name.as_str())
            .collect();
        let mut states = Vec::new();
        for name in names {
            match self.update_folder(out, name, quiet) {
                Ok(state) => states.push(state),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Err(Exit::OutputFailed);
                }
            }
        }
        Ok(states)
    }

    fn update_folder(&self, out: &Path, name: &str, quiet: bool) -> Result<FolderState, String> {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let total = self.jobs.len();
        let (asked, shards) = self.asked_of(&dir, quiet);
        let part = Part::named(asked, total, &shards);
        let here: Vec<usize> = part
            .ids(total)
            .iter()
            .filter(|id| self.jobs[*id].scenario.name == name)
            .collect();
        let present: RunIds = here
            .iter()
            .copied()
            .filter(|id| self.done(out, *id).is_some())
            .collect();
        let missing: RunIds = here
            .iter()
            .copied()
            .filter(|id| !present.contains(*id))
            .collect();
        let mut expected: BTreeMap<String, usize> = BTreeMap::new();
        for id in &here {
            *expected.entry(self.group(*id)).or_default() += 1;
        }
        let runs: Vec<RunRef> = present
            .iter()
            .map(|id| RunRef {
                group: self.group(id),
                dir: out.join(self.jobs[id].folder()),
            })
            .collect();
        let record = SweepRecord::new(self.spec.clone(), part, present, missing.clone());
        record.write(&dir).map_err(|e| e.to_string())?;
        for (file, (file_name, resolved)) in self.resolved.iter().enumerate() {
            if self.spec.files[file].scenario == name {
                resolved
                    .write_into(&dir, file_name)
                    .map_err(|e| e.to_string())?;
            }
        }
        let info = self.spec.info(name, shades(&runs));
        let n = write_aggregates(&dir, &runs, &expected, &info).map_err(|e| e.to_string())?;
        Ok(FolderState {
            dir,
            present: n,
            missing,
        })
    }

    /// The runs asked of the folder `dir` (this command's part, plus the
    /// part its record already holds when that is of the same sweep) and
    /// the shards among them; notes when another sweep's record goes.
    fn asked_of(&self, dir: &Path, quiet: bool) -> (RunIds, Vec<Shard>) {
        let total = self.jobs.len();
        let mut asked = self.part.ids(total);
        let mut shards: Vec<Shard> = Vec::new();
        let mut add_shard = |part: &Part| match part {
            Part::Shard(s) => shards.push(*s),
            Part::All | Part::Runs(_) => {}
        };
        add_shard(&self.part);
        let replaced = match SweepRecord::read(dir) {
            Ok(Some(earlier)) if earlier.sweep == self.spec => {
                asked.extend_from(&earlier.part.ids(total));
                add_shard(&earlier.part);
                return (asked, shards);
            }
            Ok(None) => return (asked, shards),
            Ok(Some(_)) => "held the record of another sweep".to_string(),
            Err(e) => format!("held a record that cannot be read ({e})"),
        };
        if !quiet {
            eprintln!(
                "note: {} {replaced}: replaced by this sweep's; runs already there stay, but count for this sweep (and in runs.csv / stats.csv) only if it makes them identically (same run.json)",
                dir.display()
            );
        }
        (asked, shards)
    }

    fn group(&self, id: usize) -> String {
        self.jobs[id].group.clone().unwrap_or_default()
    }
}

/// Each file's resolved scenario (`--set` and `--seed` applied; the grid
/// and seeds are in the sweep record) and its name in its scenario folder:
/// `scenario.toml`, or `scenario.<index>.toml` when several of the
/// command's files write into one folder.
fn resolved_files(args: &ScenarioArgs, jobs: &[Job]) -> Result<Vec<(String, Resolved)>, String> {
    let name_of = |file: usize| {
        jobs.iter()
            .find(|j| j.file == file)
            .map_or("", |j| j.scenario.name.as_str())
    };
    let mut out = Vec::new();
    for (file, path) in args.files.iter().enumerate() {
        let name = name_of(file);
        let sharing = (0..args.files.len())
            .filter(|f| name_of(*f) == name)
            .count();
        let file_name = match sharing {
            1 => RESOLVED.to_string(),
            _ => format!("scenario.{file}.toml"),
        };
        let resolved =
            Resolved::of(path, &args.overrides, name, args.seed).map_err(|e| e.to_string())?;
        out.push((file_name, resolved));
    }
    Ok(out)
}

/// Each grid point's faults as shaded windows, from its first run's
/// resolved scenario (`scenario.toml` in the run folder, so a merge, which
/// has no scenario file, draws the same); a run whose scenario cannot be
/// read draws none.
pub fn shades(runs: &[RunRef]) -> BTreeMap<String, Vec<reports::plots::svg::Shade>> {
    let mut shades = BTreeMap::new();
    for run in runs {
        if shades.contains_key(&run.group) {
            continue;
        }
        let path = run.dir.join(RESOLVED);
        let windows = sim::model::load(&path, &[])
            .map(|scenario| sim::results::fault_shades(&scenario))
            .unwrap_or_default();
        shades.insert(run.group.clone(), windows);
    }
    shades
}
