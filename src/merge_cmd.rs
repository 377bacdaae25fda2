//! `sim merge`: join the result folders of sweep shards. Run folders are
//! copied (a run present in two shards must be byte-identical), then the
//! aggregates are recomputed from the merged runs — so merging all shards
//! gives the same folder, byte for byte, as the unsharded sweep.

use std::fs;
use std::path::Path;

use crate::cli::MergeArgs;
use crate::exit::Exit;

/// `sim merge DIR... --out DIR`.
pub fn merge(args: &MergeArgs) -> Exit {
    if args.out.exists()
        && fs::read_dir(&args.out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        eprintln!(
            "error: {} exists and is not empty: merge into a new folder",
            args.out.display()
        );
        return Exit::InvalidInput;
    }
    for dir in &args.dirs {
        if let Err(e) = copy_runs(dir, &args.out) {
            eprintln!("error: {e}");
            return Exit::InvalidInput;
        }
    }
    let scenarios = match fs::read_dir(&args.out) {
        Ok(entries) => {
            let mut paths: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            paths.sort();
            paths
        }
        Err(e) => {
            eprintln!("error: {}: {e}", args.out.display());
            return Exit::OutputFailed;
        }
    };
    for scenario in scenarios {
        match reports::aggregate::write_aggregates(&scenario) {
            Ok(n) => println!("{}: {n} runs", scenario.display()),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::OutputFailed;
            }
        }
    }
    Exit::Ok
}

/// Copies every `seed-*` run folder under `from` (at `<scenario>/seed-*` or
/// `<scenario>/<group>/seed-*`) into `to`.
fn copy_runs(from: &Path, to: &Path) -> Result<(), String> {
    let scenarios = fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for scenario in scenarios
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
    {
        for entry in sorted(&scenario)? {
            let name = file_name(&entry);
            if name.starts_with("seed-") && entry.join("summary.json").is_file() {
                copy_run(&entry, &to.join(file_name(&scenario)).join(&name))?;
            } else if entry.is_dir() && !name.starts_with('.') {
                for inner in sorted(&entry)? {
                    if file_name(&inner).starts_with("seed-")
                        && inner.join("summary.json").is_file()
                    {
                        copy_run(
                            &inner,
                            &to.join(file_name(&scenario))
                                .join(&name)
                                .join(file_name(&inner)),
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn copy_run(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for file in sorted(from)? {
        let target = to.join(file_name(&file));
        let bytes = fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        if target.exists() {
            let existing = fs::read(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            if existing != bytes {
                return Err(format!(
                    "{} differs between shards (the same run gave different results: were the shards made by different versions or settings?)",
                    target.display()
                ));
            }
            continue;
        }
        fs::write(&target, bytes).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(())
}

fn sorted(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut paths: Vec<_> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
