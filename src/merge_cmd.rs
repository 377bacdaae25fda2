//! `sim merge`: join the result folders of a sweep's shards.
//!
//! Every scenario folder of every given folder must carry the record of
//! one and the same sweep (`sweep.json`: files and their hashes, seeds,
//! grid, `--set`, options, version). The runs the records list as present
//! are checked (complete, with a `run.json` of this sweep) and together
//! must cover every run of the sweep; otherwise the merge names what is
//! missing, prints the commands that make it, and exits 7 without writing
//! anything (`--allow-partial` merges what is there and says so). Run
//! folders are copied (a run present in two folders must be byte-identical),
//! records and aggregates are recomputed from exactly the merged runs, and
//! the whole result is built beside `--out` and moved into place at the
//! end — so merging all shards gives the unsharded sweep, byte for byte,
//! and a failed merge leaves nothing behind.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use reports::aggregate::{RunRef, write_aggregates};
use sha2::Digest as _;

use crate::cli::{MergeArgs, RunIds, Shard};
use crate::exit::Exit;
use crate::jobs::{group_name, quote};
use crate::record::{Outcome, Part, RunRecord, SweepRecord, SweepSpec};

/// One scenario folder of one given folder, with its sweep record.
struct Found {
    /// The folder as given (a shard's `--out`).
    dir: PathBuf,
    /// The scenario folder's name.
    name: String,
    /// Its record.
    record: SweepRecord,
}

/// A complete run of the sweep in one of the given folders.
struct Source<'a> {
    found: &'a Found,
    record: RunRecord,
}

/// Why a merge failed: the exit code and the message.
type Failure = (Exit, String);

/// `sim merge DIR... --out DIR [--allow-partial]`.
pub fn merge(args: &MergeArgs) -> Exit {
    if let Err(message) = check_out(&args.out) {
        eprintln!("error: {message}");
        return Exit::InvalidInput;
    }
    let found = match read_records(&args.dirs) {
        Ok(found) => found,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::InvalidInput;
        }
    };
    let Some(first) = found.first() else {
        eprintln!(
            "error: no sweep record (sweep.json) in {}: no shard finished starting, or these are not `sim run --out` folders of sim {}",
            shell_list(&args.dirs),
            crate::record::SIM_VERSION
        );
        return Exit::Incomplete;
    };
    let spec = &first.record.sweep;
    if let Err(message) = same_sweep(&found) {
        eprintln!("error: {message}");
        return Exit::Incomplete;
    }
    let sources = cover(spec, &found);
    let missing: RunIds = (0..spec.runs.len())
        .filter(|id| !sources.contains_key(id))
        .collect();
    if !missing.is_empty() && !args.allow_partial {
        report_missing(args, spec, &found, &missing);
        return Exit::Incomplete;
    }
    if let Err((code, message)) = build(args, spec, &found, &sources, &missing) {
        eprintln!("error: {message}");
        return code;
    }
    summarize(args, spec, &sources, &missing)
}

/// `--out` must be new or an empty folder.
fn check_out(out: &Path) -> Result<(), String> {
    if out.file_name().is_none() {
        return Err(format!(
            "--out {}: give the merged result a folder name",
            out.display()
        ));
    }
    let empty = fs::read_dir(out).is_ok_and(|mut d| d.next().is_none());
    if out.exists() && !empty {
        return Err(format!(
            "{} exists and is not empty: merge into a new folder",
            out.display()
        ));
    }
    Ok(())
}

/// Every scenario folder with a sweep record in `dirs`. A folder that is
/// missing or holds no record is reported by the completeness check; a
/// record that cannot be read is an error.
fn read_records(dirs: &[PathBuf]) -> Result<Vec<Found>, String> {
    let mut found = Vec::new();
    let unique: BTreeSet<&PathBuf> = dirs.iter().collect();
    for dir in unique {
        let Ok(entries) = fs::read_dir(dir) else {
            eprintln!("note: {}: no such folder (no results)", dir.display());
            continue;
        };
        let mut subdirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && !file_name(p).starts_with('.'))
            .collect();
        subdirs.sort();
        for sub in subdirs {
            match SweepRecord::read(&sub)? {
                Some(record) => found.push(Found {
                    dir: dir.clone(),
                    name: file_name(&sub),
                    record,
                }),
                None => eprintln!(
                    "warning: {} has no sweep record (sweep.json; made by an older sim?): its runs are not merged",
                    sub.display()
                ),
            }
        }
    }
    Ok(found)
}

