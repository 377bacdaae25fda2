//! The resolved scenario a result folder keeps: the scenario file after
//! `--set` and the grid point, with the run's name and seed written in,
//! as TOML (`scenario.toml`), and a copy of every file it reads (GML
//! graph, legacy registry) under `inputs/`, named in the text as those
//! copies. `sim run <folder>/scenario.toml` makes the same run again,
//! from any folder, with the same trace hash.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sim::Sim;
use sim_core::scenario::{self, Override, ScenarioError};

/// The resolved scenario's file name in a result folder.
pub const RESOLVED: &str = "scenario.toml";
/// The folder of the input copies beside it.
pub const INPUTS: &str = "inputs";

/// A resolved scenario: its text and the files it reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The TOML text (what `scenario.toml` holds).
    pub text: String,
    /// Each input file: (its path as the scenario resolved it, the copy's
    /// path relative to the resolved scenario, e.g. `inputs/regions.gml`).
    pub copies: Vec<(PathBuf, String)>,
}

impl Resolved {
    /// The scenario file `path` with `overrides` applied, named `name`
    /// and with `seed` (when given) written in.
    pub fn of(
        path: &Path,
        overrides: &[Override],
        name: &str,
        seed: Option<u64>,
    ) -> Result<Self, ScenarioError> {
        let mut extra = vec![Override::set("name", toml_string(name))];
        if let Some(seed) = seed {
            extra.push(Override::set("seed", seed.to_string()));
        }
        let mut used: Vec<String> = Vec::new();
        let mut rename = |input: &Path| {
            let base = input
                .file_name()
                .map_or_else(|| "input".to_string(), |n| n.to_string_lossy().into_owned());
            let mut copy = format!("{INPUTS}/{base}");
            let mut k = 2;
            while used.contains(&copy) {
                copy = format!("{INPUTS}/{k}-{base}");
                k += 1;
            }
            used.push(copy.clone());
            copy
        };
        let (text, copies) = scenario::resolved::<Sim>(path, overrides, &extra, &mut rename)?;
        let header = format!(
            "# {} as resolved by sim: --set and sweep values applied, name and seed\n\
             # written in, inputs copied under {INPUTS}/. `sim run` of this file makes the\n\
             # same run again.\n",
            path.display()
        );
        Ok(Resolved {
            text: header + &text,
            copies,
        })
    }

    /// The same scenario with `seed` instead: the top-level `seed = `
    /// line (top-level keys come first, before any `[table]`) replaced, or
    /// added after the first line when there is none.
    pub fn with_seed(&self, seed: u64) -> Self {
        let head_end = self.text.find("\n[").map_or(self.text.len(), |i| i + 1);
        let (head, tail) = self.text.split_at(head_end);
        let mut lines: Vec<String> = head.lines().map(str::to_string).collect();
        let line = format!("seed = {seed}");
        match lines.iter().position(|l| l.starts_with("seed = ")) {
            Some(i) => lines[i] = line,
            None => lines.insert(lines.len().min(1), line),
        }
        Resolved {
            text: format!("{}\n{tail}", lines.join("\n")),
            copies: self.copies.clone(),
        }
    }

    /// SHA-256 (hex) of the text.
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(self.text.as_bytes()))
    }

    /// The content hash of every input of a run: SHA-256 over the text's
    /// hash and then each input copy's name and content hash, in order
    /// (`hashes` holds the inputs' content hashes by resolved path).
    pub fn input_sha256(&self, input_hashes: &[(PathBuf, String)]) -> String {
        let mut all = Sha256::new();
        all.update(self.sha256().as_bytes());
        for (from, copy) in &self.copies {
            let hash = input_hashes
                .iter()
                .find(|(p, _)| p == from)
                .map_or("", |(_, h)| h.as_str());
            all.update(b"\n");
            all.update(copy.as_bytes());
            all.update(b" ");
            all.update(hash.as_bytes());
        }
        hex(&all.finalize())
    }

    /// Writes the text as `file_name` into `dir` and copies every input
    /// into `dir/inputs/`.
    pub fn write_into(&self, dir: &Path, file_name: &str) -> Result<(), reports::ReportError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| reports::ReportError::Io { path, source }
        };
        let target = dir.join(file_name);
        reports::result_dir::write_atomic(&target, self.text.as_bytes())?;
        for (from, copy) in &self.copies {
            let to = dir.join(copy);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            let bytes = fs::read(from).map_err(io(from))?;
            reports::result_dir::write_atomic(&to, &bytes)?;
        }
        Ok(())
    }
}

/// `text` as a TOML string.
fn toml_string(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
