//! A run's output folder, `<out>/<scenario>/seed-<n>/`, written atomically.

use std::fs;
use std::path::{Path, PathBuf};

use crate::ReportError;

/// A result folder being written. Files go into a staging folder beside the
/// final one; [`ResultDir::commit`] swaps it into place, replacing a previous
/// result of the same scenario and seed whole.
#[derive(Debug)]
pub struct ResultDir {
    staging: PathBuf,
    target: PathBuf,
}

impl ResultDir {
    /// Starts the result of `scenario` with `seed` under `out` (inside the
    /// `group` folder of a sweep's grid point, if any). Leftovers of a killed
    /// earlier run (its staging folder) are removed.
    pub fn create(
        out: &Path,
        scenario: &str,
        group: Option<&str>,
        seed: u64,
    ) -> Result<Self, ReportError> {
        let parent = match group {
            Some(group) => out.join(scenario).join(group),
            None => out.join(scenario),
        };
        let target = parent.join(format!("seed-{seed}"));
        let staging = parent.join(format!(".seed-{seed}.partial"));
        if target.exists() && !target.join("summary.json").is_file() && !is_empty_dir(&target) {
            return Err(ReportError::NotOurs { path: target });
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReportError::Io { path, source }
        };
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(ResultDir { staging, target })
    }

    /// Where to write a file named `name` now.
    pub fn file(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Where the result will be once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the finished result into place, replacing an older one whole.
    pub fn commit(self) -> Result<PathBuf, ReportError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReportError::Io { path, source }
        };
        if self.target.exists() {
            let old = self.target.with_file_name(format!(
                ".{}.old",
                self.target
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("result")
            ));
            if old.exists() {
                fs::remove_dir_all(&old).map_err(io(&old))?;
            }
            fs::rename(&self.target, &old).map_err(io(&self.target))?;
            fs::rename(&self.staging, &self.target).map_err(io(&self.target))?;
            fs::remove_dir_all(&old).map_err(io(&old))?;
        } else {
            fs::rename(&self.staging, &self.target).map_err(io(&self.target))?;
        }
        Ok(self.target)
    }
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("sim-result-dir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn commit_replaces_a_previous_result_whole() {
        let root = temp_root("replace");
        let first = ResultDir::create(&root, "demo", None, 7).unwrap();
        fs::write(first.file("summary.json"), "{}").unwrap();
        fs::write(first.file("stale.csv"), "x").unwrap();
        first.commit().unwrap();
        let second = ResultDir::create(&root, "demo", None, 7).unwrap();
        fs::write(second.file("summary.json"), "{\"new\":1}").unwrap();
        let target = second.commit().unwrap();
        assert_eq!(
            fs::read_to_string(target.join("summary.json")).unwrap(),
            "{\"new\":1}"
        );
        assert!(
            !target.join("stale.csv").exists(),
            "nothing of the old result survives"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn uncommitted_result_is_not_visible_and_is_cleaned_next_time() {
        let root = temp_root("killed");
        let killed = ResultDir::create(&root, "demo", None, 1).unwrap();
        fs::write(killed.file("summary.json"), "{").unwrap();
        let target = killed.target().to_path_buf();
        drop(killed); // as if the process died here
        assert!(!target.exists());
        let again = ResultDir::create(&root, "demo", None, 1).unwrap();
        assert!(!again.file("summary.json").exists(), "leftovers removed");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn refuses_to_replace_a_folder_that_is_not_a_result() {
        let root = temp_root("foreign");
        let target = root.join("demo").join("seed-3");
        fs::create_dir_all(&target).unwrap();
        fs::write(target.join("my-notes.txt"), "precious").unwrap();
        let err = ResultDir::create(&root, "demo", None, 3).unwrap_err();
        assert!(matches!(err, ReportError::NotOurs { .. }), "{err}");
        assert_eq!(
            fs::read_to_string(target.join("my-notes.txt")).unwrap(),
            "precious"
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