/// Every record must be of the sweep of the first one.
fn same_sweep(found: &[Found]) -> Result<(), String> {
    let first = &found[0];
    for other in &found[1..] {
        let fields = first.record.sweep.differences(&other.record.sweep);
        if fields.is_empty() {
            continue;
        }
        let a = serde_json::to_value(&first.record.sweep).unwrap_or_default();
        let b = serde_json::to_value(&other.record.sweep).unwrap_or_default();
        let mut message = format!(
            "{} and {} are not shards of one sweep: they differ in {}",
            first.dir.join(&first.name).display(),
            other.dir.join(&other.name).display(),
            fields.join(", ")
        );
        for field in fields.iter().filter(|f| !matches!(**f, "runs" | "command")) {
            message.push_str(&format!(
                "\n  {field}: {} vs {}",
                short(&a[field].to_string()),
                short(&b[field].to_string())
            ));
        }
        message.push_str(&format!(
            "\n  the first was made by: {}\n  the other by:          {}\n  merge only shards of one command (same files, seeds, --sweep, --set, output options and sim version)",
            first.record.sweep.command, other.record.sweep.command
        ));
        return Err(message);
    }
    Ok(())
}

fn short(text: &str) -> String {
    if text.chars().count() <= 160 {
        return text.to_string();
    }
    let head: String = text.chars().take(157).collect();
    format!("{head}...")
}

/// The runs each record lists as present that really are (complete, with
/// a `run.json` of this sweep), by id; the others are reported.
fn cover<'a>(spec: &SweepSpec, found: &'a [Found]) -> BTreeMap<usize, Vec<Source<'a>>> {
    let mut sources: BTreeMap<usize, Vec<Source<'a>>> = BTreeMap::new();
    for f in found {
        let prefix = format!("{}/", f.name);
        let mut unusable: Vec<String> = Vec::new();
        for id in f.record.present.iter() {
            let Some(folder) = spec.runs.get(id).filter(|r| r.starts_with(&prefix)) else {
                unusable.push(format!("run {id} (not a run of this folder)"));
                continue;
            };
            match verify(spec, folder, &f.dir.join(folder)) {
                Ok(record) => sources
                    .entry(id)
                    .or_default()
                    .push(Source { found: f, record }),
                Err(why) => unusable.push(format!("{folder} ({why})")),
            }
        }
        if let Some(first) = unusable.first() {
            eprintln!(
                "warning: {}: {} runs its record lists as present are not usable and not merged (the first: {first})",
                f.dir.join(&f.name).display(),
                unusable.len()
            );
        }
    }
    sources
}

/// The record of the run in `dir` if it is a complete result of the run
/// that the sweep `spec` keeps in `folder`.
fn verify(spec: &SweepSpec, folder: &str, dir: &Path) -> Result<RunRecord, String> {
    if !dir.is_dir() {
        return Err("not there".into());
    }
    if !dir.join("summary.json").is_file() {
        return Err("incomplete (no summary.json)".into());
    }
    let record = RunRecord::read(dir).ok_or("no readable run.json")?;
    let file = spec
        .files
        .iter()
        .find(|f| f.scenario == record.scenario && f.file == record.file)
        .ok_or("made from another scenario file")?;
    // The folder of its grid point: its name, or (when two points of the
    // grid would share it) that name cut and suffixed with a hash.
    let group = group_name(&record.params);
    let expected = match folder
        .strip_prefix(&format!("{}/", record.scenario))
        .and_then(|rest| rest.strip_suffix(&format!("/seed-{}", record.seed)))
    {
        Some(middle)
            if !record.params.is_empty()
                && middle
                    .starts_with(&group[..group.len().min(crate::jobs::MAX_GROUP_NAME - 13)]) =>
        {
            folder.to_string()
        }
        _ if record.params.is_empty() => format!("{}/seed-{}", record.scenario, record.seed),
        _ => format!("{}/{group}/seed-{}", record.scenario, record.seed),
    };
    let same = record.sim_version == spec.sim_version
        && record.sim_build == spec.sim_build
        && record.set == spec.set
        && record.options == spec.options
        && record.inputs.iter().all(|i| file.inputs.contains(i))
        && expected == folder;
    if !same {
        return Err(
            "its run.json is of another sweep (version, build, --set, inputs or options)".into(),
        );
    }
    Ok(record)
}

