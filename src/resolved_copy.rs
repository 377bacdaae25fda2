//! The scenario a real run's folder keeps (a Shadow export, a `sim
//! launch` work folder): the same resolved scenario a result folder keeps
//! ([`crate::provenance::Resolved`]: `scenario.toml`, the `--set` values
//! applied and the name and seed written in, every file it reads copied
//! under `inputs/` and named in the text as those copies). The processes
//! and `sim collect` read it with no `--set` to repeat and from any
//! working directory.

use std::path::{Path, PathBuf};

use sim::Scenario;
use sim_core::scenario::Override;

use crate::provenance::{RESOLVED, Resolved};

/// The resolved scenario's file name.
pub const SCENARIO: &str = RESOLVED;

/// Writes `dir/scenario.toml` (the file at `path` read as `scenario`, with
/// `overrides`) and `dir/inputs/`; returns the copies made (from, to).
pub fn write(
    scenario: &Scenario,
    path: &Path,
    overrides: &[Override],
    dir: &Path,
) -> Result<Vec<(PathBuf, String)>, String> {
    let resolved = Resolved::of(path, overrides, &scenario.name, Some(scenario.seed))
        .map_err(|e| e.to_string())?;
    resolved
        .write_into(dir, SCENARIO)
        .map_err(|e| e.to_string())?;
    Ok(resolved.copies)
}
