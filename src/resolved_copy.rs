//! The scenario a real run's folder keeps (a Shadow export, a `sim
//! launch` work folder): `scenario.toml`, the scenario file with the
//! `--set` values applied and its name and seed written in, and a copy of
//! every file it reads (GML graph, legacy registry) under `inputs/`, named
//! in the text as those copies. The processes and `sim collect` read it
//! with no `--set` to repeat and from any working directory; it is the
//! layout result folders keep (`scenario.toml` + `inputs/`).

use std::fs;
use std::path::{Path, PathBuf};

use sim::{Scenario, Sim};
use sim_core::scenario::{Override, TopologySpec, rewritten, toml_string};

/// The resolved scenario's file name.
pub const SCENARIO: &str = "scenario.toml";
/// The folder of the input copies beside it.
pub const INPUTS: &str = "inputs";

/// Writes `dir/scenario.toml` (the file at `path` read as `scenario`, with
/// `overrides`) and `dir/inputs/`; returns the copies made (from, to).
pub fn write(
    scenario: &Scenario,
    path: &Path,
    overrides: &[Override],
    dir: &Path,
) -> Result<Vec<(PathBuf, String)>, String> {
    let mut inputs: Vec<(String, PathBuf)> = Vec::new();
    if let TopologySpec::Gml { path } = &scenario.network.topology {
        inputs.push(("network.graph".to_string(), path.clone()));
    }
    inputs.extend(scenario.protocols.input_files());
    let mut placed = Vec::new();
    placed.push(set("name", &toml_string(&scenario.name)));
    placed.push(set("seed", &scenario.seed.to_string()));
    let mut copies: Vec<(PathBuf, String)> = Vec::new();
    for (key, from) in inputs {
        let base = from
            .file_name()
            .map_or_else(|| "input".to_string(), |n| n.to_string_lossy().into_owned());
        let mut copy = format!("{INPUTS}/{base}");
        let mut k = 2;
        while copies.iter().any(|(_, c)| *c == copy) {
            copy = format!("{INPUTS}/{k}-{base}");
            k += 1;
        }
        placed.push(set(&key, &toml_string(&copy)));
        copies.push((from, copy));
    }
    let text = rewritten::<Sim>(path, overrides, &placed).map_err(|e| e.to_string())?;
    let header = format!(
        "# {} as the real run reads it: --set values applied, name and seed\n\
         # written in, the files it reads copied under {INPUTS}/.\n",
        path.display()
    );
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    fs::create_dir_all(dir.join(INPUTS)).map_err(|e| io(dir, e))?;
    let target = dir.join(SCENARIO);
    fs::write(&target, header + &text).map_err(|e| io(&target, e))?;
    for (from, copy) in &copies {
        fs::copy(from, dir.join(copy)).map_err(|e| io(from, e))?;
    }
    Ok(copies)
}

fn set(key: &str, value: &str) -> Override {
    Override::set(key, value)
}