/// Says which shards or runs are missing and the commands that make them.
fn report_missing(args: &MergeArgs, spec: &SweepSpec, found: &[Found], missing: &RunIds) {
    let total = spec.runs.len();
    eprintln!(
        "error: the shards do not make the whole sweep: {} of {total} runs are missing",
        missing.len()
    );
    let parts = parts_by_dir(found);
    let counts: BTreeSet<usize> = parts
        .values()
        .filter_map(|p| match p {
            Part::Shard(s) => Some(s.count),
            Part::All | Part::Runs(_) => None,
        })
        .collect();
    let all_shards = parts.values().all(|p| matches!(p, Part::Shard(_)));
    let mut new_dirs: Vec<PathBuf> = Vec::new();
    match counts.iter().next() {
        Some(&count) if all_shards && counts.len() == 1 => {
            for index in 0..count {
                let shard = Shard { index, count };
                let ids: RunIds = missing.iter().filter(|id| id % count == index).collect();
                if !ids.is_empty() {
                    new_dirs.push(report_shard(args, spec, &parts, shard, &ids));
                }
            }
        }
        _ => {
            let dir = sibling(&args.dirs, "missing-runs");
            eprintln!("  runs {missing}: {}", examples(spec, missing));
            eprintln!(
                "    make them: {} --run {missing} --out {}",
                spec.command,
                quote(&dir.display().to_string())
            );
            new_dirs.push(dir);
        }
    }
    let mut dirs: Vec<PathBuf> = args.dirs.clone();
    dirs.extend(new_dirs.into_iter().filter(|d| !args.dirs.contains(d)));
    let out = quote(&args.out.display().to_string());
    eprintln!(
        "  then merge again: sim merge {} --out {out}",
        shell_list(&dirs)
    );
    eprintln!(
        "  or merge what is there: sim merge {} --out {out} --allow-partial",
        shell_list(&args.dirs)
    );
}

/// One missing shard's lines; returns the folder its command writes.
fn report_shard(
    args: &MergeArgs,
    spec: &SweepSpec,
    parts: &BTreeMap<PathBuf, Part>,
    shard: Shard,
    ids: &RunIds,
) -> PathBuf {
    let of = Part::Shard(shard).ids(spec.runs.len()).len();
    let holder = parts
        .iter()
        .find(|(_, p)| **p == Part::Shard(shard))
        .map(|(d, _)| d.clone());
    let (dir, resume) = match holder {
        Some(dir) => {
            eprintln!(
                "  shard {shard} in {}: {} of its {of} runs missing ({}): {}",
                dir.display(),
                ids.len(),
                ids,
                examples(spec, ids)
            );
            (dir, " --skip-existing")
        }
        None => {
            eprintln!(
                "  shard {shard}: not in the given folders (none holds its record; its {of} runs are missing)",
            );
            (shard_dir(args, parts, shard), "")
        }
    };
    eprintln!(
        "    make it: {} --shard {shard}{resume} --out {}",
        spec.command,
        quote(&dir.display().to_string())
    );
    dir
}

/// Each given folder's part of the sweep (the union when its scenario
/// folders differ).
fn parts_by_dir(found: &[Found]) -> BTreeMap<PathBuf, Part> {
    let mut parts: BTreeMap<PathBuf, Part> = BTreeMap::new();
    for f in found {
        let part = f.record.part.clone();
        let merged = match parts.remove(&f.dir) {
            Some(earlier) if earlier != part => {
                let total = f.record.sweep.runs.len();
                let mut ids = earlier.ids(total);
                ids.extend_from(&part.ids(total));
                Part::named(ids, total, &[])
            }
            Some(_) | None => part,
        };
        parts.insert(f.dir.clone(), merged);
    }
    parts
}

/// Where a missing shard should go: beside the others, named by its index
/// as they are (`sweep-shards/2`), or `shard-I` beside the first folder.
fn shard_dir(args: &MergeArgs, parts: &BTreeMap<PathBuf, Part>, shard: Shard) -> PathBuf {
    let by_index = parts.iter().all(|(dir, part)| match part {
        Part::Shard(s) => file_name(dir) == s.index.to_string(),
        Part::All | Part::Runs(_) => false,
    });
    match parts.keys().next().and_then(|d| d.parent()) {
        Some(parent) if by_index => parent.join(shard.index.to_string()),
        Some(_) | None => sibling(&args.dirs, &format!("shard-{}", shard.index)),
    }
}

