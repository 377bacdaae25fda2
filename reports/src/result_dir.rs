//! A run's output folder, `<out>/<scenario>/seed-<n>/`, written atomically
//! and safely beside other processes writing the same folders.
//!
//! Every temporary name carries the writing process's tag
//! ([`process_tag`]: host name and process id), so two processes (a Slurm
//! task requeued while its first attempt still runs, two shards given one
//! `--out`) never write into or delete each other's unfinished folders.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    /// `group` folder of a sweep's grid point, if any), in a staging folder
    /// `.seed-<n>.partial.<host>-<pid>`. Leftovers of killed earlier runs on
    /// this host (staging folders of processes that no longer exist) are
    /// removed; those of live processes and other hosts are left alone.
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
        let prefix = format!(".seed-{seed}.partial");
        let staging = parent.join(format!("{prefix}.{}", process_tag()));
        if target.exists() && !target.join("summary.json").is_file() && !is_empty_dir(&target) {
            return Err(ReportError::NotOurs { path: target });
        }
        remove_dead_leftovers(&parent, &prefix)?;
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(ResultDir { staging, target })
    }

    /// Gives the result up: its staging folder is removed, nothing is
    /// moved into place (an interrupted run leaves no half result).
    pub fn abandon(self) {
        let _ = fs::remove_dir_all(&self.staging);
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
    /// If another process puts the same result in place meanwhile, one of
    /// the two (identical: runs are deterministic) wins; neither is lost
    /// half-way.
    pub fn commit(self) -> Result<PathBuf, ReportError> {
        let name = self
            .target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("result");
        let old = self
            .target
            .with_file_name(format!(".{name}.old.{}", process_tag()));
        for _attempt in 0..10 {
            match fs::rename(&self.staging, &self.target) {
                Ok(()) => {
                    if old.exists() {
                        fs::remove_dir_all(&old).map_err(io(&old))?;
                    }
                    return Ok(self.target);
                }
                // The target is there (a directory cannot be renamed onto a
                // non-empty one): move it aside, then try again.
                Err(_) if self.target.exists() => {
                    if old.exists() {
                        fs::remove_dir_all(&old).map_err(io(&old))?;
                    }
                    match fs::rename(&self.target, &old) {
                        Ok(()) => {}
                        // Another process moved it first: try again.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io(&self.target)(e)),
                    }
                }
                Err(e) => return Err(io(&self.target)(e)),
            }
        }
        let source = std::io::Error::other("other processes keep replacing it; try again");
        Err(ReportError::Io {
            path: self.target,
            source,
        })
    }
}

/// This process's tag for temporary names: `<host>-<pid>` (the host name
/// from `/proc/sys/kernel/hostname`, letters, digits, `.` and `-` only;
/// `host` where it cannot be read).
pub fn process_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("{}-{}", host_name(), std::process::id()))
}

fn host_name() -> String {
    let name: String = fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() { "host".into() } else { name }
}

/// Writes `bytes` to `path` atomically: into a temporary file of this
/// process beside it, then renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    replace_file(path, |temp| fs::write(temp, bytes).map_err(io(temp)))
}

/// Makes `path` with `write` (given a temporary path of this process beside
/// it) and renames the result over `path`; the temporary file is removed
/// if `write` fails.
pub fn replace_file(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = path.with_file_name(format!(".{name}.{}.tmp", process_tag()));
    if let Err(e) = write(&temp).and_then(|()| fs::rename(&temp, path).map_err(io(path))) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(())
}

/// Removes `<prefix>` (the staging name of older versions) and
/// `<prefix>.<host>-<pid>` folders in `parent` left by processes of this
/// host that no longer run (Linux: no `/proc/<pid>`).
fn remove_dead_leftovers(parent: &Path, prefix: &str) -> Result<(), ReportError> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Ok(()); // no folder yet: nothing left over
    };
    let mine = format!("{prefix}.{}-", host_name());
    let proc_fs = Path::new("/proc/self").exists();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let dead = if name == prefix {
            true
        } else if let Some(pid) = name.strip_prefix(&mine) {
            proc_fs && pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists()
        } else {
            false
        };
        if dead {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + use<> {
    let path = path.to_path_buf();
    move |source| ReportError::Io { path, source }
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

    #[test]
    fn two_processes_never_touch_each_others_staging_folders() {
        let root = temp_root("concurrent");
        let mine = ResultDir::create(&root, "demo", None, 4).unwrap();
        // Another live process's staging folder (pid 1 always exists) and a
        // dead one's on this host, and one of another host.
        let parent = root.join("demo");
        let live = parent.join(format!(".seed-4.partial.{}-1", host_name()));
        let dead = parent.join(format!(".seed-4.partial.{}-4294967", host_name()));
        let other_host = parent.join(".seed-4.partial.elsewhere-77");
        for dir in [&live, &dead, &other_host] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(mine.file("summary.json"), "{}").unwrap();
        let again = ResultDir::create(&root, "demo", None, 4).unwrap();
        assert!(live.exists() && other_host.exists(), "not ours to remove");
        assert!(!dead.exists(), "a dead process's leftovers are removed");
        fs::write(again.file("summary.json"), "{}").unwrap();
        again.commit().unwrap();
        assert!(parent.join("seed-4/summary.json").is_file());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporary() {
        let root = temp_root("atomic");
        fs::create_dir_all(&root).unwrap();
        let path = root.join("stats.csv");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        let failed = replace_file(&path, |temp| {
            fs::write(temp, b"half").unwrap();
            Err(ReportError::NotOurs {
                path: temp.to_path_buf(),
            })
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1, "no temporary left");
        fs::remove_dir_all(&root).unwrap();
    }
}