/// `name` beside the first given folder.
fn sibling(dirs: &[PathBuf], name: &str) -> PathBuf {
    dirs.first()
        .and_then(|d| d.parent())
        .map_or_else(|| PathBuf::from(name), |p| p.join(name))
}

/// The result folders of the first few of `ids`.
fn examples(spec: &SweepSpec, ids: &RunIds) -> String {
    let mut names: Vec<&str> = ids
        .iter()
        .take(3)
        .filter_map(|id| spec.runs.get(id).map(String::as_str))
        .collect();
    let more = ids.len().saturating_sub(names.len());
    let more = (more > 0).then(|| format!("and {more} more"));
    names.extend(more.as_deref());
    names.join(", ")
}

fn shell_list(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| quote(&d.display().to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the merged folder beside `--out`, then moves it into place;
/// removes it again if anything fails.
fn build(
    args: &MergeArgs,
    spec: &SweepSpec,
    found: &[Found],
    sources: &BTreeMap<usize, Vec<Source<'_>>>,
    missing: &RunIds,
) -> Result<(), Failure> {
    let name = file_name(&args.out);
    let staging = args.out.with_file_name(format!(
        ".{name}.merging.{}",
        reports::result_dir::process_tag()
    ));
    let result = write_merged(&staging, spec, found, sources, missing, args.allow_partial)
        .and_then(|()| move_into_place(&staging, &args.out));
    if result.is_err() && staging.exists() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// Copies every run and writes each scenario folder's record and
/// aggregates into `staging`.
fn write_merged(
    staging: &Path,
    spec: &SweepSpec,
    found: &[Found],
    sources: &BTreeMap<usize, Vec<Source<'_>>>,
    missing: &RunIds,
    allow_partial: bool,
) -> Result<(), Failure> {
    let output = |e: String| (Exit::OutputFailed, e);
    if staging.exists() {
        fs::remove_dir_all(staging).map_err(|e| output(format!("{}: {e}", staging.display())))?;
    }
    fs::create_dir_all(staging).map_err(|e| output(format!("{}: {e}", staging.display())))?;
    for (id, from) in sources {
        let folder = &spec.runs[*id];
        let first = from[0].found.dir.join(folder);
        for other in &from[1..] {
            let other = other.found.dir.join(folder);
            if !same_files(&first, &other).map_err(output)? {
                return Err((
                    Exit::Incomplete,
                    format!(
                        "{} and {} differ: the same run gave different results (files changed after the run?); remove the wrong one",
                        first.display(),
                        other.display()
                    ),
                ));
            }
        }
        copy_dir(&first, &staging.join(folder)).map_err(output)?;
    }
    let names: BTreeSet<&str> = spec.files.iter().map(|f| f.scenario.as_str()).collect();
    for name in names {
        let dir = staging.join(name);
        fs::create_dir_all(&dir).map_err(|e| output(format!("{}: {e}", dir.display())))?;
        copy_resolved(staging, spec, found, name).map_err(output)?;
        write_folder(staging, spec, name, sources, missing, allow_partial).map_err(output)?;
    }
    Ok(())
}

/// Copies scenario folder `name`'s resolved scenarios (and their input
/// copies) from a shard that holds it, checking each against the hash the
/// sweep records.
fn copy_resolved(
    staging: &Path,
    spec: &SweepSpec,
    found: &[Found],
    name: &str,
) -> Result<(), String> {
    let Some(from) = found.iter().find(|f| f.name == name) else {
        return Ok(());
    };
    let (from, to) = (from.dir.join(name), staging.join(name));
    for file in spec.files.iter().filter(|f| f.scenario == name) {
        let source = from.join(&file.resolved.path);
        let bytes = fs::read(&source).map_err(|e| format!("{}: {e}", source.display()))?;
        let hash = crate::provenance::hex(&sha2::Sha256::digest(&bytes));
        if hash != file.resolved.sha256 {
            return Err(format!(
                "{} is not the resolved scenario the sweep records (SHA-256 {hash}, expected {}): changed after the sweep?",
                source.display(),
                file.resolved.sha256
            ));
        }
        fs::write(to.join(&file.resolved.path), bytes)
            .map_err(|e| format!("{}: {e}", to.display()))?;
    }
    let inputs = from.join(crate::provenance::INPUTS);
    if inputs.is_dir() {
        copy_dir(&inputs, &to.join(crate::provenance::INPUTS))?;
    }
    Ok(())
}

/// One scenario folder's record and aggregates in the merged result.
fn write_folder(
    staging: &Path,
    spec: &SweepSpec,
    name: &str,
    sources: &BTreeMap<usize, Vec<Source<'_>>>,
    missing: &RunIds,
    allow_partial: bool,
) -> Result<(), String> {
    let dir = staging.join(name);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ids = spec.ids_in(name);
    let present: RunIds = ids.iter().filter(|id| sources.contains_key(id)).collect();
    let absent: RunIds = ids.iter().filter(|id| missing.contains(*id)).collect();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for id in ids.iter() {
        *expected.entry(group_of(spec, name, id)).or_default() += 1;
    }
    let runs: Vec<RunRef> = present
        .iter()
        .map(|id| RunRef {
            group: group_of(spec, name, id),
            dir: staging.join(&spec.runs[id]),
        })
        .collect();
    let mut record = SweepRecord::new(spec.clone(), Part::All, present, absent.clone());
    if allow_partial && !absent.is_empty() {
        record.note = format!(
            "merged with --allow-partial: {} of the {} runs of this folder are missing; stats.csv has runs < runs_expected for their grid points",
            absent.len(),
            ids.len()
        );
    }
    record.write(&dir).map_err(|e| e.to_string())?;
    let info = spec.info(name, crate::sweep::shades(&runs));
    write_aggregates(&dir, &runs, &expected, &info).map_err(|e| e.to_string())?;
    Ok(())
}

/// The grid-point folder of run `id` (in scenario folder `name`).
fn group_of(spec: &SweepSpec, name: &str, id: usize) -> String {
    let rest = spec.runs[id]
        .strip_prefix(&format!("{name}/"))
        .unwrap_or(&spec.runs[id]);
    rest.rsplit_once('/')
        .map(|(group, _)| group.to_string())
        .unwrap_or_default()
}

fn move_into_place(staging: &Path, out: &Path) -> Result<(), Failure> {
    let fail = |e: std::io::Error| (Exit::OutputFailed, format!("{}: {e}", out.display()));
    if out.exists() {
        fs::remove_dir(out).map_err(fail)?; // empty (checked before)
    }
    fs::rename(staging, out).map_err(fail)
}

/// Prints each folder's run count, a partial merge's warning and the runs
/// a checker stopped; the exit code is what `sim run` of the whole sweep
/// would have given (4 / 5 for checker violations).
fn summarize(
    args: &MergeArgs,
    spec: &SweepSpec,
    sources: &BTreeMap<usize, Vec<Source<'_>>>,
    missing: &RunIds,
) -> Exit {
    let names: BTreeSet<&str> = spec.files.iter().map(|f| f.scenario.as_str()).collect();
    for name in names {
        let n = spec
            .ids_in(name)
            .iter()
            .filter(|id| sources.contains_key(id))
            .count();
        println!("{}: {n} runs", args.out.join(name).display());
    }
    if !missing.is_empty() {
        eprintln!(
            "warning: merged with --allow-partial: {} of {} runs are missing (ids {missing}); the sweep records and stats.csv (runs < runs_expected) say so",
            missing.len(),
            spec.runs.len()
        );
    }
    let mut exit = Exit::Ok;
    for (id, from) in sources {
        let record = &from[0].record;
        let (code, violation) = match &record.outcome {
            Outcome::Ok => continue,
            Outcome::Safety { violation } => (Exit::SafetyViolation, violation),
            Outcome::Liveness { violation } => (Exit::LivenessViolation, violation),
        };
        exit = exit.worst(code);
        eprintln!(
            "error: run {id} ({}) stopped at a checker violation: {violation}\n  reproduce with: {}",
            spec.runs[*id], record.command
        );
    }
    exit
}

/// Whether two run folders hold the same files with the same bytes.
fn same_files(a: &Path, b: &Path) -> Result<bool, String> {
    let (left, right) = (list_files(a)?, list_files(b)?);
    if left.len() != right.len() {
        return Ok(false);
    }
    for ((name_a, path_a), (name_b, path_b)) in left.iter().zip(&right) {
        let read = |p: &Path| fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        if name_a != name_b || read(path_a)? != read(path_b)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Every file under `dir`: (relative path, path), sorted.
fn list_files(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let path = entry.map_err(|e| format!("{}: {e}", d.display()))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
                files.push((rel, path));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    for (rel, path) in list_files(from)? {
        let target = to.join(&rel);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        fs::copy(&path, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
